"""`planche tags`: list tag properties and their tags; add or delete them."""

from __future__ import annotations

import argparse
from typing import Any

from planche.core import read
from planche.core.errors import BadParameter
from planche.tui.cli.common import add_command, run_command
from planche.tui.cli.output import emit, print_tags


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    tags = add_command(
        subparsers,
        common,
        "tags",
        run_tags,
        help="list tag properties and tags; add or delete them",
        description="Without options, list every property with its tag tree. --add "
        '"Property/parent/child" creates the tags along the path.',
    )
    tags.add_argument("--add", action="append", default=[], metavar="PROPERTY/TAG[/TAG...]")
    tags.add_argument("--delete-property", metavar="NAME")


def run_tags(args: argparse.Namespace) -> int:
    for spec in args.add:
        prop, *path = [part.strip() for part in spec.split("/")]
        if not prop or not path or not all(path):
            raise BadParameter("add", spec, "PROPERTY/TAG or PROPERTY/PARENT/TAG")
        run_command(args, "tag", {"property": prop, "path": path, "images": []}, label="tag")
    if args.delete_property:
        run_command(args, "delete_property", {"name": args.delete_property}, label="tags")
    listing = read.tag_tree(args.project)
    emit(args, listing, text=lambda: print_tags(listing))
    return 0
