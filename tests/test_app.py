"""The app driven from the keyboard with Textual's Pilot, on a generated project."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import settle, tree_nodes, type_text, write_good_images
from planche.core import commands, read
from planche.core.embedders import load_embedder
from planche.core.ingest import import_folder
from planche.core.store import open_store
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.screens import HelpScreen, PreviewScreen
from planche.tui.tree_pane import ProjectTree

SIZE = (160, 48)


@pytest.fixture(scope="module")
def _pixels_template(tmp_path_factory):
    """20 photos in folders a and b, imported once; `pixels_project` copies them back
    for each test (to the same place: the project holds the photos' paths)."""
    base = tmp_path_factory.mktemp("app")
    work = base / "work"
    write_good_images(work / "photos" / "a", 12)
    write_good_images(work / "photos" / "b", 8, start_seed=100)
    import_folder(work / "photos", work / "project.duckdb", embedder=load_embedder("pixels"))
    shutil.copytree(work, base / "pristine", copy_function=shutil.copy2)
    return base


@pytest.fixture
def pixels_project(_pixels_template):
    work = _pixels_template / "work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(_pixels_template / "pristine", work, copy_function=shutil.copy2)
    return work / "project.duckdb"


def run(app: PlancheApp, steps, size=SIZE):
    """Run the app headless, let `steps(pilot)` drive it, return what it returned."""

    async def main():
        async with app.run_test(size=size) as pilot:
            await settle(pilot)
            return await steps(pilot)

    return asyncio.run(main())


def test_the_app_module_starts_without_torch():
    code = "import sys, planche.tui.app; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_opens_on_all_images_with_a_status_line(pixels_project):
    async def steps(pilot):
        grid = pilot.app.query_one(ThumbnailGrid)
        status = str(pilot.app.query_one("#status").render())
        return len(grid.image_ids), status

    count, status = run(PlancheApp(pixels_project), steps)
    assert count == 20
    assert "20 images" in status and "pixels:pixels-v3" in status
    assert status.startswith("all images (20) · "), "what is shown first: 80 columns cut the end"


def test_a_folder_in_the_tree_shows_its_images(pixels_project):
    async def steps(pilot):
        tree = pilot.app.query_one(ProjectTree)
        node = next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "folder"
                    and str(n.label).startswith("b"))  # fmt: skip
        tree.select_node(node)
        await settle(pilot)
        return pilot.app.scope.title, len(pilot.app.query_one(ThumbnailGrid).image_ids)

    title, count = run(PlancheApp(pixels_project), steps)
    assert title == "folder b" and count == 8


def test_similar_images_from_the_keyboard(pixels_project):
    async def steps(pilot):
        await pilot.press("right", "s")
        await settle(pilot)
        return pilot.app.scope, pilot.app.query_one(ThumbnailGrid).image_ids

    scope, ids = run(PlancheApp(pixels_project), steps)
    assert scope.kind == "search" and scope.title.startswith("search image 2")
    assert len(ids) == 19 and 2 not in ids


def test_cluster_recluster_save_and_delete_from_the_keyboard(pixels_project):
    async def steps(pilot):
        app = pilot.app
        await pilot.press("c")  # kmeans, k=10 from the parameter pane
        await settle(pilot)
        tree = app.query_one(ProjectTree)
        cluster = next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "cluster"
                       and n.data and _size(app, n.data["ref"]) >= 2)  # fmt: skip
        tree.move_cursor(cluster)
        tree.select_node(cluster)
        await settle(pilot)
        params = app.query_one("#param-k")
        params.value = "2"
        await pilot.press("r")
        await settle(pilot)
        top = next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "clustering")
        tree.move_cursor(top)
        await pilot.press("w")
        await settle(pilot)
        await type_text(pilot, "Groups")
        await pilot.press("enter")
        await settle(pilot)
        with open_store(app.project, read_only=True) as store:
            saved = store.property_id("Groups") is not None
            made = len(store.clusterings())
        tree.move_cursor(
            next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "clustering")
        )
        await pilot.press("x", "y")
        await settle(pilot)
        with open_store(app.project, read_only=True) as store:
            left = len(store.clusterings())
        return saved, made, left

    saved, made, left = run(PlancheApp(pixels_project), steps)
    assert made == 2, "a clustering and a child clustering of one of its clusters"
    assert saved
    assert left == 0, "deleting the top clustering deletes the nested one"


def test_tag_three_images_and_find_them_after_reopening(pixels_project):
    async def steps(pilot):
        await pilot.press("space", "right", "space", "right", "space", "t")
        await settle(pilot)
        await type_text(pilot, "Subject/cat")
        await pilot.press("enter")
        await settle(pilot)

    run(PlancheApp(pixels_project), steps)

    async def reopen(pilot):
        tree = pilot.app.query_one(ProjectTree)
        node = next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "tag")
        tree.select_node(node)
        await settle(pilot)
        return pilot.app.query_one(ThumbnailGrid).image_ids

    assert run(PlancheApp(pixels_project), reopen) == (1, 2, 3)


def _preview_text(app) -> str:
    return str(app.screen.query_one("#preview-info Static").render())


def test_preview_steps_opens_neighbours_and_shows_a_gone_file(pixels_project):
    grid_ids: list[int] = []

    async def steps(pilot):
        app = pilot.app
        grid = app.query_one(ThumbnailGrid)
        grid_ids.extend(grid.image_ids[:2])
        second_image = read.image_details(app.project, grid_ids[1])
        Path(second_image["paths"][0]).unlink()  # the second image's file is gone
        await pilot.press("enter")
        await settle(pilot)
        first = (isinstance(app.screen, PreviewScreen), _preview_text(app))
        neighbours = [o.id for o in app.screen.query_one("#neighbours").options]
        await pilot.press("right")
        await settle(pilot)
        second = (_preview_text(app), grid.cursor, len(app.screen_stack))
        app.screen.query_one("#neighbours").focus()
        await pilot.press("enter")  # the nearest neighbour of the second image
        await settle(pilot)
        opened = _preview_text(app)
        await pilot.press("escape", "question_mark")
        helped = isinstance(pilot.app.screen, HelpScreen)
        await pilot.press("escape")
        return first, neighbours, second, opened, helped

    first, neighbours, second, opened, helped = run(PlancheApp(pixels_project), steps)
    preview, text = first
    assert preview and f"image {grid_ids[0]}" in text and "img_0000.jpg" in text
    assert " kB · modified " in text, "each file's size and time"
    assert neighbours and str(grid_ids[0]) not in neighbours, "nearest, without itself"
    text, cursor, screens = second
    assert f"image {grid_ids[1]}" in text and "the file is gone" in text, text
    assert "thumbnail stored at import" in text, "the stored thumbnail stands in"
    assert cursor == 1 and screens == 2, "right steps in place, the grid's cursor follows"
    assert opened.startswith("image ") and f"image {grid_ids[1]}\n" not in opened
    assert helped


def test_a_folder_opens_by_importing_it(tmp_path):
    folder = tmp_path / "photos"
    write_good_images(folder, 6)
    (folder / "evil\x1b[2Jname.jpg").write_bytes((folder / "img_0000.jpg").read_bytes()[:50])
    project = folder / ".planche.duckdb"

    async def steps(pilot):
        await settle(pilot)
        offer = str(pilot.app.screen.query_one("#dialog Label").render())
        await pilot.press("y")  # the app offers the import first
        await settle(pilot, rounds=200)
        grid = pilot.app.query_one(ThumbnailGrid)
        return offer, grid.image_ids, pilot.app.export_screenshot()

    offer, ids, screen = run(PlancheApp(project, import_folder=folder), steps)
    assert "embedded with the pixels embedder" in offer, "it says which embedder, first"
    assert "no CLIP weights on this machine" in offer, offer
    assert len(ids) == 6
    assert "\x1b[2J" not in screen


def test_a_folder_opened_with_a_named_project_is_offered_into_that_project(
    tmp_path, pixels_project, monkeypatch
):
    from planche.tui import app as app_module
    from planche.tui.cli import main

    folder = tmp_path / "more"
    write_good_images(folder, 3)
    opened = []
    monkeypatch.setattr(app_module, "run_app", lambda project, **kw: opened.append((project, kw)))
    assert main(["open", str(folder), "--project", str(pixels_project)]) == 0
    assert opened == [(pixels_project.absolute(), {"images": "auto", "import_folder": folder})]
    assert not (folder / ".planche.duckdb").exists(), "--project was not ignored"

    async def steps(pilot):
        await settle(pilot)
        offer = str(pilot.app.screen.query_one("#dialog Label").render())
        await pilot.press("n")  # not now: the project opens as it is
        await settle(pilot)
        keys = len(pilot.app.screen.query("FooterKey"))  # built while the offer was up
        return offer, len(pilot.app.query_one(ThumbnailGrid).image_ids), pilot.app.is_running, keys

    from planche.tui.params_pane import ParamsPane

    build = ParamsPane.build

    async def slow_build(pane):  # the offer is up before the footer comes: it goes below it
        await asyncio.sleep(0.5)
        await build(pane)

    monkeypatch.setattr(ParamsPane, "build", slow_build)
    offer, shown, running, keys = run(PlancheApp(pixels_project, import_folder=folder), steps)
    assert f"Import the images of {folder} into {pixels_project.name}" in offer, offer
    assert running and shown == 20 and keys > 5


def test_bad_parameter_is_shown_inline_and_nothing_runs(pixels_project):
    async def steps(pilot):
        pilot.app.query_one("#param-k").value = "0"
        await pilot.press("c")
        await settle(pilot)
        error = str(pilot.app.query_one("#error-k").render())
        with open_store(pilot.app.project, read_only=True) as store:
            return error, len(store.clusterings())

    error, made = run(PlancheApp(pixels_project), steps)
    assert "k='0'" in error and "from 2 to 1000" in error
    assert made == 0


def test_small_terminal_keeps_the_grid(pixels_project):
    async def steps(pilot):
        grid = pilot.app.query_one(ThumbnailGrid)
        return grid.size.width, len(grid.image_ids)

    width, count = run(PlancheApp(pixels_project), steps, size=(80, 24))
    assert width >= 16 and count == 20


def _size(app, cluster_id):
    with open_store(app.project, read_only=True) as store:
        row = store.cluster(cluster_id)
    return row.size if row else 0


def test_text_search_untag_and_switch_model(tmp_path, tiny_clip):
    folder = tmp_path / "photos"
    write_good_images(folder, 10)
    project = tmp_path / "project.duckdb"
    import_folder(folder, project, embedder=load_embedder("clip", weights=tiny_clip))
    import_folder(folder, project, embedder=load_embedder("pixels"))  # a second model
    from planche.core.embed import embed_project

    embed_project(project, load_embedder("pixels"))

    async def steps(pilot):
        app = pilot.app
        await settle(pilot)
        first_model = app.model_id
        await pilot.press("slash", *"a red boat", "enter")
        await settle(pilot)
        searched = (app.scope.kind, len(app.query_one(ThumbnailGrid).image_ids))
        status = str(app.query_one("#status").render())
        app.query_one(ThumbnailGrid).focus()
        await pilot.press("t")
        await type_text(pilot, "Subject/boat")
        await pilot.press("enter")
        await settle(pilot)
        tree = app.query_one(ProjectTree)
        tree.select_node(next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "tag"))
        await settle(pilot)
        app.query_one(ThumbnailGrid).focus()
        title = app.scope.title
        await pilot.press("u")
        await settle(pilot)
        untagged_title = app.scope.title
        with open_store(app.project, read_only=True) as store:
            left = store.images_with_tag(store.leaf_tag_paths("Subject")[0][0]).tolist()
        await pilot.press("m")
        return first_model, app.model_id, searched, status, left, (title, untagged_title)

    first, second, searched, status, left, titles = run(PlancheApp(project), steps)
    assert titles[0] == titles[1] and titles[0].count("tag") == 1, titles  # not "tag tag boat"
    assert searched == ("search", 10)
    assert "clip:" in status, "the status line names the model searched with"
    assert left == [], "untagging removed the tag from the image"
    assert first != second, "m switches to the other model"


def test_ctrl_z_and_ctrl_y_undo_and_redo_a_tagging(pixels_project):
    def tagged(project):
        with open_store(project, read_only=True) as store:
            tag = store.tag_id_for_path("Subject", ["dog"])
            return store.images_with_tag(tag).tolist() if tag else []

    async def steps(pilot):
        await pilot.press("space", "right", "space", "t")
        await type_text(pilot, "Subject/dog")
        await pilot.press("enter")
        await settle(pilot)
        after_tag = tagged(pilot.app.project)
        await pilot.press("ctrl+z")
        await settle(pilot)
        after_undo = tagged(pilot.app.project)
        said = [n.message for n in pilot.app._notifications]
        await pilot.press("ctrl+y")
        await settle(pilot)
        return after_tag, after_undo, tagged(pilot.app.project), said

    after_tag, after_undo, after_redo, said = run(PlancheApp(pixels_project), steps)
    assert after_tag == [1, 2] and after_undo == [] and after_redo == [1, 2]
    # Undo is the project's: it says what it took back and when (it may be the CLI's).
    assert any(re.fullmatch(r"Undid tag: 2 images tagged \(done at \d\d:\d\d\)", m)
               for m in said), said  # fmt: skip


def test_below_120_columns_c_opens_the_form_which_says_why_it_refuses(pixels_project):
    async def steps(pilot):
        app = pilot.app
        await pilot.press("c")
        await settle(pilot)
        opened = (app.query_one("#params").display, app.query_one("#grid").display,
                  app.focused.id)  # fmt: skip
        app.focused.value = "0"
        await pilot.press("enter")
        await settle(pilot)
        refused = [n.message for n in app._notifications]
        with open_store(app.project, read_only=True) as store:
            made_before = len(store.clusterings())
        app.focused.value = "3"
        await pilot.press("enter")
        await settle(pilot)
        with open_store(app.project, read_only=True) as store:
            made = len(store.clusterings())
        closed = (app.query_one("#params").display, app.query_one("#grid").display,
                  app.focused.id)  # fmt: skip
        return opened, refused, made_before, made, closed

    opened, refused, made_before, made, closed = run(PlancheApp(pixels_project), steps,
                                                     size=(80, 24))  # fmt: skip
    assert opened == (True, False, "param-k"), "c shows the form in the grid's place, at k"
    assert made_before == 0
    assert any(m.startswith("Not clustered: k='0'") for m in refused), refused
    assert made == 1, "Enter in a box runs the form"
    assert closed == (False, True, "grid"), "and the grid comes back"


def test_a_large_project_searches_at_once_while_the_graph_builds(pixels_project, monkeypatch):
    import threading

    import planche.core.index as index_module
    from planche.core.index import graph

    monkeypatch.setattr(index_module, "HNSW_THRESHOLD", 10)  # 20 images count as many
    release = threading.Event()
    real_build = graph.build
    monkeypatch.setattr(graph, "build", lambda *a, **k: release.wait(30) and real_build(*a, **k))

    async def steps(pilot):
        await pilot.press("right", "s")
        await settle(pilot)
        app = pilot.app
        answered = (app.scope.kind, len(app.query_one(ThumbnailGrid).image_ids))
        during = ""
        for _ in range(48):  # the status line polls the build once a second
            await pilot.pause(0.05)
            during = str(app.query_one("#status").render())
            if "graph building (" in during:
                break
        release.set()
        app.session.wait_for_builds(30)
        notes: list[str] = []
        for _ in range(48):
            await pilot.pause(0.05)
            notes = [n.message for n in app._notifications]
            if any("search graph is built" in note for note in notes):
                break
        await pilot.press("s")
        await settle(pilot)
        return answered, during, notes, str(app.query_one("#status").render())

    answered, during, notes, after = run(PlancheApp(pixels_project), steps)
    assert answered == ("search", 19), "the search answered before the graph was built"
    assert "index exact · graph building (" in during
    assert any("search graph is built" in note for note in notes)
    assert "index hnsw" in after and "graph building" not in after


def test_the_tag_prompt_completes_the_projects_tags(pixels_project):
    # Seen in a trial: no completion, so a typo quietly made a new tag.
    first = read.all_images(pixels_project).image_ids[0]
    tagged = {"property": "Subject", "path": ["space", "astronaut"], "images": [first]}
    commands.run(pixels_project, "tag", tagged)

    async def steps(pilot):
        await settle(pilot)
        pilot.app.query_one(ThumbnailGrid).focus()
        await pilot.press("t")
        await settle(pilot)
        await type_text(pilot, "subject/space/a")
        await pilot.press("right")
        return pilot.app.screen.query_one("#prompt").value

    assert run(PlancheApp(pixels_project), steps) == "Subject/space/astronaut"
