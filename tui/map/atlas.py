"""Atlas mode: thumbnails on the map, each at its own point, none overlapping.

The map's area is cut into a lattice of tiles (about seven across, roughly
square, a blank cell between them). Each tile shows the image whose point lies
nearest the tile's centre among the points that fall in it, so a picture sits
where its point is, within half a tile; a tile no point falls in stays empty and
the map shows through. Zooming in spreads the points over more tiles, so more
of them get a picture.

`place_tiles` is the pure part (numpy, no widgets); `AtlasTile` is one tile: the
picture (sharp through textual-image where the terminal shows images, the
grid's half-cells otherwise) over one line of caption, reversed for the tile
the crosshair is in. The screen owns the tiles and loads their pictures in a
worker.

Text is text: captions are file names, shown as rich `Text` with control
characters escaped, never parsed as markup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container
from textual.widget import Widget
from textual.widgets import Static

from planche.core.text import printable
from planche.tui.map.panel import MapThumbnail

GAP = 1  # blank cells between tiles, where the map's points still show
MIN_TILE_WIDTH, MAX_TILE_WIDTH = 8, 24
TILES_ACROSS = 7
CELL_ASPECT = 2.2  # a terminal cell is about this many times taller than wide


@dataclass(frozen=True)
class TilePlace:
    """One tile: its top-left cell in the map, and the point (index) it shows."""

    x: int
    y: int
    index: int


def tile_box(width: int, height: int) -> tuple[int, int]:
    """(columns, lines) of one tile on a map of `width` x `height` cells: about
    seven across, a roughly square picture plus its caption line."""
    columns = min(max(width // TILES_ACROSS, MIN_TILE_WIDTH), MAX_TILE_WIDTH)
    lines = max(3, round(columns / CELL_ASPECT) + 1)
    return columns, min(lines, max(height, 1))


def place_tiles(
    cols: np.ndarray, rows: np.ndarray, width: int, height: int, box: tuple[int, int]
) -> list[TilePlace]:
    """The tiles of a `width` x `height` map whose points are at cell positions
    (`cols`, `rows`; fractional, 0 at the left and top edge): one per lattice
    place holding a point, showing the point nearest the place's centre.
    Points outside the map are never shown; ties go to the lower index."""
    tile_w, tile_h = box
    pitch_x, pitch_y = tile_w + GAP, tile_h + GAP
    across, down = (width + GAP) // pitch_x, (height + GAP) // pitch_y
    if across <= 0 or down <= 0 or not len(cols):
        return []
    # The lattice is centred: the spare cells split between both edges.
    left = (width - (across * pitch_x - GAP)) // 2
    top = (height - (down * pitch_y - GAP)) // 2
    cols = np.asarray(cols, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.float64)
    sx = np.floor((cols - left + GAP / 2) / pitch_x).astype(np.int64)
    sy = np.floor((rows - top + GAP / 2) / pitch_y).astype(np.int64)
    inside = (sx >= 0) & (sx < across) & (sy >= 0) & (sy < down)
    inside &= (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    index = np.flatnonzero(inside)
    if not len(index):
        return []
    sx, sy = sx[index], sy[index]
    # Distance to the centre of the tile's picture, in picture widths and heights.
    cx = left + sx * pitch_x + tile_w / 2
    cy = top + sy * pitch_y + (tile_h - 1) / 2
    distance = ((cols[index] - cx) / tile_w) ** 2 + ((rows[index] - cy) / tile_h) ** 2
    slot = sy * across + sx
    # The nearest point of each place: the smallest distance per place, then the
    # first point (lowest index) at that distance. No sort of all the points.
    nearest = np.full(across * down, np.inf)
    np.minimum.at(nearest, slot, distance)
    winners = np.flatnonzero(distance == nearest[slot])
    first = winners[np.unique(slot[winners], return_index=True)[1]]
    return [
        TilePlace(x=int(left + sx[i] * pitch_x), y=int(top + sy[i] * pitch_y), index=int(index[i]))
        for i in first
    ]


def cell_positions(
    xy: np.ndarray, extent: tuple[float, float, float, float], width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """Fractional cell positions (column, line) of data points in a view showing
    `extent` (x min, x max, y min, y max) on `width` x `height` cells."""
    x0, x1, y0, y1 = extent
    cols = (xy[:, 0] - x0) / max(x1 - x0, 1e-12) * width
    rows = (y1 - xy[:, 1]) / max(y1 - y0, 1e-12) * height
    return cols, rows


class AtlasTile(Widget):
    """One tile of the atlas: a picture over its caption line."""

    DEFAULT_CSS = """
    AtlasTile {
        position: absolute;
        layout: vertical;
        background: $surface;
        & > .atlas-frame { height: 1fr; width: 100%; align: center middle; }
        & .atlas-picture { width: auto; height: auto; }
        & > MapThumbnail { height: 1fr; }
        & > .atlas-caption { height: 1; width: 100%; color: $text-muted; }
        &.-current > .atlas-caption { text-style: reverse; color: $foreground; }
    }
    """

    def __init__(self, sharp_class: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sharp_class = sharp_class
        self.image_id: int | None = None
        self._shown: tuple[str, Any] | None = None

    def compose(self) -> ComposeResult:
        if self.sharp_class is not None:
            # auto x auto: textual-image fits the picture in the frame, aspect kept
            with Container(classes="atlas-frame"):
                yield self.sharp_class(None, classes="atlas-picture")
        else:
            yield MapThumbnail(classes="atlas-picture")
        yield Static("", classes="atlas-caption", markup=False)

    def place(self, place: TilePlace, box: tuple[int, int]) -> None:
        self.styles.offset = (place.x, place.y)
        self.styles.width, self.styles.height = box

    def show(self, image_id: int, caption: str, picture: Any) -> None:
        """Show `picture` (a PIL image when sharp, half-cell strips otherwise; None:
        not loaded yet) with `caption` under it."""
        self.image_id = image_id
        self._shown = (caption, picture)
        if self.is_mounted:
            self._apply()

    def on_mount(self) -> None:
        self._apply()

    def _apply(self) -> None:
        if self._shown is None:
            return
        caption, picture = self._shown
        for label in self.query(".atlas-caption").results(Static):
            label.update(
                Text(printable(caption), no_wrap=True, overflow="ellipsis", justify="center")
            )
        if self.sharp_class is None:
            for thumbnail in self.query(MapThumbnail):
                thumbnail.show(picture or ())
        else:
            for target in self.query(".atlas-picture"):
                if target.image is not picture:  # type: ignore[attr-defined]
                    target.image = picture  # type: ignore[attr-defined]
