"""The app's keys over the preview: those that act on the image shown, not the rest."""

from __future__ import annotations

import asyncio

from textual.widgets import Footer

from conftest import imported_once, project_copy, settle
from planche.core import read
from planche.tui.app import PlancheApp
from planche.tui.map import MapScreen
from planche.tui.screens import PreviewScreen, PromptScreen


def _footer_labels(app: PlancheApp) -> set[str]:
    footer = app.screen.query_one(Footer)
    return {str(key.description) for key in footer.query("FooterKey")}


def test_the_preview_offers_the_keys_for_its_image_and_not_the_grids(tmp_path_factory, tmp_path):
    project = project_copy(imported_once(tmp_path_factory, "preview-keys", 6), tmp_path)

    async def steps(pilot):
        app = pilot.app
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        labels = _footer_labels(app)
        await pilot.press("c", "M", "i")  # cluster, map, import: nothing over the preview
        await settle(pilot)
        still = isinstance(app.screen, PreviewScreen) and not isinstance(app.screen, MapScreen)
        clusterings = read.project_info(app.project)["clusterings"]
        await pilot.press("t")  # tag the image shown
        await settle(pilot)
        tagging = isinstance(app.screen, PromptScreen)
        return labels, still, clusterings, tagging

    async def main():
        async with PlancheApp(project).run_test(size=(160, 48)) as pilot:
            return await steps(pilot)

    labels, still, clusterings, tagging = asyncio.run(main())
    assert "Back" in labels and "Tag" in labels, labels
    assert not labels & {"Cluster", "Import", "Map", "Filter", "Search"}, labels
    assert still and clusterings == 0, "c, M and i did nothing over the preview"
    assert tagging, "t asks for the tag of the image shown"
