"""What several command groups share: the common options, the embedder and
import options, and running one command with progress and Ctrl-C."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from planche.core import commands, read
from planche.core.progress import CancelToken
from planche.core.session import Session
from planche.tui.cli.output import ProgressReporter, note

DEFAULT_PROJECT = "planche.duckdb"
EMBEDDERS = tuple(read.EMBEDDER_KINDS)


def default_project() -> Path:
    return Path(os.environ.get("PLANCHE_PROJECT", DEFAULT_PROJECT))


def common_parser() -> argparse.ArgumentParser:
    """The options every subcommand takes: --project and --json."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--project",
        type=Path,
        default=default_project(),
        metavar="PATH",
        help=f"the project file (default: $PLANCHE_PROJECT or ./{DEFAULT_PROJECT})",
    )
    common.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    return common


def add_command(
    subparsers: Any,
    common: argparse.ArgumentParser,
    name: str,
    run: Callable[[argparse.Namespace], int],
    help: str,
    **options: Any,
) -> argparse.ArgumentParser:
    """A subcommand with the common options, run by `run(args) -> exit status`."""
    sub = subparsers.add_parser(name, parents=[common], help=help, **options)
    sub.set_defaults(run=run)
    return sub


def add_import_options(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--workers",
        type=int,
        default=None,
        help="threads reading and decoding files (default: cores + 1, at most 8)",
    )
    sub.add_argument(
        "--max-pixels",
        type=int,
        default=read.DEFAULT_MAX_PIXELS,
        help="refuse images that declare more pixels than this, as possible decompression "
        f"bombs (default: {read.DEFAULT_MAX_PIXELS:,}, about 179 megapixels)",
    )


def add_embedder_options(
    sub: argparse.ArgumentParser, *, choices: tuple[str, ...], default: str
) -> None:
    group = sub.add_argument_group("embedding")
    extra = {
        "none": " none imports without embedding.",
        "auto": " auto uses CLIP when its weights are here, else says so and uses pixels.",
    }
    group.add_argument(
        "--embedder",
        choices=choices,
        default=default,
        help="clip: meaning, text search (default model ViT-B-32/openai); pixels: weight-free, "
        "near-duplicates only."
        + "".join(extra[c] for c in choices if c in extra)
        + " (default: %(default)s)",
    )
    group.add_argument("--model", help="open_clip model name, or hf-hub:ORG/REPO")
    group.add_argument("--pretrained", help="open_clip weights tag (default: openai)")
    group.add_argument(
        "--weights",
        type=Path,
        help="a local checkpoint (.safetensors/.bin/.pt) or a folder with open_clip_config.json",
    )
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    group.add_argument("--precision", default="auto", help="auto, fp32, bf16 or fp16")
    group.add_argument("--batch-size", type=int, default=None, help="images per model call")


def embedder_options(args: argparse.Namespace) -> dict[str, Any]:
    """The embedder options of `add_embedder_options`, as command parameters."""
    return {
        "model": args.model,
        "pretrained": args.pretrained,
        "weights": str(args.weights) if args.weights else None,
        "device": args.device,
        "precision": args.precision,
        "batch_size": args.batch_size,
    }


def load_embedder(session: Session, name: str, options: dict[str, Any]) -> None:
    """Load the embedder into the session now: missing weights stop a command in
    seconds, before a long import; the command then finds it loaded."""
    session.embedder(name, **options)


@contextmanager
def stop_on_ctrl_c(cancel: CancelToken) -> Iterator[None]:
    """First Ctrl-C: finish the batch in hand and stop cleanly. Second: stop now."""

    def first(_signum: int, _frame: object) -> None:
        cancel.cancel()
        note("planche: stopping after the current batch (Ctrl-C again to stop at once)",
             style="yellow")  # fmt: skip
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = signal.signal(signal.SIGINT, first)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_command(
    args: argparse.Namespace,
    name: str,
    params: dict[str, Any],
    *,
    label: str,
    unit: str = "files",
    session: Session | None = None,
) -> dict[str, Any]:
    """Run one command through the journaled command layer, with progress and Ctrl-C."""
    reporter = ProgressReporter(label=label, unit=unit)
    cancel = CancelToken()
    context = commands.Context(
        progress=reporter, cancel=cancel, session=session or Session(args.project)
    )
    try:
        with stop_on_ctrl_c(cancel):
            return commands.run(args.project, name, params, context)
    finally:
        reporter.close()
