"""`MapScreen`: the map beside the nearest image's thumbnail and a legend, over a
status line. It does the reading (colourings, thumbnails) in workers and
dismisses with the ids chosen (Enter).

Text is text: captions are names from users (files, tags, cluster labels), shown
as rich `Text` with control characters escaped, never parsed as markup.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from planche.core.errors import PlancheError
from planche.core.text import count, printable
from planche.tui.images import decode_picture
from planche.tui.map.atlas import (
    AtlasTile,
    TilePlace,
    cell_positions,
    place_tiles,
    tile_box,
)
from planche.tui.map.colouring import Colouring, colouring_options, load_colouring
from planche.tui.map.panel import (
    MapThumbnail,
    ThumbnailSource,
    legend_text,
    strips_of,
    thumbnail_strips,
)
from planche.tui.map.view import MapView


class MapPoints(Protocol):
    """What the screen needs of `read.map_data`'s MapData."""

    map_id: int
    model: Any
    scope: Any
    method: str
    quality: float | None
    image_ids: np.ndarray
    xy: np.ndarray


def quality_text(quality: float | None) -> str:
    """The neighbour-preservation figure as the status line names it."""
    if quality is None or not math.isfinite(quality):
        return "10-NN kept: -"
    return f"10-NN kept: {quality:.0%}" if quality <= 1 else f"10-NN kept: {quality:.0f}%"


class MapScreen(Screen[tuple[int, ...] | None]):
    """A map beside the nearest image and a legend; dismisses with the ids chosen (Enter)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "colour", "Colour"),
        Binding("a", "atlas", "Atlas"),
        Binding("escape,q", "close", "Back"),
    ]

    DEFAULT_CSS = """
    MapScreen {
        layout: vertical;
        #map-body { height: 1fr; }
        #map-area { width: 1fr; height: 100%; }
        #map { width: 100%; height: 100%; }
        #map-side {
            width: 40;
            height: 100%;
            border-left: solid $panel-lighten-2;
            padding: 0 1;
        }
        #map-caption { height: auto; max-height: 3; text-style: bold; }
        #map-thumb-frame { height: 18; width: 100%; align: center middle; }
        #map-picture { width: auto; height: auto; }
        #map-legend-box { height: 1fr; }
        #map-legend-line { height: 1; display: none; }
        #map-status { height: 1; background: $panel; color: $text-muted; }
        &.narrow #map-side { display: none; }
        &.narrow #map-legend-line { display: block; }
    }
    """

    def __init__(
        self,
        data: MapPoints,
        *,
        project: Path | None = None,
        captions: Mapping[int, str] | None = None,
        thumbnails: ThumbnailSource | None = None,
        colouring: Colouring | None = None,
        highlighted: Iterable[int] = (),
        title: str = "",
        sharp_images: Any = None,
    ) -> None:
        """`sharp_images`: textual-image's widget class for this terminal, used by
        the atlas (None: the atlas draws half-cells, like the grid)."""
        super().__init__()
        self.data = data
        self.project = project
        self.captions = dict(captions or {})
        self.thumbnails = thumbnails
        self.title_text = title
        self._initial_colouring = colouring
        self._highlighted = tuple(highlighted)
        self._options: list[tuple[str, int | str, str] | None] | None = None
        self._option = 0
        self._loaded: dict[tuple[str, int | str], Colouring] = {}
        if colouring is not None and colouring.key is not None:
            self._loaded[colouring.key] = colouring
        self._shown_thumbnail: int | None = None
        self.sharp_images = sharp_images
        self.atlas_on = False
        self._atlas_key: tuple | None = None
        self._atlas_places: list[TilePlace] = []
        self._atlas_box = (0, 0)
        self._atlas_pending = False
        # Decoded tile pictures by (image id, tile box): zooming back and forth
        # reuses them; 512 tiles are under 40 MB of 128-px pictures.
        self._pictures: LRUCache[tuple[int, tuple[int, int]], Any] = LRUCache(512)

    def _caption(self, image_id: int) -> str:
        return self.captions.get(int(image_id), f"image {image_id}")

    def compose(self) -> ComposeResult:
        with Horizontal(id="map-body"):
            with Container(id="map-area"):
                yield MapView(
                    self.data.image_ids, self.data.xy, caption=self._caption,
                    colouring=self._initial_colouring, highlighted=self._highlighted, id="map",
                )  # fmt: skip
            with Vertical(id="map-side"):
                yield Static("", id="map-caption", markup=False)
                if self.sharp_images is not None:
                    with Container(id="map-thumb-frame"):
                        yield self.sharp_images(None, id="map-picture")
                else:
                    yield MapThumbnail(id="map-thumb")
                with VerticalScroll(id="map-legend-box"):
                    yield Static(legend_text(self._initial_colouring), id="map-legend")
        yield Static(legend_text(self._initial_colouring, True), id="map-legend-line")
        yield Static("", id="map-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < 120, "narrow")
        self.query_one(MapView).focus()
        if self.project is not None:
            self._load_options()
        else:  # nothing to read: none, or the colouring given
            given = self._initial_colouring
            key = given.key if given is not None else None
            self._set_options([None] + ([(*key, given.title)] if given and key else []))

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < 120, "narrow")

    @property
    def view(self) -> MapView:
        return self.query_one("#map", MapView)

    # -- status, caption, thumbnail -----------------------------------------------

    def on_map_view_moved(self, event: MapView.Moved) -> None:
        view = event.view
        caption = view.nearest_caption
        self.query_one("#map-caption", Static).update(
            Text(f"{caption}\n(id {event.image_id})" if event.image_id is not None else "")
        )
        d = self.data
        parts = [
            f"{printable(str(d.method))} of {printable(str(d.model))}",
            count(len(view.image_ids), "point"),
            quality_text(d.quality),
            printable(self.title_text or str(d.scope)),
        ]
        if view.zoom != 1:
            parts.append(f"zoom {view.zoom:.3g}x")
        if self.atlas_on:
            parts.append(f"atlas: {count(len(self._atlas_places), 'thumbnail')}")
        if view.selecting:
            parts.append(f"{view.area_kind}: {count(len(view.area_ids), 'image')} (Enter selects)")
        if caption:
            parts.append(f"at {caption}")
        status = Text(" · ".join(parts), no_wrap=True, overflow="ellipsis")
        self.query_one("#map-status", Static).update(status)
        if self.atlas_on:
            self.call_later(self._update_atlas)
        if self.has_class("narrow"):  # the panel is hidden: load when it shows again
            self._shown_thumbnail = None
        elif event.image_id is not None and event.image_id != self._shown_thumbnail:
            self._shown_thumbnail = event.image_id
            if self.thumbnails is None:
                pass
            elif self.sharp_images is not None:
                self._load_picture(event.image_id)
            else:
                thumb = self.query_one("#map-thumb", MapThumbnail)
                self._load_thumbnail(event.image_id, thumb.box, thumb.background_rgb)

    @work(thread=True, exclusive=True, group="map-thumbnail", exit_on_error=False)
    def _load_thumbnail(self, image_id: int, box: tuple[int, int], background: int) -> None:
        assert self.thumbnails is not None
        strips = thumbnail_strips(self.thumbnails, image_id, box, background)
        self.app.call_from_thread(self.query_one("#map-thumb", MapThumbnail).show, strips)

    @work(thread=True, exclusive=True, group="map-thumbnail", exit_on_error=False)
    def _load_picture(self, image_id: int) -> None:
        """The nearest image's thumbnail, sharp (textual-image)."""
        assert self.thumbnails is not None
        try:
            data = self.thumbnails.thumbnails([image_id]).get(image_id)
        except Exception:  # noqa: BLE001 - no thumbnail is a blank panel, never a crash
            data = None
        picture = decode_picture(data) if data else None

        def show() -> None:
            self.query_one("#map-picture").image = picture  # type: ignore[attr-defined]

        self.app.call_from_thread(show)

    # -- atlas ------------------------------------------------------------------------

    def action_atlas(self) -> None:
        """Thumbnails on the map at their points (again: the points alone)."""
        self.atlas_on = not self.atlas_on
        self._atlas_key = None
        if self.thumbnails is None and self.atlas_on:
            self.atlas_on = False
            self._notify("No thumbnails to show on this map.", "warning")
            return
        self.call_later(self._update_atlas)
        self.view.post_message(MapView.Moved(self.view, self.view.nearest_image_id))

    @property
    def atlas_tiles(self) -> list[AtlasTile]:
        """The tiles shown now, in lattice order."""
        return [tile for tile in self.query(AtlasTile) if tile.display]

    async def _update_atlas(self) -> None:
        """Lay the tiles out again after a zoom, a pan or a resize; mark the tile the
        crosshair is in. Tiles are kept and hidden, never removed, so that a burst of
        moves only moves them."""
        view = self.view
        width, height = view.size
        key = (view.view_extent, width, height, self.atlas_on)
        tiles = list(self.query(AtlasTile))
        if key != self._atlas_key:
            self._atlas_key = key
            places: list[TilePlace] = []
            box = tile_box(width, height)
            if self.atlas_on and width and height:
                cols, rows = cell_positions(view.xy, view.view_extent, width, height)
                places = place_tiles(cols, rows, width, height, box)
            self._atlas_places, self._atlas_box = places, box
            if len(tiles) < len(places):
                new = [AtlasTile(self.sharp_images) for _ in range(len(places) - len(tiles))]
                await self.query_one("#map-area").mount_all(new)
                tiles += new
            self._show_tiles(tiles)
        nearest = view.nearest_image_id
        for tile in tiles:  # the nearest image's tile, when it has one
            tile.set_class(bool(tile.display) and tile.image_id == nearest, "-current")

    def _show_tiles(self, tiles: list[AtlasTile]) -> None:
        """Put each tile at its place with its picture (or load the missing ones)."""
        ids = self.view.image_ids
        box, missing = self._atlas_box, []
        for i, tile in enumerate(tiles):
            if i >= len(self._atlas_places):
                tile.display = False
                continue
            place = self._atlas_places[i]
            image_id = int(ids[place.index])
            picture = self._pictures.get((image_id, box))
            if picture is None:
                missing.append(image_id)
            tile.place(place, box)
            tile.display = True
            tile.show(image_id, self._caption(image_id), picture)
        if missing and self.thumbnails is not None:
            r, g, b = self.view.background_colors[1].rgb
            background = (r << 16) | (g << 8) | b
            self._load_atlas(missing, box, background)

    @work(thread=True, exclusive=True, group="map-atlas", exit_on_error=False)
    def _load_atlas(self, image_ids: list[int], box: tuple[int, int], background: int) -> None:
        assert self.thumbnails is not None
        try:
            data = self.thumbnails.thumbnails(image_ids)
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            self.app.call_from_thread(self._notify, f"thumbnails unreadable: {exc}")
            return
        strip_box = (box[0], max(box[1] - 1, 1))
        pictures = {
            image_id: (
                decode_picture(blob)
                if self.sharp_images is not None
                else strips_of(blob, strip_box, background)
            )
            for image_id, blob in data.items()
        }
        self.app.call_from_thread(self._atlas_loaded, pictures, box)

    def _atlas_loaded(self, pictures: dict[int, Any], box: tuple[int, int]) -> None:
        for image_id, picture in pictures.items():
            if picture:
                self._pictures.set((image_id, box), picture)
        if box != self._atlas_box:
            return  # laid out again meanwhile: that layout asked for its own
        for tile in self.atlas_tiles:
            picture = pictures.get(tile.image_id) if tile.image_id is not None else None
            if picture:
                tile.show(tile.image_id, self._caption(tile.image_id), picture)

    # -- colourings -----------------------------------------------------------------

    @work(thread=True, exclusive=True, group="map-options", exit_on_error=False)
    def _load_options(self) -> None:
        assert self.project is not None
        try:
            options: list[tuple[str, int | str, str] | None] = [
                None, *colouring_options(self.project)
            ]  # fmt: skip
        except PlancheError as exc:
            self.app.call_from_thread(self._notify, str(exc))
            return
        self.app.call_from_thread(self._set_options, options)

    def _set_options(self, options: list[tuple[str, int | str, str] | None]) -> None:
        self._options = options
        current = self.view.colouring
        key = current.key if current is not None else None
        for i, option in enumerate(options):
            if (option is None and key is None) or (option and option[:2] == key):
                self._option = i

    def action_colour(self) -> None:
        """The next colouring: none, each clustering, each tag property."""
        if not self._options or len(self._options) == 1:
            self._notify("No clustering or tag property to colour the map by yet.", "information")
            return
        self._option = (self._option + 1) % len(self._options)
        option = self._options[self._option]
        if option is None:
            self._apply_colouring(None)
        elif option[:2] in self._loaded:
            self._apply_colouring(self._loaded[option[:2]])  # type: ignore[index]
        else:
            self._load_colouring(option)

    @work(thread=True, exclusive=True, group="map-colouring", exit_on_error=False)
    def _load_colouring(self, option: tuple[str, int | str, str]) -> None:
        assert self.project is not None
        try:
            colouring = load_colouring(self.project, option, self.view.image_ids)
        except PlancheError as exc:
            self.app.call_from_thread(self._notify, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            self.app.call_from_thread(self._notify, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._apply_colouring, colouring)

    def _apply_colouring(self, colouring: Colouring | None) -> None:
        if colouring is not None and colouring.key is not None:
            self._loaded[colouring.key] = colouring
        self.view.set_colouring(colouring)
        self.query_one("#map-legend", Static).update(legend_text(colouring))
        self.query_one("#map-legend-line", Static).update(legend_text(colouring, True))

    def _notify(self, message: str, severity: str = "error") -> None:
        self.notify(printable(message), severity=severity, markup=False)  # type: ignore[arg-type]

    # -- leaving --------------------------------------------------------------------

    def on_map_view_selected(self, event: MapView.Selected) -> None:
        if not event.image_ids:
            self._notify("Nothing inside the area: move the crosshair to widen it.", "warning")
            return
        self.dismiss(event.image_ids)

    def action_close(self) -> None:
        self.dismiss(None)
