"""`planche map`: lay out a scope's images on a plane, keep it, draw it into a PNG."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import numpy as np

from planche.core import read
from planche.core.errors import BadParameter
from planche.core.text import count, printable
from planche.tui.cli.common import EMBEDDERS, add_command, run_command
from planche.tui.cli.output import emit, say

DEFAULT_SIZE = (1600, 1200)
MIN_SIDE, MAX_SIDE = 200, 10_000


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    run = add_command(
        subparsers,
        common,
        "map",
        run_map,
        help="lay out the images on a plane (PCA or neighbour-preserving); --png draws it",
        description="Project one model's vectors of a scope onto a plane and keep the map in "
        "the project. PCA by default (fitted on a sample, applied to all); --method "
        "neighbours keeps neighbourhoods better. Beside it, the neighbour preservation: the "
        "share of each image's 10 nearest neighbours that stay among its 10 nearest on the "
        "plane. Run again, it reuses the stored map, or places only the images added since.",
    )
    run.add_argument("--scope", default="all", metavar="SCOPE",
                     help="all (default), folder:PATH, tag:ID or cluster:ID")  # fmt: skip
    run.add_argument("--method", default="pca", choices=read.MAP_METHODS, help="default: pca")
    run.add_argument("--seed", type=int, default=0, help="random seed of the sample (default 0)")
    run.add_argument("--sample", type=int, default=None,
                     help="fit on at most this many images (default 20,000 for pca, "
                     "100,000 for neighbours)")  # fmt: skip
    run.add_argument("--recompute", action="store_true",
                     help="compute afresh even when the stored map fits")  # fmt: skip
    run.add_argument("--embedder", choices=EMBEDDERS, help="map these vectors")
    run.add_argument("--model-id", type=int, help="map the vectors of this model id")
    png = run.add_argument_group("drawing")
    png.add_argument("--png", type=Path, metavar="OUT.png", help="draw the map into a PNG")
    png.add_argument("--thumbnails", action="store_true",
                     help="draw thumbnails where they fit without overlapping")  # fmt: skip
    png.add_argument(
        "--color-by", "--colour-by", dest="color_by", metavar="WHAT",
        help="clustering:ID (by cluster) or tag:PROPERTY (by top-level tag)",
    )  # fmt: skip
    png.add_argument("--size", default=f"{DEFAULT_SIZE[0]}x{DEFAULT_SIZE[1]}", metavar="WxH",
                     help="size of the PNG in pixels (default %(default)s)")  # fmt: skip


def parse_scope(text: str) -> tuple[str, str | int | None]:
    """`all`, `folder:PATH`, `tag:ID`, `cluster:ID` -> (scope, scope_ref)."""
    kind, sep, ref = text.partition(":")
    if kind == "all" and not sep:
        return "all", None
    if kind == "folder" and ref:
        return "folder", str(Path(ref).expanduser().absolute())
    if kind in ("tag", "cluster") and ref.isdigit():
        return kind, int(ref)
    raise BadParameter("scope", text, "all, folder:PATH, tag:ID or cluster:ID")


def parse_size(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"(\d+)[xX](\d+)", text.strip())
    if found:
        width, height = int(found[1]), int(found[2])
        if MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE:
            return width, height
    raise BadParameter("size", text, f"WIDTHxHEIGHT in pixels, each from {MIN_SIDE} to {MAX_SIDE}")


def parse_color_by(text: str) -> tuple[str, str | int]:
    kind, sep, ref = text.partition(":")
    if kind == "clustering" and ref.isdigit():
        return kind, int(ref)
    if kind == "tag" and ref:
        return kind, ref
    raise BadParameter("color-by", text, "clustering:ID or tag:PROPERTY")


def run_map(args: argparse.Namespace) -> int:
    scope, scope_ref = parse_scope(args.scope)
    if args.png is None:
        for option, given in (("thumbnails", args.thumbnails), ("color-by", args.color_by)):
            if given:
                raise BadParameter(option, given, "nothing without --png OUT.png")
    size = parse_size(args.size)
    color_by = parse_color_by(args.color_by) if args.color_by else None
    params = {
        "scope": scope,
        "scope_ref": scope_ref,
        "method": args.method,
        "seed": args.seed,
        "sample": args.sample,
        "recompute": args.recompute,
        "embedder": args.embedder,
        "model_id": args.model_id,
    }
    outcome = run_command(args, "map", params, label="map", unit="images")
    result = {k: v for k, v in outcome.items() if k != "journal_seq"}
    if args.png is not None:
        result["drawing"] = draw_png(args.project, outcome["map_id"], args.png, size, color_by,
                                     args.thumbnails, args.seed)  # fmt: skip
    emit(args, result, text=lambda: print_map(result))
    return 0


def quality_text(quality: float | None, k: int = 10) -> str:
    if quality is None:
        return "neighbour preservation not measured"
    return f"neighbour preservation {quality:.2f} ({k}-NN kept on the plane)"


def print_map(result: dict[str, Any]) -> None:
    k = result.get("params", {}).get("quality_k", 10)
    method = "PCA" if result["method"] == "pca" else "neighbours"
    line = (
        f"Map {result['map_id']} of {printable(result['scope'])}: "
        f"{count(result['points'], 'point')}, {method}, {quality_text(result['quality'], k)}"
        f" [{printable(result['model'])}]"
    )
    say(line)
    if result["reused"]:
        say("  the stored map: nothing changed since it was made (--recompute makes it afresh)")
    elif result["extended"]:
        say(f"  placed {count(result['added'], 'new image')} on the stored map; the others "
            f"stay where they were ({result['seconds']:.1f} s)")  # fmt: skip
    else:
        say(f"  computed in {result['seconds']:.1f} s and stored")
    drawing = result.get("drawing")
    if drawing:
        width, height = drawing["size"]
        extra = f", {count(drawing['thumbnails'], 'thumbnail')}" if drawing["thumbnails"] else ""
        say(f"  drawn into {printable(drawing['png'])} ({width}x{height}{extra})")


def draw_png(
    project: Path,
    map_id: int,
    out: Path,
    size: tuple[int, int],
    color_by: tuple[str, str | int] | None,
    thumbnails: bool,
    seed: int,
) -> dict[str, Any]:
    from planche.tui.cli import map_png

    data = read.map_data(project, map_id)
    colouring = None
    if color_by is not None:
        kind, ref = color_by
        if kind == "clustering":
            categories = read.cluster_of_images(project, int(ref), data.image_ids)
            legend = [
                (idx, f"{idx} {label}".strip(), size)
                for idx, label, size in read.clustering_legend(project, int(ref))
            ]
            title, none_name = f"clustering {ref}", "in none of its clusters"
        else:
            categories = read.tag_of_images(project, ref, data.image_ids)
            legend = read.tag_legend(project, ref)
            title, none_name = f"tags of {ref}", "without one"
        present = dict(zip(*np.unique(categories, return_counts=True), strict=True))
        legend = [(c, name, int(present[c])) for c, name, _ in legend if c in present]
        colouring = map_png.Colouring(title, categories, legend, none_name)
    k = data.params.get("quality_k", 10)
    method = "PCA" if data.method == "pca" else "neighbours"
    title = (
        f"{data.scope} · {count(len(data.image_ids), 'image')} · {method} · {data.model} · "
        f"{quality_text(data.quality, k)}"
    )
    thumbs = (lambda ids: read.thumbnails(project, ids)) if thumbnails else None
    drawn = map_png.render(out, data.xy, data.image_ids, size, title, colouring, thumbs, seed)
    if colouring is not None:
        drawn["colour_by"] = colouring.title
    return drawn
