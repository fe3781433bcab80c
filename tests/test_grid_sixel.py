"""Sharp thumbnails in the grid as sixels (xterm and other sixel terminals, outside
tmux): where each picture is sent, what is not sent (rows cut by the viewport, under a
dialog, inside tmux), and that a tile is encoded once.

Like tests/test_grid_kitty.py, the output is checked byte for byte: the frames Textual
would write are rendered to text (`KittyApp.frames`). A real xterm check is in
screenshots/ (see the module docstring of tui/grid.py).
"""

from __future__ import annotations

import asyncio
import re

import pytest
from test_grid import FakeSource
from test_grid_kitty import COLUMNS, SIZE, KittyApp, key, run, settle
from textual.app import ComposeResult
from textual.geometry import Region
from textual.pilot import Pilot
from textual.screen import ModalScreen
from textual.strip import Strip
from textual.widgets import Static

from planche.tui import grid as grid_module
from planche.tui.grid import ThumbnailGrid
from planche.tui.images import ImageMode

# A picture: the move to its cell (1-based row;column), then the DCS of the sixel
# (textual-image's header: no transparency, 1:1 pixels, width;height), then ST.
SIXEL = re.compile(r"\x1b\[(\d+);(\d+)H(\x1bP0;0;0q\"1;1;(\d+);(\d+)[^\x1b]*\x1b\\)")
# The default cell of 10x20 pixels: 15x7 cells of picture, 138 pixels high (23 bands).
TILE_PIXELS = ("150", "138")
LAST_CELL = 158  # the grid's last column of content, left of its scrollbar


@pytest.fixture(autouse=True)
def truecolor(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in test_grid_kitty: Textual reads the colour system when the app is made."""
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("TMUX", raising=False)


def sixels(text: str) -> list[tuple[int, int]]:
    """The (x, y) screen cells, 0-based, of the pictures in `text`, in order."""
    found = []
    for row, column, _, width, height in SIXEL.findall(text):
        assert (width, height) == TILE_PIXELS
        found.append((int(column) - 1, int(row) - 1))
    return found


def full_rows(grid: ThumbnailGrid) -> list[int]:
    """The rows whose picture lines are wholly on screen."""
    top, height = int(grid.scroll_y), grid.size.height
    return [
        row
        for row in grid._visible_rows()
        if grid._layout.row_top(row) >= top and grid._layout.row_top(row) + 7 <= top + height
    ]


def cells_of(grid: ThumbnailGrid, rows: list[int]) -> list[tuple[int, int]]:
    top = int(grid.scroll_y)
    return [
        (col * 16, grid._layout.row_top(row) - top)
        for row in rows
        for col in range(len(grid._layout.row_span(row)))
    ]


def colours(strip: Strip) -> set[object]:
    return {segment.style.bgcolor for segment in strip if segment.style is not None}


def sixel_run(test, **options: object) -> None:  # noqa: ANN001 - as test_grid_kitty.run
    options.setdefault("graphics", "sixel")
    run(test, **options)


def test_a_row_wholly_on_screen_is_sixels_a_cut_row_half_cells() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        assert grid.graphics == "sixel"
        grid.scroll_to(y=4, animate=False, force=True)  # rows 0 and 6 cut, 1-5 whole
        await settle(pilot)
        rows = full_rows(grid)
        assert rows == [1, 2, 3, 4, 5]
        lines = grid.render_lines(Region(0, 0, *SIZE))
        text = "".join(strip.text for strip in lines)
        # One picture per tile of a whole row, at its cell on screen; none for cut rows.
        assert sixels(text) == cells_of(grid, rows)
        for row in rows:
            last = grid._layout.row_top(row) - 4 + 6  # the row's last picture line
            line = lines[last].text
            # the pictures, then the cursor back to the last cell of content, which is
            # written after them (the scrollbar's column under the strip's last cell)
            assert line.endswith(f"\x1b\\\x1b[{last + 1};{LAST_CELL + 1}H" + " " * 2)
            assert len(sixels(line)) == COLUMNS
            assert len(colours(grid.render_line(last))) == 1  # blank under the pictures
            assert "\x1bP" not in grid.render_line(last + 1).text  # the caption: text
        # Rows cut by the top and bottom edges: half-cells (solid colours here).
        assert len(colours(lines[0])) > 1
        assert len(colours(lines[SIZE[1] - 1])) > 1
        # The frame written carries the same pictures, before each row's caption line.
        frame = app.frames[-1]
        assert sixels(frame) == cells_of(grid, rows)

    sixel_run(test)


def test_a_cursor_move_sends_again_the_pictures_of_the_rows_it_repaints() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        seen = len(app.frames)
        await key(pilot, "right")  # within row 0
        assert sixels("".join(app.frames[seen:])) == cells_of(grid, [0])
        seen = len(app.frames)
        await key(pilot, "down")  # row 0 to row 1
        assert sorted(sixels("".join(app.frames[seen:]))) == sorted(cells_of(grid, [0, 1]))

    sixel_run(test)


def test_nothing_is_drawn_under_a_dialog() -> None:
    class Dialog(ModalScreen[None]):
        def compose(self) -> ComposeResult:
            yield Static("a dialog", markup=False)

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        assert len(sixels(app.frames[-1])) == 6 * COLUMNS
        seen = len(app.frames)
        app.push_screen(Dialog())
        await settle(pilot)
        await key(pilot, "x")  # anything that repaints
        assert len(app.frames) > seen
        assert "\x1bP" not in "".join(app.frames[seen:])
        seen = len(app.frames)
        app.pop_screen()
        await settle(pilot)
        assert set(sixels("".join(app.frames[seen:]))) == set(cells_of(grid, full_rows(grid)))

    sixel_run(test)


def test_page_down_sends_the_new_tiles_and_encodes_each_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    encode = grid_module.encode_sixel_tile

    def counting(data: bytes, width: int, height: int, background: int) -> str:
        calls.append(1)
        return encode(data, width, height, background)

    monkeypatch.setattr(grid_module, "encode_sixel_tile", counting)

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        for name in ["pagedown"] * 3 + ["pageup"] * 3 + ["pagedown"] * 2:
            seen = len(app.frames)
            await key(pilot, name)
            rows = full_rows(grid)
            assert rows, name
            # the new screen's pictures are sent, each at its cell
            sent = sixels("".join(app.frames[seen:]))
            assert set(cells_of(grid, rows)) <= set(sent), name
        assert calls and len(calls) == grid.sixel_encodings
        assert grid._sixels is not None
        assert len(calls) == len(grid._sixels)  # no tile encoded twice

    sixel_run(test, ids=range(1000, 1400))


def test_broken_and_missing_thumbnails_are_marks_not_pictures() -> None:
    source = FakeSource(special={1001: b"not an image"}, missing=[1002])

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        assert sixels(app.frames[-1]) == [(x, 0) for x in (0, 48, 64, 80, 96, 112)]
        assert "?" in grid.render_line(3).text

    sixel_run(test, ids=range(1000, 1008), source=source)


def test_inside_tmux_the_grid_draws_half_cells(monkeypatch: pytest.MonkeyPatch) -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        assert grid.graphics == "halfcell"
        assert "tmux" in grid.graphics_note
        assert "\x1bP" not in "".join(app.frames)
        assert len(colours(grid.render_line(3))) > 1  # the pictures' colours

    sixel_run(test, tmux=True)

    monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    import planche.tui.kitty as kitty

    monkeypatch.setattr(kitty, "settle_tmux_replies", lambda: b"")
    mode = ImageMode("sixel")
    assert mode.grid == "halfcell"
    assert "tmux" in mode.note
    monkeypatch.delenv("TMUX")
    mode = ImageMode("sixel")
    assert mode.grid == "sixel"
    assert mode.status().startswith("grid sixel · ")


def test_the_app_mode_picks_the_sixel_grid() -> None:
    class ModeApp(KittyApp):
        image_mode = ImageMode("sixel")

    async def main() -> None:
        app = ModeApp(FakeSource(), range(10))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            grid = app.query_one(ThumbnailGrid)
            assert grid.graphics == "sixel"
            assert len(sixels(app.frames[-1])) == 10  # 9 tiles in row 0, 1 in row 1

    asyncio.run(main())
