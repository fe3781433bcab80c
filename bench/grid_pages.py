"""PageDown in the app's grid at 100k images: time per page and bytes written per page,
half-cell thumbnails against kitty graphics through Unicode placeholders and sixel tiles
(whose pictures are part of the frames).

The project is generated as in bench/startup.py (128-pixel JPEG thumbnails). Each
mode runs the real app headless (`App.run_test`, 160x48, truecolor). A headless app
writes nothing, so the frames are rendered to text here exactly as Textual renders
them for a terminal (`CompositorUpdate.render_segments`), and the grid's kitty
escapes are counted where they leave for the driver.

    python bench/grid_pages.py [--images 100000] [--pages 10] [--project BIG.duckdb]

Each key is sent as a terminal's would reach the app (a Key event through the
driver) and timed to the end of the first frame, rendered to text, that shows
its outcome: the cursor moved and every visible tile drawn. (Until 2026-12-02
this timed `Pilot.press`, which also waits for the app to look idle: at least
two 20 ms sleeps per key, so about 40 ms of every figure was the harness.)
"first visit" pages are new to the grid (thumbnails prefetched, kitty pictures sent
when drawn); "warm" pages were seen before (cached strips; kitty: nothing sent);
"cursor" is a move by one tile (right, down, left, up) on a warm page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from startup import make_project


async def pages(project: Path, mode: str, count: int) -> dict[str, Any]:
    from textual import events
    from textual._compositor import CompositorUpdate

    from planche.tui.app import PlancheApp
    from planche.tui.grid import ThumbnailGrid
    from planche.tui.images import ImageMode

    written = {"frames": 0, "kitty": 0}
    # Set while a key is timed: true once the frame being displayed shows its outcome.
    shown: dict[str, Any] = {"probe": None, "at": None}

    class Counting(PlancheApp):
        # A subclass's CSS_PATH is read beside its own module: point at the app's.
        CSS_PATH = str(Path(sys.modules[PlancheApp.__module__].__file__ or "").parent / "app.tcss")

        def _display(self, screen, renderable) -> None:  # noqa: ANN001 - Textual's hook
            if isinstance(renderable, CompositorUpdate):
                written["frames"] += len(renderable.render_segments(self.console).encode())
            super()._display(screen, renderable)
            probe = shown["probe"]
            if probe is not None and shown["at"] is None and probe():
                shown["at"] = time.perf_counter()

    app = Counting(project, images=ImageMode(mode))
    async with app.run_test(size=(160, 48)) as pilot:
        grid = app.query_one("#grid", ThumbnailGrid)
        driver = app._driver
        assert driver is not None
        plain_write = driver.write

        def write(data: str) -> None:
            written["kitty"] += len(data.encode())
            plain_write(data)

        driver.write = write  # type: ignore[method-assign]
        while not grid.image_ids or not drawn(grid):
            await pilot.pause(0.01)
        await pilot.pause()
        rows: dict[str, list[tuple[float, int, int]]] = {
            "first visit": [], "warm": [], "cursor": [], "warm, Pilot.press": []}  # fmt: skip

        async def key(name: str, kind: str) -> None:
            """From the key reaching the app (as from a terminal) to the end of the
            first frame that shows the cursor moved and every visible tile drawn."""
            layout, cursor, page = grid._layout, grid.cursor, grid._page_rows()
            target = {"pagedown": layout.moved(cursor, page), "pageup": layout.moved(cursor, -page),
                      "down": layout.moved(cursor, 1), "up": layout.moved(cursor, -1),
                      "right": cursor + 1, "left": cursor - 1}[name]  # fmt: skip
            before = dict(written)
            shown["at"] = None
            shown["probe"] = lambda: grid.cursor == target and drawn(grid)
            t = time.perf_counter()
            driver.send_message(events.Key(name, None))
            while shown["at"] is None:
                if time.perf_counter() - t > 10:
                    raise TimeoutError(f"{name}: no frame showed it")
                await asyncio.sleep(0.001)
            shown["probe"] = None
            elapsed = shown["at"] - t
            await pilot.pause()  # anything written after that frame counts for this key
            rows[kind].append((elapsed, written["frames"] - before["frames"],
                               written["kitty"] - before["kitty"]))  # fmt: skip

        for _ in range(count):
            await key("pagedown", "first visit")
        for _ in range(count):
            await key("pageup", "warm")
        for _ in range(count):
            await key("pagedown", "warm")
        for name in ("right", "down", "left", "up") * max(1, count // 4):
            await key(name, "cursor")
        for _ in range(count):  # the way this was timed before: Pilot.press, idle waits included
            before = dict(written)
            t = time.perf_counter()
            await pilot.press("pageup")
            while not drawn(grid):
                await pilot.pause(0.002)
            elapsed = time.perf_counter() - t
            await pilot.pause()
            rows["warm, Pilot.press"].append((elapsed, written["frames"] - before["frames"],
                                              written["kitty"] - before["kitty"]))  # fmt: skip
        graphics = grid.graphics
        tiles = len(visible(grid))
    out: dict[str, Any] = {"mode": graphics, "tiles": tiles}
    for kind, measured in rows.items():
        times, frames, kitty = (np.array(column) for column in zip(*measured, strict=True))
        out[kind] = (float(np.median(times)), float(np.median(frames)), float(np.median(kitty)))
    return out


def visible(grid) -> list[int]:  # noqa: ANN001
    return [grid.image_ids[i] for row in grid._visible_rows() for i in grid._layout.row_span(row)]


def drawn(grid) -> bool:  # noqa: ANN001
    """Every visible tile decoded (half-cells; sixel: and encoded) or sent to the
    terminal (kitty)."""
    sent = grid.kitty_images
    if grid._sixels is not None:
        encoded = {key[:3] for key in grid._sixels}
        width, height = grid.cell_size
        return all(i in grid._pixels and (i, width, height) in encoded for i in visible(grid))
    if sent is None:
        return all(i in grid._pixels for i in visible(grid))
    columns, rows = grid.cell_size[0] - 1, grid.cell_size[1] - 1
    return all((i, columns, rows) in sent for i in visible(grid))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--project", type=Path, help="an existing generated project to reuse")
    parser.add_argument("--modes", default="halfcell,tgp,sixel", help="image modes, by commas")
    args = parser.parse_args()
    os.environ["COLORTERM"] = "truecolor"
    os.environ.pop("TMUX", None)
    with tempfile.TemporaryDirectory(prefix="planche-pages-") as tmp:
        project = Path(tmp) / "big.duckdb"
        if args.project is not None:
            project = args.project
        else:
            make_project(project, args.images)
        results = [asyncio.run(pages(project, mode, args.pages)) for mode in args.modes.split(",")]
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, {args.images:,} images, 160x48, "
          f"medians of {args.pages} pages")  # fmt: skip
    print(
        "| grid draws | keys | tiles on screen | key to frame (ms) | frame bytes per page "
        "| kitty escapes per page | total per page |\n|---|---|---:|---:|---:|---:|---:|"
    )
    for r in results:
        for kind in ("first visit", "warm", "cursor", "warm, Pilot.press"):
            t, frames, kitty = r[kind]
            print(f"| {r['mode']} | {kind} | {r['tiles']} | {t * 1000:.0f} | {frames / 1e3:.0f} kB "
                  f"| {kitty / 1e3:.0f} kB | {(frames + kitty) / 1e3:.0f} kB |")  # fmt: skip


if __name__ == "__main__":
    main()
