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
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from PIL import Image, ImageFilter

from planche.core.embedders.base import ModelIdentity, NoTextTower, l2_normalise

_LUMA_GRID = 16
_CHROMA_GRID = 8
_LUMA_WEIGHT = 0.8
_CHROMA_WEIGHT = 0.6


class PixelsEmbedder:
    source: Literal["file", "thumbnail"] = "thumbnail"
    input_size = 128
    batch_size = 512
    device = "cpu"

    def __init__(self) -> None:
        self.identity = ModelIdentity(
            embedder="pixels",
            name="pixels-v1",
            pretrained=None,
            weights_hash=None,
            dim=_LUMA_GRID**2 + 2 * _CHROMA_GRID**2,
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
        luma -= luma.mean()
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
        return np.concatenate([_LUMA_WEIGHT * luma, _CHROMA_WEIGHT * chroma])

    def embed_prepared(self, batch: Sequence[np.ndarray]) -> np.ndarray:
        if not batch:
            return np.zeros((0, self.identity.dim), dtype=np.float32)
        return l2_normalise(np.stack(batch))

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        raise NoTextTower("pixels")
