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

v3 (the latest) looks at each picture three ways and keeps a v2 vector of
each, one after the other, every block of unit length and the whole divided
by sqrt(3) (so its cosine with another v3 vector is the mean of the three):
- full: the whole picture, squeezed to a square (v2's view): re-encoded,
  resized, brightened and stretched copies;
- square: the largest centred square: the same photo cut to another aspect
  (a 16:9 wallpaper cut to 4:3 keeps its centred square);
- zoom: the centred square of the largest centred cut at the other
  orientation (9:16 of a landscape picture, 16:9 of a portrait one): a phone
  wallpaper cut from a landscape photo shows exactly that as its own square.
The duplicates strategy compares the views with each other (full with full,
square with square and full, zoom with square) and aligns the near misses
(core/cluster/views.py); the grids of the views are also what it mirrors
and turns for `invariance`. Which views a vector holds is recorded with the
model (`preprocessing["views"]`). v3 computes each view's grids as one
linear filter per side (what v2 does with Pillow: resampling to 64 pixels, a
Gaussian blur of 1.5 pixels, box averages), in floating point, for all the
pictures of one size in a batch at once (the import's thumbnails come in a
few dozen sizes): about 0.2 ms a picture, in products that release the GIL,
so the import's reading threads run on beside them.

Measured on real photos with known edits (bench/duplicates_real.py): pairwise
F1 0.963 at the default threshold against v2's 0.648; the views and the
alignment are what find crops, aspect cuts and portrait cuts.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache, lru_cache
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
LATEST_VERSION = 3
VERSIONS = (1, 2, 3)
# v3's views, in the order their blocks appear in the vector.
VIEWS = ("full", "square", "zoom")
# The zoom view's cut: 9:16 of a landscape (or square) picture, 16:9 of a portrait one.
_PORTRAIT_CUT = 9 / 16
# v3 pictures of one size computed together: a thumbnail's planes take 150 kB.
_PICTURES_AT_ONCE = 64


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
        known = ", ".join(f"pixels-v{v}" for v in VERSIONS)
        raise BadParameter(
            "model", model.name, f"a pixels model this planche knows ({known})"
        ) from None


class PixelsEmbedder:
    source: Literal["file", "thumbnail"] = EMBEDDER_KINDS["pixels"].reads
    input_size = 128
    batch_size = 512
    device = "cpu"

    def __init__(self, version: int = LATEST_VERSION) -> None:
        if version not in VERSIONS:
            raise ValueError(f"no pixels embedder version {version}")
        self.version = version
        extra = 2 if version >= 2 else 0
        block = _LUMA_GRID**2 + 2 * _CHROMA_GRID**2 + extra
        preprocessing: dict[str, object] = {"luma_grid": _LUMA_GRID, "chroma_grid": _CHROMA_GRID}
        if version >= 3:
            preprocessing |= {"flat": extra, "views": list(VIEWS)}
        self.identity = ModelIdentity(
            embedder="pixels",
            name=f"pixels-v{version}",
            pretrained=None,
            weights_hash=None,
            dim=block * (len(VIEWS) if version >= 3 else 1),
            precision="fp32",
            preprocessing=preprocessing,
        )

    def prepare(self, image: Image.Image) -> np.ndarray:
        """v1 and v2: the vector; v3: the picture's RGB pixels (H, W, 3), whose
        vectors `embed_prepared` computes for a whole batch at once."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")  # convert would copy
        if self.version < 3:
            return self._block_of(rgb.resize((64, 64), Image.Resampling.BOX))
        return np.asarray(rgb)

    def _views(self, pixels: np.ndarray) -> np.ndarray:
        """v3's vectors from (K, H, W, 3) RGB arrays of one size: every view's
        grids of every picture in a few products, which release the GIL, where
        one picture at a time spent most of its time between small ones."""
        count, height, width = pixels.shape[:3]
        rows, luma_cols, chroma_cols = _view_filters(width, height)
        views = len(VIEWS)
        # Y, Cb, Cr planes (one product, each plane contiguous for the next ones),
        # then each view's grids as two products per side.
        rgb_rows = pixels.reshape(-1, 3).astype(np.float32).T  # (3, K * H * W)
        planes = (_YCBCR @ rgb_rows + _YCBCR_OFFSET[:, None]).reshape(3, count, height, width)
        luma_rows = views * _LUMA_GRID
        luma = rows[:luma_rows] @ planes[0]  # (K, views * L, W)
        luma = luma.reshape(count, views, _LUMA_GRID, width) @ luma_cols
        chroma = rows[luma_rows:] @ planes[1:]  # (2, K, views * C, W)
        chroma = chroma.reshape(2, count, views, _CHROMA_GRID, width) @ chroma_cols
        chroma = np.moveaxis(chroma, 0, 2)  # (K, views, 2, C, C)
        blocks = self._blocks(luma.reshape(count * views, -1), chroma.reshape(count * views, -1))
        norms = np.linalg.norm(blocks, axis=1, keepdims=True)
        blocks /= np.maximum(norms, 1e-12)
        return (blocks.reshape(count, -1) / np.sqrt(views)).astype(np.float32)

    def _blocks(self, luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
        """`_block` (v2 and later) for rows of luma and chroma grids at once."""
        brightness = luma.mean(axis=1, keepdims=True)
        luma = luma - brightness
        length = np.linalg.norm(luma, axis=1, keepdims=True)
        contrast = length / np.sqrt(luma.shape[1])
        luma = luma / np.maximum(length, 1e-6)
        chroma = (chroma - 128.0) / (100.0 * np.sqrt(chroma.shape[1]))
        layout = np.clip((contrast - _FLAT) / (_TEXTURED - _FLAT), 0.0, 1.0)
        angle = np.pi * np.clip((brightness - 16.0) / 219.0, 0.0, 1.0)
        flat = (1.0 - layout) * np.concatenate([np.cos(angle), np.sin(angle)], axis=1)
        return np.concatenate(
            [layout * _LUMA_WEIGHT * luma, _CHROMA_WEIGHT * chroma, _LUMA_WEIGHT * flat], axis=1
        ).astype(np.float32)

    def _block_of(self, small: Image.Image) -> np.ndarray:
        """v1's or v2's vector (not normalised), from a 64x64 picture."""
        ycbcr = small.filter(ImageFilter.GaussianBlur(1.5)).convert("YCbCr")
        luma = np.asarray(
            ycbcr.getchannel(0).resize((_LUMA_GRID, _LUMA_GRID), Image.Resampling.BOX),
            dtype=np.float32,
        ).ravel()
        chroma = np.concatenate(
            [
                np.asarray(
                    ycbcr.getchannel(c).resize((_CHROMA_GRID, _CHROMA_GRID), Image.Resampling.BOX),
                    dtype=np.float32,
                ).ravel()
                for c in (1, 2)
            ]
        )
        return self._block(luma, chroma)

    def _block(self, luma: np.ndarray, chroma: np.ndarray) -> np.ndarray:
        """One view's vector (not normalised) from its luma and chroma grids (0-255)."""
        brightness = float(luma.mean())
        luma = luma - brightness
        contrast = float(np.linalg.norm(luma)) / np.sqrt(luma.size)
        luma /= max(float(np.linalg.norm(luma)), 1e-6)
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
        if self.version < 3:
            return l2_normalise(np.stack(batch))
        vectors = np.empty((len(batch), self.identity.dim), dtype=np.float32)
        by_size: dict[tuple[int, ...], list[int]] = {}
        for position, pixels in enumerate(batch):
            by_size.setdefault(pixels.shape, []).append(position)
        for positions in by_size.values():  # thumbnails come in few sizes
            for start in range(0, len(positions), _PICTURES_AT_ONCE):
                some = positions[start : start + _PICTURES_AT_ONCE]
                vectors[some] = self._views(np.stack([batch[p] for p in some]))
        return l2_normalise(vectors)

    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        raise NoTextTower("pixels")


# Pillow's YCbCr (JPEG, full range), as a matrix on RGB rows.
_YCBCR = np.array(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]],
    dtype=np.float32,
)
_YCBCR_OFFSET = np.array([0.0, 128.0, 128.0], dtype=np.float32)
# v3 does what v2 does with Pillow (the view resampled to 64 pixels, a
# Gaussian blur of 1.5 pixels there, then box averages down to the grid) as
# one linear filter per side, so a view costs two small matrix products.
_WORK = 64
_BLUR = 1.5


@lru_cache(maxsize=1024)  # thumbnails come in few sizes: most pictures share filters
def _view_filters(width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """v3's filters for a picture of this size: the rows of every view's luma
    grid then of every view's chroma grid (views x (L + C), height); the
    columns, transposed, of each view's luma grid (views, width, L) and chroma
    grid (views, width, C)."""
    boxes = view_boxes(width, height)
    rows = [_axis_filter(height, top, bottom, _LUMA_GRID) for _, top, _, bottom in boxes]
    rows += [_axis_filter(height, top, bottom, _CHROMA_GRID) for _, top, _, bottom in boxes]
    luma = [_axis_filter(width, left, right, _LUMA_GRID).T for left, _, right, _ in boxes]
    chroma = [_axis_filter(width, left, right, _CHROMA_GRID).T for left, _, right, _ in boxes]
    found = (np.concatenate(rows), np.stack(luma), np.stack(chroma))
    for array in found:
        array.flags.writeable = False
    return found


@lru_cache(maxsize=4096)
def _axis_filter(size: int, start: float, stop: float, cells: int) -> np.ndarray:
    """(cells, size): the grid cells of [start, stop) of a side of `size` pixels."""
    return _blurred_down(cells) @ _tent(size, start, stop)


@cache
def _blurred_down(cells: int) -> np.ndarray:
    return _down(cells) @ _gaussian()


def _tent(size: int, start: float, stop: float) -> np.ndarray:
    """(64, size) bilinear resampling of [start, stop), widened when it shrinks
    (Pillow's BILINEAR)."""
    step = (stop - start) / _WORK
    support = max(1.0, step)
    centres = start + (np.arange(_WORK) + 0.5) * step
    pixels = np.arange(size) + 0.5
    weights = np.maximum(0.0, 1.0 - np.abs(pixels[None] - centres[:, None]) / support)
    empty = weights.sum(axis=1) == 0  # only for views under a pixel wide
    weights[empty, np.clip(centres[empty].astype(int), 0, size - 1)] = 1.0
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


@cache
def _gaussian() -> np.ndarray:
    """(64, 64) Gaussian blur, edges repeated."""
    offsets = np.arange(-int(3 * _BLUR) - 1, int(3 * _BLUR) + 2)
    kernel = np.exp(-0.5 * (offsets / _BLUR) ** 2)
    kernel /= kernel.sum()
    out = np.zeros((_WORK, _WORK), dtype=np.float32)
    for i in range(_WORK):
        np.add.at(out[i], np.clip(i + offsets, 0, _WORK - 1), kernel)
    return out


@cache
def _down(cells: int) -> np.ndarray:
    """(cells, 64) box averages."""
    return np.kron(np.eye(cells), np.full(_WORK // cells, cells / _WORK)).astype(np.float32)


def view_boxes(width: int, height: int) -> list[tuple[float, float, float, float]]:
    """The boxes (left, top, right, bottom) of v3's views in a picture of this size.

    Each view is centred, so a mirror or a quarter turn of the picture turns
    each view's box into the same view's box of the turned picture.
    """
    w, h = float(width), float(height)
    side = min(w, h)
    if w >= h:  # landscape or square: the 9:16 cut is as tall as the picture
        cut_w, cut_h = min(w, h * _PORTRAIT_CUT), h
    else:
        cut_w, cut_h = w, min(h, w * _PORTRAIT_CUT)
    zoom = min(cut_w, cut_h)
    return [(0.0, 0.0, w, h), _centred(w, h, side), _centred(w, h, zoom)]


def _centred(w: float, h: float, side: float) -> tuple[float, float, float, float]:
    return ((w - side) / 2, (h - side) / 2, (w + side) / 2, (h + side) / 2)
