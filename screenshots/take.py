"""Regenerate the screenshots in this folder: `python screenshots/take.py`.

Each screenshot is a scripted session of the app on the demo project (built
fresh in a temporary folder, embedded with the weight-free pixels embedder so
that it runs anywhere), driven headless with Textual's pilot and saved as SVG.
Nothing here is drawn by hand. (When the journal and replay land, these
scripts become replay files.)
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from planche.core.demo import build_demo_folder
from planche.core.embedders import load_embedder
from planche.core.ingest import import_folder
from planche.tui.app import PlancheApp
from planche.tui.images import ImageMode

HERE = Path(__file__).parent
Steps = Callable[[object], Awaitable[None]]


async def settle(pilot) -> None:  # noqa: ANN001
    for widget in pilot.app.query("Input"):
        widget.cursor_blink = False
    for _ in range(100):
        await pilot.pause(0.05)
        if all(w.is_finished for w in pilot.app.workers) and pilot.app._cancel is None:
            break
    await pilot.pause(0.3)


async def main_screen(pilot) -> None:  # noqa: ANN001
    await pilot.press("down", "right")


async def clustered(pilot) -> None:  # noqa: ANN001
    pilot.app.query_one("#param-k").value = "6"
    await pilot.press("c")
    await settle(pilot)
    tree = pilot.app.query_one("#tree")
    node = next(n for n in _nodes(tree) if (n.data or {}).get("kind") == "cluster")
    tree.select_node(node)


async def similar(pilot) -> None:  # noqa: ANN001
    await pilot.press("right", "s")


async def preview(pilot) -> None:  # noqa: ANN001
    await pilot.press("right", "enter")


async def help_screen(pilot) -> None:  # noqa: ANN001
    await pilot.press("question_mark")


SHOTS: dict[str, tuple[Steps, tuple[int, int]]] = {
    "main": (main_screen, (160, 48)),
    "clusters": (clustered, (160, 48)),
    "similar": (similar, (160, 48)),
    "preview": (preview, (160, 48)),
    "help": (help_screen, (160, 48)),
    "main-80x24": (main_screen, (80, 24)),
}


def _nodes(tree) -> list:  # noqa: ANN001
    found, stack = [], [tree.root]
    while stack:
        node = stack.pop(0)
        found.append(node)
        stack.extend(node.children)
    return found


async def take(project: Path, name: str, steps: Steps, size: tuple[int, int]) -> None:
    app = PlancheApp(project, images=ImageMode("halfcell"))
    async with app.run_test(size=size) as pilot:
        await settle(pilot)
        await steps(pilot)
        await settle(pilot)
        app.save_screenshot(filename=f"{name}.svg", path=str(HERE))


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="planche-shots-") as tmp:
        folder = Path(tmp) / "demo-images"
        build_demo_folder(folder)
        project = Path(tmp) / "demo.duckdb"
        import_folder(folder, project, embedder=load_embedder("pixels"))
        for name, (steps, size) in SHOTS.items():
            asyncio.run(take(project, name, steps, size))
            print(f"wrote screenshots/{name}.svg")
        shutil.rmtree(Path(tmp) / "demo.duckdb.planche", ignore_errors=True)


if __name__ == "__main__":
    main()
