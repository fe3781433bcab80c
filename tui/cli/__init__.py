"""The `planche` command line.

Every subcommand takes `--project PATH` and `--json`. With `--json` the result
is one JSON document on stdout and progress goes to stderr, so scripts can pipe
it. Errors meant for the user (`PlancheError`) print one line and exit with a
non-zero status; they never show a traceback.

One module per command group, each with `add_parsers(subparsers, common)` and
its run functions: app (open), importing (import, embed, demo), shards
(embed-shards, ingest), searching (search), clustering (cluster, clusters,
delete-clustering, save-clustering), dedupe (dedupe), mapping (map, with
--png drawn by map_png), tagging (tags), properties (properties, set, images,
export, import-csv), journal (history, undo, redo, replay) and project (info,
errors, models). `common` holds the shared options and the way a command is
run; `output` everything printed. They reach core only through
`planche.core.commands` (changes, and search), `planche.core.read` (queries),
`planche.core.session` and the small shared modules (errors, progress, text).

This package imports only core and Rich at start-up: `planche info` must stay
fast, and the Textual app is loaded only by the subcommand that opens it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version

from planche.core.errors import Cancelled, PlancheError
from planche.tui.cli import (
    app,
    clustering,
    dedupe,
    importing,
    journal,
    mapping,
    project,
    properties,
    searching,
    shards,
    tagging,
)
from planche.tui.cli.common import common_parser, default_project
from planche.tui.cli.output import note

__all__ = ["build_parser", "main"]

GROUPS = (
    app, importing, shards, searching, clustering, dedupe, mapping, tagging, properties, journal,
    project,
)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    names = _command_names(parser)
    if not argv and default_project().exists():
        argv = ["open"]
    elif argv and argv[0] not in names and argv[0] not in ("-h", "--help", "--version"):
        argv = ["open", *argv]  # `planche PROJECT_OR_FOLDER [--images M]` opens the app
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except BrokenPipeError:
        # `planche info --json | head -1`: the reader left, which is not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Cancelled as exc:
        return _fail(args, str(exc), exc.exit_code, style="yellow")
    except PlancheError as exc:
        return _fail(args, str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130, style="yellow")
    except Exception as exc:  # a bug: say so in one line unless asked for the traceback
        if os.environ.get("PLANCHE_DEBUG"):
            raise
        message = (
            f"internal error: {type(exc).__name__}: {exc}\n"
            "Run again with PLANCHE_DEBUG=1 for the traceback, and please report it."
        )
        return _fail(args, message, 1)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="planche",
        description="Explore large image collections by meaning, from the terminal.",
        epilog="Run `planche COMMAND --help` for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"planche {version('planche')}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    common = common_parser()
    for group in GROUPS:
        group.add_parsers(subparsers, common)
    return parser


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    for action in parser._actions:  # argparse keeps subcommands only here
        if isinstance(action, argparse._SubParsersAction):
            return set(action.choices)
    return set()


def _fail(args: argparse.Namespace, message: str, code: int, style: str = "red") -> int:
    """One readable message on stderr; with --json, the same as a JSON object on stdout."""
    lines = message.splitlines() or [""]
    note(f"planche: {lines[0]}", *lines[1:], style=style)
    if getattr(args, "json", False):
        print(json.dumps({"error": message, "exit_code": code}))
    return code
