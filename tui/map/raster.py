"""The map's picture in numpy: points to braille cells, and the colours they take.

Every terminal cell holds a braille character, 2 x 4 dots, so a view is a
(2 * width) x (4 * height) raster of square-ish dots. The points are mapped to
dots and cells with numpy in one pass (`rasterise`: `np.bincount` on cell and dot
indices, no Python loop per point): a dot is on when any point falls in it, the
cell's shade follows how many points fall in it (three levels, on a log scale
against the 99th percentile of the visible cells), its colour is the most
frequent group among its points (a palette of 12 distinct colours; "no group" is
grey), and a cell holding a highlighted image (the search results, the grid's
selection) shows those images' dots alone in a bright colour. When the points
are few for the cells, each is drawn as 2 x 2 dots (a lone dot is hard to see).

The lasso's geometry is here too (`lasso_overlays`, `lasso_mask`): its path in
cell coordinates, the cells each edge passes, the inside by the even-odd rule.

A cell's look is one integer, its style key (group, highlight, shade level and
the overlay bits); `row_segments` turns a line of cells into one segment per run
of equal keys, `key_style` a key into a rich `Style` under a `Look` (the theme's
colours). No Textual here: the widget that reads the theme is `view.MapView`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from rich.color import Color as RichColor
from rich.color import ColorTriplet
from rich.segment import Segment
from rich.style import Style

# Distinct on dark and light backgrounds (Tableau's 10 and two more), without
# the bright yellow that highlights search results and the grid's selection.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (78, 121, 167),  # blue
    (242, 142, 43),  # orange
    (225, 87, 89),  # red
    (118, 183, 178),  # teal
    (89, 161, 79),  # green
    (176, 122, 161),  # purple
    (255, 157, 167),  # pink
    (156, 117, 95),  # brown
    (160, 203, 232),  # light blue
    (182, 153, 45),  # olive
    (140, 209, 125),  # light green
    (134, 188, 182),  # sea green
)
NO_GROUP_RGB = (128, 128, 128)  # "no group" when the theme says nothing else
_SHADES = (0.0, 0.42, 0.7, 1.0)  # density levels 1-3: how far from the background
_BRAILLE = 0x2800
# Dot (row 0-3, column 0-1) inside a cell -> its bit in the braille code point.
_DOT_BIT = np.array([[0, 3], [1, 4], [2, 5], [6, 7]], dtype=np.int64)
_BIT_VALUES = (1 << np.arange(8)).astype(np.uint32)
# A style key is group * 8 + highlighted * 4 + level (0: empty cell); overlays are bits.
SEL, NEAR, CROSS, LASSO = 1 << 24, 1 << 25, 1 << 26, 1 << 27
_PAIRS_BATCH = 2_000_000  # (edge, line) pairs `lasso_mask` looks up at once
_MODE_BINCOUNT_LIMIT = 4_000_000  # cells x groups above which the mode is found by sorting


def slot_colour(slot: int) -> tuple[int, int, int]:
    """The palette colour of a legend position (colours repeat past 12 groups)."""
    return PALETTE[slot % len(PALETTE)]


@dataclass(frozen=True, slots=True, eq=False)
class Raster:
    """One view of the points, per terminal cell: the character, its style key, the count."""

    codes: np.ndarray  # (height, width) uint32 code points (space when empty)
    keys: np.ndarray  # (height, width) int64 style keys
    counts: np.ndarray  # (height, width) int64 points per cell
    visible: int  # points inside the view


def cell_indices(
    xy: np.ndarray, x0: float, top: float, unit: float
) -> tuple[np.ndarray, np.ndarray]:
    """Dot column and row of each point (not clipped) for a view whose top-left corner
    is (x0, top) in data units, `unit` data units per dot (y grows upwards)."""
    px = np.floor((xy[:, 0] - x0) / unit).astype(np.int64)
    py = np.floor((top - xy[:, 1]) / unit).astype(np.int64)
    return px, py


def rasterise(
    xy: np.ndarray,
    x0: float,
    top: float,
    unit: float,
    width: int,
    height: int,
    groups: np.ndarray | None = None,
    n_groups: int = 1,
    highlighted: np.ndarray | None = None,
    thick: bool | None = None,
) -> Raster:
    """Braille cells of the points inside the view, all in numpy (see the module doc).

    `groups`: a non-negative group code per point (0..n_groups-1); a cell takes the
    most frequent one. `highlighted`: a boolean per point. `thick`: draw each point as
    2 x 2 dots (by default when the points are few for the cells: a lone dot is hard
    to see)."""
    cells = width * height
    if cells <= 0 or len(xy) == 0:
        empty = np.zeros((max(height, 0), max(width, 0)), dtype=np.int64)
        return Raster(np.full(empty.shape, 0x20, np.uint32), empty, empty, 0)
    px, py = cell_indices(xy, x0, top, unit)
    inside = (px >= 0) & (px < 2 * width) & (py >= 0) & (py < 4 * height)
    px, py = px[inside], py[inside]
    cell = (py >> 2) * width + (px >> 1)
    if thick is None:
        thick = len(cell) * 4 <= cells
    if thick:  # the 2 x 2 dots of the point's half of the cell: (row & ~1) + {0, 1}, both columns
        half = (py & 2)[:, None] + np.array([0, 0, 1, 1])
        dot = _DOT_BIT[half, np.array([0, 1, 0, 1])]  # (points, 4)
    else:
        dot = _DOT_BIT[py & 3, px & 1][:, None]
    bits = _dot_bits((cell[:, None] * 8 + dot).ravel(), cells)
    counts = np.bincount(cell, minlength=cells)
    filled = counts > 0
    lit = np.zeros(cells, dtype=np.int64)
    if highlighted is not None:
        hl = highlighted[inside]
        if hl.any():
            # A lit cell shows the dots of its highlighted images alone, in their colour.
            lit = (np.bincount(cell[hl], minlength=cells) > 0).astype(np.int64)
            lit_bits = _dot_bits((cell[hl][:, None] * 8 + dot[hl]).ravel(), cells)
            bits = np.where(lit > 0, lit_bits, bits)
    codes = np.where(filled, _BRAILLE + bits, 0x20).astype(np.uint32)

    level = np.zeros(cells, dtype=np.int64)
    if filled.any():
        busy = counts[filled]
        top_count = max(float(np.percentile(busy, 99)), 1.0)
        share = np.log1p(busy) / math.log1p(top_count) if top_count > 1 else np.ones(len(busy))
        level[filled] = 1 + (share > 1 / 3) + (share > 2 / 3)

    group = np.zeros(cells, dtype=np.int64)
    if groups is not None and n_groups > 1:
        g = groups[inside].astype(np.int64)
        if cells * n_groups <= _MODE_BINCOUNT_LIMIT:
            table = np.bincount(cell * n_groups + g, minlength=cells * n_groups)
            group = table.reshape(cells, n_groups).argmax(axis=1)
        else:  # many groups: count (cell, group) pairs by sorting instead
            pairs, sizes = np.unique(cell * n_groups + g, return_counts=True)
            pair_cell = pairs // n_groups
            order = np.lexsort((-sizes, pair_cell))
            first = np.ones(len(order), dtype=bool)
            first[1:] = pair_cell[order][1:] != pair_cell[order][:-1]
            group[pair_cell[order][first]] = (pairs[order][first] % n_groups).astype(np.int64)

    shape = (height, width)
    keys = np.where(filled, group * 8 + lit * 4 + level, 0).reshape(shape)
    # An empty cell (a space) looks the same whatever its foreground colour: it takes
    # the style of the cell before it, so that a line is fewer, longer segments.
    before = np.where(filled.reshape(shape), np.arange(width), 0)
    np.maximum.accumulate(before, axis=1, out=before)
    keys = np.take_along_axis(keys, before, axis=1)
    return Raster(codes.reshape(shape), keys, counts.reshape(shape), len(cell))


def _dot_bits(cell_dots: np.ndarray, cells: int) -> np.ndarray:
    """The braille bits of each cell, from the (cell * 8 + dot) index of each point."""
    dots = np.bincount(cell_dots, minlength=cells * 8).reshape(cells, 8) > 0
    return dots.astype(np.uint32) @ _BIT_VALUES


def row_segments(
    codes: np.ndarray, keys: np.ndarray, styles: dict[int, Style], make: Callable[[int], Style]
) -> list[Segment]:
    """One segment per run of equal style keys along a line of cells; `styles` caches
    the style of a key, `make` makes one it lacks."""
    text = codes.astype("<u4").tobytes().decode("utf-32-le")
    cuts = (np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist()
    starts, ends = [0, *cuts], [*cuts, len(text)]
    keys_list = keys.tolist()
    segments = []
    for start, end in zip(starts, ends, strict=True):
        key = keys_list[start]
        style = styles.get(key)
        segments.append(Segment(text[start:end], style if style is not None else make(key)))
    return segments


@lru_cache(maxsize=4096)
def rich_colour(rgb: tuple[int, int, int]) -> RichColor:
    return RichColor.from_triplet(ColorTriplet(*rgb))


def _blend(
    colour: tuple[int, int, int], background: tuple[int, int, int], share: float
) -> tuple[int, int, int]:
    return tuple(  # type: ignore[return-value]
        round(b + (c - b) * share) for c, b in zip(colour, background, strict=True)
    )


def rgb_of(colour: RichColor | None, default: tuple[int, int, int]) -> tuple[int, int, int]:
    """The (red, green, blue) of a rich colour, `default` for none."""
    if colour is None:
        return default
    t = colour.get_truecolor()
    return (t.red, t.green, t.blue)


@dataclass(frozen=True, slots=True)
class Look:
    """The styles of one repaint, read from CSS once (they follow the theme)."""

    base: Style
    background: tuple[int, int, int]
    foreground: tuple[int, int, int]
    none: tuple[int, int, int]
    highlight: tuple[int, int, int]
    selection: Style
    nearest: Style
    crosshair: Style
    lasso: Style = Style()


def key_style(key: int, look: Look) -> Style:
    """The style of a cell's style key (group, highlight, level, overlay bits) under `look`."""
    point = key & (SEL - 1)
    group, lit, level = point >> 3, (point >> 2) & 1, point & 3
    style = look.base
    if level:
        if lit:
            rgb = look.highlight
        elif group == 0:
            rgb = look.foreground
        elif group == 1:
            rgb = look.none
        else:
            rgb = slot_colour(group - 2)
        share = 1.0 if lit else _SHADES[level]
        colour = rich_colour(_blend(rgb, look.background, share))
        style += Style(color=colour, bold=bool(lit))
    if key & SEL:
        style += look.selection
    if key & LASSO:
        style += look.lasso
    if key & NEAR:
        style += look.nearest
    if key & CROSS:
        style += look.crosshair
    return style


# -- the lasso ---------------------------------------------------------------------------
#
# In cell coordinates (u, w) = ((x - x0) / (2 unit), (top - y) / (4 unit)), the cell
# (column c, line r) is [c, c + 1) x [r, r + 1). The lasso is a closed polygon (its
# last vertex joined to its first); the cells an edge passes are those its points
# fall in, a segment ending exactly on a cell's border not counting that cell. The
# view draws these cells and `lasso_mask` selects the points in them, through the
# same `_edge_rows` and `_edge_spans`: what is drawn is what is selected.


def to_cells(xy: np.ndarray, x0: float, top: float, unit: float) -> np.ndarray:
    """Data coordinates (n, 2) to cell coordinates (u, w) (see above)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    return np.column_stack(((xy[:, 0] - x0) / (2 * unit), (top - xy[:, 1]) / (4 * unit)))


def _edges(cells: np.ndarray) -> tuple[np.ndarray, ...]:
    """(pu, pw, qu, qw) of the polygon's edges, the closing one included."""
    nxt = np.roll(cells, -1, axis=0)
    return cells[:, 0], cells[:, 1], nxt[:, 0], nxt[:, 1]


def _edge_rows(pw: np.ndarray, qw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first and last line each edge passes."""
    low, high = np.minimum(pw, qw), np.maximum(pw, qw)
    first = np.floor(low)
    return first.astype(np.int64), np.maximum(first, np.ceil(high) - 1).astype(np.int64)


def _edge_spans(
    pu: np.ndarray, pw: np.ndarray, qu: np.ndarray, qw: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The first and last column an edge passes on line `rows` (all broadcast together)."""
    du, dw = qu - pu, qw - pw
    flat = dw == 0
    safe = np.where(flat, 1.0, dw)
    t0, t1 = (rows - pw) / safe, (rows + 1 - pw) / safe
    t_low = np.where(flat, 0.0, np.clip(np.minimum(t0, t1), 0.0, 1.0))
    t_high = np.where(flat, 1.0, np.clip(np.maximum(t0, t1), 0.0, 1.0))
    ua, ub = pu + t_low * du, pu + t_high * du
    first = np.floor(np.minimum(ua, ub))
    last = np.maximum(first, np.ceil(np.maximum(ua, ub)) - 1)
    return first.astype(np.int64), last.astype(np.int64)


def lasso_overlays(cells: np.ndarray, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """(line, first column, last column, bit) of the lasso drawn in a width x height view:
    the cells its edges pass (`LASSO`) and the cells inside it (`SEL`, by the even-odd
    rule at the cell's centre); `cells` are its vertices in cell coordinates."""
    if not len(cells) or width <= 0 or height <= 0:
        return []
    pu, pw, qu, qw = _edges(cells)
    spans: list[tuple[int, int, int, int]] = []
    # The outline: one (edge, line) pair per line an edge passes inside the view.
    first_row, last_row = _edge_rows(pw, qw)
    first_row, last_row = np.maximum(first_row, 0), np.minimum(last_row, height - 1)
    counts = np.maximum(last_row - first_row + 1, 0)
    if counts.sum():
        edge = np.repeat(np.arange(len(pu)), counts)
        starts = np.cumsum(counts) - counts
        rows = first_row[edge] + np.arange(len(edge)) - starts[edge]
        first, last = _edge_spans(pu[edge], pw[edge], qu[edge], qw[edge], rows)
        first, last = np.maximum(first, 0), np.minimum(last, width - 1)
        keep = first <= last
        drawn = zip(rows[keep].tolist(), first[keep].tolist(), last[keep].tolist(), strict=True)
        spans.extend((row, a, b, LASSO) for row, a, b in drawn)
    # The inside: where each line's centre crosses the edges, in pairs.
    low = max(math.floor(float(cells[:, 1].min())), 0)
    high = min(math.floor(float(cells[:, 1].max())), height - 1)
    if len(cells) >= 3 and low <= high:
        rows = np.arange(low, high + 1)
        centre = rows[None, :] + 0.5
        crossing = (pw[:, None] > centre) != (qw[:, None] > centre)  # (edges, lines)
        dw = np.where(crossing, (qw - pw)[:, None], 1.0)
        at = pu[:, None] + (centre - pw[:, None]) * (qu - pu)[:, None] / dw
        at = np.sort(np.where(crossing, at, np.inf), axis=0)
        n_cross = crossing.sum(axis=0)
        for j, row in enumerate(rows.tolist()):
            xs = at[: n_cross[j], j].tolist()
            for xa, xb in zip(xs[0::2], xs[1::2], strict=True):
                a, b = max(math.ceil(xa - 0.5), 0), min(math.floor(xb - 0.5), width - 1)
                if a <= b:
                    spans.append((row, a, b, SEL))
    return spans


def polygon_contains(
    xy: np.ndarray, polygon: np.ndarray, by_y: np.ndarray | None = None
) -> np.ndarray:
    """Which points lie inside the polygon (its vertices in order, closed), by the even-odd
    rule. `by_y`: the points' order by y (`np.argsort(xy[:, 1])`), when it is at hand.
    Each edge tests only the points in its band of y, a slice of that order."""
    inside = np.zeros(len(xy), dtype=bool)
    if len(polygon) < 3 or not len(xy):
        return inside
    order = np.argsort(xy[:, 1], kind="stable") if by_y is None else by_y
    xs, ys = xy[order, 0], xy[order, 1]
    parity = np.zeros(len(xy), dtype=bool)
    points = np.asarray(polygon, dtype=np.float64).tolist()
    for (ax, ay), (bx, by) in zip(points, [*points[1:], points[0]], strict=True):
        if ay == by:
            continue
        # (ay > y) != (by > y): min(ay, by) <= y < max(ay, by)
        lo = int(np.searchsorted(ys, min(ay, by), "left"))
        hi = int(np.searchsorted(ys, max(ay, by), "left"))
        if lo < hi:
            at = ax + (ys[lo:hi] - ay) * ((bx - ax) / (by - ay))
            parity[lo:hi] ^= xs[lo:hi] < at
    inside[order] = parity
    return inside


@dataclass(frozen=True, slots=True, eq=False)
class CellIndex:
    """The points of one view sorted by their cell, line by line then column by column:
    the points of a run of cells on a line are a slice of `order`."""

    order: np.ndarray  # point indices, by cell
    keys: np.ndarray  # their cells' keys, sorted: (line - line0) * stride + column - col0
    lines: np.ndarray  # the lines holding points, sorted
    line0: int
    col0: int
    stride: int  # columns from the first to the last point's


def cell_index(xy: np.ndarray, x0: float, top: float, unit: float) -> CellIndex:
    """The points sorted by their cell in the view (x0, top, unit)."""
    px, py = cell_indices(xy, x0, top, unit)
    col, row = px >> 1, py >> 2
    line0, col0 = int(row.min()), int(col.min())
    stride = int(col.max()) - col0 + 1
    keys = (row - line0) * stride + (col - col0)
    order = np.argsort(keys)
    keys = keys[order]
    lines = keys // stride
    lines = lines[np.concatenate(([True], lines[1:] != lines[:-1]))] + line0
    return CellIndex(order, keys, lines, line0, col0, stride)


def lasso_mask(
    xy: np.ndarray,
    polygon: np.ndarray,
    x0: float,
    top: float,
    unit: float,
    by_y: np.ndarray | None = None,
    by_cell: CellIndex | None = None,
) -> np.ndarray:
    """The points a lasso selects: inside its polygon (data coordinates, even-odd) or in a
    cell its edges pass in the view (x0, top, unit), which is what the view draws.
    `by_y`, `by_cell`: the points' order by y and `cell_index` in this view, when they
    are at hand."""
    polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if not len(polygon) or not len(xy):
        return np.zeros(len(xy), dtype=bool)
    chosen = polygon_contains(xy, polygon, by_y)
    index = cell_index(xy, x0, top, unit) if by_cell is None else by_cell
    # The edges' cells, one run of columns per (edge, line holding points): the points
    # in each run are a slice of the index, marked through a difference array.
    pu, pw, qu, qw = _edges(to_cells(polygon, x0, top, unit))
    first_row, last_row = _edge_rows(pw, qw)
    lo = np.searchsorted(index.lines, first_row, "left")
    sizes = np.maximum(np.searchsorted(index.lines, last_row, "right") - lo, 0)
    cover = np.zeros(len(xy) + 1, dtype=np.int64)
    batch = np.cumsum(sizes) // _PAIRS_BATCH
    for part in np.unique(batch[sizes > 0]).tolist():
        edges = np.flatnonzero((batch == part) & (sizes > 0))
        counts = sizes[edges]
        edge = np.repeat(edges, counts)
        starts = np.cumsum(counts) - counts
        line = index.lines[np.repeat(lo[edges] - starts, counts) + np.arange(int(counts.sum()))]
        first, last = _edge_spans(pu[edge], pw[edge], qu[edge], qw[edge], line)
        first = np.maximum(first, index.col0)
        last = np.minimum(last, index.col0 + index.stride - 1)
        keep = first <= last
        base = (line[keep] - index.line0) * index.stride - index.col0
        a = np.searchsorted(index.keys, base + first[keep], "left")
        b = np.searchsorted(index.keys, base + last[keep], "right")
        cover += np.bincount(a, minlength=len(cover)) - np.bincount(b, minlength=len(cover))
    chosen[index.order[np.cumsum(cover[:-1]) > 0]] = True
    return chosen
