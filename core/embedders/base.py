"""What every embedder offers, and the errors they share.

An embedder turns pictures (and, where it has a text tower, words) into
L2-normalised float32 vectors. Work is split in two so that a pipeline can
overlap them: `prepare` (per image, thread-safe, runs in the decoding pool)
and `embed_prepared` (per batch, runs the model).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol

import numpy as np
from PIL import Image

from planche.core.decode import DEFAULT_MAX_PIXELS, DecodedImage, decode
from planche.core.errors import PlancheError
from planche.core.errors import WeightsUnavailable as _WeightsUnavailable
from planche.core.models import ModelIdentity


class NoTextTower(PlancheError):
    def __init__(self, embedder: str) -> None:
        super().__init__(
            f"the {embedder} embedder has no text tower and cannot search by text; "
            "use a CLIP model (--embedder clip) for text queries"
        )


# Front ends catch it from planche.core.errors; kept importable from here.
WeightsUnavailable = _WeightsUnavailable


class Embedder(Protocol):
    identity: ModelIdentity
    # "file": decoded from the original file at model resolution;
    # "thumbnail": the stored thumbnail is enough (and much cheaper).
    source: Literal["file", "thumbnail"]
    # Longest side the decoder must keep (JPEG draft decoding may go lower).
    input_size: int
    batch_size: int
    device: str

    def prepare(self, image: Image.Image) -> Any: ...

    def embed_prepared(self, batch: Sequence[Any]) -> np.ndarray: ...

    def embed_text(self, texts: Sequence[str]) -> np.ndarray: ...


# JPEGs are decoded for a model at no less than this many pixels per side, so a
# picture gives the same vector whether it is embedded during the import, after
# it or as a query (and CLIP's vectors stay those of earlier imports, which
# decoded at this size for the thumbnails too).
MIN_DECODE_SIZE = 256


def decode_size(embedder: Embedder) -> int:
    return max(MIN_DECODE_SIZE, embedder.input_size)


def decodes_jpeg(embedder: Embedder | None) -> bool:
    """Whether the embedder decodes JPEG bytes itself, on its device (a GPU).
    The CPU then decodes such files only small: to check them, read their size
    and make the thumbnail."""
    return bool(embedder is not None and getattr(embedder, "decodes_jpeg", False))


def prepare_file(
    embedder: Embedder, decoded: DecodedImage, data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Any:
    """Model input for a file decoded on the CPU: its bytes where the embedder
    decodes JPEGs on its device, else the picture at the model's decode size,
    prepared (decoded again when a JPEG draft went below it, as the import's
    draft for the thumbnail does)."""
    if decoded.format == "JPEG" and decodes_jpeg(embedder):
        return bytes(data)
    image = decoded.image
    wanted = decode_size(embedder)
    # A draft keeps both sides at least as long as it was asked for, or the whole picture.
    drafted_below = image.size != (decoded.width, decoded.height) and min(image.size) < wanted
    if decoded.format == "JPEG" and drafted_below:
        image = decode(data, max_pixels=max_pixels, target_size=wanted).image
    return embedder.prepare(image)


def embed_images(embedder: Embedder, images: Sequence[Image.Image]) -> np.ndarray:
    """Vectors for in-memory pictures (RGB), one row each."""
    return embedder.embed_prepared([embedder.prepare(image) for image in images])


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)
