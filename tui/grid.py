"""A grid of image thumbnails, for 100,000 images and more: half-cell blocks, or kitty
graphics drawn through Unicode placeholders where the terminal has them.

Why one Line-API view: one image widget per thumbnail does not scale in Textual
(measured here: 2,000 widgets took 1.6 s to start and 0.5 s per page; 10,000 took
7.9 s and 1.6 s, see DESIGN.md, "The app"). `ThumbnailGrid` is instead a single
`ScrollView`, the pattern of Textual's DataTable and toolong's log view: it sets a
`virtual_size` for the whole collection and Textual asks `render_line(y)` only for the
lines on screen. Nothing is created per image, so 100,000 ids cost one tuple.

How a line is drawn: the grid is rows of cells `cell_width` columns wide and
`cell_height` lines high. The last line of a cell is its caption; the lines above show
the thumbnail as "▀" half blocks (top pixel as the foreground colour, bottom pixel as
the background colour), so a cell holds (cell_width-1) x 2*(cell_height-1) pixels (one
column is left as a gutter between cells). A line is the concatenation of one strip
per cell in its row.

Caching and loading: decoded pixels (small numpy arrays) and rendered cell strips sit
in two LRU caches. Thumbnails for the visible rows plus a prefetch margin of a couple
of screens are fetched from the `ThumbnailSource`, decoded and rendered in one thread
worker (exclusive: a scroll replaces the pending request), which posts the results
back; until then a cell draws as a neutral placeholder. The UI thread never calls the
source nor decodes a JPEG.

Refreshing: moving the cursor repaints only the two cells it leaves and enters, and a
loaded batch repaints only the visible cells it fills; only scrolling repaints the view.

Sharp thumbnails (`graphics="kitty"`, see tui/kitty.py): the worker encodes each
thumbnail as a PNG instead of half-cell strips; when `render_line` first draws a tile,
its picture is transmitted to the terminal once (per image and tile size) and the
tile's lines are placeholder characters, so scrolling only redraws text. The pictures
the terminal holds are an LRU; those it evicts are deleted from the terminal.

256-colour terminals: Rich converts each truecolor to a palette entry when it first
renders a style, and caches 1,024 colours; thumbnails have up to 32,768. So the cells
are drawn with one stand-in colour per palette entry (`render_cell(eight_bit=True)`):
the terminal gets the same entries, Rich and Textual their cache hits.

Sixel (`graphics="sixel"`, xterm and other sixel terminals outside tmux): the worker
also encodes each thumbnail as a sixel picture of the tile's pixels (once per image,
tile size and background). A row of tiles wholly inside the viewport is drawn blank in
the text layer, and `render_lines` appends the row's pictures to the end of its last
picture line: a cursor move to each tile's cell on screen, the sixel data as a
zero-width segment, and a move back to where the line's text ended (Textual writes a
screen line without repositioning between widgets' strips; its partial updates write a
chop to its end or not past the span, so the pictures at the end of a line go out
exactly when the whole line is rewritten, or not at all). A refresh in sixel mode
therefore repaints whole rows. Rows cut by the viewport's top or bottom edge keep their
half-cells, so no picture is ever cropped to a scroll position; nothing is drawn under a
dialog (the screen is not active).

Zoom (`+`, `-`) switches between the tile sizes of `ZOOM_SIZES`; decoded thumbnails are
dropped (they are decoded for one size), rendered strips and sent pictures are kept.
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from itertools import batched
from typing import ClassVar, Final, Protocol

import numpy as np
from PIL import Image
from rich.cells import cell_len, set_cell_size
from rich.color import Color as RichColor
from rich.color import ColorTriplet
from rich.control import Control
from rich.segment import ControlType, Segment
from rich.style import Style
from textual import events, on
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker
from textual_image._sixel import image_to_sixels

from planche.tui import kitty
from planche.tui.grid_layout import GridLayout, Header

__all__ = ["ThumbnailGrid", "ThumbnailSource"]


class ThumbnailSource(Protocol):
    """Where the grid gets thumbnails. Called from a worker thread, one call at a time."""

    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]:
        """JPEG (or any Pillow-readable) bytes per id; ids it cannot serve may be left out."""
        ...


# What a cell can hold instead of pixels. Both are final: they are not fetched again
# (until `forget_thumbnails`), so a broken thumbnail cannot make the grid loop.
_MISSING: Final = "missing"  # the source returned nothing for this id
_FAILED: Final = "failed"  # the bytes did not decode
# Kitty mode: the picture was transmitted and its payload dropped; if the terminal's
# LRU forgets it, the marker goes and the thumbnail is fetched again.
_SENT: Final = "sent"
_Pixels = np.ndarray | str | kitty.Picture

_BATCH = 64  # ids per source call: one screen of 16x8 cells at 160x48 fits in one call
_PREFETCH_SCREENS = 2  # rows loaded above and below the viewport, in screens
_PIXEL_CACHE = 20_000  # 16x14 RGB is 672 bytes: ~13 MB, enough to page back cheaply
# A rendered cell takes ~40 KB (a Style and a Segment per pixel pair), so the strip
# LRU holds the prefetch window a few times over, not more (see _remember_strips).
_MIN_STRIP_CACHE = 600
_MAX_SOURCE_PIXELS = 4096 * 4096  # a "thumbnail" claiming more is corrupt or hostile
# The last column of a cell stays background: without it, side-by-side landscape
# thumbnails touch and read as one picture.
_GUTTER = 1
# Tile sizes (columns, lines with the caption) that + and - step through. The largest
# fits two across the app's grid at 160 columns (87 wide) and shows a 16:9 picture
# 42 columns wide.
ZOOM_SIZES: Final = ((10, 5), (16, 8), (24, 11), (43, 15))
_KITTY_PAYLOADS = 2000  # encoded PNGs not yet sent (~25 KB each): the prefetch window
_KITTY_MIN_SENT = 600  # pictures the terminal keeps at least (see SentImages)
_SIXEL_MIN_CACHE = 600  # encoded sixel tiles kept at least (~10-40 KB each)
_SIXEL_BAND = 6  # a sixel is 6 pixels high: pictures are a whole number of bands
# bench/startup.py times the start-up in a pty: with this set, the grid writes the wall
# clock (time.time()) to that file once, when every visible tile first has its thumbnail.
FIRST_GRID_ENV: Final = "PLANCHE_FIRST_GRID_FILE"


def _pack(r: int, g: int, b: int) -> int:
    return (r << 16) | (g << 8) | b


@lru_cache(maxsize=1 << 16)
def _rich_color(rgb: int) -> RichColor:
    return RichColor.from_triplet(ColorTriplet(rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF))


@lru_cache(maxsize=1 << 16)
def _pair_style(top: int, bottom: int) -> Style:
    # Style.from_color skips Rich's style parser: this is called for every pixel pair.
    return Style.from_color(_rich_color(top), _rich_color(bottom))


@lru_cache(maxsize=1024)
def _fill_style(rgb: int) -> Style:
    return Style.from_color(bgcolor=_rich_color(rgb))


def decode_thumbnail(data: bytes, width: int, height: int) -> _Pixels:
    """Decode `data` and scale it to fit `width` x `height` pixels, aspect kept.

    Returns an (h, w, 3) uint8 array, or `_FAILED`; never raises.
    """
    try:
        with Image.open(BytesIO(data)) as img:
            w, h = img.size
            if w <= 0 or h <= 0 or w * h > _MAX_SOURCE_PIXELS:
                return _FAILED
            scale = min(width / w, height / h)
            size = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
            img.draft("RGB", size)  # JPEG: decode at a reduced scale when it is large
            rgb = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            pixels = np.asarray(rgb, dtype=np.uint8)
    except Exception:  # noqa: BLE001 - any broken file is a placeholder, never a crash
        return _FAILED
    # 15-bit colour (top bits repeated, so 255 stays 255): no visible difference at this
    # size, and cells then share Color and Style objects: a rendered cell measured 30%
    # smaller and faster to build.
    return (pixels & 0xF8) | (pixels >> 5)


def encode_sixel_tile(data: bytes, width: int, height: int, background: int) -> str:
    """`data` fitted (aspect kept) into `width` x `height` pixels, centred on a canvas
    of the tile's width in `background` (packed RGB), as sixel data; "" when it does not
    decode. The canvas is as high as whole sixel bands allow inside `height`, so the
    picture never reaches the caption line, and it paints the whole tile: nothing of a
    picture drawn there before shows around it."""
    height -= height % _SIXEL_BAND
    if width <= 0 or height <= 0:
        return ""
    try:
        with Image.open(BytesIO(data)) as img:
            w, h = img.size
            if w <= 0 or h <= 0 or w * h > _MAX_SOURCE_PIXELS:
                return ""
            scale = min(width / w, height / h)
            size = (max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale))))
            img.draft("RGB", size)
            rgb = img.convert("RGB").resize(size, Image.Resampling.LANCZOS)
        rgb_background = (background >> 16, (background >> 8) & 0xFF, background & 0xFF)
        canvas = Image.new("RGB", (width, height), rgb_background)
        # Centred like render_cell: the gutter column is left out of `width` already.
        canvas.paste(rgb, ((width - size[0]) // 2, (height - size[1]) // 2))
        return image_to_sixels(canvas)
    except Exception:  # noqa: BLE001 - any broken file is a placeholder, never a crash
        return ""


@lru_cache(maxsize=1)
def _eight_bit_stand_ins() -> np.ndarray:
    """For each 15-bit colour of decode_thumbnail (indexed r5 << 10 | g5 << 5 | b5), a
    colour that a 256-colour terminal gets as the same palette entry: the smallest of
    the 15-bit colours that Rich's `Color.downgrade` maps to that entry (its formula,
    vectorised: HLS saturation under 0.15 is grey, else the 6x6x6 cube).

    Drawn in 256 colours, thumbnails then use at most ~240 colours instead of up to
    32,768: Rich and Textual cache the rendering of a style (1,024 colours, 16,384
    styles), so a new page costs cache hits instead of thousands of conversions, and
    the terminal gets the same palette entries as before."""
    five = np.arange(32)
    channel = ((five << 3) | (five >> 2)).astype(np.float64)  # (x & 0xF8) | (x >> 5)
    r, g, b = (a.ravel() for a in np.meshgrid(channel, channel, channel, indexing="ij"))
    red, green, blue = r / 255.0, g / 255.0, b / 255.0  # as ColorTriplet.normalized
    high = np.maximum(np.maximum(red, green), blue)
    low = np.minimum(np.minimum(red, green), blue)
    light = (high + low) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):  # as colorsys.rgb_to_hls
        saturation = np.where(light <= 0.5, (high - low) / (high + low),
                              (high - low) / (2.0 - high - low))  # fmt: skip
    saturation[high == low] = 0.0
    grey = np.round(light * 25.0).astype(np.int64)  # Python's round: half to even, as numpy's
    grey_number = np.where(grey == 0, 16, np.where(grey == 25, 231, 231 + grey))

    def six(c: np.ndarray) -> np.ndarray:
        return np.round(np.where(c < 95, c / 95, 1 + (c - 95) / 40)).astype(np.int64)

    cube_number = 16 + 36 * six(r) + 6 * six(g) + six(b)
    number = np.where(saturation < 0.15, grey_number, cube_number)
    packed = (r.astype(np.uint32) << 16) | (g.astype(np.uint32) << 8) | b.astype(np.uint32)
    first = np.full(256, -1, dtype=np.int64)
    order = np.argsort(packed, kind="stable")
    for i in order[::-1]:  # ascending packed value wins: overwrite from the largest down
        first[number[i]] = i
    return packed[first[number]]


def render_cell(pixels: np.ndarray, width: int, lines: int, background: int,
                eight_bit: bool = False) -> tuple[Strip, ...]:  # fmt: skip
    """Half-block strips (`lines` of `width` cells) of `pixels` centred on `background`.
    `eight_bit`: the terminal gets 256 colours; 15-bit pixels (as decode_thumbnail
    makes them) are drawn with stand-ins of the same palette entries."""
    height = 2 * lines
    canvas = np.full((height, width), background, dtype=np.uint32)
    h, w = pixels.shape[:2]
    top, left = (height - h) // 2, max(0, (width - _GUTTER - w) // 2)
    p = pixels.astype(np.uint32)
    if eight_bit and np.array_equal(pixels, (pixels & 0xF8) | (pixels >> 5)):
        five = p >> 3
        index = (five[..., 0] << 10) | (five[..., 1] << 5) | five[..., 2]
        canvas[top : top + h, left : left + w] = _eight_bit_stand_ins()[index]
    else:
        canvas[top : top + h, left : left + w] = (p[..., 0] << 16) | (p[..., 1] << 8) | p[..., 2]
    strips = []
    for y in range(lines):
        segments = [
            # Equal halves need no foreground: a space in that background colour.
            Segment(" ", _fill_style(t)) if t == b else Segment("▀", _pair_style(t, b))
            for t, b in zip(canvas[2 * y].tolist(), canvas[2 * y + 1].tolist(), strict=True)
        ]
        strips.append(Strip(segments, width).simplify())
    return tuple(strips)


def safe_text(text: str) -> str:
    """`text` with everything a terminal could interpret (ESC, C1, bidi overrides…) replaced.

    Textual writes segment text to the terminal as it is, so a file name holding an
    escape sequence would otherwise drive the terminal.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else "\ufffd" for c in text)


def fit_caption(text: str, width: int) -> str:
    """`text` ellipsised or centred to exactly `width` cells (wide characters counted)."""
    if width <= 0:
        return ""
    length = cell_len(text)
    if length > width:
        return set_cell_size(text, width - 1) + "…"
    left = (width - length) // 2
    return " " * left + text + " " * (width - length - left)


@dataclass(frozen=True, slots=True)
class _Look:
    """The styles of one repaint, read once per `render_lines` (they follow the theme)."""

    base: Style
    background: int
    caption: Style
    cursor: Style
    selected: Style
    cursor_selected: Style
    placeholder: Style
    header: Style


class ThumbnailGrid(ScrollView, can_focus=True):
    """A keyboard-driven grid of image thumbnails; see the module docstring."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("left", "cursor_left", "Left", show=False),
        Binding("right", "cursor_right", "Right", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
        Binding("h", "cursor_left", "Left", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("l", "cursor_right", "Right", show=False),
        Binding("g", "g_prefix", "g g: first", show=False),
        Binding("G", "cursor_last", "Last", show=False),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in", show=False),
        Binding("minus", "zoom(-1)", "Zoom out", show=False),
        Binding("shift+up", "cursor_up(True)", "Extend up", show=False),
        Binding("shift+down", "cursor_down(True)", "Extend down", show=False),
        Binding("shift+left", "cursor_left(True)", "Extend left", show=False),
        Binding("shift+right", "cursor_right(True)", "Extend right", show=False),
        Binding("shift+pageup", "cursor_page_up(True)", "Extend page up", show=False),
        Binding("shift+pagedown", "cursor_page_down(True)", "Extend page down", show=False),
        Binding("shift+home", "cursor_first(True)", "Extend to first", show=False),
        Binding("shift+end", "cursor_last(True)", "Extend to last", show=False),
        Binding("space", "toggle_selection", "Select"),
        Binding("enter", "open", "Open"),
        Binding("ctrl+a", "select_all", "Select all", show=False),
        Binding("escape", "clear_selection", "Clear selection", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "thumbnail-grid--caption",
        "thumbnail-grid--cursor",
        "thumbnail-grid--selected",
        "thumbnail-grid--cursor-selected",
        "thumbnail-grid--placeholder",
        "thumbnail-grid--header",
    }

    # overflow-y: scroll keeps the scrollbar, hence the column count, fixed as the
    # content grows past one screen; the grid never scrolls sideways.
    DEFAULT_CSS = """
    ThumbnailGrid {
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        overflow-y: scroll;
        scrollbar-size-vertical: 1;
        & > .thumbnail-grid--caption { color: $text-muted; }
        & > .thumbnail-grid--header { color: $accent; text-style: bold; }
        & > .thumbnail-grid--selected { background: $primary 40%; color: $foreground; }
        & > .thumbnail-grid--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        & > .thumbnail-grid--cursor-selected {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: bold;
        }
        & > .thumbnail-grid--placeholder { background: $panel; color: $text-muted; }
        &:focus {
            & > .thumbnail-grid--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .thumbnail-grid--cursor-selected {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: bold;
            }
        }
    }
    """

    class Highlighted(Message):
        """The cursor moved to another image (`None`: the grid is empty)."""

        def __init__(self, grid: ThumbnailGrid, image_id: int | None) -> None:
            super().__init__()
            self.grid = grid
            self.image_id = image_id

        @property
        def control(self) -> ThumbnailGrid:
            return self.grid

    class Opened(Message):
        """Enter (or a double click) on an image."""

        def __init__(self, grid: ThumbnailGrid, image_id: int) -> None:
            super().__init__()
            self.grid = grid
            self.image_id = image_id

        @property
        def control(self) -> ThumbnailGrid:
            return self.grid

    class SelectionChanged(Message):
        """The set of selected image ids changed."""

        def __init__(self, grid: ThumbnailGrid, selected: frozenset[int]) -> None:
            super().__init__()
            self.grid = grid
            self.selected = selected

        @property
        def control(self) -> ThumbnailGrid:
            return self.grid

    class FirstShown(Message):
        """Once: every visible tile has its thumbnail (or there is nothing to show)."""

        def __init__(self, grid: ThumbnailGrid) -> None:
            super().__init__()
            self.grid = grid

        @property
        def control(self) -> ThumbnailGrid:
            return self.grid

    class _Loaded(Message, bubble=False):
        """Thumbnails decoded by the worker, posted to the grid itself."""

        def __init__(
            self,
            pixels: dict[int, _Pixels],
            strips: dict[int, tuple[Strip, ...]],
            key: tuple,
            sixels: dict[int, str] | None = None,
        ) -> None:
            super().__init__()
            self.pixels = pixels
            self.strips = strips
            self.key = key  # (cell_width, cell_height, background) the strips were made for
            self.sixels = sixels or {}  # sixel mode: each tile's picture ("": none)

    def __init__(
        self,
        source: ThumbnailSource,
        *,
        cell_width: int = 16,
        cell_height: int = 8,
        graphics: str | None = None,
        kitty_output: Callable[[str], None] | None = None,
        kitty_cache: int = _KITTY_MIN_SENT,
        tmux: bool | None = None,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if cell_width < 2 or cell_height < 2:
            raise ValueError("a cell needs at least 2 columns and 2 lines")
        self._source = source
        self._cell_width = cell_width
        self._cell_height = cell_height
        self._ids: tuple[int, ...] = ()
        self._captions: tuple[str, ...] | None = None
        self._cursor = 0
        self._selected: set[int] = set()
        self._selected_frozen: frozenset[int] = frozenset()
        self._columns = 1
        self._rows = 0
        self._sections: tuple[tuple[str, int], ...] | None = None
        self._layout = GridLayout(0, 1, cell_height)
        self._pixels: OrderedDict[int, _Pixels] = OrderedDict()
        self._strips: OrderedDict[tuple, tuple[Strip, ...]] = OrderedDict()
        self._inflight: set[int] = set()
        self._fetch_queued = False
        self._look: _Look | None = None
        self._placeholders: dict[tuple[_Look, str, int, int], tuple[Strip, ...]] = {}
        # Serialises source calls: an exclusive worker that was cancelled keeps running
        # until its current batch ends (threads cannot be killed).
        self._source_lock = threading.Lock()
        # "kitty", "sixel" or "halfcell"; None: the app's `image_mode.grid`, read when
        # first needed.
        if graphics not in (None, "kitty", "sixel", "halfcell"):
            raise ValueError(f"graphics must be 'kitty', 'sixel' or 'halfcell', not {graphics!r}")
        self._graphics = graphics
        self._graphics_note = ""
        self._kitty: kitty.SentImages | None = None
        self._kitty_output = kitty_output
        self._kitty_cache = kitty_cache
        self._tmux = bool(os.environ.get("TMUX")) if tmux is None else tmux
        # Sixel mode: encoded tiles by (image id, cell width, cell height, background),
        # an LRU; None in the other modes.
        self._sixels: OrderedDict[tuple, str] | None = None
        # Sixel mode: the tiles render_line drew blank (index -> (image id, cell size,
        # sixel data)), whose pictures render_lines sends.
        self._sixel_drawn: dict[int, tuple[int, tuple[int, int], str]] = {}
        self.sixel_encodings = 0  # tiles encoded as sixels (tests, benchmarks)
        self._cell_pixels = (10, 20)
        self._g_pending = False
        self._graphics_resolved = False
        self._eight_bit = False  # the terminal gets 256 colours (see render_cell)
        self._zoom = next((i for i, (w, _) in enumerate(ZOOM_SIZES) if w >= cell_width),
                          len(ZOOM_SIZES) - 1)  # fmt: skip

    # ------------------------------------------------------------------ public API

    @property
    def image_ids(self) -> tuple[int, ...]:
        """The ids shown, in order."""
        return self._ids

    @property
    def sections(self) -> tuple[tuple[str, int], ...] | None:
        """(header, how many images) of each section, or None when not grouped."""
        return self._sections

    @property
    def captions(self) -> tuple[str, ...]:
        """The caption of each image shown, in order."""
        return self._captions if self._captions is not None else tuple(map(str, self._ids))

    @property
    def selected(self) -> frozenset[int]:
        """The selected image ids."""
        return self._selected_frozen

    @property
    def current_image_id(self) -> int | None:
        """The id under the cursor, or `None` when the grid is empty."""
        return self._ids[self._cursor] if self._ids else None

    @property
    def cursor(self) -> int:
        """The cursor's index in `image_ids`."""
        return self._cursor

    @cursor.setter
    def cursor(self, index: int) -> None:
        self._move_cursor(index)

    @property
    def cell_size(self) -> tuple[int, int]:
        """(cell_width, cell_height) in terminal cells, caption line included."""
        return self._cell_width, self._cell_height

    @property
    def columns(self) -> int:
        """Cells per row at the current width."""
        return self._columns

    @property
    def zoom(self) -> int:
        """The index of the tile size in `ZOOM_SIZES` (+ and - step through them)."""
        return self._zoom

    @property
    def graphics(self) -> str:
        """How thumbnails are drawn: "kitty" (placeholders), "sixel" or "halfcell"."""
        self._resolve_graphics()
        if self._kitty is not None:
            return "kitty"
        return "sixel" if self._sixels is not None else "halfcell"

    @property
    def graphics_note(self) -> str:
        """Why the grid fell back to half-cells where kitty or sixel was asked for ("" if
        not)."""
        self._resolve_graphics()
        return self._graphics_note

    @property
    def kitty_images(self) -> kitty.SentImages | None:
        """The pictures sent to the terminal (kitty mode), keyed (image id, columns, rows)."""
        self._resolve_graphics()
        return self._kitty

    def set_images(self, image_ids: Sequence[int], captions: Sequence[str] | None = None,
                   sections: Sequence[tuple[str, int]] | None = None) -> None:  # fmt: skip
        """Show `image_ids` (captioned by `captions`, default the id); cursor to the first,
        selection cleared, scrolled to the top. Thumbnail caches are kept (ids are stable).
        `sections`: (header, how many images) in order, each section starting on a new
        row under its header (a listing grouped by a property)."""
        # Plain ints and strs (not numpy scalars, not None): they reach messages, the
        # source and render_line, which must never raise. ~5 ms for 100,000.
        ids = tuple(map(int, image_ids))
        if captions is not None and len(captions) != len(ids):
            raise ValueError(f"{len(captions)} captions for {len(ids)} images")
        old_id = self.current_image_id
        had_selection = bool(self._selected)
        self._ids = ids
        self._captions = tuple(map(str, captions)) if captions is not None else None
        self._sections = tuple((str(label), int(size)) for label, size in sections) if (
            sections is not None) else None  # fmt: skip
        self._cursor = 0
        self._selected = set()
        self._selected_frozen = frozenset()
        self._inflight.clear()
        self._sixel_drawn.clear()
        self._update_layout()
        if self.is_mounted:  # before, nothing is scrolled (and there may be no app yet)
            self.scroll_to(0, 0, animate=False, force=True)
        self.refresh()
        self._schedule_fetch()
        if not ids and not self._first_grid_told:
            self._first_grid_told = True
            self.post_message(self.FirstShown(self))
        if self.current_image_id != old_id:
            self.post_message(self.Highlighted(self, self.current_image_id))
        if had_selection:
            self.post_message(self.SelectionChanged(self, self._selected_frozen))

    def select_images(self, image_ids: Iterable[int]) -> None:
        """Make the shown images among `image_ids` the selection (e.g. an area of the map);
        the cursor goes to the first of them."""
        wanted = {int(i) for i in image_ids}
        self._selected = wanted & set(self._ids)
        first = next((i for i, image_id in enumerate(self._ids) if image_id in wanted), None)
        if first is not None:
            self._move_cursor(first)
        self._selection_changed(None)

    def forget_thumbnails(self, image_ids: Iterable[int] | None = None) -> None:
        """Drop cached thumbnails (all, or of `image_ids`) so they are fetched again."""
        if image_ids is None:
            self._pixels.clear()
            self._strips.clear()
            if self._sixels is not None:
                self._sixels.clear()
            if self._kitty is not None:
                self._kitty.clear()
        else:
            gone = set(image_ids)
            for image_id in gone:
                self._pixels.pop(image_id, None)
            for key in [k for k in self._strips if k[0] in gone]:
                del self._strips[key]
            if self._sixels is not None:
                for key in [k for k in self._sixels if k[0] in gone]:
                    del self._sixels[key]
            if self._kitty is not None:
                self._kitty.discard([k for k in self._kitty.keys() if k[0] in gone])  # noqa: SIM118
        self._inflight.clear()
        self._sixel_drawn.clear()
        self.refresh()
        self._schedule_fetch()

    # ------------------------------------------------------------------ layout

    def _update_layout(self) -> None:
        self._resolve_graphics()
        width = self.scrollable_content_region.width
        self._columns = max(1, width // self._cell_width)
        self._layout = GridLayout(len(self._ids), self._columns, self._cell_height,
                                  self._sections)  # fmt: skip
        self._rows = self._layout.rows
        self.virtual_size = Size(width, self._layout.height)
        if self._kitty is not None:
            # Never evict a picture on screen: keep three screens of tiles at least.
            screen = (self._page_rows() + 1) * self._columns
            self._kitty.max_images = max(self._kitty_cache, 3 * screen)

    def _tile_cells(self) -> tuple[int, int]:
        """(columns, lines) of a cell's picture: without the gutter and the caption."""
        return self._cell_width - _GUTTER, self._cell_height - 1

    # ------------------------------------------------------------------ graphics

    def _resolve_graphics(self) -> None:
        """Settle kitty or half-cells once, from the constructor or the app's image mode."""
        if self._graphics_resolved:
            return
        try:
            app = self.app
        except Exception:  # noqa: BLE001 - not attached yet: decide later
            return
        self._graphics_resolved = True
        self._eight_bit = app.console.color_system == "256"
        mode = getattr(app, "image_mode", None)
        wanted = self._graphics or getattr(mode, "grid", "halfcell")
        self._cell_pixels = getattr(mode, "cell_pixels", self._cell_pixels)
        if wanted == "sixel":
            if self._tmux:
                # tmux keeps 10-20 sixels and redraws them late: a page holds more.
                self._graphics_note = "tmux: the grid draws half-cells"
            else:
                self._sixels = OrderedDict()
            return
        if wanted != "kitty":
            return
        system = app.console.color_system
        if system not in ("truecolor", "256"):
            # The image id rides in the foreground colour: 16 colours cannot carry it.
            self._graphics_note = f"{system or 'no'} colours: the grid draws half-cells"
            return
        self._kitty = kitty.SentImages(
            self._write_kitty,
            truecolor=system == "truecolor",
            tmux=self._tmux,
            max_images=self._kitty_cache,
            # Ids are global to the terminal (every tmux pane shares them): start
            # somewhere else than another planche would.
            first_slot=0 if self._kitty_output is not None else random.randrange(kitty.SLOTS),
            on_evict=self._kitty_evicted,
        )
        # A dialog's translucent backdrop tints the colours under it, and a
        # placeholder's colour is its picture's id: app.tcss leaves it untinted.
        app.add_class("kitty-grid")

    def _write_kitty(self, data: str) -> None:
        if self._kitty_output is not None:
            self._kitty_output(data)
            return
        # The driver's writer thread also writes the frames: the pictures reach the
        # terminal before the frame whose placeholders show them.
        driver = getattr(self.app, "_driver", None)
        if driver is not None:
            # A closing terminal: nothing left to show pictures on.
            with contextlib.suppress(Exception):
                driver.write(data)

    def _kitty_evicted(self, key: object) -> None:
        image_id, columns, rows = key  # type: ignore[misc]
        if (columns, rows) == self._tile_cells() and self._pixels.get(image_id) is _SENT:
            del self._pixels[image_id]

    def on_unmount(self) -> None:
        if self._kitty is not None:
            self._kitty.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._update_layout()
        self.refresh()
        self._scroll_to_cursor()
        self._schedule_fetch()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._schedule_fetch()

    def _cell_region(self, index: int) -> Region:
        """The cell of `index` in virtual (scrolled content) coordinates."""
        col, top = self._layout.cell_top(index)
        return Region(col * self._cell_width, top, self._cell_width, self._cell_height)

    def _refresh_cell(self, index: int) -> None:
        if 0 <= index < len(self._ids):
            region = self._cell_region(index)
            if self._sixels is not None:
                # The row's pictures go out at the end of its lines (see render_lines):
                # repaint the lines whole, or the pictures are not sent again.
                region = Region(0, region.y, max(region.right, self.size.width), region.height)
            self.refresh(region.translate(-self.scroll_offset))

    def _visible_rows(self) -> range:
        top = int(self.scroll_y)
        return self._layout.rows_between(top, top + self.scrollable_content_region.height)

    def _page_rows(self) -> int:
        return max(1, self.scrollable_content_region.height // self._cell_height)

    def _scroll_to_cursor(self) -> None:
        if self._ids:
            self.scroll_to_region(self._cell_region(self._cursor), animate=False, force=True)

    # ------------------------------------------------------------------ rendering

    def _make_look(self) -> _Look:
        base = self.rich_style
        _, background = self.background_colors
        r, g, b = background.rgb
        component = self.get_component_rich_style
        return _Look(
            base=base,
            background=_pack(r, g, b),
            caption=base + component("thumbnail-grid--caption"),
            cursor=base + component("thumbnail-grid--cursor"),
            selected=base + component("thumbnail-grid--selected"),
            cursor_selected=base + component("thumbnail-grid--cursor-selected"),
            placeholder=base + component("thumbnail-grid--placeholder"),
            header=base + component("thumbnail-grid--header"),
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        # Styles are read once per repaint rather than once per line or cell.
        self._look = self._make_look()
        lines = super().render_lines(crop)
        if self._sixels is not None and self._sixel_drawn and lines:
            lines = self._with_sixels(crop, lines)
        return lines

    def _sixel_row_shown(self, top: int) -> bool:
        """Sixel mode: whether the row whose first line is `top` (in the scrolled
        content) has its picture lines wholly inside the viewport."""
        scroll_y = int(self.scroll_y)
        return top >= scroll_y and top + self._cell_height - 1 <= scroll_y + self.size.height

    def _with_sixels(self, crop: Region, lines: list[Strip]) -> list[Strip]:
        """`lines` (the widget's, cropped to `crop`) with the pictures of the tiles drawn
        blank added to their row's last picture line, before its last cell of content:
        each a move to the tile's cell on screen and the sixel data, then a move back to
        that last cell. Not at the strip's very end: the compositor cuts the strip where
        the scrollbar starts, and zero-width segments at a cut go to the piece after it,
        which the scrollbar's own strip replaces."""
        try:
            if not self.screen.is_active:  # under a dialog: nothing drawn over it
                return lines
        except Exception:  # noqa: BLE001 - no screen (being removed): draw nothing
            return lines
        region = self.region  # on screen
        if not region:
            return lines
        gutter = self.styles.gutter
        # The last cell of content on a line, in the strip (the scrollbar is after it).
        last_cell = min(crop.right, self.scrollable_content_region.right - region.x) - 1
        if last_cell < crop.x:
            return lines
        scroll_y = int(self.scroll_y)
        size = (self._cell_width, self._cell_height)
        drawn = self._sixel_drawn
        shown: set[int] = set()
        lines = list(lines)
        for row in self._visible_rows():
            top = self._layout.row_top(row)
            if not self._sixel_row_shown(top):
                continue
            first = top - scroll_y + gutter.top  # in the widget
            last = first + self._cell_height - 2  # the row's last picture line
            if first < crop.y or last >= crop.bottom:
                continue
            segments: list[Segment] = []
            span = self._layout.row_span(row)
            for col, index in enumerate(span):
                entry = drawn.get(index)
                if entry is None or entry[:2] != (self._ids[index], size) or not entry[2]:
                    continue
                shown.add(index)
                x = gutter.left + col * self._cell_width
                if x < crop.x or x + self._cell_width - _GUTTER > last_cell:
                    continue
                move = Control.move_to(region.x + x, region.y + first).segment.text
                segments.append(Segment(move, None, [(ControlType.CURSOR_MOVE_TO, 0, 0)]))
                segments.append(Segment(entry[2], None, [(ControlType.CURSOR_FORWARD, 0)]))
            if segments:
                back = Control.move_to(region.x + last_cell, region.y + last).segment.text
                segments.append(Segment(back, None, [(ControlType.CURSOR_MOVE_TO, 0, 0)]))
                line = lines[last - crop.y]
                head, tail = line.divide([last_cell - crop.x, line.cell_length])
                lines[last - crop.y] = Strip([*head, *segments, *tail], line.cell_length)
        if len(drawn) > 4 * max(1, len(shown)):  # rows long gone: their pictures go
            for index in [i for i in drawn if i not in shown]:
                del drawn[index]
        return lines

    def render_line(self, y: int) -> Strip:
        look = self._look or self._make_look()
        width = self.size.width
        shown = self._layout.line(y + int(self.scroll_y))
        if isinstance(shown, Header):
            header = f" {safe_text(shown.label)}  ({shown.size:,}) "
            if cell_len(header) < width:  # a rule to the right edge marks the section
                header += "─" * (width - cell_len(header))
            return Strip([Segment(set_cell_size(header, width), look.header)], width)
        if shown is None:
            return Strip.blank(width, look.base)
        first, last, sub = shown.first, shown.last, shown.sub
        segments: list[Segment] = []
        if sub == self._cell_height - 1:
            for index in range(first, last):
                segments.append(self._caption_segment(index, look))
        elif self._sixels is not None and self._sixel_row_shown(y + int(self.scroll_y) - sub):
            for index in range(first, last):
                segments.extend(self._sixel_tile_strips(index, look)[sub])
        else:
            for index in range(first, last):
                segments.extend(self._cell_strips(index, look)[sub])
        strip = Strip(segments, (last - first) * self._cell_width)
        return strip.adjust_cell_length(width, look.base)

    def _caption_segment(self, index: int, look: _Look) -> Segment:
        image_id = self._ids[index]
        text = self._captions[index] if self._captions is not None else str(image_id)
        selected = image_id in self._selected
        if selected:
            text = "✓ " + text
        if index == self._cursor:
            style = look.cursor_selected if selected else look.cursor
        else:
            style = look.selected if selected else look.caption
        return Segment(fit_caption(safe_text(text), self._cell_width), style)

    def _queue_fetch(self, image_id: int) -> None:
        if image_id not in self._inflight and not self._fetch_queued:
            # Reached a cell nobody is loading (e.g. after the theme changed):
            # load it after this repaint, not during it.
            self._fetch_queued = True
            self.call_later(self._schedule_fetch)

    def _cell_strips(self, index: int, look: _Look) -> tuple[Strip, ...]:
        if self._kitty is not None:
            return self._kitty_strips(index, look)
        image_id = self._ids[index]
        key = (image_id, self._cell_width, self._cell_height, look.background)
        strips = self._strips.get(key)
        if strips is not None:
            self._strips.move_to_end(key)
            return strips
        pixels = self._pixels.get(image_id)
        if pixels is None or isinstance(pixels, kitty.Picture):
            self._queue_fetch(image_id)
            return self._placeholder(look, "")
        self._pixels.move_to_end(image_id)
        if isinstance(pixels, str):
            return self._placeholder(look, "?" if pixels == _FAILED else "·")
        # Decoded but not rendered for this look (theme change, strip LRU eviction):
        # rendering one cell is well under a millisecond.
        strips = render_cell(pixels, self._cell_width, self._cell_height - 1, look.background,
                             self._eight_bit)  # fmt: skip
        self._remember_strips(key, strips)
        return strips

    def _sixel_tile_strips(self, index: int, look: _Look) -> tuple[Strip, ...]:
        """Sixel mode, a tile in a row wholly on screen: blank lines when its picture is
        encoded (render_lines sends it), else its half-cells (or placeholder)."""
        assert self._sixels is not None
        image_id = self._ids[index]
        key = (image_id, self._cell_width, self._cell_height, look.background)
        data = self._sixels.get(key)
        if not data:  # not encoded yet (loading), or it would not encode
            self._sixel_drawn.pop(index, None)
            if data is None and isinstance(self._pixels.get(image_id), np.ndarray):
                self._queue_fetch(image_id)  # decoded, but the picture evicted
            return self._cell_strips(index, look)
        self._sixels.move_to_end(key)
        self._sixel_drawn[index] = (image_id, (self._cell_width, self._cell_height), data)
        blank = self._placeholders.get((look, "\0sixel", self._cell_width, self._cell_height))
        if blank is None:
            line = Strip.blank(self._cell_width, look.base)
            blank = (line,) * (self._cell_height - 1)
            self._placeholders[(look, "\0sixel", self._cell_width, self._cell_height)] = blank
        return blank

    def _kitty_strips(self, index: int, look: _Look) -> tuple[Strip, ...]:
        """A tile as placeholder text; its picture is transmitted the first time."""
        assert self._kitty is not None
        image_id = self._ids[index]
        columns, rows = self._tile_cells()
        tile = (image_id, columns, rows)
        ident = self._kitty.get(tile)
        if ident is None:
            pixels = self._pixels.get(image_id)
            if isinstance(pixels, kitty.Picture):
                ident = self._kitty.send(tile, pixels, columns, rows)
                self._pixels[image_id] = _SENT  # the payload is not needed again
            elif isinstance(pixels, str) and pixels is not _SENT:
                return self._placeholder(look, "?" if pixels == _FAILED else "·")
            else:  # not loaded yet, or sent and since deleted from the terminal
                self._pixels.pop(image_id, None)
                self._queue_fetch(image_id)
                return self._placeholder(look, "")
        key = (image_id, self._cell_width, self._cell_height, look.background, ident.number)
        strips = self._strips.get(key)
        if strips is None:
            background = _fill_style(look.background)
            strips = kitty.tile_strips(ident, columns, rows, self._cell_width, background)
            self._remember_strips(key, strips)
        else:
            self._strips.move_to_end(key)
        return strips

    def _placeholder(self, look: _Look, mark: str) -> tuple[Strip, ...]:
        """A panel-coloured block inset by one column, with `mark` in its middle."""
        cached = self._placeholders.get((look, mark, self._cell_width, self._cell_height))
        if cached is not None:
            return cached
        if len(self._placeholders) > 16:  # old looks (themes) are never needed again
            self._placeholders.clear()
        w, lines = self._cell_width, self._cell_height - 1
        inner = max(1, w - 2)
        pad_left = Segment(" " * ((w - inner) // 2), look.base)
        pad_right = Segment(" " * (w - inner - (w - inner) // 2), look.base)
        strips = []
        for y in range(lines):
            text = mark.center(inner) if y == (lines - 1) // 2 and mark else " " * inner
            strips.append(Strip([pad_left, Segment(text, look.placeholder), pad_right], w))
        key = (look, mark, self._cell_width, self._cell_height)
        self._placeholders[key] = tuple(strips)
        return self._placeholders[key]

    def _remember_strips(self, key: tuple, strips: tuple[Strip, ...]) -> None:
        self._strips[key] = strips
        self._strips.move_to_end(key)
        limit = max(_MIN_STRIP_CACHE, 8 * self._page_rows() * self._columns)
        while len(self._strips) > limit:
            self._strips.popitem(last=False)

    # ------------------------------------------------------------------ loading

    def _wanted_ids(self) -> list[int]:
        """Ids of the visible rows, then rows outwards (below first) up to the margin."""
        visible = self._visible_rows()
        if not self._ids or not visible:
            return []
        margin = _PREFETCH_SCREENS * self._page_rows()
        rows = list(visible)
        for step in range(1, margin + 1):
            if visible.stop - 1 + step < self._rows:
                rows.append(visible.stop - 1 + step)
            if visible.start - step >= 0:
                rows.append(visible.start - step)
        span = self._layout.row_span
        return list(dict.fromkeys(self._ids[i] for row in rows for i in span(row)))

    def _schedule_fetch(self) -> None:
        self._fetch_queued = False
        if not self.is_mounted:
            return
        self._resolve_graphics()
        sent, tile = self._kitty, self._tile_cells()
        look = self._look or self._make_look()
        key = (self._cell_width, self._cell_height, look.background)
        sixels = self._sixels
        missing = [
            i
            for i in self._wanted_ids()
            if (i not in self._pixels and (sent is None or (i, *tile) not in sent))
            # Sixel: decoded, but the picture not encoded (or evicted) for this tile
            or (
                sixels is not None
                and (i, *key) not in sixels
                and isinstance(self._pixels.get(i), np.ndarray)
            )
        ]
        if not missing or self._inflight.issuperset(missing):
            return
        # Kitty: the picture's pixels at most (the terminal scales it to the tile).
        box = None if sent is None else (tile[0] * self._cell_pixels[0],
                                         tile[1] * self._cell_pixels[1])  # fmt: skip
        # Sixel: the tile's pixels, exactly (the terminal draws a sixel 1:1).
        sixel_box = None if sixels is None else (tile[0] * self._cell_pixels[0],
                                                 tile[1] * self._cell_pixels[1])  # fmt: skip
        self._inflight = set(missing)
        # The visible tiles come first in `missing`: they are posted on their own, before
        # the prefetch margin of the same source call is decoded.
        visible = {self._ids[i] for row in self._visible_rows() for i in self._layout.row_span(row)}
        head = sum(1 for i in missing if i in visible)
        self.run_worker(
            lambda: self._load(missing, key, box, head, sixel_box),
            name="thumbnail-grid",
            group="thumbnail-grid",
            thread=True,
            exclusive=True,
            exit_on_error=False,
        )

    def _load(
        self,
        image_ids: list[int],
        key: tuple[int, int, int],
        box: tuple[int, int] | None,
        visible: int = 0,
        sixel_box: tuple[int, int] | None = None,
    ) -> None:
        """Worker thread: fetch, decode and render `image_ids` a batch at a time (or,
        with a pixel `box`, encode them as PNGs for kitty; with a `sixel_box`, also
        encode each as a sixel tile of that many pixels). The first `visible` ids are
        on screen: they are posted as soon as they are ready."""
        worker = get_current_worker()
        cell_width, cell_height, background = key
        eight_bit = self._eight_bit
        position = 0  # in image_ids
        for batch in batched(image_ids, _BATCH):
            if worker.is_cancelled:
                return
            with self._source_lock:
                try:
                    found = self._source.thumbnails(list(batch))
                except Exception:  # noqa: BLE001 - a failing source shows "?", not a crash
                    # Final for these ids until forget_thumbnails(): retrying here
                    # could hammer a store that is down.
                    found = None
            pixels: dict[int, _Pixels] = {}
            strips: dict[int, tuple[Strip, ...]] = {}
            sixels: dict[int, str] = {}
            for image_id in batch:
                position += 1
                data = found.get(image_id) if found is not None else b""
                if data is None:
                    pixels[image_id] = _MISSING
                elif box is not None:
                    pixels[image_id] = kitty.encode_picture(data, *box) or _FAILED
                else:
                    cell = decode_thumbnail(data, cell_width - _GUTTER, 2 * (cell_height - 1))
                    pixels[image_id] = cell
                    if not isinstance(cell, str):
                        strips[image_id] = render_cell(cell, cell_width, cell_height - 1,
                                                       background, eight_bit)  # fmt: skip
                        if sixel_box is not None:
                            sixels[image_id] = encode_sixel_tile(data, *sixel_box, background)
                if position == visible and len(pixels) < len(batch):
                    # The last tile on screen: show the screen now, the margin after.
                    self.post_message(self._Loaded(pixels, strips, key, sixels))
                    pixels, strips, sixels = {}, {}, {}
                # Hand the GIL to the UI thread between cells (~1 ms each) rather than at
                # the interpreter's 5 ms switch interval: keys stay responsive while the
                # prefetch margin loads.
                time.sleep(0)
            self.post_message(self._Loaded(pixels, strips, key, sixels))

    @on(_Loaded)
    def _on_loaded(self, message: _Loaded) -> None:
        if message.key[:2] == (self._cell_width, self._cell_height):
            for image_id, pixels in message.pixels.items():
                self._pixels[image_id] = pixels
                self._pixels.move_to_end(image_id)
                self._inflight.discard(image_id)
        # else: decoded for a tile size left since (a zoom): only the strips are kept
        limit = _PIXEL_CACHE if self._kitty is None else _KITTY_PAYLOADS
        while len(self._pixels) > limit:
            self._pixels.popitem(last=False)
        for image_id, strips in message.strips.items():
            self._remember_strips((image_id, *message.key), strips)
        if self._sixels is not None and message.sixels:
            self.sixel_encodings += len(message.sixels)
            for image_id, data in message.sixels.items():
                self._sixels[(image_id, *message.key)] = data
                self._sixels.move_to_end((image_id, *message.key))
            # The prefetch window and more: a picture on screen is never evicted.
            screens = 2 * _PREFETCH_SCREENS + 2
            limit = max(_SIXEL_MIN_CACHE, screens * (self._page_rows() + 1) * self._columns)
            while len(self._sixels) > limit:
                self._sixels.popitem(last=False)
        for row in self._visible_rows():
            for index in self._layout.row_span(row):
                if self._ids[index] in message.pixels:
                    self._refresh_cell(index)
        if not self._first_grid_told and self._ids:
            self._tell_first_grid()

    _first_grid_told = False

    def _tell_first_grid(self) -> None:
        """FirstShown, and the FIRST_GRID_ENV hook: the time every visible tile first
        had its thumbnail."""
        visible = (self._ids[i] for row in self._visible_rows() for i in self._layout.row_span(row))
        if all(image_id in self._pixels for image_id in visible):
            self._first_grid_told = True
            self.post_message(self.FirstShown(self))
            if os.environ.get(FIRST_GRID_ENV):
                with contextlib.suppress(OSError), open(os.environ[FIRST_GRID_ENV], "w") as out:
                    out.write(f"{time.time()}\n")

    # ------------------------------------------------------------------ cursor and selection

    def _move_cursor(self, index: int, extend: bool = False) -> None:
        if not self._ids:
            return
        index = max(0, min(index, len(self._ids) - 1))
        old = self._cursor
        if extend:
            self._add_to_selection(range(min(old, index), max(old, index) + 1))
        if index == old:
            return
        self._cursor = index
        self._refresh_cell(old)
        self._refresh_cell(index)
        self._scroll_to_cursor()
        if self._ids[index] != self._ids[old]:
            self.post_message(self.Highlighted(self, self._ids[index]))

    def _add_to_selection(self, indices: range) -> None:
        new = {self._ids[i] for i in indices} - self._selected
        if not new:
            return
        self._selected |= new
        self._selection_changed(indices)

    def _selection_changed(self, indices: range | None) -> None:
        self._selected_frozen = frozenset(self._selected)
        page = self._page_rows() * self._columns
        if indices is None or len(indices) > page:
            self.refresh()
        else:
            for index in indices:
                self._refresh_cell(index)
        self.post_message(self.SelectionChanged(self, self._selected_frozen))

    def action_cursor_up(self, extend: bool = False) -> None:
        if self._ids:
            self._move_cursor(self._layout.moved(self._cursor, -1), extend)

    def action_cursor_down(self, extend: bool = False) -> None:
        # On a row above a shorter row, go to its last image rather than nowhere.
        if self._ids:
            self._move_cursor(self._layout.moved(self._cursor, 1), extend)

    def action_cursor_left(self, extend: bool = False) -> None:
        self._move_cursor(self._cursor - 1, extend)

    def action_cursor_right(self, extend: bool = False) -> None:
        self._move_cursor(self._cursor + 1, extend)

    def action_cursor_page_up(self, extend: bool = False) -> None:
        rows = self._page_rows()
        # Scroll by the page too, so the cursor keeps its place on screen.
        self.scroll_to(y=self.scroll_y - rows * self._cell_height, animate=False, force=True)
        if self._ids:
            self._move_cursor(self._layout.moved(self._cursor, -rows), extend)

    def action_cursor_page_down(self, extend: bool = False) -> None:
        rows = self._page_rows()
        self.scroll_to(y=self.scroll_y + rows * self._cell_height, animate=False, force=True)
        if self._ids:
            self._move_cursor(self._layout.moved(self._cursor, rows), extend)

    def action_cursor_first(self, extend: bool = False) -> None:
        self._move_cursor(0, extend)

    def action_cursor_last(self, extend: bool = False) -> None:
        self._move_cursor(len(self._ids) - 1, extend)

    def action_g_prefix(self) -> None:
        """`g g` goes to the first image (vim); any other key in between cancels."""
        if self._g_pending:
            self._g_pending = False
            self.action_cursor_first()
        else:
            self._g_pending = True

    def on_key(self, event: events.Key) -> None:
        if event.key != "g":
            self._g_pending = False

    def action_zoom(self, step: int) -> None:
        wanted = self._zoom + step
        if not 0 <= wanted < len(ZOOM_SIZES):  # said, or + at the largest seems broken
            edge = "largest" if step > 0 else "smallest"
            self.notify(f"The {edge} thumbnails already ({len(ZOOM_SIZES)} sizes, + and -)",
                        timeout=2)  # fmt: skip
            return
        self.zoom_to(wanted)

    def zoom_to(self, level: int) -> None:
        """Show tiles of `ZOOM_SIZES[level]`, the cursor's image where it was on screen."""
        level = max(0, min(level, len(ZOOM_SIZES) - 1))
        if ZOOM_SIZES[level] == (self._cell_width, self._cell_height):
            self._zoom = level
            return
        view = max(1, self.scrollable_content_region.height)
        share = 0.0
        if self._ids:
            _, top = self._layout.cell_top(self._cursor)
            share = min(max((top - self.scroll_y) / view, 0.0), 1.0)
        self._zoom = level
        self._cell_width, self._cell_height = ZOOM_SIZES[level]
        self._pixels.clear()  # decoded for the old size (strips and sent pictures stay)
        self._inflight.clear()
        self._sixel_drawn.clear()
        self._update_layout()
        if self._ids:
            _, top = self._layout.cell_top(self._cursor)
            y = max(0, round(top - share * view))
            self.scroll_to(y=y, animate=False, force=True)
            self._scroll_to_cursor()
        self.refresh()
        self._schedule_fetch()

    def action_toggle_selection(self) -> None:
        image_id = self.current_image_id
        if image_id is None:
            return
        self._selected ^= {image_id}
        self._selection_changed(range(self._cursor, self._cursor + 1))

    def action_select_all(self) -> None:
        if self._ids and len(self._selected) < len(set(self._ids)):
            self._selected = set(self._ids)
            self._selection_changed(None)

    def action_clear_selection(self) -> None:
        if not self._selected:
            raise SkipAction()  # nothing to clear: let escape reach the screen / app
        self._selected = set()
        self._selection_changed(None)

    def action_open(self) -> None:
        image_id = self.current_image_id
        if image_id is not None:
            self.post_message(self.Opened(self, image_id))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or not self._ids:
            return
        index = self._layout.index_at(offset.x // self._cell_width, offset.y + int(self.scroll_y))
        if index is None:
            return
        if event.ctrl:
            self._move_cursor(index)
            self.action_toggle_selection()
        else:
            self._move_cursor(index, extend=event.shift)
        if event.chain >= 2:
            self.action_open()
