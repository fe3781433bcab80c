"""Sharp (kitty) thumbnails stay right under a dialog: their colours carry their ids."""

from __future__ import annotations

import asyncio

from conftest import imported_once, project_copy, settle
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.images import ImageMode
from planche.tui.screens import PromptScreen


def test_a_dialog_over_the_kitty_grid_leaves_the_pictures_colours_as_they_are(
    tmp_path_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("COLORTERM", "truecolor")  # read when the app is made
    project = project_copy(imported_once(tmp_path_factory, "kitty-dialogs", 6), tmp_path)
    mode = ImageMode("none")
    mode.grid = "kitty"

    async def main():
        app = PlancheApp(project, images=mode)
        async with app.run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            grid = app.query_one(ThumbnailGrid)
            sent = grid.kitty_images
            held = sent.keys()  # SentImages.keys(): a list, least recently used first
            shown = [key for key in held if key[0] in grid.image_ids[:3]]
            colours = [f"#{sent.get(key).color.triplet.hex[1:]}".lower() for key in shown]
            before = app.export_screenshot().lower()
            await pilot.press("t")  # the tag prompt, over the grid
            await settle(pilot)
            during = app.export_screenshot().lower()
            return grid.graphics, colours, before, during, isinstance(app.screen, PromptScreen)

    graphics, colours, before, during, prompted = asyncio.run(main())
    assert graphics == "kitty" and colours and prompted
    for colour in colours:
        assert colour in before, colour
        assert colour in during, f"{colour}: the picture's id colour was tinted by the dialog"
