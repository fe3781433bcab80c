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
    tags.add_argument("--delete-property", metavar="NAME", help="with its tags (undoable)")
    tags.add_argument("--rename", metavar="PROPERTY/TAG=NAME",
                      help="rename a tag (or a property: PROPERTY=NAME)")  # fmt: skip
    tags.add_argument("--move", nargs=2, metavar=("PROPERTY/TAG", "PROPERTY[/PARENT]"),
                      help="put a tag (with those below) under another, or at the top")  # fmt: skip
    tags.add_argument("--merge", nargs=2, metavar=("PROPERTY/TAG", "PROPERTY/INTO"),
                      help="its images and children join the other tag; it goes")  # fmt: skip
    tags.add_argument("--delete", metavar="PROPERTY/TAG", help="a tag and those below it")


def run_tags(args: argparse.Namespace) -> int:
    for spec in args.add:
        prop, *path = [part.strip() for part in spec.split("/")]
        if not prop or not path or not all(path):
            raise BadParameter("add", spec, "PROPERTY/TAG or PROPERTY/PARENT/TAG")
        run_command(args, "tag", {"property": prop, "path": path, "images": []}, label="tag")
    if args.delete_property:
        run_command(args, "delete_property", {"name": args.delete_property}, label="tags")
    _edit(args)
    listing = read.tag_tree(args.project, members=args.json)
    emit(args, listing, text=lambda: print_tags(listing))
    return 0


def _edit(args: argparse.Namespace) -> None:
    """--rename, --move, --merge and --delete, each one undoable command."""
    tag = lambda spec: read.tag_id_for(args.project, spec)  # noqa: E731 - local shorthand
    if args.rename:
        old, sep, new = args.rename.rpartition("=")
        if not sep or not old.strip() or not new.strip():
            raise BadParameter("rename", args.rename, "PROPERTY/TAG=NAME or PROPERTY=NAME")
        if "/" in old:
            run_command(args, "rename_tag", {"tag_id": tag(old), "name": new}, label="tags")
        else:
            run_command(args, "rename_property", {"name": old.strip(), "new_name": new},
                        label="tags")  # fmt: skip
    if args.move:
        moved, target = args.move
        parent = tag(target) if "/" in target else None
        if parent is None and target.strip() != moved.split("/")[0].strip():
            raise BadParameter("move", target, "PROPERTY/PARENT, or the tag's own PROPERTY to "
                               "put it at the top")  # fmt: skip
        run_command(args, "move_tag", {"tag_id": tag(moved), "parent_id": parent}, label="tags")
    if args.merge:
        run_command(args, "merge_tag", {"tag_id": tag(args.merge[0]),
                                        "into": tag(args.merge[1])}, label="tags")  # fmt: skip
    if args.delete:
        run_command(args, "delete_tag", {"tag_id": tag(args.delete)}, label="tags")
