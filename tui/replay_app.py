"""Replaying a script in the app: the same steps as `planche replay`, driven
through the app headless (Textual's pilot), with an SVG screenshot after each
step that names one ("screenshot": "main"). A "keys" step presses keys
({"command": "keys", "params": {"keys": ["right", "enter"]}}), for what only the
app shows (the preview, the help).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from planche.core import commands, read
from planche.tui.app import PlancheApp
from planche.tui.images import ImageMode


async def _settle(pilot: Any) -> None:
    for widget in pilot.app.query("Input"):
        widget.cursor_blink = False
    for _ in range(200):
        await pilot.pause(0.05)
        if all(w.is_finished for w in pilot.app.workers) and pilot.app._cancel is None:
            break
    await pilot.pause(0.3)


async def _replay(project: Path, steps: list[dict[str, Any]], folder: Path | None,
                  size: tuple[int, int]) -> list[Path]:  # fmt: skip
    shots: list[Path] = []
    app = PlancheApp(project, images=ImageMode("halfcell"))
    replayer = commands.Replayer(project, commands.Context(session=app.session))
    async with app.run_test(size=size) as pilot:
        await _settle(pilot)
        for step in steps:
            if step["command"] == "keys":
                await pilot.press(*step["params"].get("keys", []))
            else:
                outcome = await asyncio.to_thread(replayer.step, step)
                _show(app, step, outcome)
            await _settle(pilot)
            name = step.get("screenshot")
            if name and folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
                app.save_screenshot(filename=f"{name}.svg", path=str(folder))
                shots.append(folder / f"{name}.svg")
    return shots


def _show(app: PlancheApp, step: dict[str, Any], outcome: dict[str, Any] | None) -> None:
    """Show what the step did, as the app would after doing it itself."""
    if outcome is None:
        return
    if step["command"] == "search":
        app.show_search_result(outcome)  # a search changes nothing to reload
    elif step["command"] == "cluster" and outcome.get("clusters"):
        clustering_id = outcome["clustering_id"]
        app.refresh_project(
            scope_loader=lambda: read.cluster_images(
                app.project, _first_cluster_id(read.clustering_tree(app.project), clustering_id)
            )
        )
    else:
        app.refresh_project(keep_scope=True)


def _first_cluster_id(tree: list[dict[str, Any]], clustering_id: int) -> int:
    """The first cluster of a clustering, found in `read.clustering_tree`'s nesting."""
    stack = list(tree)
    while stack:
        node = stack.pop()
        if node["id"] == clustering_id:
            return int(node["clusters"][0]["id"])
        stack.extend(child for c in node["clusters"] for child in c["children"])
    raise LookupError(f"no clustering {clustering_id}")


def replay_in_app(project: Path, steps: list[dict[str, Any]], screenshots: Path | None,
                  size: tuple[int, int] = (160, 48)) -> list[Path]:  # fmt: skip
    return asyncio.run(_replay(project, steps, screenshots, size))
