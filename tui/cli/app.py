"""`planche open` (and `planche PATH`): the Textual app on a project or a folder."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from planche.core.errors import PlancheError
from planche.tui.cli.common import add_command, default_project
from planche.tui.images import MODES


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    app = add_command(
        subparsers,
        common,
        "open",
        run_open,
        help="open the app on a project or a folder (also: planche PATH)",
        description="Open the planche app. PATH is a project file, or a folder of images: "
        "a folder gets a project inside it (.planche.duckdb), imported with a progress bar; "
        "with --project, the folder is offered for import into that project instead.",
    )
    app.add_argument("target", nargs="?", type=Path, metavar="PATH",
                     help="project file or folder (default: --project)")  # fmt: skip
    app.add_argument("--images", choices=MODES, default="auto",
                     help="how pictures are drawn (default: auto, from probing the terminal). "
                     "The grid follows it: tgp draws sharp thumbnails with kitty graphics "
                     "through Unicode placeholders (kitty 0.28+, also inside tmux with "
                     "allow-passthrough on, and over SSH); sixel draws sixel thumbnails "
                     "outside tmux (half-cells inside it, which keeps few sixels); halfcell "
                     "and none draw half-cell thumbnails; the preview uses the protocol "
                     "itself")  # fmt: skip


def run_open(args: argparse.Namespace) -> int:
    from planche.tui.app import run_app

    target = (args.target or args.project).expanduser()
    import_folder = None
    if target.is_dir() and args.project != default_project():
        # A folder and a project named with --project: the folder is offered for
        # import into that project (made if new, added to if not).
        project, import_folder = args.project.expanduser(), target
    elif target.is_dir():
        # A folder that is not a project yet: it gets one inside, hidden, and
        # the app opens by importing it.
        project = target / ".planche.duckdb"
        import_folder = None if project.exists() else target
    else:
        project = target
        if not project.exists():
            raise PlancheError(
                f"no project at {project}: open a folder of images to create one "
                f"(`planche ~/Pictures`, or `planche open FOLDER --project {project}`)"
            )
    run_app(project.absolute(), images=args.images, import_folder=import_folder)
    return 0
