"""The app's keys over the preview: those that act on the image shown, not the rest."""

from __future__ import annotations

import asyncio
import io

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


def test_the_nearest_images_take_up_down_and_enter_at_once_and_help_says_so(
    tmp_path_factory, tmp_path
):
    # Seen in a trial: the list only took keys after a Tab; ? showed the grid's keys.
    from rich.console import Console

    from planche.tui.screens import HelpScreen

    project = project_copy(imported_once(tmp_path_factory, "preview-keys", 6), tmp_path)

    async def main():
        async with PlancheApp(project).run_test(size=(160, 48)) as pilot:
            app = pilot.app
            await settle(pilot)
            await pilot.press("enter")
            await settle(pilot)
            first = app.screen.details["id"]
            second_nearest = app.screen.neighbours[1]["image_id"]
            await pilot.press("down", "enter")
            await settle(pilot)
            opened = app.screen.details["id"]
            await pilot.press("question_mark")
            await settle(pilot)
            shown = Console(width=100, record=True, file=io.StringIO())
            for static in app.screen.query("Static"):
                shown.print(static.content)
            return first, second_nearest, opened, isinstance(app.screen, HelpScreen), \
                shown.export_text()  # fmt: skip

    first, second_nearest, opened, helped, text = asyncio.run(main())
    assert opened == second_nearest != first
    assert helped and "Next" in text and "Similar images" in text and "nearest" in text, text
    assert "cluster the current scope" not in text, "the grid's keys do not act here"
