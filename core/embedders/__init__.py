"""Embedders: CLIP (open_clip) and the weight-free pixels embedder.

`load_embedder` is the one way front ends get an embedder, so that the CLI,
the app and scripts agree on defaults and validation.
"""

from __future__ import annotations

from pathlib import Path

from planche.core.embedders.base import (
    Embedder,
    ModelIdentity,
    NoTextTower,
    WeightsUnavailable,
    embed_images,
)
from planche.core.errors import BadParameter
from planche.core.store import ModelRow

EMBEDDERS = ("clip", "pixels")

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


def load_embedder(
    embedder: str = "clip",
    *,
    model: str | None = None,
    pretrained: str | None = None,
    weights: Path | None = None,
    device: str = "auto",
    precision: str = "auto",
    batch_size: int | None = None,
    reserve_a_core: bool = False,
) -> Embedder:
    """Build an embedder by name; CLIP options are refused for `pixels`."""
    if batch_size is not None and not 1 <= batch_size <= 4096:
        raise BadParameter("batch_size", batch_size, "a whole number from 1 to 4096")
    if embedder == "pixels":
        _refuse_clip_options(
            model=model, pretrained=pretrained, weights=weights,
            device=None if device in ("auto", "cpu") else device,
            precision=None if precision in ("auto", "fp32") else precision,
        )  # fmt: skip
        from planche.core.embedders.pixels import PixelsEmbedder

        return PixelsEmbedder()
    if embedder == "clip":
        from planche.core.embedders.clip import DEFAULT_MODEL, DEFAULT_PRETRAINED, ClipEmbedder

        return ClipEmbedder(
            model or DEFAULT_MODEL,
            pretrained or (None if weights or (model or "").startswith("hf-hub:")
                           else DEFAULT_PRETRAINED),
            weights,
            device=device,
            precision=precision,
            batch_size=batch_size,
            reserve_a_core=reserve_a_core,
        )  # fmt: skip
    raise BadParameter("embedder", embedder, " or ".join(EMBEDDERS))


def _refuse_clip_options(**given: object) -> None:
    for name, value in given.items():
        if value is not None:
            raise BadParameter(
                name, value, "no such option with --embedder pixels (it runs on the CPU, in fp32, "
                "without weights)",
            )  # fmt: skip


def load_embedder_for_model(
    model: ModelRow, *, weights: Path | None = None, device: str = "auto"
) -> Embedder:
    """The embedder that made `model`'s stored vectors, to embed a new query.

    Weights come from `weights`, else from where they were when the vectors
    were made. A model whose weights differ from those recorded is refused:
    its vectors would not be comparable.
    """
    if model.embedder == "pixels":
        from planche.core.embedders.pixels import PixelsEmbedder

        try:
            return PixelsEmbedder(version=int(model.name.removeprefix("pixels-v")))
        except ValueError:
            raise BadParameter(
                "model", model.name, "a pixels model this planche knows (pixels-v1, pixels-v2)"
            ) from None
    recorded = model.preprocessing.get("weights_path")
    source = weights or (Path(recorded) if recorded else None)
    if source is None and not model.pretrained:
        raise BadParameter("weights", None, f"the weights of {model.label} (give --weights PATH)")
    if source is not None and not source.exists():
        raise BadParameter(
            "weights", str(source),
            f"the weights of {model.label}, which are no longer there (give --weights PATH)",
        )  # fmt: skip
    embedder = load_embedder(
        "clip",
        model=None if source and source.is_dir() else model.name,
        pretrained=None if source and source.is_dir() else model.pretrained,
        weights=source,
        device=device,
        precision=model.precision,
    )
    if embedder.identity.weights_hash != model.weights_hash:
        raise BadParameter(
            "weights", str(source),
            f"the weights that made {model.label}; these have another content",
        )  # fmt: skip
    return embedder
