"""The map's atlas mode (issue 19): thumbnails placed at their points, never overlapping.

The lattice placement is tested on its own on random points; the screen with
fake map data (two blobs of points, left and right) whose fake thumbnails are
solid colours per blob, so a test can see that a picture sits over its points.
"""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image
from test_map_view import LEFT, LONE, RIGHT, run_screen

from planche.tui.map.atlas import AtlasTile, cell_positions, place_tiles, tile_box
from planche.tui.map.panel import MapThumbnail

SIZES = [(160, 48), (80, 24)]
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)


def _png(rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (128, 96), rgb).save(out, "PNG")
    return out.getvalue()


class ColouredThumbnails:
    """Left blob red, right blob blue, the lone point green; counts the reads."""

    def __init__(self) -> None:
        self.reads: list[list[int]] = []
        self.blobs = {"left": _png(RED), "right": _png(BLUE), "lone": _png(GREEN)}

    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]:
        self.reads.append(list(image_ids))
        return {i: self.blobs[_blob(i)] for i in image_ids}


def _blob(image_id: int) -> str:
    return "left" if image_id in LEFT else "right" if image_id in RIGHT else "lone"


# -- placement --------------------------------------------------------------------------


def _slot_rects(places, box):
    return [(p.x, p.y, p.x + box[0], p.y + box[1]) for p in places]


@pytest.mark.parametrize("width,height", [(120, 44), (64, 20), (200, 58)])
def test_tiles_never_overlap_and_each_sits_over_its_own_point(width, height):
    rng = np.random.default_rng(5)
    cols = rng.uniform(-5, width + 5, 5_000)  # some points outside the map
    rows = rng.normal(height / 2, height / 4, 5_000)
    box = tile_box(width, height)
    places = place_tiles(cols, rows, width, height, box)
    assert places, "points in view give tiles"
    rects = _slot_rects(places, box)
    for a, b in itertools.combinations(rects, 2):
        assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)
    for x0, y0, x1, y1 in rects:
        assert x0 >= 0 and x1 <= width and y0 >= 0 and y1 <= height, "tiles stay on the map"
    for place, (x0, y0, x1, y1) in zip(places, rects, strict=True):
        col, row = cols[place.index], rows[place.index]
        # its point lies within the tile or the blank cell beside it
        assert x0 - 1 <= col <= x1 + 1 and y0 - 1 <= row <= y1 + 1
    assert len({p.index for p in places}) == len(places), "no image twice"


def test_each_tile_shows_the_point_nearest_its_centre():
    rng = np.random.default_rng(8)
    width, height = 100, 40
    cols, rows = rng.uniform(0, width, 800), rng.uniform(0, height, 800)
    box = tile_box(width, height)
    for place in place_tiles(cols, rows, width, height, box):
        cx, cy = place.x + box[0] / 2, place.y + (box[1] - 1) / 2
        inside = (
            (cols >= place.x - 0.5) & (cols < place.x + box[0] + 0.5)
            & (rows >= place.y - 0.5) & (rows < place.y + box[1] + 0.5)
        )  # fmt: skip
        d = ((cols - cx) / box[0]) ** 2 + ((rows - cy) / box[1]) ** 2
        assert d[place.index] <= d[inside].min() + 1e-9


def test_an_empty_part_of_the_map_has_no_tiles():
    box = tile_box(100, 40)
    # every point in the left fifth: no tile on the right
    cols, rows = np.linspace(1, 19, 50), np.linspace(1, 39, 50)
    places = place_tiles(cols, rows, 100, 40, box)
    assert places and all(p.x < 20 + box[0] for p in places)
    assert place_tiles(np.array([]), np.array([]), 100, 40, box) == []
    assert place_tiles(cols, rows, 5, 2, box) == [], "a map smaller than a tile has none"


def test_cell_positions_follow_the_view():
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]])
    cols, rows = cell_positions(xy, (0.0, 10.0, 0.0, 10.0), 100, 50)
    assert cols.tolist() == [0.0, 100.0, 50.0]
    assert rows.tolist() == [50.0, 0.0, 25.0], "y grows upwards, lines downwards"


# -- the screen -------------------------------------------------------------------------


def _strip_colours(tile: AtlasTile) -> set[str]:
    thumb = tile.query_one(MapThumbnail)
    colours = set()
    for y in range(thumb.size.height):
        for segment in thumb.render_line(y):
            for colour in (segment.style.color, segment.style.bgcolor) if segment.style else ():
                if colour is not None and colour.triplet is not None:
                    colours.add(colour.triplet.hex)
    return colours


async def _wait_for_pictures(pilot, screen):
    for _ in range(50):
        await pilot.pause(0.05)
        tiles = screen.atlas_tiles
        if tiles and all(_strip_colours(t) for t in tiles):
            return tiles
    return screen.atlas_tiles


def _hex(rgb):
    # the grid's half-cells keep 15-bit colour (top bits repeated)
    return "#" + "".join(f"{(c & 0xF8) | (c >> 5):02x}" for c in rgb)


@pytest.mark.parametrize("size", SIZES)
def test_atlas_puts_each_thumbnail_over_its_own_points(size):
    source = ColouredThumbnails()
    names = {LONE: "[b]lone\x1b[31m.jpg"}

    async def steps(pilot, app, screen):
        assert screen.atlas_tiles == [], "the map starts with points alone"
        await pilot.press("a")
        tiles = await _wait_for_pictures(pilot, screen)
        assert tiles, "tiles shown"
        middle = screen.view.region.x + screen.view.size.width / 2
        seen = {}
        for tile in tiles:
            blob = _blob(tile.image_id)
            centre = tile.region.x + tile.region.width / 2
            seen[blob] = seen.get(blob, 0) + 1
            if blob == "left":
                assert centre < middle and _hex(RED) in _strip_colours(tile)
            elif blob == "right":
                assert centre > middle and _hex(BLUE) in _strip_colours(tile)
            caption = str(tile.query_one(".atlas-caption").render())
            if tile.image_id == LONE:
                assert "[b]lone" in caption and "\x1b" not in caption, "names are text"
        assert seen.get("left") and seen.get("right")
        status = str(screen.query_one("#map-status").render())
        assert f"atlas: {len(tiles)} thumbnail" in status
        return [t.region for t in tiles], len(sum(source.reads, []))

    regions, reads = run_screen(steps, size, thumbnails=source, captions=names)
    for a, b in itertools.combinations(regions, 2):
        assert not a.overlaps(b), "thumbnails never overlap"
    assert reads <= len(regions) + 1, "one read per thumbnail shown (and the side panel's)"


def test_zooming_in_spreads_a_blob_over_more_thumbnails_and_a_toggles_them_off():
    source = ColouredThumbnails()

    async def steps(pilot, app, screen):
        await pilot.press("a")
        before = await _wait_for_pictures(pilot, screen)
        whole = len(before)
        # crosshair onto the left blob, then zoom in around it
        screen.view.set_crosshair(-6.0, 0.0)
        await pilot.press("plus", "plus", "plus")
        zoomed = await _wait_for_pictures(pilot, screen)
        left_zoomed = [t for t in zoomed if _blob(t.image_id) == "left"]
        left_before = [t for t in before if _blob(t.image_id) == "left"]
        current = [t.image_id for t in zoomed if t.has_class("-current")]
        nearest = screen.view.nearest_image_id
        await pilot.press("a")
        await pilot.pause(0.1)
        return whole, len(left_before), len(left_zoomed), current, nearest, screen.atlas_tiles

    whole, left_before, left_zoomed, current, nearest, after = run_screen(
        steps, (160, 48), thumbnails=source
    )
    assert whole > 0 and left_zoomed > left_before
    assert current in ([], [nearest]), "only the nearest image's tile is marked"
    assert after == [], "a again: the points alone"


def test_atlas_with_sharp_images_gives_each_tile_its_picture():
    from textual_image.widget import HalfcellImage

    source = ColouredThumbnails()

    async def steps(pilot, app, screen):
        await pilot.press("a")
        for _ in range(50):
            await pilot.pause(0.05)
            pictures = [t.query_one(HalfcellImage).image for t in screen.atlas_tiles]
            if pictures and all(p is not None for p in pictures):
                break
        side = screen.query_one("#map-picture", HalfcellImage).image
        tiles = [(t.image_id, t.query_one(HalfcellImage).image) for t in screen.atlas_tiles]
        return side, screen.view.nearest_image_id, tiles

    side, nearest, shown = run_screen(
        steps, (160, 48), thumbnails=source, sharp_images=HalfcellImage
    )
    colour = {"left": RED, "right": BLUE, "lone": GREEN}
    assert side is not None and side.getpixel((5, 5)) == colour[_blob(nearest)], "panel sharp too"
    assert shown
    for image_id, picture in shown:
        assert picture is not None and picture.getpixel((5, 5)) == colour[_blob(image_id)]


def test_atlas_without_thumbnails_says_so():
    async def steps(pilot, app, screen):
        await pilot.press("a")
        await pilot.pause(0.1)
        return screen.atlas_on, [n.message for n in app._notifications]

    on, messages = run_screen(steps, (160, 48))
    assert not on and any("No thumbnails" in m for m in messages)
