"""The app stays current: what another process changes in the project shows
within a couple of seconds, without a key pressed, and the grid keeps its place."""

from __future__ import annotations

import asyncio

import pytest

from conftest import imported_once, project_copy, settle
from planche.core import commands, read
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.tree_pane import ProjectTree


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return imported_once(tmp_path_factory, "live", 10)


@pytest.fixture
def project(template, tmp_path):
    return project_copy(template, tmp_path)


def _labels(tree: ProjectTree) -> list[str]:
    return [str(node.label) for node in tree._all_nodes()]  # noqa: SLF001 - test reads the tree


async def _until(pilot, ready, seconds: float = 5.0) -> bool:
    """Pause until `ready()` holds (no key pressed meanwhile)."""
    for _ in range(int(seconds / 0.1)):
        if ready():
            return True
        await pilot.pause(0.1)
    return ready()


def test_changes_from_another_process_show_and_the_grid_keeps_its_place(project):
    ids = read.all_images(project).image_ids

    async def main():
        async with PlancheApp(project).run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            app, grid = pilot.app, pilot.app.query_one(ThumbnailGrid)
            tree = app.query_one(ProjectTree)
            grid.focus()
            await pilot.press("right", "right", "space", "right", "space")
            place = (grid.current_image_id, grid.selected)
            # another process (here the same calls the CLI makes) adds a tag and a clustering
            commands.run(project, "tag", {"property": "Kind", "path": ["outside"],
                                          "images": list(ids[:3])})  # fmt: skip
            commands.run(project, "cluster", {"params": {"k": 2}, "labels": False})
            shown = await _until(pilot, lambda: any(
                "outside" in label for label in _labels(tree)) and any(
                "kmeans" in label for label in _labels(tree)))  # fmt: skip
            after = (grid.current_image_id, grid.selected)
            # the tag opened in the app gains an image tagged outside it
            tag_id = read.tag_id_for(project, "Kind/outside")
            app.show_scope(read.tag_images(project, tag_id, "Kind/outside"))
            await settle(pilot)
            before = len(grid.image_ids)
            commands.run(project, "tag", {"property": "Kind", "path": ["outside"],
                                          "images": [ids[-1]]})  # fmt: skip
            grew = await _until(pilot, lambda: len(grid.image_ids) == before + 1)
            return shown, place, after, grew, app.scope.kind

    shown, place, after, grew, kind = asyncio.run(main())
    assert shown, "the new tag and clustering appear in the tree without a key pressed"
    assert after == place, "the cursor and the selection stay where they were"
    assert grew and kind == "tag", "an open tag shows the image tagged from outside"
