"""The app's keyboard model: one key per pane, Tab from pane to pane, up and
down inside the form, Escape in the order a person expects, and focus back
where it was after a dialog."""

from __future__ import annotations

import asyncio
import io
import sys
import threading
from pathlib import Path

import pytest
from rich.console import Console

from conftest import imported_once, project_copy, settle
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid
from planche.tui.organise import ViewScreen


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return imported_once(tmp_path_factory, "keys", 8)


@pytest.fixture
def project(template, tmp_path):
    return project_copy(template, tmp_path)


def run(project, steps, size=(160, 48)):
    async def main():
        async with PlancheApp(project).run_test(size=size) as pilot:
            await settle(pilot)
            return await steps(pilot)

    return asyncio.run(main())


def _where(app) -> str:
    """The pane (tree, grid, params) holding the focus, and the widget's id."""
    widget, pane = app.focused, None
    while widget is not None and pane is None:
        pane = widget.id if widget.id in ("tree", "grid", "params") else None
        widget = widget.parent
    return f"{pane}:{app.focused.id}"


def test_pane_keys_tab_and_the_forms_arrows(project):
    async def steps(pilot):
        app, seen = pilot.app, []
        for key in ("tab", "tab", "tab", "shift+tab", "1", "3", "2", "escape", "1", "2"):
            await pilot.press(key)
            await pilot.pause()
            seen.append(_where(app))
        await pilot.press("3", "down")
        await pilot.pause()
        seen.append(_where(app))
        await pilot.press("down")
        await pilot.pause()
        seen.append(_where(app))
        await pilot.press("up", "up")
        await pilot.pause()
        seen.append(_where(app))
        await pilot.press("tab")  # from the form, Tab goes on to the next pane
        await pilot.pause()
        seen.append(_where(app))
        return seen

    seen = run(project, steps)
    assert seen[:6] == ["params:search-text", "tree:tree", "grid:grid", "tree:tree",
                        "tree:tree", "params:search-text"], seen  # fmt: skip
    assert seen[6] == "params:search-text", "in a box, 2 is typed, not a pane key"
    assert seen[7:10] == ["grid:grid", "tree:tree", "grid:grid"], seen
    assert seen[10:] == ["params:strategy", "params:param-k", "params:search-text", "tree:tree"]


def test_escape_stops_work_before_it_clears_the_selection_and_leaves_boxes(project):
    started = threading.Event()

    async def steps(pilot):
        app = pilot.app
        grid = app.query_one(ThumbnailGrid)
        grid.focus()
        await pilot.press("space", "right", "space")
        stopped = []

        def job(cancel, progress):
            started.set()
            while not cancel.cancelled:
                threading.Event().wait(0.02)
            stopped.append(True)
            return None

        app._run_job("long work…", job, lambda _: None)
        await pilot.pause(0.1)
        await pilot.press("escape")
        await settle(pilot)
        after_first = (bool(stopped), len(grid.selected))
        await pilot.press("escape")
        await pilot.pause()
        after_second = len(grid.selected)
        await pilot.press("slash")
        await pilot.pause()
        in_box = _where(app)
        await pilot.press(*"abc")  # typed into the box: no key of the app fires
        await pilot.pause()
        typed = app.focused.value
        await pilot.press("escape")
        await pilot.pause()
        return after_first, after_second, in_box, typed, _where(app), len(app.screen_stack)

    first, second, in_box, typed, left, screens = run(project, steps)
    assert first == (True, 2), "the first Escape stops the work and keeps the selection"
    assert second == 0, "the next one clears the selection"
    assert in_box == "params:search-text" and typed == "abc", (in_box, typed)
    assert left == "grid:grid" and screens == 1, "Escape leaves the box for the grid"


def test_focus_comes_back_where_it_was_after_a_dialog(project):
    async def steps(pilot):
        app, found = pilot.app, []
        await pilot.press("1")
        for key in ("t", "p", "f"):
            await pilot.press(key)
            await settle(pilot)
            dialog = app.screen
            if isinstance(dialog, ViewScreen):  # Tab moves inside a dialog, not the panes
                await pilot.press("tab")
                found.append(f"dialog:{app.focused.id}")
            await pilot.press("escape")
            await settle(pilot)
            found.append(_where(app))
        return found

    found = run(project, steps, size=(80, 24))
    assert found == ["tree:tree", "tree:tree", "dialog:view-sort", "tree:tree"], found


def test_help_lists_every_key_of_the_app_and_the_grid(project):
    from textual.binding import Binding

    from planche.tui.screens import HelpScreen

    async def steps(pilot):
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(pilot.app.screen, HelpScreen)
        shown = Console(width=100, record=True, file=io.StringIO())
        for static in pilot.app.screen.query("Static"):
            shown.print(static.content)
        return shown.export_text()

    text = run(project, steps)
    for _key, _action, _label, description in PlancheApp.ACTIONS:
        assert description in " ".join(text.split()), description  # wrapped in its column
    for binding in ThumbnailGrid.BINDINGS:
        assert isinstance(binding, Binding) and binding.description in text, binding
    assert "+ =  " in text and "equals_sign" not in text, "keys as the footer shows them"


def test_copy_open_and_reveal_the_current_image_and_switch_captions(project, tmp_path,
                                                                    monkeypatch):  # fmt: skip
    opened = tmp_path / "opened.txt"
    opener = tmp_path / "viewer.sh"
    opener.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {opened}\n')
    opener.chmod(0o755)
    monkeypatch.setenv("PLANCHE_OPENER", str(opener))

    async def steps(pilot):
        app = pilot.app
        grid = app.query_one(ThumbnailGrid)
        grid.focus()
        await pilot.press("right", "Y")
        await settle(pilot)
        copied = app.clipboard
        await pilot.press("o")
        await settle(pilot)
        for _ in range(20):
            if opened.exists():
                break
            await pilot.pause(0.05)
        await pilot.press("R")
        await settle(pilot)
        await pilot.pause(0.1)
        tree = app.query_one("#tree")
        revealed = (_where(app), tree.cursor_node.data)
        captions = [grid.captions[1]]
        for _ in range(4):
            await pilot.press("C")
            await settle(pilot)
            captions.append(grid.captions[1])
        return copied, revealed, captions, grid.current_image_id

    copied, revealed, captions, image_id = run(project, steps)
    from planche.core import read

    path = read.image_details(project, image_id)["paths"][0]
    assert copied == path, "Y copies the current image's path"
    assert opened.read_text() == path, "o runs $PLANCHE_OPENER on it"
    assert revealed == ("tree:tree", {"kind": "folder", "ref": str(Path(path).parent)})
    name, size, resolution, date, back = captions
    assert name == Path(path).name and back == name, captions
    assert size.endswith(" kB") and "x" in resolution and date[:2] == "20", captions


def test_without_a_display_o_copies_the_path_instead(monkeypatch):
    from planche.tui.image_actions import opener_command

    for name in ("PLANCHE_OPENER", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(name, raising=False)
    if sys.platform != "darwin":
        assert opener_command("/x/a.jpg") is None, "over SSH: nothing to open it on"
    monkeypatch.setenv("PLANCHE_OPENER", "feh --scale-down")
    assert opener_command("/x/a b.jpg") == ["feh", "--scale-down", "/x/a b.jpg"]


def test_a_key_pressed_before_the_form_is_built_still_acts(project, monkeypatch):
    # The form, footer and tree come after the first grid; hold them back to press
    # keys before they exist, as a quick typist on a slow machine would.
    import planche.tui.app as app_module

    monkeypatch.setattr(ThumbnailGrid, "_tell_first_grid", lambda self: None)
    monkeypatch.setattr(app_module, "_REST_AT_THE_LATEST_S", 600)

    async def main():
        async with PlancheApp(project).run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            app = pilot.app
            before = (len(app.query("#params Input")), len(app.query("Footer")))
            await pilot.press("3")
            await settle(pilot)
            after_three = _where(app)
            await pilot.press("2", "slash")
            await settle(pilot)
            return before, after_three, _where(app), len(app.query("FooterKey"))

    before, after_three, after_slash, footers = asyncio.run(main())
    assert before == (0, 0), "the form and footer were built although the grid never showed"
    assert after_three == "params:search-text"
    assert after_slash == "params:search-text"
    assert footers > 0, f"the footer lists no keys ({footers})"


def test_the_form_footer_and_tree_follow_the_first_grid(project, tmp_path):
    async def main(path):
        async with PlancheApp(path).run_test(size=(160, 48)) as pilot:
            await settle(pilot)
            app = pilot.app
            tree = app.query_one("#tree")
            return (len(app.query("FooterKey")) > 5, len(app.query("#footer-slot")),
                    app.query_one("#strategy").value, len(list(tree.root.children)))  # fmt: skip

    footers, slots, strategy, tree_nodes = asyncio.run(main(project))
    assert (footers, slots, strategy) == (True, 0, "kmeans"), "the footer lists no keys"
    assert tree_nodes > 0, "the tree was never read"
    # A project not made yet (nothing to show): the same screen, without waiting.
    assert asyncio.run(main(tmp_path / "new.duckdb"))[:3] == (True, 0, "kmeans")


def test_right_and_left_open_and_close_tree_nodes(project):
    # Seen in a trial: right scrolled the tree sideways by a column; only space opened.
    from planche.tui.tree_pane import ProjectTree

    async def steps(pilot):
        tree = pilot.app.query_one(ProjectTree)
        tree.focus()
        folders = next(n for n in tree.root.children if str(n.label) == "Folders")
        tree.move_cursor(folders)
        await pilot.pause()
        seen = []
        for key in ("left", "right", "right", "left", "h", "l"):
            await pilot.press(key)
            await pilot.pause()
            seen.append((str(tree.cursor_node.label), folders.is_expanded, tree.scroll_x))
        return seen

    seen = run(project, steps)
    first = seen[2][0]
    assert first != "Folders", "right on an open node goes to its first child"
    assert seen == [("Folders", False, 0), ("Folders", True, 0), (first, True, 0),
                    ("Folders", True, 0), ("Folders", False, 0), ("Folders", True, 0)]  # fmt: skip


def test_the_palette_lists_the_apps_actions_before_anything_is_typed(project):
    from textual.command import CommandList

    async def steps(pilot):
        await pilot.press("ctrl+p")
        await settle(pilot)
        for _ in range(40):  # the palette gathers its hits in a worker of its own
            listed = pilot.app.screen.query(CommandList)
            if listed and listed.first().option_count > 5:
                break
            await pilot.pause(0.05)
        options = listed.first()
        return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]

    shown = run(project, steps)
    assert any("cluster the current scope" in line for line in shown), shown
    assert any("filter, sort and group" in line for line in shown), shown


def test_zoom_says_when_it_is_at_its_largest_or_smallest(project):
    from planche.tui.grid import ZOOM_SIZES

    async def steps(pilot):
        app = pilot.app
        app.query_one(ThumbnailGrid).focus()
        await pilot.press(*["plus"] * len(ZOOM_SIZES))
        await settle(pilot)
        at_largest = [n.message for n in app._notifications]
        await pilot.press(*["minus"] * len(ZOOM_SIZES))
        await settle(pilot)
        return at_largest, [n.message for n in app._notifications]

    at_largest, after = run(project, steps)
    assert [m for m in at_largest if "largest thumbnails" in m], at_largest
    assert [m for m in after if "smallest thumbnails" in m], after
