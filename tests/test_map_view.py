"""The map (issue 19): the braille view alone on generated points, its screen, and the
map opened from the app.

The view and the screen take their data as arguments, so most tests give them a
fake MapData: two well-separated blobs of points (seeded), coloured as two groups.
pytest-asyncio is not installed: each test runs its own `asyncio.run(...)`.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from rich.segment import Segment
from textual.app import App, ComposeResult

from conftest import settle, tree_nodes, write_good_images
from planche.core import commands, read
from planche.core.embedders import load_embedder
from planche.core.errors import PlancheError
from planche.core.ingest import import_folder
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.images import ImageMode
from planche.tui.map import Colouring, MapScreen, MapView, rasterise
from planche.tui.map import screen as map_screen
from planche.tui.map.raster import (
    cell_indices,
    lasso_mask,
    lasso_overlays,
    polygon_contains,
    to_cells,
)
from planche.tui.tree_pane import ProjectTree

SIZES = [(160, 48), (80, 24)]
LEFT = np.arange(1, 61)  # blob ids
RIGHT = np.arange(101, 161)
LONE = 500  # one point alone above the middle


@dataclass(frozen=True)
class FakeMapData:
    map_id: int
    model: str
    scope: str
    method: str
    quality: float
    image_ids: np.ndarray
    xy: np.ndarray


def blobs() -> FakeMapData:
    rng = np.random.default_rng(19)
    left = rng.normal((-6.0, 0.0), 0.6, size=(60, 2))
    right = rng.normal((6.0, 0.5), 0.6, size=(60, 2))
    xy = np.vstack([left, right, [[0.0, 1.5]]]).astype(np.float32)
    ids = np.concatenate([LEFT, RIGHT, [LONE]]).astype(np.int64)
    return FakeMapData(7, "pixels", "all images", "pca", 0.43, ids, xy)


def two_groups(data: FakeMapData, labels: tuple[str, str] = ("cats", "dogs")) -> Colouring:
    groups = np.where(data.image_ids < 100, 0, np.where(data.image_ids < 200, 1, -1))
    legend = ((0, labels[0], 60), (1, labels[1], 60), (-1, None, 1))
    return Colouring("clustering #3 kmeans", groups, legend, True, ("clustering", 3))


class ViewApp(App[None]):
    def __init__(self, data: FakeMapData, colouring: Colouring | None = None, **kwargs) -> None:
        super().__init__()
        self.data, self.colouring, self.kwargs = data, colouring, kwargs
        self.selected: list[tuple[int, ...]] = []

    def compose(self) -> ComposeResult:
        yield MapView(self.data.image_ids, self.data.xy, colouring=self.colouring, **self.kwargs)

    def on_mount(self) -> None:
        self.query_one(MapView).focus()

    def on_map_view_selected(self, event: MapView.Selected) -> None:
        self.selected.append(event.image_ids)


def run_view(steps, size, colouring=True, data=None, **kwargs):
    data = blobs() if data is None else data

    async def main():
        app = ViewApp(data, two_groups(data) if colouring else None, **kwargs)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.05)
            return await steps(pilot, app, app.query_one(MapView))

    return asyncio.run(main())


def braille_cells(view: MapView) -> list[tuple[int, int, Segment]]:
    """(column, line, segment) of every braille character the view draws."""
    found = []
    for y in range(view.size.height):
        x = 0
        for segment in view.render_line(y):
            for ch in segment.text:
                if 0x2800 < ord(ch) <= 0x28FF:
                    found.append((x, y, segment))
                x += 1
    return found


def colour(segment: Segment) -> str | None:
    return segment.style.color.name if segment.style and segment.style.color else None


# -- the raster, without a widget ------------------------------------------------------


def test_rasterise_combines_dots_and_takes_the_most_frequent_group():
    # A 2x1-cell view of 4x4 dots, one data unit per dot, its top-left corner at (0, 4).
    xy = np.array([[0.5, 3.5], [1.5, 0.5], [1.5, 0.6], [2.5, 3.5]])  # 3 in cell 0, 1 in cell 1
    groups = np.array([2, 3, 3, 2])
    raster = rasterise(xy, 0.0, 4.0, 1.0, 2, 1, groups, 4)
    assert raster.visible == 4
    assert raster.counts.tolist() == [[3, 1]]
    # Cell 0: dot (row 0, col 0) = bit 0 and dot (row 3, col 1) = bit 7.
    assert raster.codes[0].tolist() == [0x2800 | 0x01 | 0x80, 0x2800 | 0x01]
    group = raster.keys[0] >> 3
    assert group.tolist() == [3, 2], "the group most points of the cell belong to"
    lit = rasterise(xy, 0.0, 4.0, 1.0, 2, 1, groups, 4, np.array([True, False, False, False]))
    assert ((lit.keys[0] >> 2) & 1).tolist() == [1, 0], "a cell holding a highlighted image"
    assert lit.codes[0].tolist() == [0x2801, 0x2801], "shows the highlighted dots alone"


def test_a_few_points_are_drawn_thick():
    one = rasterise(np.array([[0.5, 3.5]]), 0.0, 4.0, 1.0, 10, 10)
    assert int(one.codes[0, 0]) == 0x2800 | 0x01 | 0x02 | 0x08 | 0x10, "2 x 2 dots"
    many = rasterise(np.array([[0.5, 3.5]] * 100), 0.0, 4.0, 1.0, 10, 10)
    assert int(many.codes[0, 0]) == 0x2801


def test_rasterise_finds_the_mode_by_sorting_when_groups_are_many():
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 8, size=(5000, 2))
    groups = rng.integers(0, 3000, size=5000)
    groups[:40] = 2999  # one group dominates the first cell
    xy[:40] = [0.2, 7.8]
    raster = rasterise(xy, 0.0, 8.0, 1.0, 4, 2, groups, 3000)
    assert raster.keys[0, 0] >> 3 == 2999


def test_a_lasso_selects_the_points_of_the_cells_it_shades():
    """Random polygons (1 to 11 vertices) over random points: a visible point is selected
    exactly when its cell is drawn as the lasso's path or inside, and the inside follows
    the even-odd rule, as a plain loop over the edges finds it."""
    rng = np.random.default_rng(3)
    width, height, x0, top = 40, 12, -0.5, 10.5
    unit = max(11 / (2 * width), 11 / (4 * height))
    for _ in range(60):
        xy = rng.uniform(0, 10, size=(800, 2))
        polygon = rng.uniform(-1, 11, size=(int(rng.integers(1, 12)), 2))
        chosen = lasso_mask(xy, polygon, x0, top, unit)
        shaded = np.zeros((height, width), dtype=bool)
        for row, first, last, _bit in lasso_overlays(
            to_cells(polygon, x0, top, unit), width, height
        ):
            shaded[row, first : last + 1] = True
        px, py = cell_indices(xy, x0, top, unit)
        col, row = px >> 1, py >> 2
        seen = (col >= 0) & (col < width) & (row >= 0) & (row < height)
        assert (shaded[row[seen], col[seen]] == chosen[seen]).all()
        if len(polygon) >= 3:
            edges = list(zip(polygon, np.roll(polygon, -1, axis=0), strict=True))
            odd = [
                sum((ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay)
                    for (ax, ay), (bx, by) in edges) % 2 == 1
                for x, y in xy
            ]  # fmt: skip
            assert (polygon_contains(xy, polygon) == np.array(odd)).all()


# -- the view ---------------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES)
def test_two_blobs_are_two_regions_in_two_colours(size):
    async def steps(pilot, app, view):
        return braille_cells(view), view.size.width

    cells, width = run_view(steps, size)
    left = [(x, s) for x, _, s in cells if x < width // 2]
    right = [(x, s) for x, _, s in cells if x >= width // 2]
    assert left and right
    gap = min(x for x, _ in right) - max(x for x, _ in left)
    assert gap > width // 4, "the blobs are drawn apart, nothing between them"
    left_colours = {colour(s) for _, s in left}
    right_colours = {colour(s) for _, s in right}
    assert left_colours.isdisjoint(right_colours), (left_colours, right_colours)


def test_uncoloured_points_are_shaded_by_density():
    async def steps(pilot, app, view):
        return {colour(s) for _, _, s in braille_cells(view)}

    colours = run_view(steps, (160, 48), colouring=False)
    assert 1 < len(colours) <= 3, "a few shades of one colour"


@pytest.mark.parametrize("size", SIZES)
def test_zoom_narrows_the_view_around_the_crosshair_and_pans_move_it(size):
    async def steps(pilot, app, view):
        extents = [view.view_extent]
        cross = view.crosshair
        await pilot.press("plus")
        extents.append(view.view_extent)
        await pilot.press("equals_sign", "minus")
        extents.append(view.view_extent)
        await pilot.press("l")
        extents.append(view.view_extent)
        await pilot.press("k")
        extents.append(view.view_extent)
        await pilot.press("0")
        extents.append(view.view_extent)
        return extents, cross, view.crosshair

    extents, cross, _ = run_view(steps, size)
    full, zoomed, back, right, up, reset = (np.array(e) for e in extents)
    width = lambda e: e[1] - e[0]  # noqa: E731
    assert width(zoomed) == pytest.approx(width(full) / 1.5)
    assert zoomed[0] <= cross[0] <= zoomed[1] and zoomed[2] <= cross[1] <= zoomed[3]
    assert width(back) == pytest.approx(width(zoomed))
    assert right[0] > back[0] and right[1] > back[1] and right[2:] == pytest.approx(back[2:])
    assert up[2] > right[2] and up[:2] == pytest.approx(right[:2])
    assert reset == pytest.approx(full)


def test_the_crosshair_shows_the_nearest_image_and_follows_the_keys():
    captions = {LONE: "lonely.jpg"}

    async def steps(pilot, app, view):
        first = view.nearest_image_id
        col, row = view.cell_of(*blobs().xy[-1])
        here = view.crosshair_cell
        dx, dy = col - here[0], row - here[1]
        await pilot.press(*(["L"] * dx if dx > 0 else ["H"] * -dx))
        await pilot.press(*(["J"] * dy if dy > 0 else ["K"] * -dy))
        on_it = (view.crosshair_cell, view.nearest_image_id, view.nearest_caption)
        for _ in range(12):
            await pilot.press("shift+right")
        moved = view.nearest_image_id
        view.set_crosshair(*blobs().xy[LEFT.size + 5])  # a point of the right blob
        return first, (col, row), on_it, moved, view.nearest_image_id

    first, lone_cell, on_it, moved, last = run_view(
        steps, (160, 48), caption=lambda i: captions.get(i, f"#{i}")
    )
    assert first == LONE, "the crosshair starts in the middle, the lone point is nearest"
    assert on_it == (lone_cell, LONE, "lonely.jpg")
    assert moved == LONE, "still the nearest, a few cells to its right"
    assert last in RIGHT


@pytest.mark.parametrize("size", SIZES)
def test_a_rectangle_over_one_blob_selects_exactly_its_images(size):
    data = blobs()

    async def steps(pilot, app, view):
        left = data.xy[: LEFT.size]
        (c0, r1), (c1, r0) = view.cell_of(*left.min(axis=0)), view.cell_of(*left.max(axis=0))
        view.set_crosshair(*view.cell_centre(c0 - 1, r0 - 1))
        await pilot.press("v")
        for _ in range(c1 - c0 + 2):
            await pilot.press("L")
        for _ in range(r1 - r0 + 2):
            await pilot.press("J")
        while_open = (view.selecting, len(view.rectangle_ids))
        await pilot.press("enter")
        await pilot.pause(0.05)
        return while_open, app.selected, view.selecting

    while_open, selected, still = run_view(steps, size)
    assert while_open == (True, LEFT.size)
    assert len(selected) == 1 and sorted(selected[0]) == LEFT.tolist()
    assert not still, "Enter closes the rectangle"


def test_escape_drops_the_rectangle_and_highlights_show_in_their_own_colour():
    async def steps(pilot, app, view):
        await pilot.press("v", "L", "L", "escape")
        dropped = not view.selecting
        plain = {colour(s) for _, _, s in braille_cells(view)}
        view.set_highlighted(LEFT[:30])
        await pilot.pause(0.05)
        lit = {colour(s) for _, _, s in braille_cells(view)}
        return dropped, plain, lit

    dropped, plain, lit = run_view(steps, (160, 48))
    assert dropped
    assert "#fff000" not in plain and "#fff000" in lit


# -- the lasso ---------------------------------------------------------------------------

# Tight clusters of 6 points on a 3 x 3 layout, 4 units apart, and two points far out
# at the corners: every lasso edge below runs at least 1.5 units from any cluster.
CLUSTERS = {
    "A": (2, 2), "B": (6, 2), "C": (10, 2),
    "D": (2, 6), "N2": (6, 6), "E": (10, 6),
    "F": (2, 10), "N1": (6, 10), "G": (10, 10),
}  # fmt: skip


def cluster_data() -> tuple[FakeMapData, dict[str, list[int]]]:
    rng = np.random.default_rng(7)
    xy, ids, members = [], [], {}
    for k, (name, centre) in enumerate(CLUSTERS.items()):
        members[name] = list(range(10 * k + 1, 10 * k + 7))
        xy.append(rng.normal(centre, 0.08, size=(6, 2)))
        ids.extend(members[name])
    xy.append(np.array([[-2.0, -2.0], [14.0, 14.0]]))
    ids.extend([900, 901])
    data = FakeMapData(8, "pixels", "all images", "pca", 0.5, np.array(ids, dtype=np.int64),
                       np.vstack(xy).astype(np.float32))  # fmt: skip
    return data, members


MOVES = {"L": (1, 0), "H": (-1, 0), "J": (0, 1), "K": (0, -1)}


async def go(pilot, view: MapView, x: float, y: float, by_keys: bool = False) -> None:
    """Move the crosshair to the cell of (x, y), by a staircase as straight as the
    cells allow (a diagonal when both columns and lines change): by the keys H J K L
    (`by_keys`), or by the actions they are bound to, which is the same path without
    a round trip through the event loop per cell (hundreds at 160x48)."""
    col, row = view.cell_of(x, y)
    here_col, here_row = view.crosshair_cell
    dx, dy = col - here_col, row - here_row
    n = max(abs(dx), abs(dy))
    done_x = done_y = 0
    keys = []
    for i in range(1, n + 1):
        want_x, want_y = round(dx * i / n), round(dy * i / n)
        keys += ["L" if dx > 0 else "H"] * abs(want_x - done_x)
        keys += ["J" if dy > 0 else "K"] * abs(want_y - done_y)
        done_x, done_y = want_x, want_y
    if keys and by_keys:
        await pilot.press(*keys)
    elif keys:
        for key in keys:
            view.action_move(*MOVES[key])
        await pilot.pause()
    assert view.crosshair_cell == (col, row)


async def lasso(
    pilot, view: MapView, corners: list[tuple[float, float]], by_keys: bool = False
) -> None:
    """A lasso: the crosshair to the first corner, o, then to each corner."""
    await go(pilot, view, *corners[0], by_keys=by_keys)
    await pilot.press("o")
    for corner in corners[1:]:
        await go(pilot, view, *corner, by_keys=by_keys)


@pytest.mark.parametrize("size", SIZES)
def test_a_lasso_around_a_cluster_selects_exactly_its_images(size):
    data, members = cluster_data()
    diamond = [(3.5, 6.0), (6.0, 8.5), (8.5, 6.0), (6.0, 3.5)]  # around N2 alone

    async def steps(pilot, app, view):
        await lasso(pilot, view, diamond)
        open_ = (view.selecting, view.area_kind, sorted(view.area_ids), len(view.lasso_vertices))
        await pilot.press("enter")
        await pilot.pause(0.05)
        return open_, app.selected, view.selecting, view.area_kind

    (selecting, kind, inside, vertices), selected, still, kind_after = run_view(
        steps, size, colouring=False, data=data
    )
    assert (selecting, kind) == (True, "lasso")
    assert vertices >= 4
    assert inside == members["N2"]
    assert selected == [tuple(members["N2"])]
    assert not still and kind_after is None, "Enter closes the lasso"


@pytest.mark.parametrize("size", SIZES)
def test_a_u_shaped_lasso_leaves_out_the_points_in_its_notch(size):
    data, members = cluster_data()
    # A U: the base along y 0-4, the arms x 0-4 and 8-12 up to y 12; the notch x 4-8 from
    # y 4 up holds N2 and N1.
    u = [(0, 0), (12, 0), (12, 12), (8, 12), (8, 4), (4, 4), (4, 12), (0, 12)]

    async def steps(pilot, app, view):
        await lasso(pilot, view, u)
        ids = sorted(view.area_ids)
        await pilot.press("enter")
        await pilot.pause(0.05)
        return ids, app.selected

    ids, selected = run_view(steps, size, colouring=False, data=data)
    u_names = ["A", "B", "C", "D", "E", "F", "G"]
    assert ids == sorted(i for name in u_names for i in members[name])
    assert not set(ids) & set(members["N1"] + members["N2"]), "the notch is left out"
    assert len(selected) == 1 and sorted(selected[0]) == ids


def test_a_stroke_of_two_vertices_selects_the_images_it_passes():
    # Points on three lines, y = 4, 6 and 8; a stroke along y = 6 passes the middle ones.
    xy = [(x, y) for y in (4.0, 6.0, 8.0) for x in (2.0, 6.0, 10.0)] + [(-2, -2), (14, 14)]
    ids = np.arange(1, len(xy) + 1)
    data = FakeMapData(9, "pixels", "all", "pca", 0.5, ids, np.array(xy, dtype=np.float32))

    async def steps(pilot, app, view):
        await lasso(pilot, view, [(0.5, 6.0), (11.5, 6.0)])
        return len(view.lasso_vertices), sorted(view.area_ids)

    vertices, chosen = run_view(steps, (160, 48), colouring=False, data=data)
    assert vertices == 2, "a straight stroke is one edge"
    assert chosen == [4, 5, 6]


def test_escape_drops_the_lasso_and_enter_then_selects_the_nearest_image():
    data, members = cluster_data()

    async def steps(pilot, app, view):
        await lasso(pilot, view, [(0, 0), (12, 0), (12, 12)])
        before = (view.area_kind, len(view.area_ids))
        await pilot.press("escape")
        after = (view.selecting, view.area_kind, view.area_ids)
        nearest = view.nearest_image_id
        await pilot.press("enter")
        await pilot.pause(0.05)
        return before, after, nearest, app.selected

    before, after, nearest, selected = run_view(steps, (160, 48), colouring=False, data=data)
    assert before[0] == "lasso" and before[1] > 0
    assert after == (False, None, ())
    assert nearest in members["G"], "the crosshair stayed where the lasso ended"
    assert selected == [(nearest,)]


def test_o_twice_drops_the_lasso_and_v_and_o_replace_each_other():
    data, _ = cluster_data()

    async def steps(pilot, app, view):
        seen = []
        await pilot.press("o", "L", "L", "J")
        seen.append(view.area_kind)
        await pilot.press("o")
        seen.append(view.area_kind)
        await pilot.press("o", "L", "v")
        seen.append(view.area_kind)
        await pilot.press("o")
        seen.append(view.area_kind)
        return seen, view.selecting, len(view.lasso_vertices)

    seen, selecting, vertices = run_view(steps, (160, 48), colouring=False, data=data)
    assert seen == ["lasso", None, "rectangle", "lasso"]
    assert selecting and vertices == 1, "a new lasso starts at the crosshair"


def test_the_lasso_stays_on_its_points_through_zoom_and_pan():
    data, members = cluster_data()
    diamond = [(3.5, 6.0), (6.0, 8.5), (8.5, 6.0), (6.0, 3.5)]

    async def steps(pilot, app, view):
        await lasso(pilot, view, diamond, by_keys=True)  # H J K L themselves
        before, vertices = sorted(view.area_ids), len(view.lasso_vertices)
        await pilot.press("plus", "plus", "minus")
        zoomed, zoom_vertices = sorted(view.area_ids), len(view.lasso_vertices)
        await pilot.press("h")  # a pan carries the crosshair: a new vertex
        return before, zoomed, zoom_vertices - vertices, len(view.lasso_vertices) - vertices

    before, zoomed, by_zoom, by_pan = run_view(steps, (160, 48), colouring=False, data=data)
    assert before == zoomed == members["N2"]
    assert by_zoom == 0, "a zoom moves no vertex but the crosshair's"
    assert by_pan == 1


def cell_styles(view: MapView) -> dict[tuple[int, int], tuple[str, object]]:
    """(column, line) -> (character, style) of every cell the view draws."""
    cells = {}
    for y in range(view.size.height):
        x = 0
        for segment in view.render_line(y):
            for ch in segment.text:
                cells[x, y] = (ch, segment.style)
                x += 1
    return cells


def test_the_lasso_is_drawn_over_its_path_and_shades_its_inside():
    data, _ = cluster_data()

    async def steps(pilot, app, view):
        start = view.cell_of(1.0, 11.0)
        (c0, r0), (c1, r1) = start, view.cell_of(11.0, 1.0)
        # The same moves twice, without then with the lasso: only the lasso differs.
        await go(pilot, view, 1.0, 11.0)
        await go(pilot, view, 11.0, 11.0)
        await go(pilot, view, 11.0, 1.0)
        await go(pilot, view, 1.0, 1.0)
        plain = cell_styles(view)
        await go(pilot, view, 1.0, 11.0)
        await pilot.press("o")
        await go(pilot, view, 11.0, 11.0)
        await go(pilot, view, 11.0, 1.0)
        await go(pilot, view, 1.0, 1.0)
        await pilot.pause(0.05)
        drawn = cell_styles(view)
        return plain, drawn, (c0, r0, c1, r1), view.crosshair_cell

    plain, drawn, (c0, r0, c1, r1), cross = run_view(steps, (160, 48), colouring=False, data=data)
    changed = {cell for cell in drawn if drawn[cell] != plain[cell]}
    box = {(x, y) for x in range(c0, c1 + 1) for y in range(r0, r1 + 1)}
    assert changed == box - {cross}, "the lasso's cells and nothing else"
    border = {(x, y) for x, y in box if x in (c0, c1) or y in (r0, r1)} - {cross}
    inside = box - border - {cross}
    background = lambda cell: drawn[cell][1].bgcolor  # noqa: E731
    assert len({background(cell) for cell in border}) == 1
    assert len({background(cell) for cell in inside}) == 1
    assert background(next(iter(border))) != background(next(iter(inside))), (
        "the path stands out from the inside"
    )


# -- the screen -------------------------------------------------------------------------


class ScreenApp(App[None]):
    def __init__(self, screen: MapScreen) -> None:
        super().__init__()
        self.map_screen = screen
        self.result: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self.map_screen, self.result.append)


def run_screen(steps, size, **kwargs):
    data = blobs()

    async def main():
        screen = MapScreen(data, **kwargs)
        app = ScreenApp(screen)
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return await steps(pilot, app, screen)

    return asyncio.run(main())


def _plain(widget) -> str:  # noqa: ANN001 - a Static
    return str(widget.render())


@pytest.mark.parametrize("size", SIZES)
def test_names_like_markup_are_shown_literally(size):
    data = blobs()
    names = {LONE: "[/x] \x1b[31mred[b].jpg"}

    async def steps(pilot, app, screen):
        legend = _plain(screen.query_one("#map-legend"))
        line = _plain(screen.query_one("#map-legend-line"))
        caption = _plain(screen.query_one("#map-caption"))
        status = _plain(screen.query_one("#map-status"))
        side = screen.query_one("#map-side").display
        return legend, line, caption, status, side, app.export_screenshot()

    colouring = two_groups(data, ("[/x]", "[b]bold"))
    legend, line, caption, status, side, shot = run_screen(
        steps, size, captions=names, colouring=colouring
    )
    assert "0 [/x]" in legend and "1 [b]bold" in legend and "clustering #3" in legend
    assert "[/x]" in line and "[b]bold" in line
    assert "[/x] \\x1b[31mred[b].jpg" in caption + status
    assert "\x1b[31m" not in shot
    assert "pca of pixels" in status and "121 points" in status and "10-NN kept: 43%" in status
    assert side == (size[0] >= 120), "the nearest-image panel hides on narrow terminals"


def test_c_cycles_the_colourings_and_enter_returns_the_area(monkeypatch, tmp_path):
    data = blobs()
    options = [("clustering", 3, "clustering #3 kmeans"), ("tag", "Subject", "tag Subject")]
    monkeypatch.setattr(map_screen, "colouring_options", lambda project: options)

    def load(project, option, image_ids):
        if option[0] == "tag":
            groups = np.where(np.asarray(image_ids) == LONE, 4, -1)
            return Colouring("tag property Subject", groups, ((4, "[lone]", 1),), False, option[:2])
        return two_groups(data)

    monkeypatch.setattr(map_screen, "load_colouring", load)

    async def steps(pilot, app, screen):
        seen = []
        for _ in range(3):
            await pilot.press("c")
            await settle(pilot)
            seen.append(_plain(screen.query_one("#map-legend")).split("\n")[0])
        view = screen.view
        view.set_crosshair(*view.cell_centre(*view.cell_of(*data.xy[-1])))
        await pilot.press("v", "enter")
        await settle(pilot)
        return seen, app.result

    seen, result = run_screen(steps, (160, 48), project=tmp_path / "p.duckdb")
    assert seen == ["clustering #3 kmeans", "tag property Subject", "no colouring (c cycles "
                    "clusterings and tags)"]  # fmt: skip
    assert result == [(LONE,)]


# -- from the app ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def pixels_template(tmp_path_factory) -> Path:
    """12 photos and their project, imported once for the module. The project holds the
    photos' absolute paths: they stay here, and no test changes them."""
    base = tmp_path_factory.mktemp("pixels")
    folder = base / "photos"
    write_good_images(folder, 12)
    project = base / "project.duckdb"
    import_folder(folder, project, embedder=load_embedder("pixels"))
    assert sorted(p.name for p in base.iterdir()) == ["photos", "project.duckdb"], (
        "the project is its one file: a copy of it is the whole project"
    )
    return project


@pytest.fixture
def pixels_project(pixels_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of the imported project for each test (its photos shared, unchanged)."""
    project = tmp_path / "project.duckdb"
    shutil.copy(pixels_template, project)
    return project


@pytest.mark.skipif(
    "map" not in commands.COMMANDS,
    reason="the core `map` command (commands.run(project, 'map', ...)) is not there yet",
)
def test_the_map_from_the_app_selects_an_area_in_the_grid(pixels_project: Path):

    project = pixels_project  # 12 photos imported with the pixels embedder
    params = {"strategy": "kmeans", "params": {"k": 3}, "labels": False}
    commands.run(project, "cluster", params)
    commands.run(project, "tag", {"property": "[/x]", "path": ["[b]t"], "images": [1, 2]})

    async def main():
        app = PlancheApp(project, images=ImageMode("none"))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            tree = app.query_one(ProjectTree)
            kinds = [(n.data or {}).get("kind") for n in tree_nodes(tree)]
            tree.move_cursor(tree_nodes(tree)[kinds.index("clustering")])
            app.query_one(ThumbnailGrid).focus()
            await pilot.press("M")
            await settle(pilot, rounds=200)
            screen = app.screen
            assert isinstance(screen, MapScreen), "the map opens"
            view = screen.view
            drawn = braille_cells(view)
            legends = [_plain(screen.query_one("#map-legend"))]
            for _ in range(3):
                await pilot.press("c")
                await settle(pilot)
                legends.append(_plain(screen.query_one("#map-legend")))
            await pilot.press("t", "a")  # grid actions are off over the map
            await settle(pilot)
            still = isinstance(app.screen, MapScreen)
            # The whole view as the area: from the top-left cell to the bottom-right one.
            view.set_crosshair(*view.cell_centre(0, 0))
            await pilot.press("v")
            view.set_crosshair(*view.cell_centre(view.size.width - 1, view.size.height - 1))
            chosen = set(view.rectangle_ids)
            await pilot.press("enter")
            await settle(pilot)
            return drawn, legends, still, chosen, set(app.query_one(ThumbnailGrid).selected)

    drawn, legends, still, chosen, selected = asyncio.run(main())
    assert len(drawn) > 0 and len({colour(s) for _, _, s in drawn}) >= 2, "coloured by cluster"
    assert legends[0].startswith("clustering #1"), "the clustering selected in the tree"
    assert legends[1].startswith("tag property [/x]") and "[b]t" in legends[1]
    assert legends[2].startswith("no colouring") and legends[3].startswith("clustering #1")
    assert still
    assert len(chosen) == 12 and selected == chosen


def _stand_in_map(monkeypatch, fail: str | None = None) -> list[dict]:
    """The app's way to the map with the core's `map` command and `read.map_data`
    replaced (the app's side alone): a map of images 1-12 on a line."""

    asked: list[dict] = []
    real_run = commands.run

    def run(project, name, params=None, context=None):
        if name != "map":
            return real_run(project, name, params, context)
        asked.append(params)
        if fail:
            raise PlancheError(fail)
        return {"map_id": 1, "quality": 0.5, "points": 12, "reused": False}

    def map_data(project, map_id):
        ids = np.arange(1, 13, dtype=np.int64)
        xy = np.stack([ids * 1.0, np.zeros(12)], axis=1).astype(np.float32)
        return FakeMapData(map_id, "pixels", "all", "pca", 0.5, ids, xy)

    monkeypatch.setattr(commands, "run", run)
    monkeypatch.setattr(read, "map_data", map_data, raising=False)
    return asked


def test_the_app_opens_the_map_and_takes_the_area_back_as_the_selection(
    monkeypatch, pixels_project
):

    asked = _stand_in_map(monkeypatch)

    async def main():
        app = PlancheApp(pixels_project, images=ImageMode("none"))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("right", "space")  # image 2 selected in the grid
            await pilot.press("M")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MapScreen)
            view = screen.view
            lit = {colour(s) for _, _, s in braille_cells(view)}
            status = _plain(screen.query_one("#map-status"))
            await pilot.press("t", "w", "s")  # the grid's keys do nothing over the map
            await settle(pilot)
            assert app.screen is screen
            # Images 5 to 8: from the cell of 5 to the cell of 8.
            view.set_crosshair(*view.cell_centre(*view.cell_of(5.0, 0.0)))
            await pilot.press("v")
            steps = view.cell_of(8.0, 0.0)[0] - view.crosshair_cell[0]
            await pilot.press(*["L"] * steps, "enter")
            await settle(pilot)
            grid = app.query_one(ThumbnailGrid)
            return lit, status, app.screen is not screen, set(grid.selected), grid.has_focus

    lit, status, back, selected, focused = asyncio.run(main())
    assert asked == [{"scope": "all", "scope_ref": None, "method": "pca", "model_id": 1}]
    assert "#fff000" in lit, "the grid's selection is highlighted on the map"
    assert "12 points" in status and "10-NN kept: 50%" in status
    assert back and focused
    assert selected == {5, 6, 7, 8}


def test_a_map_that_cannot_be_made_is_a_notification(monkeypatch, pixels_project):

    _stand_in_map(monkeypatch, fail="a map needs at least 3 images [/x]")

    async def main():
        app = PlancheApp(pixels_project, images=ImageMode("none"))
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            before = app.scope
            await pilot.press("M")
            await settle(pilot)
            shown = [n.message for n in app._notifications]
            return isinstance(app.screen, MapScreen), app.scope is before, shown

    on_map, same_scope, shown = asyncio.run(main())
    assert not on_map and same_scope
    assert any("at least 3 images [/x]" in m for m in shown)
