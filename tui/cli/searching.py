"""`planche search`: images by text, by image, or both."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

from planche.core import read
from planche.core.session import Session
from planche.tui.cli.common import EMBEDDERS, add_command, run_command
from planche.tui.cli.output import (
    emit,
    note,
    print_index_built,
    print_index_status,
    print_search,
)


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    find = add_command(
        subparsers,
        common,
        "search",
        run_search,
        help="find images by text, by image, or both",
        description="Find the images nearest to a query. Terms add up: --text and --image "
        "pull towards, --minus-text and --minus-image push away (each may be repeated). "
        "An image is an image id, a file of the project or any image file. Similarity is "
        "the cosine, as computed.",
    )
    find.add_argument("--text", action="append", default=[], help="a phrase to look for")
    find.add_argument("--minus-text", action="append", default=[], help="a phrase to avoid")
    find.add_argument("--image", action="append", default=[], help="an image to look like")
    find.add_argument("--minus-image", action="append", default=[], help="an image to avoid")
    find.add_argument("-k", "--k", type=int, default=20, help="how many results (default 20)")
    find.add_argument(
        "--embedder", choices=EMBEDDERS, help="search these vectors (default: CLIP if present)"
    )
    find.add_argument("--model-id", type=int, help="search the vectors of this model id")
    find.add_argument(
        "--index",
        choices=read.INDEX_KINDS,
        default="auto",
        help="exact: one matrix product; hnsw: the approximate index cached beside the "
        f"project; auto: exact below {read.HNSW_THRESHOLD:,} vectors (default)",
    )
    find.add_argument("--exact", action="store_true", help="same as --index exact")
    find.add_argument("--weights", type=Path, help="the model's weights, if they have moved")

    index = add_command(
        subparsers,
        common,
        "index",
        run_index,
        help="show or build the graph that makes search fast on a large project",
        description="Without --build: each model's vectors and the state of its search graph. "
        f"From {read.HNSW_THRESHOLD:,} vectors a search uses the graph; until it is built, "
        "searches are exact and the first one starts building it in the background. "
        "--build builds it now, with progress (Ctrl-C stops it; nothing half-built is kept).",
    )
    index.add_argument("--build", action="store_true", help="build the graph now")
    index.add_argument("--embedder", choices=EMBEDDERS, help="the model to build for")
    index.add_argument("--model-id", type=int, help="the model id to build for")


def run_search(args: argparse.Namespace) -> int:
    params = {
        "texts": args.text,
        "minus_texts": args.minus_text,
        "images": args.image,
        "minus_images": args.minus_image,
        "k": args.k,
        "embedder": args.embedder,
        "model_id": args.model_id,
        "index": "exact" if args.exact else args.index,
        "weights": str(args.weights) if args.weights else None,
    }
    # A one-shot command would exit before a thread built the graph: a
    # separate process builds it instead, and the next search uses it.
    session = Session(args.project, background_builds=False)
    result = run_command(args, "search", params, label="index", unit="vectors", session=session)
    graph = result.get("graph")
    if graph == "not built":
        pid = _build_in_background(args.project, result)
        graph = f"being built in the background by PID {pid}"
    if graph:
        note(f"planche: an exact search meanwhile; the graph for fast search is {graph} "
             "(`planche index` shows how far it has got)")  # fmt: skip
    emit(args, result, text=lambda: print_search(result))
    return 0


def _build_in_background(project: Path, result: dict[str, Any]) -> int:
    command = [sys.executable, "-m", "planche.tui.cli", "index", "--build",
               "--project", str(project), "--model-id", str(result["model_id"])]  # fmt: skip
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    return process.pid


def run_index(args: argparse.Namespace) -> int:
    if args.build:
        params = {"embedder": args.embedder, "model_id": args.model_id}
        result = run_command(args, "build_index", params, label="index", unit="vectors")
        emit(args, result, text=lambda: print_index_built(result))
        return 0
    rows = read.index_status(args.project)
    emit(args, rows, text=lambda: print_index_status(rows))
    return 0
