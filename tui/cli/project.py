"""`planche info`, `errors` and `models`: what a project and this machine hold."""

from __future__ import annotations

import argparse
from typing import Any

from planche.core import read
from planche.tui.cli.common import add_command
from planche.tui.cli.output import emit, print_errors, print_info, print_models


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    add_command(subparsers, common, "info", run_info, help="show what a project holds",
                description="Counts of images, files, import errors, models and "
                "clusterings.")  # fmt: skip
    add_command(subparsers, common, "errors", run_errors,
                help="list the files that could not be imported, with the reason",
                description="List every file recorded as failed, with the reason.")  # fmt: skip
    models = add_command(
        subparsers,
        common,
        "models",
        run_models,
        help="list the models known and which have weights on this machine",
        description="The pixels embedder, the default CLIP model and every CLIP release "
        "found in the local caches, with where its weights are; with --project, also the "
        "models that project holds vectors for.",
    )
    models.add_argument(
        "--all", action="store_true", help="list every released CLIP model, found or not"
    )


def run_info(args: argparse.Namespace) -> int:
    info = read.project_info(args.project)
    emit(args, info, text=lambda: print_info(info))
    return 0


def run_errors(args: argparse.Namespace) -> int:
    errors = read.import_errors(args.project)
    emit(args, errors, text=lambda: print_errors(errors))
    return 0


def run_models(args: argparse.Namespace) -> int:
    known = read.known_models(every_release=args.all)
    in_project = read.models(args.project) if args.project.exists() else []
    emit(
        args,
        {"known": known, "project": in_project},
        text=lambda: print_models(known, args.project, in_project),
    )
    return 0
