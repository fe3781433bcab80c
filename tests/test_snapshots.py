"""Snapshots of the main screens (pytest-textual-snapshot), drawn deterministically.

The grid draws its own half-cell thumbnails from generated images (fixed
seeds), the preview's image protocol is off, and the cursor does not blink.
Regenerate after an intended change: `pytest tests/test_snapshots.py --snapshot-update`.
"""

from __future__ import annotations

import pytest

from conftest import write_good_images
from planche.core.embedders import load_embedder
from planche.core.ingest import import_folder
from planche.tui.app import PlancheApp

SIZE = (160, 48)


@pytest.fixture
def project(tmp_path):
    folder = tmp_path / "photos"
    write_good_images(folder / "beach", 14, size=(120, 90))
    write_good_images(folder / "forest", 10, start_seed=200, size=(90, 120))
    path = tmp_path / "project.duckdb"
    import_folder(folder, path, embedder=load_embedder("pixels"))
    return path


async def _ready(pilot):
    for _ in range(60):
        await pilot.pause(0.05)
        if all(w.is_finished for w in pilot.app.workers):
            break
    for widget in pilot.app.query("Input"):  # made after the first grid: once it is done
        widget.cursor_blink = False
    await pilot.pause(0.2)


def test_main_screen(snap_compare, project):
    assert snap_compare(PlancheApp(project), terminal_size=SIZE, run_before=_ready)


def test_after_clustering(snap_compare, project):
    async def cluster_then_open_one(pilot):
        await _ready(pilot)
        pilot.app.query_one("#param-k").value = "3"
        await pilot.press("c")
        await _ready(pilot)
        await pilot.press("right", "right", "space", "right", "space")
        await _ready(pilot)

    assert snap_compare(PlancheApp(project), terminal_size=SIZE, run_before=cluster_then_open_one)
