"""`MapView`: the points of a 2D map in braille, one Line-API widget.

It never reads the project: it is given the points (image ids and their 2D
coordinates, e.g. from `read.map_data`), and optionally a colouring (a group per
point and a legend) and a set of ids to highlight. The picture itself is
`raster.rasterise`'s; the raster and the strips built from it are cached and
computed again only when the view (zoom, pan, size), the colouring, the
highlights or the theme change. A full repaint of 100,000 points after a zoom or
a pan took a median of 11-18 ms here on 2 cores (bench/map_view.py), against
0.2-0.4 s for a Python loop over the points.

The crosshair, the nearest image's cell and the area (a rectangle or a lasso) are
overlays: moving the crosshair rebuilds only the lines they cross.

Keys: arrows / h j k l pan, + (or =) and - zoom around the crosshair, 0 resets
the view, shift+arrows / H J K L move the crosshair, v starts (or drops) a
rectangle at the crosshair that moving the crosshair extends, o starts (or drops)
a lasso at the crosshair, Enter selects the images inside the area (or the nearest
image when none is open) and Escape drops the area. v over an open lasso, or o
over an open rectangle, drops it and starts the other at the crosshair.

The lasso is a path by keys: wherever the crosshair goes while it is open (moved,
or carried by a pan), its position is the path's next vertex; a vertex continuing
the last edge in its direction lengthens that edge instead. The vertices are data
coordinates, so a zoom or a pan redraws the path where its points are. The path is
closed from the crosshair back to its start. It is drawn as the cells its edges
pass, in a stronger shade, and the cells inside it (even-odd rule) in the
rectangle's shade; Enter selects the images in those cells: the points inside the
closed polygon (even-odd rule, data coordinates, in numpy) and those in the cells
its edges pass, as the rectangle takes in the cells of its border. A lasso of one
or two vertices has no inside: it selects the images in the cells its stroke
passes (the crosshair's cell alone when it has not moved). Drawing a lasso of
130-180 vertices over 100,000 points left repaints at a median of 7-11 ms, and
finding the images inside it (`area_ids`, read by the status line after each
move) took a median of 10-12 ms.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import ClassVar

import numpy as np
from rich.style import Style
from textual import events
from textual.actions import SkipAction
from textual.binding import Binding, BindingType
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import Widget

from planche.core.text import printable
from planche.tui.map.colouring import Colouring
from planche.tui.map.raster import (
    CROSS,
    NEAR,
    NO_GROUP_RGB,
    SEL,
    CellIndex,
    Look,
    Raster,
    cell_index,
    cell_indices,
    key_style,
    lasso_mask,
    lasso_overlays,
    rasterise,
    rgb_of,
    row_segments,
    to_cells,
)

_PAN_FRACTION = 8  # arrows pan by 1/8 of the view (at least one cell)
_ZOOM_STEP = 1.5
_ZOOM_RANGE = (0.5, 1e6)
_COLLINEAR = 1e-9  # |cross product| below this share of |d1| |d2|: the same line


def _goes_on(a: tuple[float, float], b: tuple[float, float], c: tuple[float, float]) -> bool:
    """Whether c lies ahead of b on the line from a to b."""
    ux, uy, vx, vy = b[0] - a[0], b[1] - a[1], c[0] - b[0], c[1] - b[1]
    if ux * vx + uy * vy <= 0:
        return False
    return abs(ux * vy - uy * vx) <= _COLLINEAR * math.hypot(ux, uy) * math.hypot(vx, vy)


class _ViewMessage(Message):
    """A message from a `MapView` (its `control`)."""

    def __init__(self, view: MapView) -> None:
        super().__init__()
        self.view = view

    @property
    def control(self) -> MapView:
        return self.view


class MapView(Widget, can_focus=True):
    """Points of a 2D map in braille, with zoom, pan, a crosshair and selection by a
    rectangle or a lasso."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("left,h", "pan(-1, 0)", "Pan left", show=False),
        Binding("right,l", "pan(1, 0)", "Pan right", show=False),
        Binding("up,k", "pan(0, -1)", "Pan up", show=False),
        Binding("down,j", "pan(0, 1)", "Pan down", show=False),
        Binding("shift+left,H", "move(-1, 0)", "Crosshair left", show=False),
        Binding("shift+right,L", "move(1, 0)", "Crosshair right", show=False),
        Binding("shift+up,K", "move(0, -1)", "Crosshair up", show=False),
        Binding("shift+down,J", "move(0, 1)", "Crosshair down", show=False),
        Binding("plus,equals_sign", "zoom(1)", "Zoom in", key_display="+"),
        Binding("minus", "zoom(-1)", "Zoom out", key_display="-"),
        Binding("0", "reset", "Whole map", show=False),
        Binding("v", "rectangle", "Area"),
        Binding("o", "lasso", "Lasso"),
        Binding("enter", "select", "Select"),
        Binding("escape", "drop_area", "Drop the area", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "map-view--none",
        "map-view--highlight",
        "map-view--selection",
        "map-view--lasso",
        "map-view--nearest",
        "map-view--crosshair",
    }

    DEFAULT_CSS = """
    MapView {
        background: $surface;
        color: $foreground;
        & > .map-view--none { color: $text-muted; }
        & > .map-view--highlight { color: #fff000; }
        &:light > .map-view--highlight { color: #d000d0; }
        & > .map-view--selection { background: $primary 45%; }
        & > .map-view--lasso { background: $secondary; }
        & > .map-view--nearest { text-style: reverse; }
        & > .map-view--crosshair { background: $accent; color: $foreground; }
    }
    """

    class Moved(_ViewMessage):
        """The view, the crosshair or the area changed; `image_id` is the nearest image."""

        def __init__(self, view: MapView, image_id: int | None) -> None:
            super().__init__(view)
            self.image_id = image_id

    class Selected(_ViewMessage):
        """Enter: the images inside the area (or the nearest image)."""

        def __init__(self, view: MapView, image_ids: tuple[int, ...]) -> None:
            super().__init__(view)
            self.image_ids = image_ids

    def __init__(
        self,
        image_ids: Sequence[int] | np.ndarray,
        xy: np.ndarray,
        *,
        caption: Callable[[int], str] | None = None,
        colouring: Colouring | None = None,
        highlighted: Iterable[int] = (),
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's own parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        self._xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        if len(self._ids) != len(self._xy):
            raise ValueError(f"{len(self._xy)} points for {len(self._ids)} images")
        finite = np.isfinite(self._xy).all(axis=1)
        if not finite.all():  # a point without coordinates cannot be drawn nor selected
            self._ids, self._xy = self._ids[finite], self._xy[finite]
        self._caption = caption or (lambda image_id: f"image {image_id}")
        if len(self._xy):
            low, high = self._xy.min(axis=0), self._xy.max(axis=0)
        else:
            low, high = np.zeros(2), np.ones(2)
        self._low, self._span = low, np.maximum(high - low, 1e-9)
        self._centre = (float(low[0] + high[0]) / 2, float(low[1] + high[1]) / 2)
        self._cross = self._centre
        self._zoom = 1.0
        self._anchor: tuple[float, float] | None = None
        self._lasso: tuple[tuple[float, float], ...] | None = None  # vertices, data coordinates
        self._by_y: np.ndarray | None = None  # the points' order by y, for the lasso
        self._by_cell: tuple[tuple, CellIndex] | None = None  # (frame, the points by cell)
        self._area_cache: tuple[tuple, tuple[int, ...]] | None = None
        self._nearest: int | None = None  # index into the points
        self._colouring: Colouring | None = None
        self._groups: np.ndarray | None = None  # group code per point (0: none, 1+slot)
        self._n_groups = 1
        self._highlighted: np.ndarray | None = None
        self._raster: Raster | None = None
        self._raster_key: tuple | None = None
        self._rows: dict[int, Strip] = {}  # strips of lines without overlays
        self._look: Look | None = None
        self._styles: dict[int, Style] = {}
        self._overlays: dict[int, list[tuple[int, int, int]]] = {}
        self._overlays_state: tuple | None = None
        self.set_colouring(colouring)
        self.set_highlighted(highlighted)

    # ------------------------------------------------------------------ public API

    @property
    def image_ids(self) -> np.ndarray:
        return self._ids

    @property
    def xy(self) -> np.ndarray:
        """The points' data coordinates, one row per entry of `image_ids`."""
        return self._xy

    @property
    def colouring(self) -> Colouring | None:
        return self._colouring

    @property
    def zoom(self) -> float:
        return self._zoom

    @property
    def crosshair(self) -> tuple[float, float]:
        """The crosshair in data coordinates (the centre of its cell)."""
        return self._cross

    @property
    def crosshair_cell(self) -> tuple[int, int]:
        """(column, line) of the crosshair in the widget."""
        return self.cell_of(*self._cross)

    @property
    def view_extent(self) -> tuple[float, float, float, float]:
        """(x min, x max, y min, y max) of what the widget shows, in data coordinates."""
        x0, top, unit, width, height = self._frame()
        return x0, x0 + 2 * width * unit, top - 4 * height * unit, top

    @property
    def nearest_image_id(self) -> int | None:
        """The image nearest to the crosshair."""
        return None if self._nearest is None else int(self._ids[self._nearest])

    @property
    def nearest_caption(self) -> str:
        image_id = self.nearest_image_id
        return "" if image_id is None else printable(str(self._caption(image_id)))

    @property
    def selecting(self) -> bool:
        """True while an area (a rectangle or a lasso) is open: from `v` or `o` to Enter
        or Escape."""
        return self._anchor is not None or self._lasso is not None

    @property
    def area_kind(self) -> str | None:
        """The open area's kind, "rectangle" or "lasso"; None when none is open."""
        if self._anchor is not None:
            return "rectangle"
        return "lasso" if self._lasso is not None else None

    @property
    def area_ids(self) -> tuple[int, ...]:
        """The images inside the open area, rectangle or lasso (empty when none is open)."""
        if self._lasso is not None:
            return self.lasso_ids
        return self.rectangle_ids

    @property
    def lasso_vertices(self) -> tuple[tuple[float, float], ...]:
        """The open lasso's path in data coordinates, the crosshair last (empty when none
        is open); Enter closes it back to the first."""
        return self._lasso or ()

    @property
    def lasso_ids(self) -> tuple[int, ...]:
        """The images the open lasso selects (see the module doc; empty when none is open)."""
        if self._lasso is None or not len(self._ids):
            return ()
        x0, top, unit, _, _ = self._frame()
        key = (x0, top, unit, self._lasso)
        if self._area_cache is not None and self._area_cache[0] == key:
            return self._area_cache[1]
        if self._by_y is None:
            self._by_y = np.argsort(self._xy[:, 1], kind="stable")
        if self._by_cell is None or self._by_cell[0] != key[:3]:
            self._by_cell = (key[:3], cell_index(self._xy, x0, top, unit))
        polygon = np.array(self._lasso)
        mask = lasso_mask(self._xy, polygon, x0, top, unit, self._by_y, self._by_cell[1])
        ids = tuple(self._ids[mask].tolist())
        self._area_cache = (key, ids)
        return ids

    @property
    def rectangle_ids(self) -> tuple[int, ...]:
        """The images inside the open rectangle (empty when none is open)."""
        if self._anchor is None or not len(self._ids):
            return ()
        x0, top, unit, _, _ = self._frame()
        (c0, r0), (c1, r1) = self.cell_of(*self._anchor), self.cell_of(*self._cross)
        px, py = cell_indices(self._xy, x0, top, unit)
        col, row = px >> 1, py >> 2
        inside = (col >= min(c0, c1)) & (col <= max(c0, c1))
        inside &= (row >= min(r0, r1)) & (row <= max(r0, r1))
        return tuple(self._ids[inside].tolist())

    @property
    def visible_points(self) -> int:
        raster = self._ensure_raster()
        return raster.visible

    def set_colouring(self, colouring: Colouring | None) -> None:
        """Colour the points by `colouring` (its groups in this map's order), or not at all."""
        self._colouring = colouring
        if colouring is None or not len(colouring.legend):
            self._groups, self._n_groups = None, 1
        else:
            groups = np.asarray(colouring.groups, dtype=np.int64).reshape(-1)
            if len(groups) != len(self._ids):
                raise ValueError(f"{len(groups)} groups for {len(self._ids)} points")
            values = np.array(colouring.slots, dtype=np.int64)
            if not len(values):
                values = np.full(1, -2, dtype=np.int64)  # nothing to colour: all grey
            order = np.argsort(values, kind="stable")
            ordered = values[order]
            pos = np.clip(np.searchsorted(ordered, groups), 0, len(ordered) - 1)
            known = (ordered[pos] == groups) & (groups >= 0)
            # Code 1 is "no group" (grey), 2 + the legend position otherwise; 0 is unused.
            self._groups = np.where(known, order[pos] + 2, 1)
            self._n_groups = len(ordered) + 2
        self._invalidate()

    def set_highlighted(self, image_ids: Iterable[int]) -> None:
        """Draw these images (search results, the grid's selection) in the bright colour."""
        wanted = np.fromiter((int(i) for i in image_ids), dtype=np.int64)
        mask = np.isin(self._ids, wanted) if len(wanted) else None
        self._highlighted = mask if mask is not None and mask.any() else None
        self._invalidate()

    def set_crosshair(self, x: float, y: float) -> None:
        """Put the crosshair at (x, y) (data coordinates), panning so that it shows."""
        self._cross = (float(x), float(y))
        self._follow_crosshair()
        self._changed()

    def slot_of(self, value: int) -> int | None:
        """The legend position (palette slot) of a group value, None when not in the legend."""
        if self._colouring is None:
            return None
        slots = self._colouring.slots
        return slots.index(value) if value in slots else None

    # ------------------------------------------------------------------ geometry

    def _fit_unit(self, width: int, height: int) -> float:
        """Data units per dot that show every point (a small margin around them)."""
        return float(max(self._span[0] / (2 * width), self._span[1] / (4 * height))) * 1.06

    def _frame(self) -> tuple[float, float, float, int, int]:
        """(x0, top, unit, width, height) of the current view."""
        width, height = max(self.size.width, 1), max(self.size.height, 1)
        unit = self._fit_unit(width, height) / self._zoom
        x0 = self._centre[0] - width * unit
        top = self._centre[1] + 2 * height * unit
        return x0, top, unit, width, height

    def cell_of(self, x: float, y: float) -> tuple[int, int]:
        """(column, line) in the widget of the data point (x, y), whether shown or not."""
        x0, top, unit, _, _ = self._frame()
        return math.floor((x - x0) / unit) >> 1, math.floor((top - y) / unit) >> 2

    def cell_centre(self, col: int, row: int) -> tuple[float, float]:
        """The data coordinates of the centre of the cell (col, row)."""
        x0, top, unit, _, _ = self._frame()
        return x0 + (2 * col + 1) * unit, top - (4 * row + 2) * unit

    def _follow_crosshair(self) -> None:
        """Snap the crosshair to its cell's centre, panning by whole cells to show it."""
        _, _, unit, width, height = self._frame()
        col, row = self.cell_of(*self._cross)
        dx = min(col, 0) + max(col - (width - 1), 0)
        dy = min(row, 0) + max(row - (height - 1), 0)
        if dx or dy:
            self._centre = (self._centre[0] + 2 * dx * unit, self._centre[1] - 4 * dy * unit)
            self._invalidate()
        self._cross = self.cell_centre(col - dx, row - dy)

    # ------------------------------------------------------------------ actions

    def action_pan(self, dx: int, dy: int) -> None:
        """Move the view by an eighth of its size (the crosshair keeps its place on screen)."""
        _, _, unit, width, height = self._frame()
        sx, sy = dx * max(1, width // _PAN_FRACTION), dy * max(1, height // _PAN_FRACTION)
        shift = (2 * sx * unit, -4 * sy * unit)
        self._centre = (self._centre[0] + shift[0], self._centre[1] + shift[1])
        self._cross = (self._cross[0] + shift[0], self._cross[1] + shift[1])
        self._invalidate()
        self._follow_crosshair()
        self._changed()

    def action_move(self, dx: int, dy: int) -> None:
        """Move the crosshair by one cell (the view follows at the edges)."""
        col, row = self.cell_of(*self._cross)
        old_rows = self._overlay_rows()
        self._cross = self.cell_centre(col + dx, row + dy)
        self._follow_crosshair()
        self._changed(old_rows)

    def action_zoom(self, direction: int) -> None:
        """Zoom in (1) or out (-1) around the crosshair, which stays where it is on screen."""
        factor = _ZOOM_STEP if direction > 0 else 1 / _ZOOM_STEP
        zoom = min(max(self._zoom * factor, _ZOOM_RANGE[0]), _ZOOM_RANGE[1])
        if zoom == self._zoom:
            return
        factor, self._zoom = zoom / self._zoom, zoom
        cx, cy = self._centre
        hx, hy = self._cross
        self._centre = (hx - (hx - cx) / factor, hy - (hy - cy) / factor)
        self._invalidate()
        self._follow_crosshair()
        self._changed(snapped=True)

    def action_reset(self) -> None:
        """The whole map again."""
        low, span = self._low, self._span
        self._zoom = 1.0
        self._centre = (float(low[0] + span[0] / 2), float(low[1] + span[1] / 2))
        self._invalidate()
        self._follow_crosshair()
        self._changed(snapped=True)

    def action_rectangle(self) -> None:
        """Open a rectangle at the crosshair (or drop the open one); it replaces a lasso."""
        self._anchor = None if self._anchor is not None else self._cross
        self._lasso = None
        self._changed()

    def action_lasso(self) -> None:
        """Start a lasso at the crosshair (or drop the open one); it replaces a rectangle."""
        self._lasso = None if self._lasso is not None else (self._cross,)
        self._anchor = None
        self._changed()

    def action_drop_area(self) -> None:
        if not self.selecting:
            raise SkipAction()  # nothing to drop: Escape goes on to the screen
        self._anchor = self._lasso = None
        self._changed()

    action_drop_rectangle = action_drop_area  # its former name

    def action_select(self) -> None:
        if self.selecting:
            ids = self.area_ids
            self._anchor = self._lasso = None
            self._changed()
        else:
            nearest = self.nearest_image_id
            ids = () if nearest is None else (nearest,)
        self.post_message(self.Selected(self, ids))

    # ------------------------------------------------------------------ state changes

    def on_resize(self, event: events.Resize) -> None:
        self._invalidate()
        self._follow_crosshair()
        self._changed(snapped=True)

    def on_mount(self) -> None:
        self.call_after_refresh(self._changed)

    def _invalidate(self) -> None:
        self._raster_key = None
        self.refresh()

    def _extend_lasso(self, snapped: bool = False) -> None:
        """The crosshair as the open lasso's next vertex (or the end of its last edge,
        when it goes on in that edge's direction). `snapped`: the crosshair only moved to
        its cell's centre (a zoom, a resize): the path's end follows it, no new vertex."""
        path, (cx, cy) = self._lasso, self._cross
        if path is None or path[-1] == (cx, cy):
            return
        if snapped:
            self._lasso = (*path[:-1], (cx, cy))
            return
        if len(path) >= 2 and _goes_on(path[-2], path[-1], (cx, cy)):
            self._lasso = (*path[:-1], (cx, cy))
        else:
            self._lasso = (*path, (cx, cy))

    def _changed(self, old_rows: set[int] | None = None, *, snapped: bool = False) -> None:
        """After any move: extend the lasso, find the nearest image, repaint what moved,
        tell the screen. `snapped`: see `_extend_lasso`."""
        self._extend_lasso(snapped)
        if self._lasso is None:  # what only an open lasso needs
            self._by_cell = self._area_cache = None
        if len(self._xy):
            d = self._xy - np.asarray(self._cross)
            self._nearest = int(np.argmin(np.einsum("ij,ij->i", d, d)))
        if old_rows is None or self._raster_key is None:
            self.refresh()
        else:
            width = self.size.width
            for row in old_rows | self._overlay_rows():
                self.refresh(Region(0, row, width, 1))
        self.post_message(self.Moved(self, self.nearest_image_id))

    # ------------------------------------------------------------------ drawing

    def _ensure_raster(self) -> Raster:
        x0, top, unit, width, height = self._frame()
        key = (x0, top, unit, width, height, id(self._groups), id(self._highlighted))
        if self._raster is None or key != self._raster_key:
            self._raster = rasterise(
                self._xy, x0, top, unit, width, height,
                self._groups, self._n_groups, self._highlighted,
            )  # fmt: skip
            self._raster_key = key
            self._rows.clear()
        return self._raster

    def _make_look(self) -> Look:
        base = self.rich_style
        _, background = self.background_colors
        bg = background.rgb
        fg = rgb_of(base.color, (220, 220, 220))
        component = self.get_component_rich_style
        return Look(
            base=base,
            background=bg,
            foreground=fg,
            none=rgb_of(component("map-view--none").color, NO_GROUP_RGB),
            highlight=rgb_of(component("map-view--highlight").color, (255, 240, 0)),
            selection=component("map-view--selection", partial=True),
            nearest=component("map-view--nearest", partial=True),
            crosshair=component("map-view--crosshair", partial=True),
            lasso=component("map-view--lasso", partial=True),
        )

    def render_lines(self, crop: Region) -> list[Strip]:
        look = self._make_look()
        if look != self._look:  # another theme: every style changes
            self._look = look
            self._styles.clear()
            self._rows.clear()
        self._ensure_raster()
        return super().render_lines(crop)

    def _style(self, key: int) -> Style:
        style = self._styles.get(key)
        if style is None:
            style = key_style(key, self._look or self._make_look())
            self._styles[key] = style
        return style

    def _overlay_rows(self) -> set[int]:
        """The lines the crosshair, the nearest image and the area are drawn on."""
        rows = {self.cell_of(*self._cross)[1]}
        if self._nearest is not None:
            rows.add(self.cell_of(*self._xy[self._nearest])[1])
        if self._anchor is not None:
            a, b = self.cell_of(*self._anchor)[1], self.cell_of(*self._cross)[1]
            rows.update(range(max(min(a, b), 0), min(max(a, b), self.size.height - 1) + 1))
        if self._lasso is not None:
            x0, top, unit, _, height = self._frame()
            w = to_cells(np.array(self._lasso), x0, top, unit)[:, 1]
            a, b = math.floor(float(w.min())), math.floor(float(w.max()))
            rows.update(range(max(a, 0), min(b, height - 1) + 1))
        return {row for row in rows if 0 <= row < self.size.height}

    def _overlay_map(self, width: int, height: int) -> dict[int, list[tuple[int, int, int]]]:
        """Per line, the (first column, last column, bit) of the overlays drawn on it;
        computed once per state of the crosshair, the area and the view."""
        state = (self._raster_key, self._cross, self._anchor, self._lasso, self._nearest)
        if state == self._overlays_state:
            return self._overlays
        overlays: dict[int, list[tuple[int, int, int]]] = {}
        cross_col, cross_row = self.cell_of(*self._cross)
        if self._anchor is not None:
            c0, r0 = self.cell_of(*self._anchor)
            first, last = max(min(c0, cross_col), 0), min(max(c0, cross_col), width - 1)
            if first <= last:
                for row in range(
                    max(min(r0, cross_row), 0), min(max(r0, cross_row), height - 1) + 1
                ):
                    overlays.setdefault(row, []).append((first, last, SEL))
        if self._lasso is not None:
            x0, top, unit, _, _ = self._frame()
            cells = to_cells(np.array(self._lasso), x0, top, unit)
            for row, first, last, bit in lasso_overlays(cells, width, height):
                overlays.setdefault(row, []).append((first, last, bit))
        if self._nearest is not None:
            col, row = self.cell_of(*self._xy[self._nearest])
            if 0 <= row < height and 0 <= col < width:
                overlays.setdefault(row, []).append((col, col, NEAR))
        if 0 <= cross_row < height and 0 <= cross_col < width:
            overlays.setdefault(cross_row, []).append((cross_col, cross_col, CROSS))
        self._overlays, self._overlays_state = overlays, state
        return overlays

    def render_line(self, y: int) -> Strip:
        raster = self._raster if self._raster_key is not None else None
        if raster is None:  # called outside render_lines after a change
            raster = self._ensure_raster()
        height, width = raster.codes.shape
        if not 0 <= y < height:
            look = self._look or self._make_look()
            return Strip.blank(self.size.width, look.base)
        codes, keys = raster.codes[y], raster.keys[y]
        overlays = self._overlay_map(width, height).get(y)
        if not overlays:
            strip = self._rows.get(y)
            if strip is None:
                strip = Strip(row_segments(codes, keys, self._styles, self._style), width)
                self._rows[y] = strip
            return strip
        keys = keys.copy()
        for first, last, bit in overlays:
            keys[first : last + 1] |= bit
            if bit == CROSS and codes[first] == 0x20:
                codes = codes.copy()
                codes[first] = ord("+")
        return Strip(row_segments(codes, keys, self._styles, self._style), width)
