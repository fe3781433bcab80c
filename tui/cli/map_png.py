"""`planche map --png`: a stored map drawn into a PNG with Pillow, for reports.

Points are painted with numpy into one pixel array (a million points take a
fraction of a second): shaded by density when nothing colours them, else
coloured by cluster or tag with a legend that names each colour. With
thumbnails, the stored thumbnails of as many images as fit are placed at
their positions without overlapping (greedy, in a seeded random order, so a
dense region shows one of its images rather than a pile), over the points.
Names from users (labels, tags, folders) are drawn as plain text with their
control characters escaped.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from planche.core.text import printable

# Distinct colours, most distinct first (Tableau 10, then their light variants).
PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896",
    "#c5b0d5", "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
]  # fmt: skip
NONE_COLOUR = "#d9d9d9"  # images in no cluster / without a tag of the property
OTHER_COLOUR = "#a0a0a0"  # categories beyond the palette
BACKGROUND = "#ffffff"
INK = "#202020"
DENSITY_LIGHT = np.array([166, 196, 230], np.float32)
DENSITY_DARK = np.array([8, 48, 107], np.float32)
LEGEND_WIDTH = 260
MAX_THUMBNAIL_CANDIDATES = 50_000


@dataclass(frozen=True)
class Colouring:
    """What colours the points: a category per point and a legend in order."""

    title: str  # "clustering 3", "tag property Subject"
    categories: np.ndarray  # per point; -1: none
    legend: Sequence[tuple[int, str, int]]  # (category, name, size), most important first
    none_name: str = "none"


def _font(size: int) -> Any:
    for name in ("DejaVuSans.ttf", "NotoSans-Regular.ttf"):
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def render(
    out: Path,
    xy: np.ndarray,
    image_ids: np.ndarray,
    size: tuple[int, int],
    title: str,
    colouring: Colouring | None = None,
    thumbnails: Callable[[list[int]], dict[int, bytes]] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Draw the map into `out` (PNG); what was drawn (thumbnails placed, colours)."""
    width, height = size
    canvas = Image.new("RGB", size, BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    title_font, text_font = _font(max(12, min(22, width // 60))), _font(13)
    title_lines = _wrap(draw, printable(title), title_font, width - 20)
    line_height = _text_height(draw, title_font) + 4
    top = 10 + line_height * len(title_lines) + 8
    right = width - (LEGEND_WIDTH if colouring is not None and width > 2 * LEGEND_WIDTH else 0)
    radius = 3 if len(xy) <= 1_000 else 2 if len(xy) <= 20_000 else 1 if len(xy) <= 200_000 else 0
    if len(xy) <= 1_000:
        radius = max(radius, min(width, height) // 300)
    pad = radius + 8
    box = (pad, top + pad, right - pad, height - pad)
    pixels = _to_pixels(xy, box)
    rng = np.random.default_rng(seed)
    array = np.asarray(canvas).copy()
    colours: dict[int, str] = {}
    if colouring is None:
        _paint_density(array, pixels, radius)
    else:
        colours = _legend_colours(colouring)
        _paint_categories(array, pixels, colouring.categories, colours, radius, rng)
    canvas = Image.fromarray(array)
    draw = ImageDraw.Draw(canvas)
    placed = 0
    if thumbnails is not None:
        placed = _place_thumbnails(canvas, draw, pixels, image_ids, box, thumbnails, rng,
                                   colouring, colours)  # fmt: skip
    for number, line in enumerate(title_lines):
        draw.text((10, 10 + number * line_height), line, fill=INK, font=title_font)
    if colouring is not None and right < width:
        _draw_legend(draw, colouring, colours, (right, top), text_font, height)
    canvas.save(out, format="PNG")
    return {"png": str(out), "size": [width, height], "thumbnails": placed}


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> list[str]:
    lines, current = [], ""
    for word in text.split(" "):
        candidate = f"{current} {word}".strip()
        if current and draw.textlength(candidate, font=font) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current][:3]


def _text_height(draw: ImageDraw.ImageDraw, font: Any) -> int:
    left, top, right, bottom = draw.textbbox((0, 0), "Ag", font=font)
    return int(bottom - top)


def _to_pixels(xy: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """Integer pixel positions inside `box`, the same scale on both axes (y up)."""
    left, top, right, bottom = box
    if len(xy) == 0:
        return np.zeros((0, 2), np.int64)
    low, high = xy.min(axis=0), xy.max(axis=0)
    span = np.maximum(high - low, 1e-12)
    scale = min((right - left) / span[0], (bottom - top) / span[1])
    centre = (low + high) / 2
    px = (left + right) / 2 + (xy[:, 0] - centre[0]) * scale
    py = (top + bottom) / 2 - (xy[:, 1] - centre[1]) * scale
    pixels = np.stack([px, py], axis=1).round().astype(np.int64)
    pixels[:, 0] = pixels[:, 0].clip(left, right - 1)
    pixels[:, 1] = pixels[:, 1].clip(top, bottom - 1)
    return pixels


def _disk(radius: int) -> list[tuple[int, int]]:
    return [(dx, dy) for dx in range(-radius, radius + 1) for dy in range(-radius, radius + 1)
            if dx * dx + dy * dy <= radius * radius + radius]  # fmt: skip


def _paint_density(array: np.ndarray, pixels: np.ndarray, radius: int) -> None:
    """Every point in one hue, darker where more points fall (log scale)."""
    height, width = array.shape[:2]
    counts = np.bincount(pixels[:, 1] * width + pixels[:, 0], minlength=width * height)
    counts = counts.reshape(height, width).astype(np.float32)
    spread = np.zeros_like(counts)
    for dx, dy in _disk(radius):
        spread += np.roll(np.roll(counts, dy, axis=0), dx, axis=1)
    hit = spread > 0
    if not hit.any():
        return
    shade = np.log1p(spread[hit]) / np.log1p(spread.max())
    array[hit] = (DENSITY_LIGHT + (DENSITY_DARK - DENSITY_LIGHT) * shade[:, None]).astype(np.uint8)


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], np.uint8)


def _legend_colours(colouring: Colouring) -> dict[int, str]:
    return {
        category: PALETTE[i] if i < len(PALETTE) else OTHER_COLOUR
        for i, (category, _, _) in enumerate(colouring.legend)
    }


def _paint_categories(
    array: np.ndarray,
    pixels: np.ndarray,
    categories: np.ndarray,
    colours: dict[int, str],
    radius: int,
    rng: np.random.Generator,
) -> None:
    """Points without a category first (underneath), the others in a random
    order so that no colour always lies on top."""
    height, width = array.shape[:2]
    table = np.array([_rgb(colours.get(int(c), OTHER_COLOUR)) for c in np.unique(categories)])
    _, index = np.unique(categories, return_inverse=True)
    rgb = table[index] if len(table) else np.zeros((0, 3), np.uint8)
    rgb[categories == -1] = _rgb(NONE_COLOUR)
    order = np.concatenate([np.flatnonzero(categories == -1),
                            rng.permutation(np.flatnonzero(categories != -1))])  # fmt: skip
    for dx, dy in _disk(radius):
        x = (pixels[order, 0] + dx).clip(0, width - 1)
        y = (pixels[order, 1] + dy).clip(0, height - 1)
        array[y, x] = rgb[order]


def _place_thumbnails(
    canvas: Image.Image,
    draw: ImageDraw.ImageDraw,
    pixels: np.ndarray,
    image_ids: np.ndarray,
    box: tuple[int, int, int, int],
    thumbnails: Callable[[list[int]], dict[int, bytes]],
    rng: np.random.Generator,
    colouring: Colouring | None,
    colours: dict[int, str],
) -> int:
    """Thumbnails at their points, greedily: in a random order, each one whose
    square overlaps none placed before is placed. Squares are side `side`, so
    two overlap when both centre offsets are under `side`; a grid of cells of
    that side finds the few placed squares to compare with."""
    left, top, right, bottom = box
    side = int(max(32, min(128, min(right - left, bottom - top) // 8)))
    half = side // 2
    candidates = rng.permutation(len(pixels))[:MAX_THUMBNAIL_CANDIDATES]
    cells: dict[tuple[int, int], list[tuple[int, int]]] = {}
    chosen: list[int] = []
    for i in candidates:
        x, y = int(pixels[i, 0]), int(pixels[i, 1])
        x = min(max(x, left + half), right - half)
        y = min(max(y, top + half), bottom - half)
        cx, cy = x // side, y // side
        clash = any(
            abs(x - ox) < side and abs(y - oy) < side
            for gx in (cx - 1, cx, cx + 1) for gy in (cy - 1, cy, cy + 1)
            for ox, oy in cells.get((gx, gy), ())
        )  # fmt: skip
        if clash:
            continue
        cells.setdefault((cx, cy), []).append((x, y))
        chosen.append(int(i))
    found = thumbnails([int(image_ids[i]) for i in chosen])
    placed = 0
    for i in chosen:
        data = found.get(int(image_ids[i]))
        if data is None:
            continue
        try:
            with Image.open(io.BytesIO(data)) as opened:
                picture = opened.convert("RGB")
        except (OSError, ValueError):
            continue
        picture.thumbnail((side - 4, side - 4))
        x = min(max(int(pixels[i, 0]), left + half), right - half)
        y = min(max(int(pixels[i, 1]), top + half), bottom - half)
        frame = colours.get(int(colouring.categories[i]), NONE_COLOUR) if colouring else INK
        w, h = picture.size
        x0, y0 = x - w // 2, y - h // 2
        draw.rectangle((x0 - 2, y0 - 2, x0 + w + 1, y0 + h + 1), fill=frame)
        canvas.paste(picture, (x0, y0))
        placed += 1
    return placed


def _draw_legend(
    draw: ImageDraw.ImageDraw,
    colouring: Colouring,
    colours: dict[int, str],
    origin: tuple[int, int],
    font: Any,
    height: int,
) -> None:
    x, y = origin
    step = _text_height(draw, font) + 8
    draw.text((x, y), _fit(draw, printable(colouring.title), font, LEGEND_WIDTH - 16),
              fill=INK, font=font)  # fmt: skip
    y += step + 4
    shown = colouring.legend[: len(PALETTE)]
    rows = [(colours[c], f"{name} ({size:,})") for c, name, size in shown]
    beyond = colouring.legend[len(PALETTE) :]
    if beyond:
        rows.append((OTHER_COLOUR, f"{len(beyond)} more ({sum(s for _, _, s in beyond):,})"))
    without = int((colouring.categories == -1).sum())
    if without:
        rows.append((NONE_COLOUR, f"{colouring.none_name} ({without:,})"))
    for colour, text in rows:
        if y + step > height - 10:
            break
        draw.rectangle((x, y + 2, x + 14, y + 16), fill=colour, outline=INK)
        draw.text((x + 22, y), _fit(draw, printable(text), font, LEGEND_WIDTH - 40), fill=INK,
                  font=font)  # fmt: skip
        y += step


def _fit(draw: ImageDraw.ImageDraw, text: str, font: Any, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
