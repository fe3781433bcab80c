"""`planche search`: images by text, by image, or both."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from planche.core import read
from planche.tui.cli.common import EMBEDDERS, add_command, run_command
from planche.tui.cli.output import emit, print_search


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
    result = run_command(args, "search", params, label="index", unit="vectors")
    emit(args, result, text=lambda: print_search(result))
    return 0
