"""Drawing the map after a zoom or a pan: planche's numpy raster against a per-point loop.

100,000 points (8 Gaussian blobs of different spreads, seeded) coloured by their
blob, 200 of them highlighted as search results would be. planche: the real
`MapView` in a headless app (`App.run_test`); each step is a key's action (zoom
in, pan, zoom out...) followed by a full repaint of the view
(`render_lines` over the whole widget: the raster, the strips, the overlays), the
time of that repaint measured. Naive: the same picture made by a Python loop over
the points (cell, dot bit, group counts per cell in dicts), then one segment per
cell. With a lasso: the same steps and repaints with a lasso open, drawn by keys
beforehand (a staircase ellipse over two thirds of the view, a vertex per step; a pan
adds one more), and the time the images inside it take to count (`area_ids`, which
the screen's status line reads after each step). Atlas: laying thumbnails out at
five zooms of the whole view (`cell_positions` + `place_tiles`: which image each
tile of the lattice shows), against a Python loop keeping the nearest point per
tile in a dict.

    python bench/map_view.py [--points 100000] [--steps 40]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import time
from collections import Counter

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region

from planche.tui.map import PALETTE, Colouring, MapView
from planche.tui.map.atlas import cell_positions, place_tiles, tile_box

SIZES = [(160, 48), (200, 60)]
STEPS = ["zoom(1)", "pan(1, 0)", "pan(0, -1)", "zoom(1)", "pan(-1, 0)", "zoom(-1)", "pan(0, 1)"]


def make_points(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 6, size=(8, 2))
    blob = rng.integers(0, 8, size=n)
    spread = rng.uniform(0.3, 1.5, size=8)[blob, None]
    xy = (centres[blob] + rng.normal(0, 1, size=(n, 2)) * spread).astype(np.float32)
    return np.arange(1, n + 1, dtype=np.int64), xy, blob


class BenchApp(App[None]):
    def __init__(self, ids: np.ndarray, xy: np.ndarray, blob: np.ndarray) -> None:
        super().__init__()
        legend = tuple((i, f"blob {i}", int((blob == i).sum())) for i in range(8))
        self.colouring = Colouring("blobs", blob, legend)
        self.ids, self.xy = ids, xy

    def compose(self) -> ComposeResult:
        yield MapView(self.ids, self.xy, colouring=self.colouring, highlighted=self.ids[::500])


async def draw_lasso(view: MapView) -> None:
    """A lasso by keys: an ellipse over two thirds of the view, one cell at a time."""
    width, height = view.size.width, view.size.height
    angles = np.linspace(0, 2 * np.pi, 400)
    cells = [(round(width / 2 + width / 3 * np.cos(a)), round(height / 2 + height / 3 * np.sin(a)))
             for a in angles]  # fmt: skip
    view.set_crosshair(*view.cell_centre(*cells[0]))
    await view.run_action("lasso")
    for col, row in cells[1:]:
        here = view.crosshair_cell
        for _ in range(abs(col - here[0])):
            await view.run_action(f"move({1 if col > here[0] else -1}, 0)")
        for _ in range(abs(row - here[1])):
            await view.run_action(f"move(0, {1 if row > here[1] else -1})")


async def planche_redraws(
    ids: np.ndarray,
    xy: np.ndarray,
    blob: np.ndarray,
    size: tuple[int, int],
    steps: int,
    lasso: bool = False,
) -> tuple[list[float], list[float], int]:
    """Repaint times, `area_ids` times (with a lasso) and the lasso's vertices at the end."""
    app = BenchApp(ids, xy, blob)
    times, counting = [], []
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.05)
        view = app.query_one(MapView)
        region = Region(0, 0, view.size.width, view.size.height)
        if lasso:
            await draw_lasso(view)
        for i in range(steps):
            await view.run_action(STEPS[i % len(STEPS)])
            started = time.perf_counter()
            view.render_lines(region)
            times.append(time.perf_counter() - started)
            if lasso:
                started = time.perf_counter()
                _ = view.area_ids
                counting.append(time.perf_counter() - started)
            await pilot.pause(0)
        vertices = len(view.lasso_vertices)
    return times, counting, vertices


def naive_redraw(
    xy: np.ndarray, blob: np.ndarray, size: tuple[int, int], extent: tuple[float, ...]
) -> float:
    """The same picture, a Python loop over the points then a segment per cell."""
    width, height = size
    x0, x1, y0, y1 = extent
    unit = max((x1 - x0) / (2 * width), (y1 - y0) / (4 * height))
    bit_of = {(0, 0): 1, (1, 0): 2, (2, 0): 4, (0, 1): 8, (1, 1): 16, (2, 1): 32,
              (3, 0): 64, (3, 1): 128}  # fmt: skip
    started = time.perf_counter()
    bits: dict[tuple[int, int], int] = {}
    groups: dict[tuple[int, int], Counter[int]] = {}
    for (x, y), g in zip(xy.tolist(), blob.tolist(), strict=True):
        px, py = int((x - x0) // unit), int((y1 - y) // unit)
        if not (0 <= px < 2 * width and 0 <= py < 4 * height):
            continue
        cell = (py // 4, px // 2)
        bits[cell] = bits.get(cell, 0) | bit_of[py % 4, px % 2]
        groups.setdefault(cell, Counter())[g] += 1
    styles = [Style(color=f"rgb({r},{g},{b})") for r, g, b in PALETTE]
    lines = []
    for row in range(height):
        segments = []
        for col in range(width):
            cell = (row, col)
            if cell in bits:
                group = groups[cell].most_common(1)[0][0]
                segments.append(Segment(chr(0x2800 + bits[cell]), styles[group % len(styles)]))
            else:
                segments.append(Segment(" "))
        lines.append(segments)
    return time.perf_counter() - started


def naive_atlas(
    xy: np.ndarray, extent: tuple[float, float, float, float], size: tuple[int, int]
) -> int:
    """The atlas's choice by a loop: per lattice tile, the point nearest its centre."""
    width, height = size
    tile_w, tile_h = tile_box(width, height)
    x0, x1, y0, y1 = extent
    best: dict[tuple[int, int], tuple[float, int]] = {}
    for i, (x, y) in enumerate(xy.tolist()):
        col = (x - x0) / (x1 - x0) * width
        row = (y1 - y) / (y1 - y0) * height
        if not (0 <= col < width and 0 <= row < height):
            continue
        slot = (int(col // (tile_w + 1)), int(row // (tile_h + 1)))
        cx = slot[0] * (tile_w + 1) + tile_w / 2
        cy = slot[1] * (tile_h + 1) + (tile_h - 1) / 2
        d = ((col - cx) / tile_w) ** 2 + ((row - cy) / tile_h) ** 2
        if slot not in best or d < best[slot][0]:
            best[slot] = (d, i)
    return len(best)


def atlas_times(
    xy: np.ndarray, extent: tuple[float, float, float, float], size: tuple[int, int]
) -> tuple[list[float], list[float], int]:
    """(planche's, the loop's) seconds at five zooms around the centre; tiles at the last."""
    x0, x1, y0, y1 = extent
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    ours, naive, tiles = [], [], 0
    for zoom in (1.0, 1.5, 2.25, 3.375, 5.0625):
        hx, hy = (x1 - x0) / 2 / zoom, (y1 - y0) / 2 / zoom
        view = (cx - hx, cx + hx, cy - hy, cy + hy)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            cols, rows = cell_positions(xy, view, *size)
            tiles = len(place_tiles(cols, rows, *size, tile_box(*size)))
            best = min(best, time.perf_counter() - start)
        ours.append(best)
        start = time.perf_counter()
        naive_atlas(xy, view, size)
        naive.append(time.perf_counter() - start)
    return ours, naive, tiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    ids, xy, blob = make_points(args.points)
    low, high = xy.min(axis=0), xy.max(axis=0)
    extent = (float(low[0]), float(high[0]), float(low[1]), float(high[1]))
    print(f"{platform.machine()}, {os.cpu_count()} cores, {args.points:,} points, "
          f"{args.steps} zooms and pans")  # fmt: skip
    print("| way | view | redraw median (ms) | 90th percentile (ms) | max (ms) |")
    print("|---|---|---:|---:|---:|")
    lassos = []
    for size in SIZES:
        times, _, _ = asyncio.run(planche_redraws(ids, xy, blob, size, args.steps))
        ours = 1000 * np.array(times)
        p90 = np.percentile(ours, 90)
        print(f"| planche: numpy raster, cached strips | {size[0]}x{size[1]} | "
              f"{np.median(ours):.1f} | {p90:.1f} | {ours.max():.1f} |")  # fmt: skip
        times, counting, vertices = asyncio.run(
            planche_redraws(ids, xy, blob, size, args.steps, lasso=True)
        )
        ours = 1000 * np.array(times)
        p90 = np.percentile(ours, 90)
        print(f"| planche, a lasso open ({vertices} vertices) | {size[0]}x{size[1]} | "
              f"{np.median(ours):.1f} | {p90:.1f} | {ours.max():.1f} |")  # fmt: skip
        lassos.append((size, vertices, 1000 * np.array(counting)))
        naive = 1000 * np.array([naive_redraw(xy, blob, size, extent) for _ in range(3)])
        print(f"| naive: a Python loop per point | {size[0]}x{size[1]} | "
              f"{np.median(naive):.0f} | - | {naive.max():.0f} |")  # fmt: skip
    print()
    print("| the images inside the lasso (area_ids) | view | median (ms) | 90th percentile (ms) "
          "| max (ms) |")  # fmt: skip
    print("|---|---|---:|---:|---:|")
    for size, vertices, counting in lassos:
        print(f"| {vertices} vertices | {size[0]}x{size[1]} | {np.median(counting):.1f} | "
              f"{np.percentile(counting, 90):.1f} | {counting.max():.1f} |")  # fmt: skip
    print()
    print("| atlas layout (5 zooms) | view | planche median (ms) | planche max (ms) "
          "| naive loop median (ms) | speed-up |")  # fmt: skip
    print("|---|---|---:|---:|---:|---:|")
    for size in SIZES:
        ours, naive, tiles = atlas_times(xy, extent, size)
        o, n = 1000 * np.array(ours), 1000 * np.array(naive)
        ratio = np.median(n) / np.median(o)
        print(f"| {tiles} tiles at the deepest zoom | {size[0]}x{size[1]} | {np.median(o):.1f} | "
              f"{o.max():.1f} | {np.median(n):.0f} | {ratio:.0f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
