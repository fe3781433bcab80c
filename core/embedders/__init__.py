"""Embedders: CLIP (open_clip) and the weight-free pixels embedder.

`load_embedder` is the one way front ends get an embedder, so that the CLI,
the app and scripts agree on defaults and validation.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from planche.core.embedders.base import (
    Embedder,
    ModelIdentity,
    NoTextTower,
    WeightsUnavailable,
    embed_images,
)
from planche.core.errors import BadParameter
from planche.core.models import DEFAULT_EMBEDDER, EMBEDDER_KINDS, ModelRow, embedder_kind

EMBEDDERS = tuple(EMBEDDER_KINDS)

__all__ = [
    "EMBEDDERS",
    "Embedder",
    "ModelIdentity",
    "NoTextTower",
    "WeightsUnavailable",
    "embed_images",
    "load_embedder",
    "load_embedder_for_model",
]


def _kind_module(name: str) -> Any:
    module_name, _, _ = embedder_kind(name).loader.partition(":")
    return importlib.import_module(module_name)


def load_embedder(
    embedder: str = DEFAULT_EMBEDDER,
    *,
    model: str | None = None,
    pretrained: str | None = None,
    weights: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    reserve_a_core: bool = False,
) -> Embedder:
    """Build an embedder by kind (`EMBEDDER_KINDS`); each kind refuses the
    options it has no use for."""
    if batch_size is not None and not 1 <= batch_size <= 4096:
        raise BadParameter("batch_size", batch_size, "a whole number from 1 to 4096")
    return _kind_module(embedder).load(
        model=model, pretrained=pretrained, weights=weights, device=device,
        precision=precision, batch_size=batch_size, reserve_a_core=reserve_a_core,
    )  # fmt: skip


def load_embedder_for_model(
    model: ModelRow, *, weights: Path | None = None, device: str = "auto"
) -> Embedder:
    """The embedder that made `model`'s stored vectors, to embed a new query.

    Weights come from `weights`, else from where they were when the vectors
    were made. A model whose weights differ from those recorded is refused:
    its vectors would not be comparable.
    """
    return _kind_module(model.embedder).load_for_model(model, weights=weights, device=device)
