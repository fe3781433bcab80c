"""`planche import`, `planche embed` and `planche demo`: images and vectors in."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from planche.core import read
from planche.core.errors import BadParameter, WeightsUnavailable
from planche.core.session import Session
from planche.core.text import printable
from planche.tui.cli.common import (
    EMBEDDERS,
    add_command,
    add_embedder_options,
    add_import_options,
    embedder_options,
    load_embedder,
    run_command,
)
from planche.tui.cli.output import emit, note, print_embed, print_import, print_info, say


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    imp = add_command(
        subparsers,
        common,
        "import",
        run_import,
        help="import a folder of images into a project",
        description="Import every image under FOLDER (recursively) into the project, "
        "creating it if needed. Files already imported and unchanged are skipped; bad "
        "files are listed with their reason and the rest is imported. Ctrl-C stops "
        "cleanly: run the same command again to continue.",
    )
    imp.add_argument("folder", type=Path, metavar="FOLDER", help="the folder to import")
    imp.add_argument(
        "--prune",
        action="store_true",
        help="forget files under FOLDER that are gone from disk (and images left without a "
        "file, with their tags and vectors); without it they are only counted",
    )
    add_import_options(imp)
    add_embedder_options(imp, choices=(*EMBEDDERS, "none"), default="clip")

    emb = add_command(
        subparsers,
        common,
        "embed",
        run_embed,
        help="give every image of a project a vector from a model",
        description="Embed the images that have no vector yet for the chosen model "
        "(several models can live in one project). Interrupted runs continue where "
        "they stopped.",
    )
    add_embedder_options(emb, choices=EMBEDDERS, default="clip")
    emb.add_argument("--workers", type=int, default=None, help="decoding threads")

    demo = add_command(
        subparsers,
        common,
        "demo",
        run_demo,
        help="build the demo folder from bundled photos and import it",
        description="Write a demo folder of real photos (shipped inside scikit-image and "
        "scikit-learn; see its SOURCES.md), with a few near-duplicates and bad files, "
        "import it and summarise the project.",
    )
    demo.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="where to write the demo images (default: demo-images beside the project)",
    )
    add_import_options(demo)
    add_embedder_options(demo, choices=(*EMBEDDERS, "auto"), default="auto")


def run_import(args: argparse.Namespace) -> int:
    if args.embedder == "none":
        for option in ("model", "pretrained", "weights", "batch_size"):
            if getattr(args, option) is not None:
                raise BadParameter(option, getattr(args, option), "nothing with --embedder none")
    summary = _import(args, Session(args.project), args.folder, args.embedder)
    emit(args, summary, text=lambda: print_import(summary, summary["embedding"]))
    return _exit_code(summary, summary["embedding"])


def run_embed(args: argparse.Namespace) -> int:
    read.project_info(args.project)  # a missing or unusable project is said before loading a model
    session = Session(args.project)
    options = embedder_options(args)
    load_embedder(session, args.embedder, options)
    params = {"embedder": args.embedder, **options, "workers": args.workers}
    summary = run_command(args, "embed", params, label="embed", unit="images", session=session)
    emit(args, summary, text=lambda: print_embed(summary))
    return _exit_code(summary)


def run_demo(args: argparse.Namespace) -> int:
    from planche.core import demo

    project = args.project.expanduser().absolute()
    folder = (args.folder or project.parent / "demo-images").expanduser().absolute()
    if not folder.exists():
        made = demo.build_demo_folder(folder)
        if not args.json:
            say(
                f"Wrote the demo folder {printable(str(folder))}: {made.images} images from "
                f"{made.sources} photos, {made.near_duplicates} near-duplicates, "
                f"{made.bad_files} bad files (see SOURCES.md there)."
            )
    session = Session(args.project)
    summary = _import(args, session, folder, _demo_embedder(args, session))
    embedded = summary.pop("embedding")
    info = read.project_info(project)
    report = {"import": summary, "embedding": embedded, "project": info}

    def text() -> None:
        print_import(summary, embedded)
        print_info(info)

    emit(args, report, text=text)
    return _exit_code(summary, embedded)


def _import(
    args: argparse.Namespace, session: Session, folder: Path, embedder: str
) -> dict[str, Any]:
    """Import `folder` with `embedder` (a kind, or "none"), loading its model first."""
    options = embedder_options(args)
    if embedder != "none":
        load_embedder(session, embedder, options)
    params = {
        "folder": str(folder.expanduser().absolute()),
        "embedder": embedder,
        **options,
        "workers": args.workers,
        "max_pixels": args.max_pixels,
        "prune": getattr(args, "prune", False),
    }
    return run_command(args, "import", params, label="import", session=session)


def _demo_embedder(args: argparse.Namespace, session: Session) -> str:
    """The embedder the demo uses: the one asked for, or with auto, CLIP when its
    weights are here and pixels (said on stderr) when they are not."""
    if args.embedder != "auto":
        return args.embedder
    try:
        load_embedder(session, "clip", embedder_options(args))
        return "clip"
    except WeightsUnavailable:
        pass  # any other error (a bad option) is the user's to see
    note(
        "CLIP weights are not on this machine and cannot be downloaded: this demo uses the "
        "pixels embedder (near-duplicates, no text search). Give --weights PATH to use CLIP.",
        style="yellow",
    )
    return "pixels"


def _exit_code(*summaries: dict[str, Any] | None) -> int:
    """130 when the work was stopped early (Ctrl-C), else 0."""
    return 130 if any(s and s.get("cancelled") for s in summaries) else 0
