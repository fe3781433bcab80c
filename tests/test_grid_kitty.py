"""Sharp thumbnails in the grid (kitty graphics through Unicode placeholders), zoom and
vim keys: the exact escapes, the placeholder text of a tile, what is sent while
scrolling, what is deleted, and what the app writes to the terminal.

Like tests/test_grid.py, each test runs `asyncio.run(...)` around `App.run_test()`.
No real terminal shows kitty graphics here (tmux does not draw them, xterm has no
kitty graphics): the output is checked byte for byte instead.
"""

from __future__ import annotations

import asyncio
import io
import os
import pty
import re
import select
import sys
import termios
import threading
import tty
from collections.abc import Awaitable, Callable, Sequence

import pytest
from PIL import Image
from rich.color import ColorSystem
from rich.segment import Segment
from rich.style import Style
from test_grid import FakeSource, settle
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from planche.tui import kitty
from planche.tui.grid import ZOOM_SIZES, ThumbnailGrid
from planche.tui.images import ImageMode

SIZE = (160, 48)
COLUMNS, PAGE_ROWS = 9, 6  # 16x8 cells beside a 1-column scrollbar
SCREEN = COLUMNS * PAGE_ROWS
D = kitty.DIACRITICS
P = kitty.PLACEHOLDER
TRANSMIT = re.compile(r"\x1b_Ga=t,f=100,i=(\d+),q=2[,;]")
DELETE = re.compile(r"\x1b_Ga=d,d=I,i=(\d+),q=2\x1b\\")


@pytest.fixture(autouse=True)
def truecolor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual picks its colour system from the environment when the app is made."""
    monkeypatch.setenv("COLORTERM", "truecolor")
    monkeypatch.delenv("TMUX", raising=False)


def jpeg(size: tuple[int, int], rgb: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, rgb).save(out, format="JPEG", quality=95)
    return out.getvalue()


class KittyApp(App[None]):
    """A grid alone; what it writes to the terminal is kept in `output`; the frames
    Textual would write (headless apps write none) are kept in `frames`."""

    def __init__(self, source: FakeSource, ids: Sequence[int], **grid: object) -> None:
        super().__init__()
        self.source, self.ids, self.grid_options = source, ids, grid
        self.output: list[str] = []
        self.frames: list[str] = []

    def compose(self) -> ComposeResult:
        yield ThumbnailGrid(self.source, id="grid", kitty_output=self.output.append,
                            **self.grid_options)  # type: ignore[arg-type]  # fmt: skip

    def on_mount(self) -> None:
        grid = self.query_one(ThumbnailGrid)
        grid.set_images(self.ids)
        grid.focus()

    def _display(self, screen, renderable) -> None:  # noqa: ANN001 - Textual's own hook
        from textual._compositor import CompositorUpdate

        if isinstance(renderable, CompositorUpdate):
            self.frames.append(renderable.render_segments(self.console))
        super()._display(screen, renderable)


def run(
    test: Callable[[Pilot, KittyApp, ThumbnailGrid], Awaitable[None]],
    ids: Sequence[int] = tuple(range(1000, 1200)),
    source: FakeSource | None = None,
    **grid: object,
) -> None:
    grid.setdefault("graphics", "kitty")

    async def main() -> None:
        app = KittyApp(source or FakeSource(), ids, **grid)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            await test(pilot, app, app.query_one(ThumbnailGrid))

    asyncio.run(main())


async def key(pilot: Pilot, name: str) -> None:
    await pilot.press(name)
    await settle(pilot)


def transmitted(app: KittyApp) -> list[int]:
    return [int(i) for i in TRANSMIT.findall("".join(app.output))]


def deleted(app: KittyApp) -> list[int]:
    return [int(i) for i in DELETE.findall("".join(app.output))]


def visible_ids(grid: ThumbnailGrid) -> set[int]:
    return {grid.image_ids[i] for row in grid._visible_rows() for i in grid._layout.row_span(row)}


# ---------------------------------------------------------------------- escapes


def test_transmit_place_delete_escapes_exact() -> None:
    assert kitty.transmit(7, "QUJD") == ["\x1b_Ga=t,f=100,i=7,q=2;QUJD\x1b\\"]
    data = "A" * 4096 + "B" * 4096 + "C" * 10
    assert kitty.transmit(33554474, data) == [
        "\x1b_Ga=t,f=100,i=33554474,q=2,m=1;" + "A" * 4096 + "\x1b\\",
        "\x1b_Gm=1,q=2;" + "B" * 4096 + "\x1b\\",
        "\x1b_Gm=0,q=2;CCCCCCCCCC\x1b\\",
    ]
    assert kitty.place(42, 15, 7) == "\x1b_Ga=p,U=1,i=42,c=15,r=7,q=2\x1b\\"
    assert kitty.delete(42) == "\x1b_Ga=d,d=I,i=42,q=2\x1b\\"
    # tmux: DCS passthrough, every ESC inside doubled
    assert kitty.tmux_wrap(kitty.delete(42)) == (
        "\x1bPtmux;\x1b\x1b_Ga=d,d=I,i=42,q=2\x1b\x1b\\\x1b\\"
    )


def test_sent_images_wraps_for_tmux_and_counts_bytes() -> None:
    out: list[str] = []
    sent = kitty.SentImages(out.append, tmux=True)
    ident = sent.send("a", kitty.Picture("QUJD", 1, 1), 3, 2)
    assert out == [
        f"\x1bPtmux;\x1b\x1b_Ga=t,f=100,i={ident.number},q=2;QUJD\x1b\x1b\\\x1b\\"
        f"\x1bPtmux;\x1b\x1b_Ga=p,U=1,i={ident.number},c=3,r=2,q=2\x1b\x1b\\\x1b\\"
    ]
    assert sent.bytes_written == len(out[0])
    assert sent.send("a", kitty.Picture("QUJD", 1, 1), 3, 2) == ident  # held: no output
    assert len(out) == 1 and sent.transmissions == 1


@pytest.mark.parametrize(("system", "truecolor"), [("TRUECOLOR", True), ("EIGHT_BIT", False)])
def test_the_colour_written_carries_the_id(system: str, truecolor: bool) -> None:
    """Rich writes the id's colour as 38;2;r;g;b (truecolor) or 38;5;n (256 colours);
    the terminal reads the id as msb << 24 | that colour."""
    for slot in (0, 1, 226, 227, 5000, kitty.SLOTS - 1):
        ident = kitty.image_id(slot, truecolor)
        assert ident.number >> 24 == ident.msb >= 1
        sgr = Style.from_color(ident.color).render("x", color_system=ColorSystem[system])
        low = ident.number & 0xFFFFFF
        if truecolor:
            assert f"38;2;{low >> 16};{(low >> 8) & 255};{low & 255}m" in sgr
        else:
            assert f"38;5;{low}m" in sgr
    # distinct ids for distinct slots
    assert len({kitty.image_id(s, truecolor).number for s in range(kitty.SLOTS)}) == kitty.SLOTS


# ---------------------------------------------------------------------- the grid


def test_mode_follows_the_image_mode_and_falls_back_without_colours(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ImageMode("tgp").grid == "kitty"
    assert ImageMode("halfcell").grid == "halfcell"
    assert ImageMode("none").grid == "halfcell"
    assert ImageMode("tgp").status() == "grid kitty · preview tgp"

    class ModeApp(KittyApp):
        image_mode = ImageMode("tgp")

    async def main() -> None:
        app = ModeApp(FakeSource(), range(10))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert app.query_one(ThumbnailGrid).graphics == "kitty"
        monkeypatch.delenv("COLORTERM")
        monkeypatch.setenv("TERM", "xterm")  # 8 colours: no room for an id
        app = ModeApp(FakeSource(), range(10))
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            grid = app.query_one(ThumbnailGrid)
            assert grid.graphics == "halfcell"
            assert "half-cells" in grid.graphics_note
            assert app.output == []

    asyncio.run(main())


def test_a_tile_is_placeholder_text_in_the_colour_of_its_id() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        sent = grid.kitty_images
        assert sent is not None
        for index in (0, 4, COLUMNS + 1):  # first, middle, second row
            image_id = grid.image_ids[index]
            ident = sent.get((image_id, 15, 7))
            assert ident is not None
            col, row = divmod(index, COLUMNS)[::-1]
            for sub in range(7):
                strip = grid.render_line(row * 8 + sub)
                cells: list[Segment] = []
                x = 0
                for segment in strip:
                    if x >= col * 16 and x < col * 16 + 16:
                        cells.append(segment)
                    x += segment.cell_length
                text = "".join(s.text for s in cells)
                assert text == "".join(P + D[sub] + D[c] + D[ident.msb] for c in range(15)) + " ", (
                    index,
                    sub,
                )  # a gutter column after the picture
                assert cells[0].style.color.triplet == ident.color.triplet
                assert cells[-1].text == " " and cells[-1].style.color is None
            # the caption line stays text
            assert P not in grid.render_line(row * 8 + 7).text

    run(test)


def test_each_tile_is_sent_once_while_scrolling_back_and_forth() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        first = transmitted(app)
        # Only the visible tiles were sent, though two screens more were fetched.
        assert len(first) == SCREEN == len(visible_ids(grid))
        assert len(app.source.requested) > SCREEN
        seen = set(visible_ids(grid))
        for name in ["pagedown"] * 3 + ["pageup"] * 3 + ["pagedown"] * 3 + ["end", "home"]:
            await key(pilot, name)
            seen |= visible_ids(grid)
        numbers = transmitted(app)
        assert len(numbers) == len(set(numbers))  # no picture twice
        assert len(numbers) == len(seen)  # one per tile that was on screen
        assert deleted(app) == []
        # every transmission is followed by its placement, 15x7 cells
        joined = "".join(app.output)
        for number in numbers:
            assert f"\x1b_Ga=p,U=1,i={number},c=15,r=7,q=2\x1b\\" in joined

    run(test, ids=range(1000, 1400))


def test_evicted_pictures_are_deleted_and_sent_again_when_seen() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        sent = grid.kitty_images
        assert sent is not None
        bound = sent.max_images
        assert bound == 3 * (PAGE_ROWS + 1) * COLUMNS  # three screens: 189
        for _ in range(8):
            await key(pilot, "pagedown")
        assert len(sent) == bound
        gone = deleted(app)
        numbers = transmitted(app)
        assert len(gone) == len(numbers) - bound
        assert gone == numbers[: len(gone)]  # least recently used first
        first_screen = {(i, 15, 7) for i in range(1000, 1000 + SCREEN)}
        assert not first_screen & set(sent.keys())
        await key(pilot, "home")
        again = transmitted(app)[len(numbers) :]
        assert len(again) == SCREEN  # the first screen, sent again under new ids
        assert not set(again) & set(numbers[len(gone) :])  # never an id still held
        assert first_screen <= set(sent.keys())

    run(test, ids=range(1000, 2000), kitty_cache=10)


def test_the_frames_written_carry_placeholders_and_ids() -> None:
    """What Textual writes for the grid: the placeholder cells with their diacritics
    and the id's colour as SGR, after the picture's transmission."""

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        await key(pilot, "pagedown")
        frame = app.frames[-1]
        sent = grid.kitty_images
        assert sent is not None
        image_id = grid.current_image_id
        ident = sent.get((image_id, 15, 7))
        assert ident is not None
        low = ident.number & 0xFFFFFF
        sgr = f"38;2;{low >> 16};{(low >> 8) & 255};{low & 255}"
        assert sgr in frame
        assert P + D[0] + D[0] + D[ident.msb] in frame
        assert P + D[6] + D[14] + D[ident.msb] in frame
        # a cell's text: no control character but ESC-led SGR between cells
        assert frame.count(P) >= SCREEN * 15 * 7

    run(test, ids=range(1000, 1400))


def test_tmux_wraps_what_the_grid_sends() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        joined = "".join(app.output)
        assert joined.startswith("\x1bPtmux;\x1b\x1b_Ga=t,f=100,")
        assert "\x1b_Ga=" not in joined.replace("\x1b\x1b_Ga=", "")

    run(test, ids=range(1000, 1010), tmux=True)


def test_broken_and_missing_thumbnails_send_nothing() -> None:
    source = FakeSource(special={1001: b"not an image"}, missing=[1002])

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        assert len(transmitted(app)) == 8
        assert "?" in grid.render_line(3).text

    run(test, ids=range(1000, 1010), source=source)


# ---------------------------------------------------------------------- zoom


@pytest.mark.parametrize("graphics", ["halfcell", "kitty"])
def test_zoom_steps_through_the_sizes_and_keeps_the_cursor_on_screen(graphics: str) -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        await key(pilot, "pagedown")
        await key(pilot, "pagedown")
        grid.cursor = grid.cursor + 4
        await settle(pilot)
        image = grid.current_image_id
        sizes = [grid.cell_size]
        for name in ["plus"] * 3 + ["minus"] * 3 + ["minus"]:
            await key(pilot, name)
            sizes.append(grid.cell_size)
            assert grid.current_image_id == image
            assert image in visible_ids(grid), (name, grid.cell_size)
        assert sizes == [ZOOM_SIZES[i] for i in (1, 2, 3, 3, 2, 1, 0, 0)]
        assert len(set(sizes)) >= 3
        if graphics == "kitty":
            assert grid.kitty_images is not None
            assert (image, 42, 14) in grid.kitty_images  # sent at the largest size too

    run(test, ids=range(1000, 1400), graphics=graphics)


def test_largest_zoom_shows_a_16_9_picture_40_columns_wide() -> None:
    wide = FakeSource(special={i: jpeg((128, 72)) for i in range(1000, 1010)})

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        for _ in range(3):
            await key(pilot, "plus")
        width, height = grid.cell_size
        assert width - 1 >= 40
        # half-cells: count the red columns of the picture's middle line
        middle = grid.render_line(height // 2)
        red = 0
        for segment in list(middle)[: width * 1]:
            style = segment.style
            colors = [c.triplet for c in (style.color, style.bgcolor) if c is not None]
            if any(c is not None and c.red > 200 and c.green < 60 for c in colors):
                red += segment.cell_length
        assert red >= 40

    run(test, ids=range(1000, 1010), source=wide, graphics="halfcell")


def test_largest_zoom_kitty_placement_fits_a_16_9_picture_40_columns_wide() -> None:
    wide = FakeSource(special={i: jpeg((128, 72)) for i in range(1000, 1010)})

    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        for _ in range(3):
            await key(pilot, "plus")
        joined = "".join(app.output)
        placed = re.findall(r"a=p,U=1,i=\d+,c=(\d+),r=(\d+)", joined)
        columns, rows = map(int, placed[-1])
        # the terminal fits the picture in the rectangle, aspect kept (10x20-pixel cells)
        shown = min(columns * 10, rows * 20 * 16 / 9) / 10
        assert shown >= 40

    run(test, ids=range(1000, 1010), source=wide)


# ---------------------------------------------------------------------- vim keys


def test_vim_keys_move_like_the_arrows() -> None:
    async def test(pilot: Pilot, app: KittyApp, grid: ThumbnailGrid) -> None:
        grid.cursor = COLUMNS + 1
        for vim, arrow in [("l", "right"), ("j", "down"), ("h", "left"), ("k", "up")]:
            start = grid.cursor
            await key(pilot, arrow)
            by_arrow = grid.cursor
            grid.cursor = start
            await key(pilot, vim)
            assert grid.cursor == by_arrow != start, vim
        grid.cursor = 0
        await key(pilot, "l")
        assert grid.cursor == 1
        await key(pilot, "j")
        assert grid.cursor == 1 + COLUMNS
        await key(pilot, "h")
        assert grid.cursor == COLUMNS
        await key(pilot, "k")
        assert grid.cursor == 0

        await key(pilot, "G")
        assert grid.cursor == len(grid.image_ids) - 1
        await key(pilot, "g")
        assert grid.cursor == len(grid.image_ids) - 1  # one g does nothing yet
        await key(pilot, "g")
        assert grid.cursor == 0
        await key(pilot, "G")
        await key(pilot, "g")
        await key(pilot, "k")  # another key in between cancels the g
        moved = grid.cursor
        await key(pilot, "g")
        assert grid.cursor == moved
        await key(pilot, "g")
        assert grid.cursor == 0

    run(test, graphics="halfcell")


# ---------------------------------------------------------------------- inside tmux


def test_inside_tmux_the_terminals_late_answer_to_the_probe_is_not_typed_into_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Seen in kitty 0.41 running tmux 3.5a: tmux answers the probe's device-attributes
    query at once, kitty's answer to its graphics query comes after, and the app took
    it for keys (`i` opened the import dialog, `=` zoomed, `3` focused the search)."""
    import textual_image.widget  # noqa: F401 - its probe, on import, is not this test's
    from textual._xterm_parser import XTermParser

    master, slave = pty.openpty()
    late = b"\x1b_Gi=3826851785;OK\x1b\\"  # the probe's answer, after tmux's own
    os.write(master, late)
    asked: list[bytes] = []

    def terminal() -> None:  # kitty behind tmux: it answers queries in order
        got = b""
        while b"a=q" not in got:
            got += os.read(master, 4096)
        asked.append(got)
        os.write(master, b"\x1b_Gi=%d;OK\x1b\\" % kitty.SETTLE_ID)

    answering = threading.Thread(target=terminal, daemon=True)
    answering.start()
    with (
        open(slave, "rb", buffering=0, closefd=False) as tty_in,
        open(slave, "wb", buffering=0, closefd=False) as tty_out,
    ):
        monkeypatch.setattr(sys, "__stdin__", tty_in)
        monkeypatch.setattr(sys, "__stdout__", tty_out)
        monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
        assert ImageMode("tgp").grid == "kitty"
    answering.join(timeout=5)
    os.write(master, b"j")  # the user's first key
    tty.setraw(slave, termios.TCSANOW)  # as Textual does: what is pending stays
    typed = b""
    while select.select([slave], [], [], 0.5)[0]:
        typed += os.read(slave, 4096)
        if typed.endswith(b"j"):
            break
    os.close(master)
    os.close(slave)
    keys = [event.key for event in XTermParser().feed(typed.decode()) if hasattr(event, "key")]
    assert keys == ["j"], f"the app would see {keys!r}"
    assert asked and b"\x1bPtmux;\x1b\x1b_G" in asked[0]  # its query: in tmux's passthrough


@pytest.mark.parametrize(
    ("name", "placeholders"),
    [
        ("kitty(0.41.1)", True),
        ("kitty(0.28.0)", True),
        ("kitty(0.26.5)", False),  # Debian 12's: answers the graphics query, draws boxes
        ("xterm-kitty", True),  # tmux's client_termname: no version
        ("ghostty 1.1.3", True),
        ("xterm-ghostty", True),
        ("WezTerm 20240203-110809-5046fc22", False),
        ("XTerm(390)", False),
        ("", False),
    ],
)
def test_which_terminals_draw_placeholders(name: str, placeholders: bool) -> None:
    assert kitty.has_placeholders(name) is placeholders


def _answering_terminal(answer: bytes) -> tuple[int, int, threading.Thread]:
    """A pty whose far end answers the first query it reads with `answer`."""
    master, slave = pty.openpty()

    def terminal() -> None:
        os.read(master, 4096)
        os.write(master, answer)

    answering = threading.Thread(target=terminal, daemon=True)
    answering.start()
    return master, slave, answering


@pytest.mark.parametrize(
    ("answer", "name"),
    [
        (b"\x1bP>|kitty(0.26.5)\x1b\\\x1b[?62;c", "kitty(0.26.5)"),
        (b"\x1b[?64;1;2;6;9;15;18;21;22c", ""),  # XTVERSION unknown: only the DA answer
    ],
)
def test_the_terminal_tells_its_name_and_nothing_is_left_as_keys(
    monkeypatch: pytest.MonkeyPatch, answer: bytes, name: str
) -> None:
    monkeypatch.delenv("TMUX", raising=False)
    master, slave, answering = _answering_terminal(answer)
    try:
        assert kitty.terminal_name(slave, slave, timeout=5) == name
        answering.join(timeout=5)
        os.write(master, b"j")  # the user's first key: the only thing left to read
        tty.setraw(slave, termios.TCSANOW)  # as Textual does: what is pending stays
        assert select.select([slave], [], [], 2)[0]
        assert os.read(slave, 4096) == b"j"
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize(
    ("probed_tgp", "tmux", "name", "grid", "preview"),
    [
        (True, False, "kitty(0.41.1)", "kitty", "tgp"),
        (True, False, "kitty(0.26.5)", "halfcell", "halfcell"),
        (True, False, "WezTerm 20240203", "halfcell", "halfcell"),
        (False, True, "xterm-kitty", "kitty", "tgp"),  # tmux 3.4+ said sixel for itself
        (False, True, "xterm-256color", "halfcell", "halfcell"),
        (False, False, "never asked", "halfcell", "halfcell"),  # as probed: half-cells
    ],
)
def test_auto_mode_draws_kitty_pictures_only_where_they_show(
    monkeypatch: pytest.MonkeyPatch, probed_tgp: bool, tmux: bool, name: str, grid: str,
    preview: str,
) -> None:  # fmt: skip
    from planche.tui import images

    asked: list[bool] = []
    monkeypatch.setattr(images, "_probed", lambda: "tgp" if probed_tgp else "")
    monkeypatch.setattr(kitty, "settle_tmux_replies", lambda: b"")
    monkeypatch.setattr(kitty, "terminal_name", lambda: asked.append(True) or name)
    if tmux:
        monkeypatch.setenv("TMUX", "/tmp/tmux-0/default,1,0")
    else:
        monkeypatch.delenv("TMUX", raising=False)
    mode = ImageMode("auto")
    assert (mode.grid, mode.name) == (grid, preview)
    assert asked == ([] if name == "never asked" else [True])
    if grid == "halfcell" and probed_tgp:
        assert "no kitty placeholders" in mode.note
