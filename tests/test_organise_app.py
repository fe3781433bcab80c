"""Filter, sort and group the grid, and set properties, from the app's keyboard."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys

import pytest

from conftest import settle, tag_path_rows, type_text, write_good_images
from planche.core import commands, read
from planche.core.embedders import load_embedder
from planche.core.ingest import import_folder
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.grid_layout import CellLine, GridLayout, Header
from planche.tui.organise import ViewScreen

SIZE = (160, 48)


@pytest.fixture(scope="module")
def rated_template(tmp_path_factory):
    """12 images in a/ and 8 in b/; Rating 1-3 set on a/ by position (made once)."""
    root = tmp_path_factory.mktemp("organise")
    folder = root / "photos"
    write_good_images(folder / "a", 12)
    write_good_images(folder / "b", 8, start_seed=100)
    project = root / "project.duckdb"
    import_folder(folder, project, embedder=load_embedder("pixels"))
    commands.run(project, "add_property", {"name": "Rating", "type": "number"})
    a_ids = read.list_images(project, "folder:a").ids.tolist()
    for value in (1, 2, 3):
        images = a_ids[value - 1 :: 3]
        commands.run(project, "set_property", {"property": "Rating", "value": str(value),
                                               "images": images})  # fmt: skip
    return project


@pytest.fixture
def rated(rated_template, tmp_path):
    """A copy of the template project for one test (the photos stay where they are)."""
    project = tmp_path / "project.duckdb"
    shutil.copy(rated_template, project)
    return project


def run(app: PlancheApp, steps, size=SIZE):
    async def main():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return await steps(pilot)

    return asyncio.run(main())


async def _view(pilot, where: str = "", sort: str = "", group: str = "") -> None:
    """Press f, fill the three boxes as typed, Enter."""
    await pilot.press("f")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, ViewScreen)
    # the filter is typed key by key (the box completes names as it goes), the rest set
    screen.query_one("#view-where").value = ""
    await pilot.press(*["space" if c == " " else c for c in where])
    for box, text in (("sort", sort), ("group", group)):
        screen.query_one(f"#view-{box}").value = text
    await pilot.press("enter")
    await settle(pilot)


def test_filter_sort_and_group_the_grid_then_clear(rated):
    expected = read.list_images(rated, "Rating>=2", "-Rating").ids.tolist()

    async def steps(pilot):
        grid = pilot.app.query_one(ThumbnailGrid)
        await _view(pilot, "Rating>=2", "-Rating")
        filtered = (grid.image_ids, pilot.app.scope.title)
        await _view(pilot, "", "", "Rating")
        grouped = (grid.image_ids, grid.sections, str(pilot.app.query_one("#status").render()))
        await pilot.press("F")
        await settle(pilot)
        return filtered, grouped, len(grid.image_ids), grid.sections

    filtered, grouped, after_clear, sections = run(PlancheApp(rated), steps)
    assert list(filtered[0]) == expected and len(expected) == 8
    assert "where Rating>=2" in filtered[1] and "sorted by -Rating" in filtered[1]
    ids, grouped_sections, status = grouped
    assert grouped_sections == (("1.0", 4), ("2.0", 4), ("3.0", 4), ("(none)", 8))
    assert len(ids) == 20 and "by Rating" in status
    assert after_clear == 20 and sections is None


def test_a_bad_filter_is_named_in_the_dialog_which_stays_open(rated):
    async def steps(pilot):
        await _view(pilot, "Ratng>2")
        screen = pilot.app.screen
        message = str(screen.query_one("#view-error").render()) if isinstance(
            screen, ViewScreen) else ""  # fmt: skip
        await pilot.press("escape")
        await settle(pilot)
        return (
            isinstance(screen, ViewScreen),
            message,
            len(pilot.app.query_one(ThumbnailGrid).image_ids),
        )

    stayed, message, shown = run(PlancheApp(rated), steps)
    assert stayed and "'Ratng>2'" in message and "did you mean Rating" in message
    assert shown == 20, "Escape leaves the grid as it was"


def test_set_a_property_on_the_selection_and_the_view_follows(rated):
    async def steps(pilot):
        await _view(pilot, "-has:Rating")  # the 8 of b/
        grid = pilot.app.query_one(ThumbnailGrid)
        first = grid.image_ids[:2]
        grid.focus()
        await pilot.press("space", "right", "space", "p")
        await type_text(pilot, "Rating=5")
        await pilot.press("enter")
        await settle(pilot)
        # a new property, made on the way: Name:type=value
        await pilot.press("a")
        await settle(pilot)
        await pilot.press("p")
        await type_text(pilot, "Seen:date=2024-05-06")
        await pilot.press("enter")
        await settle(pilot)
        return first, grid.image_ids

    first, after = run(PlancheApp(rated), steps)
    assert read.list_images(rated, "Rating=5").ids.tolist() == sorted(first)
    assert len(after) == 6 and not set(first) & set(after), "the filter applies again"
    assert len(read.list_images(rated, "Seen:2024-05").ids) == 1


def test_the_grid_layout_puts_each_section_under_its_header():
    layout = GridLayout(7, 3, 4, [("a", 4), ("b", 3)])
    # a: header, 2 rows of cells (3 + 1); b: header, 1 row of 3
    assert layout.height == 1 + 2 * 4 + 1 + 4 and layout.rows == 3
    assert layout.line(0) == Header("a", 4)
    assert layout.line(1) == CellLine(0, 3, 0) and layout.line(5) == CellLine(3, 4, 0)
    assert layout.line(9) == Header("b", 3) and layout.line(13) == CellLine(4, 7, 3)
    assert layout.cell_top(4) == (0, 10) and layout.index_at(2, 11) == 6
    assert layout.index_at(1, 6) is None, "no cell beside the short row's last"
    assert layout.moved(2, 1) == 3, "down from a row's end to a shorter row: its last cell"
    assert layout.moved(3, 1) == 4 and layout.moved(6, -1) == 3
    assert layout.rows_between(0, 1) == range(0, 1) and layout.rows_between(8, 14) == range(1, 3)
    assert not layout.rows_between(9, 10), "only a header on screen: no cells to fetch"
    plain = GridLayout(7, 3, 4)
    assert plain.height == 3 * 4 and plain.line(0) == CellLine(0, 3, 0)


def test_the_filter_box_completes_the_term_being_typed():
    from planche.tui.organise.view import TermSuggester

    words = read.FilterWords(("width", "Rating", "tag", "Subject", "folder"),
                             {"Subject": ("animal", "animal/cat", "big cat")},
                             frozenset({"tag", "Subject", "folder"}))  # fmt: skip
    suggest = TermSuggester(words).get_suggestion
    assert asyncio.run(suggest("tag:Subject/a -Rat")) == "tag:Subject/a -Rating"
    assert asyncio.run(suggest("-size,wi")) == "-size,width"
    assert asyncio.run(suggest("width>3")) is None, "an operator typed: nothing to complete"
    assert asyncio.run(suggest("tag:Sub")) is None, "tags only where the filter is typed"

    in_filter = TermSuggester(words, tags=True).get_suggestion
    assert asyncio.run(in_filter("tag:Sub")) == "tag:Subject/animal"
    assert asyncio.run(in_filter("width>3 -tag:subject/animal/c")) == (
        "width>3 -tag:subject/animal/cat"), "any case, after a minus"  # fmt: skip
    assert asyncio.run(in_filter("Subject:an")) == "Subject:animal", "a tag property's own tags"
    assert asyncio.run(in_filter('tag:"Subject/big')) == 'tag:"Subject/big cat"'
    assert asyncio.run(in_filter('Subject:"big c')) == 'Subject:"big cat"', "a quoted space"
    assert asyncio.run(in_filter("tag:Subject/big")) is None, "a space needs the quote opened"
    assert asyncio.run(in_filter("Rating:3")) is None, "Rating has no tags"
    # Seen in a trial: `fol`, right, `originals` gave "folderoriginals" (no image passes).
    assert asyncio.run(in_filter("width>3 fol")) == "width>3 folder:", "its operator too"
    assert asyncio.run(in_filter("wid")) == "width", "a number's operator is the user's"
    assert asyncio.run(suggest("-size,fol")) == "-size,folder", "a sort key takes none"


def test_the_filter_dialog_completes_the_projects_tag_names(rated):
    images = read.list_images(rated, "folder:a").ids.tolist()[:2]
    commands.run(rated, "tag", {"property": "Kind", "path": ["landscape", "sea"], "images": images})

    async def steps(pilot):
        await pilot.press("f")
        await settle(pilot)
        box = pilot.app.screen.query_one("#view-where")
        await pilot.press(*"tag:kind/landscape/s")
        await settle(pilot)
        await pilot.press("right")
        return box.value

    assert run(PlancheApp(rated), steps) == "tag:kind/landscape/sea"
    colon = read.filter_words(rated).colon
    assert {"folder", "tag", "Kind"} <= colon and not {"width", "Rating", "date"} & colon


def test_suggestions_for_an_open_tag_are_tagged_with_y_and_refused_with_n(rated):
    a_ids = read.list_images(rated, "folder:a").ids.tolist()
    commands.run(rated, "tag", {"property": "Kind", "path": ["a"], "images": a_ids[:3]})
    tag_id = read.tag_id_for(rated, "Kind/a")

    async def steps(pilot):
        app = pilot.app
        app.show_scope(read.tag_images(rated, tag_id, "Kind/a"))
        await settle(pilot)
        app.query_one(ThumbnailGrid).focus()
        await pilot.press("S")
        await settle(pilot)
        grid = app.query_one(ThumbnailGrid)
        shown = grid.image_ids
        captions = grid.captions
        await pilot.press("y")  # the best suggestion
        await settle(pilot)
        await pilot.press("n")  # the next
        await settle(pilot)
        return app.scope.kind, shown, captions, grid.image_ids

    kind, shown, captions, after = run(PlancheApp(rated), steps)
    assert kind == "suggest" and not set(shown) & set(a_ids[:3])
    scores = [float(c.split()[0]) for c in captions]
    assert scores == sorted(scores, reverse=True), "best first, each with its score"
    assert after == shown[2:]
    assert set(read.list_images(rated, "tag:Kind/a").ids.tolist()) == {*a_ids[:3], shown[0]}
    again = commands.run(rated, "suggest_tag", {"tag_id": tag_id, "k": 100})
    assert shown[1] not in {s["image_id"] for s in again["suggestions"]}, "refused for good"


def test_a_view_saved_by_name_is_recalled_with_an_at_sign(rated):
    async def steps(pilot):
        await pilot.press("f")
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#view-where").value = "Rating>=2"
        screen.query_one("#view-group").value = "Rating"
        screen.query_one("#view-name").value = "good"
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("F")
        await settle(pilot)
        await _view(pilot, "@good")
        grid = pilot.app.query_one(ThumbnailGrid)
        return grid.sections, pilot.app.view

    sections, view = run(PlancheApp(rated), steps)
    assert sections == (("2.0", 4), ("3.0", 4)) and view.where == "Rating>=2"
    assert read.saved_views(rated)["good"] == {"where": "Rating>=2", "sort": "", "group": "Rating"}
    commands.undo(rated)
    assert read.saved_views(rated) == {}, "saving a view is undone like any change"


def test_the_map_of_a_filtered_view_holds_only_its_images(rated):
    from planche.tui.map import MapScreen

    async def steps(pilot):
        await _view(pilot, "Rating>=2")
        await pilot.press("M")
        await settle(pilot)
        screen = pilot.app.screen
        return isinstance(screen, MapScreen), screen.data.image_ids.tolist()

    on_map, mapped = run(PlancheApp(rated), steps)
    assert on_map and sorted(mapped) == sorted(read.list_images(rated, "Rating>=2").ids.tolist())


def test_tags_are_renamed_moved_merged_and_deleted_from_the_tree(rated):
    from conftest import tree_nodes
    from planche.tui.tree_pane import ProjectTree

    a_ids = read.list_images(rated, "folder:a").ids.tolist()
    commands.run(rated, "tag", {"property": "Kind", "path": ["cat"], "images": a_ids[:2]})
    commands.run(rated, "tag", {"property": "Kind", "path": ["pets"], "images": a_ids[2:3]})

    async def on_tag(pilot, name):
        tree = pilot.app.query_one(ProjectTree)
        node = next(n for n in tree_nodes(tree) if (n.data or {}).get("name") == name)
        parent = node.parent
        while parent is not None:  # a person opens the property to reach its tags
            parent.expand()
            parent = parent.parent
        await settle(pilot)
        tree.move_cursor(node)
        tree.focus()
        await settle(pilot)

    def paths():
        return sorted("/".join(p) for _, p in [(0, t) for t in _tag_paths(rated)])

    async def steps(pilot):
        seen = []
        await on_tag(pilot, "cat")
        await pilot.press("e")
        await settle(pilot)
        pilot.app.screen.query_one("#prompt").value = ""  # the prompt offers the old name
        await type_text(pilot, "kitten")
        await pilot.press("enter")
        await settle(pilot)
        seen.append(paths())
        await on_tag(pilot, "kitten")
        await pilot.press("v")
        await type_text(pilot, "Kind/pets")
        await pilot.press("enter")
        await settle(pilot)
        seen.append(paths())
        await on_tag(pilot, "kitten")
        await pilot.press("v")
        await type_text(pilot, "=Kind/pets")
        await pilot.press("enter")
        await settle(pilot)
        seen.append((paths(), sorted(read.list_images(rated, "tag:Kind/pets").ids.tolist())))
        await on_tag(pilot, "pets")
        await pilot.press("x", "y")
        await settle(pilot)
        seen.append(paths())
        await pilot.press("ctrl+z")
        await settle(pilot)
        seen.append(paths())
        return seen

    renamed, moved, merged, deleted, undone = run(PlancheApp(rated), steps)
    assert renamed == ["kitten", "pets"]
    assert moved == ["pets", "pets/kitten"]
    assert merged == (["pets"], sorted(a_ids[:3]))
    assert deleted == [] and undone == ["pets"]


def _tag_paths(project):
    return [names for _, names, _ in tag_path_rows(read.tag_tree(project))]


def test_a_tag_waits_for_a_locked_project_in_the_background(rated):
    """Another process takes the project: `t` says who it waits for, the grid
    still moves, and the tag lands once the holder lets go."""
    holders: list[subprocess.Popen] = []

    async def steps(pilot):
        app = pilot.app
        grid = app.query_one(ThumbnailGrid)
        grid.focus()
        holders.append(subprocess.Popen(
            [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
             "print('open', flush=True); time.sleep(60)", str(rated)],
            stdout=subprocess.PIPE, text=True,
        ))  # fmt: skip
        assert holders[0].stdout.readline().strip() == "open"
        await pilot.press("t")
        await pilot.pause(0.1)
        await type_text(pilot, "Kind/held")
        await pilot.press("enter")
        status = ""
        for _ in range(60):
            await pilot.pause(0.05)
            status = str(app.query_one("#status").render())
            if "waiting for the project" in status:
                break
        before = grid.cursor
        await pilot.press("right")
        moved = grid.cursor != before
        holders[0].kill()
        holders[0].wait()
        await settle(pilot)
        return status, moved

    try:
        status, moved = run(PlancheApp(rated), steps)
    finally:
        for holder in holders:
            holder.kill()
            holder.wait()
    assert "waiting for the project" in status and f"PID {holders[0].pid}" in status, status
    assert moved, "the grid answers keys while the write waits"
    assert read.list_images(rated, "tag:Kind/held").ids.size == 1, "the tag lands afterwards"
