"""App start-up and scrolling on a 100k-image project: planche's virtual grid
against the naive way (load and decode every thumbnail before showing any).

The project is generated: 100,000 images whose thumbnails are real 128-pixel
JPEGs (a few hundred distinct ones, repeated), written straight into the
store. Each run is headless (`App.run_test`, 160x48), in this process.

    python bench/startup.py [--images 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from planche.core.store import FileRow, NewImage, open_store


def make_project(path: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    thumbs = []
    for _ in range(256):
        small = rng.integers(0, 255, size=(4, 6, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((128, 96), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=82)
        thumbs.append(out.getvalue())
    with open_store(path, create=True) as store:
        for start in range(0, count, 10_000):
            ids = range(start, min(start + 10_000, count))
            images = [
                NewImage(f"{i:064x}", 1024, 768, "JPEG", "RGB", None, thumbs[i % 256]) for i in ids
            ]
            files = [FileRow(f"/photos/{i // 1000:03d}/img_{i:06d}.jpg", f"{i:064x}", 1, 1.0)
                     for i in ids]  # fmt: skip
            store.write_import_batch(images, files, [])


async def planche_grid(project: Path) -> dict[str, float]:
    from planche.tui.app import PlancheApp
    from planche.tui.grid import ThumbnailGrid

    started = time.perf_counter()
    app = PlancheApp(project)
    async with app.run_test(size=(160, 48)) as pilot:
        grid = app.query_one(ThumbnailGrid)
        while len(grid.image_ids) == 0 or not _visible_loaded(grid):
            await pilot.pause(0.01)
        first = time.perf_counter() - started
        pages = []
        for _ in range(10):
            t = time.perf_counter()
            await pilot.press("pagedown")
            while not _visible_loaded(grid):
                await pilot.pause(0.005)
            pages.append(time.perf_counter() - t)
        t = time.perf_counter()
        await pilot.press("end")
        while not _visible_loaded(grid):
            await pilot.pause(0.005)
        jump = time.perf_counter() - t
    return {"first grid": first, "page down (median)": float(np.median(pages)), "end": jump}


def _visible_loaded(grid) -> bool:  # noqa: ANN001
    """True when every visible cell has its thumbnail decoded (reads grid internals)."""
    ids, cols = grid.image_ids, grid.columns
    visible = [i for row in grid._visible_rows() for i in range(row * cols, (row + 1) * cols)]
    return all(ids[i] in grid._pixels for i in visible if i < len(ids))


async def naive_grid(project: Path) -> dict[str, float]:
    """Load and decode every thumbnail first, then show the same grid."""
    from planche.tui.app import PlancheApp

    started = time.perf_counter()
    with open_store(project, read_only=True) as store:
        ids = store.all_image_ids().tolist()
        thumbs = store.thumbnails(ids)
    decoded = {i: Image.open(io.BytesIO(b)).convert("RGB") for i, b in thumbs.items()}
    loaded = time.perf_counter() - started
    app = PlancheApp(project)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.01)
    del decoded
    return {"first grid": loaded + (time.perf_counter() - started - loaded)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="planche-startup-") as tmp:
        project = Path(tmp) / "big.duckdb"
        t = time.perf_counter()
        make_project(project, args.images)
        print(f"made a {args.images:,}-image project in {time.perf_counter() - t:.0f} s "
              f"({project.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
        ours = asyncio.run(planche_grid(project))
        naive = asyncio.run(naive_grid(project))
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, {args.images:,} images, 160x48")
    print("| way | first grid (s) | page down (s) | End (s) |\n|---|---:|---:|---:|")
    print(
        f"| planche: virtual grid, thumbnails fetched for the viewport | "
        f"{ours['first grid']:.2f} | {ours['page down (median)']:.3f} | {ours['end']:.3f} |"
    )
    print(f"| naive: every thumbnail loaded and decoded first | {naive['first grid']:.2f} | "
          f"- | - |")  # fmt: skip
    print(f"\nplanche shows the first grid {naive['first grid'] / ours['first grid']:.0f}x sooner")


if __name__ == "__main__":
    main()
