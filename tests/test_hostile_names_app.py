"""Names from users are text, never markup, in every part of the app (issue 15).

A folder, files, a tag property, tags and a typed tag whose names look like
Rich/Textual markup (`[/x]` alone is a markup error) or hold a terminal escape:
the app must start, and show each of them literally wherever it quotes them:
the tree, the status line, grid captions, the preview, dialogs, notifications.

The folder `mk[/]dir` is a folder `]dir` inside a folder `mk[` (a name cannot
hold a slash): the tree shows the two, and whole paths show `mk[/]dir`. Alike,
the typed tag `Subj/a[/]b` is Property/parent/tag: the tag `]b` under `a[`.
"""

from __future__ import annotations

import asyncio
import shutil

import pytest
from textual.widgets import Label, Static
from textual.widgets._toast import Toast

from conftest import jpeg_bytes, photo_like, settle, tree_nodes
from planche.core import commands, read
from planche.core.text import printable
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.images import ImageMode
from planche.tui.screens import ConfirmScreen, PreviewScreen
from planche.tui.tree_pane import ProjectTree

SIZE = (160, 48)
FOLDER = "mk[/]dir"
COVER = "[draft] cover.jpg"
ESCAPED = "a\x1b[31mb.png"  # an ANSI colour escape in a file name
PROPERTY = "[/x]"  # a closing tag with nothing to close: MarkupError when parsed
LINK = "[link=http://x]click"
TYPED = "Subj/a[/]b"


def _write_images(tmp_path):
    """`mk[/top.jpg`, `mk[/]dir/[draft] cover.jpg`, `mk[/]dir/a<ESC>[31mb.png`;
    returns the folder `mk[` (the one to import)."""
    folder = tmp_path / FOLDER
    folder.mkdir(parents=True)
    (folder / COVER).write_bytes(jpeg_bytes(photo_like(15)))
    photo_like(16).save(folder / ESCAPED, format="PNG")
    (folder.parent / "top.jpg").write_bytes(jpeg_bytes(photo_like(17)))
    return folder.parent


@pytest.fixture(scope="module")
def hostile_template(tmp_path_factory):
    """The hostile folder imported and tagged once for the module. The project holds the
    images' absolute paths: they stay here, and no test changes them."""
    base = tmp_path_factory.mktemp("hostile")
    folder = _write_images(base)
    project = base / "project.duckdb"
    done = commands.run(project, "import", {"folder": str(folder), "embedder": "pixels"})
    assert done["new"] == 3
    commands.run(project, "tag", {"property": PROPERTY, "path": ["[b]t"], "images": [1]})
    commands.run(project, "tag", {"property": "Kind", "path": [LINK], "images": [2]})
    assert sorted(p.name for p in base.iterdir()) == ["mk[", "project.duckdb"], (
        "the project is its one file: a copy of it is the whole project"
    )
    return project


@pytest.fixture
def hostile_project(hostile_template, tmp_path):
    """A fresh copy of the tagged project for each test (its images shared, unchanged)."""
    project = tmp_path / "project.duckdb"
    shutil.copy(hostile_template, project)
    return project


def run(app: PlancheApp, steps):
    async def main():
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(pilot)
            return await steps(pilot)

    return asyncio.run(main())


def labels(tree: ProjectTree) -> list[str]:
    """The plain text of every node's label (what the tree shows, styles aside)."""
    return [node.label.plain for node in tree_nodes(tree)]


def shown(widget) -> str:  # noqa: ANN001 - any widget that renders text
    return str(widget.render())


def caption_line(grid: ThumbnailGrid) -> str:
    """The first row's captions, as drawn."""
    strip = grid.render_line(grid.cell_size[1] - 1)
    return "".join(segment.text for segment in strip)


def test_markup_like_names_are_shown_literally_everywhere(hostile_project):
    async def steps(pilot):
        app = pilot.app
        tree = app.query_one(ProjectTree)
        seen = {"start": labels(tree)}

        folder = next(n for n in tree_nodes(tree) if (n.data or {}).get("kind") == "folder"
                      and n.data["ref"].endswith(FOLDER))  # fmt: skip
        tree.select_node(folder)
        await settle(pilot)
        grid = app.query_one(ThumbnailGrid)
        seen["scope"] = (app.scope.kind, app.scope.title, len(grid.image_ids))
        seen["status"] = shown(app.query_one("#status"))
        seen["captions"] = caption_line(grid)

        grid.focus()
        seen["previews"] = []
        for move in ((), ("right",)):
            await pilot.press(*move, "enter")
            await settle(pilot)
            assert isinstance(app.screen, PreviewScreen)
            seen["previews"].append(shown(app.screen.query_one("#preview-info Static")))
            await pilot.press("escape")
            await settle(pilot)

        await pilot.press("t")
        await settle(pilot)
        seen["question"] = shown(app.screen.query_one("#question", Label))
        await pilot.press(*TYPED, "enter")
        await settle(pilot)
        seen["after"] = labels(tree)
        seen["typed"] = [
            f"{n.parent.label.plain}/{n.label.plain}"
            for n in tree_nodes(tree)
            if (n.data or {}).get("kind") == "tag" and n.parent is not None
        ]
        seen["toasts"] = [shown(toast) for toast in app.screen.query(Toast)]
        seen["running"] = app.is_running
        return seen

    seen = run(PlancheApp(hostile_project, images=ImageMode("none")), steps)

    start = seen["start"]
    assert any(label.startswith("mk[ ") for label in start), start
    assert any(label.startswith("]dir ") for label in start), start
    assert PROPERTY in start, start
    assert any(label.startswith("[b]t") for label in start), start
    assert any(label.startswith(LINK) for label in start), start

    kind, title, count = seen["scope"]
    assert (kind, title, count) == ("folder", "folder ]dir", 2)
    assert seen["status"].startswith("folder ]dir (2) · ")
    assert "[draft] cover" in seen["captions"] and "\x1b" not in seen["captions"]

    infos = "\n".join(seen["previews"])
    assert COVER in infos
    assert printable(ESCAPED) in infos and "\x1b" not in infos
    assert f"{FOLDER}/" in infos, "the path shows its folder literally"
    assert f"{PROPERTY}: [b]t" in infos or f"Kind: {LINK}" in infos, "tags show literally"

    assert seen["question"].startswith("Tag 1 image")
    assert seen["running"]
    # Property/parent/tag: `Subj/a[/]b` is the tag `]b` under `a[` in Subj.
    assert "Subj" in seen["after"], seen["after"]
    assert any(path.startswith("a[  1/]b  1") for path in seen["typed"]), seen["typed"]
    assert any(TYPED in toast for toast in seen["toasts"]), seen["toasts"]
    tags = {p["property"]: [t["name"] for t in p["tags"]] for p in read.tag_tree(hostile_project)}
    assert tags["Subj"] == ["a[", "]b"] and tags[PROPERTY] == ["[b]t"]


def test_a_markup_like_folder_opens_by_importing_it(tmp_path):
    folder = _write_images(tmp_path) / "]dir"  # the folder `mk[/]dir` itself
    project = folder / ".planche.duckdb"

    async def steps(pilot):
        app = pilot.app
        question = ""
        if isinstance(app.screen, ConfirmScreen):
            question = shown(app.screen.query_one("#question", Label))
        await pilot.press("y")
        await settle(pilot, rounds=200)
        tree = app.query_one(ProjectTree)
        toasts = [shown(toast) for toast in app.screen.query(Toast)]
        return question, len(app.query_one(ThumbnailGrid).image_ids), labels(tree), toasts

    question, count, tree, toasts = run(
        PlancheApp(project, images=ImageMode("none"), import_folder=folder), steps
    )
    assert f"{FOLDER} is not a planche project yet" in question
    assert count == 2
    assert any(label.startswith("]dir ") for label in tree), tree
    assert any("Imported 2 new images" in toast for toast in toasts), toasts


def test_a_parameter_error_quotes_what_was_typed_literally(hostile_project):
    async def steps(pilot):
        field = pilot.app.query_one("#param-k")
        field.value = "[/x]"
        await settle(pilot)
        error = shown(pilot.app.query_one("#error-k", Static))
        await pilot.press("c")  # refused: nothing runs, nothing crashes
        await settle(pilot)
        return error, pilot.app.is_running

    error, running = run(PlancheApp(hostile_project, images=ImageMode("none")), steps)
    assert "[/x]" in error and running
