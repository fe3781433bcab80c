"""What a clustering strategy is, and the registry that lists them.

A strategy is one module in this package: a subclass of `Strategy` with a
name, a one-line description and declared parameters, decorated with
`@register`. It receives the vectors of the images in scope and returns
groups of image ids; scoring, medoids, labels and storage are done for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from planche.core.cluster.params import Param, validate
from planche.core.errors import BadParameter
from planche.core.models import ModelRow
from planche.core.progress import CancelToken, ProgressCallback, ignore_progress


@dataclass(frozen=True)
class Group:
    """Image ids that belong together, as a strategy sees them."""

    members: np.ndarray
    label: str | None = None  # the strategy's own name for it (a tag, "same bytes")
    leftover: bool = False  # the images no group took: noise, unassigned


@dataclass
class ClusterInput:
    """The images in scope, their vectors (L2-normalised) and what else a strategy may ask."""

    ids: np.ndarray
    vectors: np.ndarray
    model: ModelRow
    project: Path
    progress: ProgressCallback = ignore_progress
    cancel: CancelToken = field(default_factory=CancelToken)
    text_embedder: Callable[[], Any] | None = None  # loads the model's text tower on demand

    def __len__(self) -> int:
        return len(self.ids)


class Strategy(ABC):
    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]] = ()
    # Parameters an earlier planche declared, with why they went: accepted and
    # ignored, so that recorded sessions still replay.
    retired: ClassVar[dict[str, str]] = {}

    def validate(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        current = {name: value for name, value in raw.items() if name not in self.retired}
        return validate(self.params, current, f"the {self.name} strategy")

    def retired_notes(self, raw: Mapping[str, Any]) -> list[str]:
        return [f"{name} is ignored: {self.retired[name]}" for name in raw if name in self.retired]

    @abstractmethod
    def run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]: ...


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    STRATEGIES[cls.name] = cls
    return cls


def get_strategy(name: str) -> Strategy:
    from planche.core import cluster  # noqa: F401 - importing the package registers them all

    if name not in STRATEGIES:
        raise BadParameter("strategy", name, "one of " + ", ".join(sorted(STRATEGIES)))
    return STRATEGIES[name]()


def groups_from_labels(ids: np.ndarray, labels: np.ndarray) -> list[Group]:
    """Groups from per-image labels, where -1 means no group."""
    groups = [Group(ids[rows]) for rows in rows_by_label(labels)]
    if np.any(labels < 0):
        groups.append(Group(ids[labels < 0], leftover=True))
    return groups


def rows_by_label(labels: np.ndarray) -> list[np.ndarray]:
    """The rows of each label >= 0, ascending by label, each in row order (one
    sort: 20,000 duplicate groups of 1M images took 5 s as a mask per label)."""
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    values, starts = np.unique(ordered, return_index=True)
    ends = np.append(starts[1:], len(ordered))
    return [order[a:b] for v, a, b in zip(values, starts, ends, strict=True) if v >= 0]
