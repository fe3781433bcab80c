"""What colours the map: a group per point and the legend that names the groups,
read from a clustering or a tag property of the project.

No Textual here; the reading functions are called from the screen's workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planche.core import read

LegendEntry = tuple[int, str | None, int]  # (group value, label, size), as read.*_legend


@dataclass(frozen=True, eq=False)
class Colouring:
    """A group per point of the map (in the map's order; -1: none) and what the groups are."""

    title: str  # "clustering #3 kmeans", "tag property Subject"
    groups: np.ndarray
    legend: tuple[LegendEntry, ...]
    numbered: bool = True  # show group numbers in the legend (clusters), not for tags
    key: tuple[str, int | str] | None = None  # ("clustering", id) or ("tag", property)

    @property
    def slots(self) -> tuple[int, ...]:
        """The group values that take a palette colour, in legend (palette slot) order."""
        return tuple(v for v, _, _ in self.legend if v >= 0)


def colouring_options(project: Path) -> list[tuple[str, int | str, str]]:
    """What `c` cycles through besides "none": every clustering (nested ones included)
    and every tag property, as (kind, reference, title). Reads the project."""
    options: list[tuple[str, int | str, str]] = []

    def walk(node: dict[str, Any]) -> None:
        title = f"clustering #{node['id']} {node['strategy']}"
        options.append(("clustering", int(node["id"]), title))
        for cluster in node["clusters"]:
            for child in cluster["children"]:
                walk(child)

    for node in read.clustering_tree(project):
        walk(node)
    for prop in read.tag_tree(project):
        name = prop["property"]
        options.append(("tag", name, f"tag property {name}"))
    return options


def load_colouring(
    project: Path, option: tuple[str, int | str, str], image_ids: np.ndarray
) -> Colouring:
    """The groups of the map's images under a clustering or a tag property. Reads the project."""
    kind, ref, title = option
    ids = np.asarray(image_ids, dtype=np.int64)
    if kind == "clustering":
        groups = read.cluster_of_images(project, int(ref), ids)
        legend = read.clustering_legend(project, int(ref))
        numbered = True
    else:
        groups = read.tag_of_images(project, str(ref), ids)
        legend = read.tag_legend(project, str(ref))
        numbered = False
    entries = tuple((int(v), None if lab is None else str(lab), int(n)) for v, lab, n in legend)
    return Colouring(title, np.asarray(groups), entries, numbered, (kind, ref))
