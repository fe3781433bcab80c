"""The thumbnail grid as a user drives it: keys, selection, opening, large collections,
what a cell looks like, and broken thumbnails.

pytest-asyncio is not installed: each test runs its own `asyncio.run(...)` around
Textual's `App.run_test()` pilot.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Awaitable, Callable, Sequence
from functools import lru_cache

from PIL import Image
from rich.color import ColorType
from rich.segment import Segment
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.geometry import Region
from textual.pilot import Pilot
from textual.strip import Strip

from planche.tui.grid import ThumbnailGrid

SIZE = (160, 48)  # 159 columns beside the 1-column scrollbar: 9 cells of 16
COLUMNS = 9
PAGE_ROWS = 6  # 48 lines / 8
RED = (255, 0, 0)


@lru_cache(maxsize=64)
def solid_jpeg(rgb: tuple[int, int, int], size: tuple[int, int] = (32, 32)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, rgb).save(out, format="JPEG", quality=95)
    return out.getvalue()


class FakeSource:
    """Solid-colour JPEGs generated in memory; records every id asked for."""

    def __init__(
        self,
        special: dict[int, bytes] | None = None,
        missing: Sequence[int] = (),
        fail: bool = False,
    ) -> None:
        self.special = special or {}
        self.missing = set(missing)
        self.fail = fail
        self.requested: list[int] = []
        self.calls = 0
        self._lock = threading.Lock()

    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]:
        assert threading.current_thread() is not threading.main_thread(), "UI thread"
        with self._lock:
            self.calls += 1
            self.requested.extend(image_ids)
        if self.fail:
            raise OSError("thumbnail store unavailable")
        out = {}
        for image_id in image_ids:
            if image_id in self.missing:
                continue
            if image_id in self.special:
                out[image_id] = self.special[image_id]
            else:
                out[image_id] = solid_jpeg((image_id * 40 % 256, image_id * 90 % 256, 128))
        return out


class GridApp(App[None]):
    BINDINGS = [Binding("escape", "app_escape", "Escape reached the app")]

    def __init__(
        self,
        source: FakeSource,
        ids: Sequence[int],
        captions: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.ids = ids
        self.captions = captions
        self.events: list[tuple[str, object]] = []

    def compose(self) -> ComposeResult:
        yield ThumbnailGrid(self.source, id="grid")

    def on_mount(self) -> None:
        grid = self.query_one(ThumbnailGrid)
        grid.set_images(self.ids, self.captions)
        grid.focus()

    def on_thumbnail_grid_highlighted(self, message: ThumbnailGrid.Highlighted) -> None:
        self.events.append(("highlighted", message.image_id))

    def on_thumbnail_grid_opened(self, message: ThumbnailGrid.Opened) -> None:
        self.events.append(("opened", message.image_id))

    def on_thumbnail_grid_selection_changed(self, message: ThumbnailGrid.SelectionChanged) -> None:
        self.events.append(("selection", message.selected))

    def action_app_escape(self) -> None:
        self.events.append(("app-escape", None))


def run(
    test: Callable[[Pilot, GridApp, ThumbnailGrid], Awaitable[None]],
    source: FakeSource | None = None,
    ids: Sequence[int] = tuple(range(1000, 1200)),
    captions: Sequence[str] | None = None,
) -> None:
    async def main() -> None:
        app = GridApp(source or FakeSource(), ids, captions)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await test(pilot, app, app.query_one(ThumbnailGrid))

    asyncio.run(main())


async def settle(pilot: Pilot) -> None:
    """Until the thumbnail workers are done and their results are painted."""
    for _ in range(20):
        await pilot.pause()
        if not len(pilot.app.workers):
            break
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def press(pilot: Pilot, app: GridApp, key: str) -> list[tuple[str, object]]:
    """Press `key`; the grid's messages it caused."""
    before = len(app.events)
    await pilot.press(key)
    await pilot.pause()
    return app.events[before:]


def columns_of(strip: Strip) -> list[tuple[str, tuple | None, tuple | None]]:
    """(character, foreground rgb, background rgb) per terminal column."""
    out = []
    for segment in strip:
        assert isinstance(segment, Segment)
        style = segment.style
        fg = style.color.triplet if style and style.color else None
        bg = style.bgcolor.triplet if style and style.bgcolor else None
        out.extend((char, fg, bg) for char in segment.text)
    return out


def near(rgb: tuple | None, expected: tuple[int, int, int], tolerance: int = 12) -> bool:
    if rgb is None:
        return False
    return all(abs(a - b) <= tolerance for a, b in zip(rgb, expected, strict=True))


def text_of(strip: Strip) -> str:
    return "".join(segment.text for segment in strip)


# ---------------------------------------------------------------------- keys


def test_keys_move_the_cursor_over_the_grid_and_post_highlighted() -> None:
    ids = tuple(range(1000, 1200))  # 200 images: 23 rows, the last one of 2

    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        assert grid.columns == COLUMNS
        assert grid.image_ids == ids and grid.cursor == 0 and grid.current_image_id == 1000
        moves = [
            ("right", 1),
            ("down", 1 + COLUMNS),
            ("left", COLUMNS),
            ("left", COLUMNS - 1),  # wraps to the end of the row above
            ("up", COLUMNS - 1),  # top row: stays
            ("pagedown", COLUMNS - 1 + PAGE_ROWS * COLUMNS),
            ("pageup", COLUMNS - 1),
            ("end", 199),
            ("pagedown", 199),
            ("home", 0),
            ("up", 0),
            ("left", 0),
        ]
        for key, expected in moves:
            before = grid.cursor
            events = await press(pilot, app, key)
            assert grid.cursor == expected, key
            moved = [("highlighted", ids[expected])] if expected != before else []
            assert events == moved, key
            region = Region(0, int(grid.scroll_y), 159, 48)
            assert grid._cell_region(grid.cursor) in region, f"cursor off screen after {key}"

        # Down from above the short last row lands on its last image.
        grid.cursor = 195
        await press(pilot, app, "down")
        assert grid.cursor == 199
        assert grid.scroll_y == grid.max_scroll_y

    run(test, ids=ids)


def test_a_cursor_move_repaints_only_the_two_cells() -> None:
    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        repainted: list[tuple[Region, ...]] = []
        original = grid.refresh

        def spy(*regions: Region, **kwargs: object) -> ThumbnailGrid:
            repainted.append(regions)
            return original(*regions, **kwargs)

        grid.refresh = spy  # type: ignore[method-assign]
        await press(pilot, app, "right")
        assert repainted == [(Region(0, 0, 16, 8),), (Region(16, 0, 16, 8),)]

    run(test)


def test_click_moves_the_cursor_and_double_click_opens() -> None:
    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        assert await pilot.click(ThumbnailGrid, offset=(2 * 16 + 5, 8 + 3))
        await pilot.pause()
        assert grid.cursor == COLUMNS + 2
        assert app.events[-1] == ("highlighted", 1000 + COLUMNS + 2)
        assert await pilot.double_click(ThumbnailGrid, offset=(5, 3))
        await pilot.pause()
        assert grid.cursor == 0 and app.events[-1] == ("opened", 1000)

    run(test)


def test_resize_recomputes_the_columns_and_keeps_the_cursor_visible() -> None:
    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        grid.cursor = 100
        await pilot.resize_terminal(81, 24)
        await pilot.pause()
        assert grid.columns == 5  # 80 columns beside the scrollbar
        assert grid.virtual_size.height == 40 * 8
        row_top = (100 // 5) * 8
        assert grid.scroll_y <= row_top and row_top + 8 <= grid.scroll_y + 24

    run(test)


# ---------------------------------------------------------------------- selection


def test_space_and_shift_arrows_select_escape_clears() -> None:
    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        assert await press(pilot, app, "space") == [("selection", frozenset({1000}))]
        await press(pilot, app, "right")
        events = await press(pilot, app, "shift+right")
        assert grid.cursor == 2
        assert grid.selected == {1000, 1001, 1002}
        assert ("selection", frozenset({1000, 1001, 1002})) in events
        await press(pilot, app, "space")  # the current one off again
        assert grid.selected == {1000, 1001}
        await press(pilot, app, "shift+down")  # the range 2..11
        assert grid.selected == {1000, 1001} | set(range(1002, 1002 + COLUMNS + 1))

        # The caption line shows the mark; the cursor's is highlighted.
        caption = text_of(grid.render_line(7))
        assert caption.count("✓") == COLUMNS
        assert "✓ 1000" in caption

        assert await press(pilot, app, "escape") == [("selection", frozenset())]
        assert grid.selected == frozenset()
        # Nothing selected: escape is not the grid's, it reaches the app.
        assert await press(pilot, app, "escape") == [("app-escape", None)]

        await press(pilot, app, "ctrl+a")
        assert grid.selected == frozenset(range(1000, 1200))

        # New content: cursor home, selection cleared, scrolled to the top.
        await press(pilot, app, "end")
        assert grid.scroll_y > 0
        grid.set_images(range(50, 60))
        await pilot.pause()
        assert grid.cursor == 0 and grid.current_image_id == 50
        assert grid.selected == frozenset() and grid.scroll_y == 0
        assert app.events[-2:] == [("highlighted", 50), ("selection", frozenset())]

    run(test)


def test_enter_opens_the_current_image() -> None:
    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        await press(pilot, app, "down")
        await press(pilot, app, "right")
        assert await press(pilot, app, "enter") == [("opened", 1000 + COLUMNS + 1)]
        assert grid.current_image_id == 1000 + COLUMNS + 1

    run(test)


def test_an_empty_grid_ignores_keys() -> None:
    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        assert grid.current_image_id is None
        for key in ("down", "end", "space", "enter", "ctrl+a"):
            assert await press(pilot, app, key) == []
        assert text_of(grid.render_line(0)).strip() == ""

    run(test, ids=())


# ---------------------------------------------------------------------- scale


def test_100k_images_fetch_only_thumbnails_near_the_viewport() -> None:
    n = 100_000
    source = FakeSource()
    screen = PAGE_ROWS * COLUMNS

    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        assert len(grid.image_ids) == n
        assert grid.virtual_size.height == -(-n // COLUMNS) * 8
        first = set(source.requested)
        assert set(range(screen)) <= first  # the first screen is loaded...
        assert max(first) < 5 * screen  # ...with a margin, not the collection

        await press(pilot, app, "end")
        await settle(pilot)
        await press(pilot, app, "pageup")
        await settle(pilot)
        assert grid.cursor == n - 1 - screen
        assert app.events[-1] == ("highlighted", n - 1 - screen)

        asked = source.requested
        assert len(asked) < 2_000, len(asked)
        assert all(i < 5 * screen or i >= n - 8 * screen for i in asked)
        # Everything on screen now was loaded: no cell is left as a placeholder.
        top = int(grid.scroll_y) // 8 * COLUMNS
        assert set(range(top, top + screen)) <= set(asked)
        assert all(image_id in grid._pixels for image_id in range(top, top + screen))

    run(test, source=source, ids=range(n))


# ---------------------------------------------------------------------- drawing


def test_a_red_thumbnail_draws_red_half_blocks_and_captions_are_made_safe() -> None:
    # 64x32 in a 15x14-pixel box: 15x8 pixels, rows 3 to 10, so text lines 1 and 5
    # hold half blocks (one half red, one half background) and lines 2-4 solid red.
    source = FakeSource(special={7: solid_jpeg(RED, (64, 32))})
    captions = ["\x1b[2J\x1b]0;pwned\x07evil", "caf\u00e9 \u202eabc", *["x"] * 8]

    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        background = grid.background_colors[1].rgb

        def pixels(line: int) -> list[tuple[tuple | None, tuple | None]]:
            cols = columns_of(grid.render_line(line))[:16]
            return [(fg, bg) if char == "▀" else (bg, bg) for char, fg, bg in cols]

        line1 = columns_of(grid.render_line(1))[:15]
        assert all(char == "▀" for char, _, _ in line1)
        assert all(near(fg, background, 0) and near(bg, RED) for _, fg, bg in line1)
        for line in (2, 3, 4):
            assert all(near(top, RED) and near(bottom, RED) for top, bottom in pixels(line)[:15])
        assert all(near(top, RED) and near(bot, background, 0) for top, bot in pixels(5)[:15])
        assert all(near(p, background, 0) for pair in pixels(0) for p in pair)
        assert pixels(3)[15] == (background, background)  # the gutter column
        styles = [segment.style for segment in grid.render_line(3) if segment.style]
        assert styles[0].bgcolor.type == ColorType.TRUECOLOR

        caption_line = grid.render_line(7)
        text = text_of(caption_line)
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
        assert "[2J" in text and "café" in text
        # The cursor's caption stands out from the others.
        first, second = (segment.style for segment in list(caption_line)[:2])
        assert first.bgcolor != second.bgcolor

    run(test, source=source, ids=[7, 8, *range(100, 108)], captions=captions)


def test_broken_and_missing_thumbnails_draw_placeholders() -> None:
    source = FakeSource(special={1: b"\xff\xd8 not really a jpeg", 2: b""}, missing=[3])

    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        middle = text_of(grid.render_line(3))
        cells = [middle[i * 16 : (i + 1) * 16] for i in range(4)]
        assert "?" not in cells[0] and "▀" not in cells[0]  # a solid colour
        assert cells[1].strip() == "?" and cells[2].strip() == "?"
        assert cells[3].strip() == "·"  # the source had nothing for it
        await press(pilot, app, "end")  # render and move on: nothing raised

    run(test, source=source, ids=[0, 1, 2, 3])


def test_a_failing_source_draws_placeholders_and_the_app_keeps_running() -> None:
    source = FakeSource(fail=True)

    async def test(pilot: Pilot, app: GridApp, grid: ThumbnailGrid) -> None:
        assert source.calls >= 1
        assert text_of(grid.render_line(3))[:16].strip() == "?"
        assert await press(pilot, app, "right") == [("highlighted", 1001)]

    run(test, source=source)
