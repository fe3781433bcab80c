"""`planche embed-shards` and `planche ingest`: embedding beyond one machine.

embed-shards runs on a Ray cluster (or a local Ray) and writes Parquet
shards; it touches no project. ingest loads shards into a project, as one
journaled command.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from planche.core.progress import CancelToken
from planche.core.shards import DEFAULT_SHARD_FILES, EmbedderOptions, embed_to_shards
from planche.core.text import count, printable
from planche.tui.cli.common import (
    EMBEDDERS,
    add_command,
    add_embedder_options,
    run_command,
    stop_on_ctrl_c,
)
from planche.tui.cli.output import FAILURES_SHOWN, ProgressReporter, emit, say


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    emb = add_command(
        subparsers,
        common,
        "embed-shards",
        run_embed_shards,
        help="embed many images on a Ray cluster into Parquet shards (no project needed)",
        description="Read, decode and embed every image SOURCE names on a Ray cluster "
        "(--address, else $RAY_ADDRESS, else a local Ray started for this run), one model "
        "per worker, and write Parquet shards into --out: path, sha256, size, thumbnail, "
        "vector and the model, or the reason a file failed. Run it again to continue: files "
        "already in a shard of --out are skipped. Load the shards with `planche ingest`. "
        "--project is not used. Needs the cluster extra: pip install 'planche[cluster]'.",
    )
    emb.add_argument(
        "source", type=Path, metavar="SOURCE",
        help="a folder, a text file with one path per line, or a Parquet/CSV file with a "
        "'path' column",
    )  # fmt: skip
    options = (
        ("--out", Path, None, "where the shards go (on a cluster: a folder every node sees)"),
        ("--address", str, None, "a running Ray cluster (default: $RAY_ADDRESS, else a local Ray)"),
        ("--workers", int, 2, "model workers (default: 2)"),
        ("--cpus-per-worker", float, 1.0, "CPUs each worker takes (default: 1)"),
        ("--gpus-per-worker", float, 0.0, "GPUs each worker takes, 0.5 shares one (default: 0)"),
        ("--shard-files", int, DEFAULT_SHARD_FILES, "files in each shard (default: %(default)s)"),
    )  # fmt: skip
    for flag, kind, default, help in options:
        metavar = {"--out": "FOLDER", "--address": "ADDR"}.get(flag, "N")
        emb.add_argument(flag, type=kind, default=default, required=flag == "--out",
                         metavar=metavar, help=help)  # fmt: skip
    add_embedder_options(emb, choices=EMBEDDERS, default="clip")
    for action in emb._actions:  # each worker picks its own device
        if action.dest == "device":
            action.help = argparse.SUPPRESS

    ing = add_command(
        subparsers,
        common,
        "ingest",
        run_ingest,
        help="load shards written by embed-shards into a project",
        description="Load the shards in SHARDS into the project (created if missing) in one "
        "transaction: new images by content, their files, thumbnails and vectors; failed "
        "files as import errors. Shards of a model that has the name of one of the "
        "project's models but other weights are refused.",
    )
    ing.add_argument("shards", type=Path, metavar="SHARDS", help="the folder of shards")


def run_embed_shards(args: argparse.Namespace) -> int:
    options = EmbedderOptions(
        embedder=args.embedder, model=args.model, pretrained=args.pretrained,
        weights=str(args.weights.expanduser().absolute()) if args.weights else None,
        precision=args.precision, batch_size=args.batch_size,
    )  # fmt: skip
    reporter = ProgressReporter(label="embed-shards", unit="files")
    cancel = CancelToken()
    try:
        with stop_on_ctrl_c(cancel):
            summary = embed_to_shards(
                args.source, args.out, options, workers=args.workers,
                cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker,
                shard_files=args.shard_files, address=args.address, progress=reporter,
                cancel=cancel,
            ).as_dict()  # fmt: skip
    finally:
        reporter.close()
    emit(args, summary, text=lambda: _print_run(summary))
    return 130 if summary["cancelled"] else 0


def _print_run(summary: dict[str, Any]) -> None:
    stopped = " (stopped early: run the same command again to continue)"
    say(
        f"Embedded {summary['embedded']:,} files into {printable(summary['out'])} with "
        f"{printable(summary['model'])} on {count(summary['workers'], 'worker')} in "
        f"{summary['seconds']:.1f} s ({summary['images_per_s']:.1f} files/s)"
        + (stopped if summary["cancelled"] else "")
    )
    say(
        f"  {count(summary['listed'], 'file')} listed: {summary['already']:,} already in a "
        f"shard, {len(summary['failed']):,} failed, {count(summary['shards'], 'shard')} written"
    )
    _print_failures(summary["failed"])
    if summary["shards"]:
        say(f"  Next: planche ingest {printable(summary['out'])} --project PROJECT")


def run_ingest(args: argparse.Namespace) -> int:
    params = {"shards": str(args.shards.expanduser().absolute())}
    outcome = run_command(args, "ingest", params, label="ingest", unit="rows")
    emit(args, outcome, text=lambda: _print_ingest(outcome))
    return 0


def _print_ingest(outcome: dict[str, Any]) -> None:
    say(
        f"Ingested {count(outcome['shards'], 'shard')} with {printable(outcome['model'])}: "
        f"{count(outcome['new_images'], 'new image')}, {outcome['vectors']:,} vectors"
    )
    say(
        f"  {count(outcome['files'], 'file')} stored, {outcome['unchanged_files']:,} unchanged, "
        f"{outcome['known_images']:,} with content the project had, "
        f"{outcome['failed']:,} failed (`planche errors` lists them)"
    )


def _print_failures(failed: list[dict[str, str]]) -> None:
    if not failed:
        return
    say("  Failed:", style="bold red")
    for item in failed[:FAILURES_SHOWN]:
        say(f"    {printable(item['path'])}\n      {printable(item['reason'])}")
    if len(failed) > FAILURES_SHOWN:
        say(f"    ... and {len(failed) - FAILURES_SHOWN} more (--json lists them all)")
