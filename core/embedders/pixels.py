"""A weight-free visual embedder for near-duplicates.

It needs no model, no network and no accelerator, and reads only the stored
thumbnail, so it embeds thousands of images a second. It sees layout and
colour, not meaning: it recognises the same photo resized, re-encoded, lightly
cropped or brightened, and it cannot search by text. planche never uses it in
place of CLIP unless asked.

The vector (v1):
- luminance on a 16x16 grid, blurred, with its mean removed and scaled to unit
  length: invariant to brightness and contrast changes, tolerant of small
  crops and of compression noise;
- chroma (Cb, Cr) on an 8x8 grid, offset from neutral grey: tells a red
  picture from a blue one with the same layout.
The two parts are weighted 0.8 / 0.6 and the whole is L2-normalised.

v2 adds what v1 could not say about flat pictures (black frames, blank
pages): their luminance layout is nothing but noise, and a neutral one has
no chroma either, so v1 gave them an all-zero vector and no two of them were
ever similar. v2 fades the layout out as the picture's contrast falls (RMS
under 8 grey levels, gone under 2) and fades in two more dimensions that
place its mean brightness on a half circle: two black frames score 1, black
against mid-grey 0, and about 26 grey levels apart score 0.95. Pictures with
contrast get exactly v1's vector plus two zeros. v1 is kept, so that queries
against vectors it made stay comparable.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

from planche.core.embedders.base import NoTextTower, l2_normalise
from planche.core.errors import BadParameter
from planche.core.models import EMBEDDER_KINDS, ModelIdentity, ModelRow

_LUMA_GRID = 16
_CHROMA_GRID = 8
_LUMA_WEIGHT = 0.8
_CHROMA_WEIGHT = 0.6
# RMS contrast, in grey levels of the 16x16 grid: below FLAT the picture is
# flat, above TEXTURED its layout counts fully; in between, both fade.
_FLAT = 2.0
_TEXTURED = 8.0
LATEST_VERSION = 2


def load(
    *,
    model: str | None,
    pretrained: str | None,
    weights: Path | None,
    device: str,
    precision: str,
    batch_size: int | None,
    reserve_a_core: bool,
) -> PixelsEmbedder:
    """The latest pixels embedder; CLIP's options are refused by name."""
    given = {
        "model": model, "pretrained": pretrained, "weights": weights,
        "device": None if device in ("auto", "cpu") else device,
        "precision": None if precision in ("auto", "fp32") else precision,
    }  # fmt: skip
    for name, value in given.items():
        if value is not None:
            raise BadParameter(
                name, value, "no such option with --embedder pixels (it runs on the CPU, in fp32, "
                "without weights)",
            )  # fmt: skip
    return PixelsEmbedder()


def load_for_model(model: ModelRow, *, weights: Path | None, device: str) -> PixelsEmbedder:
    try:
        return PixelsEmbedder(version=int(model.name.removeprefix("pixels-v")))
    except ValueError:
        raise BadParameter(
            "model", model.name, "a pixels model this planche knows (pixels-v1, pixels-v2)"
        ) from None


class PixelsEmbedder:
    source: Literal["file", "thumbnail"] = EMBEDDER_KINDS["pixels"].reads
    input_size = 128
    batch_size = 512
    device = "cpu"

    def __init__(self, version: int = LATEST_VERSION) -> None:
        if version not in (1, 2):
            raise ValueError(f"no pixels embedder version {version}")
        self.version = version
        extra = 2 if version >= 2 else 0
        self.identity = ModelIdentity(
            embedder="pixels",
            name=f"pixels-v{version}",
            pretrained=None,
            weights_hash=None,
            dim=_LUMA_GRID**2 + 2 * _CHROMA_GRID**2 + extra,
            precision="fp32",
            preprocessing={"luma_grid": _LUMA_GRID, "chroma_grid": _CHROMA_GRID},
        )

    def prepare(self, image: Image.Image) -> np.ndarray:
        small = image.convert("RGB").resize((64, 64), Image.Resampling.BOX)
        ycbcr = small.filter(ImageFilter.GaussianBlur(1.5)).convert("YCbCr")
        luma = np.asarray(
            ycbcr.getchannel(0).resize((_LUMA_GRID, _LUMA_GRID), Image.Resampling.BOX),
            dtype=np.float32,
        ).ravel()
        brightness = float(luma.mean())
        luma -= brightness
        contrast = float(np.linalg.norm(luma)) / np.sqrt(luma.size)
        luma /= max(float(np.linalg.norm(luma)), 1e-6)
        chroma = np.concatenate(
            [
                np.asarray(
                    ycbcr.getchannel(c).resize((_CHROMA_GRID, _CHROMA_GRID), Image.Resampling.BOX),
                    dtype=np.float32,
                ).ravel()
                for c in (1, 2)
            ]
        )
        # 128 is neutral; a fully saturated colour sits about 100 away from it.
        chroma = (chroma - 128.0) / (100.0 * np.sqrt(chroma.size))
        if self.version == 1:
            return np.concatenate([_LUMA_WEIGHT * luma, _CHROMA_WEIGHT * chroma])
        layout = float(np.clip((contrast - _FLAT) / (_TEXTURED - _FLAT), 0.0, 1.0))
        # Video-range luma: 16 is black, 235 white.
        angle = np.pi * float(np.clip((brightness - 16.0) / 219.0, 0.0, 1.0))
        flat = (1.0 - layout) * np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
        return np.concatenate(
            [layout * _LUMA_WEIGHT * luma, _CHROMA_WEIGHT * chroma, _LUMA_WEIGHT * flat]
        ).astype(np.float32)

    def embed_prepared(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        if not batch:
            return np.zeros((0, self.identity.dim), dtype=np.float32)
        return l2_normalise(np.stack(batch))

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        raise NoTextTower("pixels")
