"""`planche dedupe`: the duplicate groups, the file each keeps and why, and an
action on the others (trash, move, links, tag), with a dry run and undo."""

from __future__ import annotations

import argparse
from typing import Any

from planche.core.text import count, printable
from planche.tui.cli.common import EMBEDDERS, add_command, run_command
from planche.tui.cli.output import emit, say

DESCRIPTION = """\
Find the groups of near-duplicate images (as `planche cluster --strategy duplicates`,
without storing a clustering, or the groups of a stored one with --clustering),
choose the file to keep in each by rules, and act on the others. Without --action
the groups are only listed; with --dry-run the action is checked file by file and
listed, and nothing changes. Every file is re-checked (size, modification time,
content) just before it is touched: one that changed since it was imported, is
gone, or cannot be moved is listed with the reason and left as it is, and the run
goes on. `planche undo` puts every file back where it was."""

EPILOG = """\
keeper rules (--keep, in order, each breaking the ties of those before):
  shape           the shape most of the group has (not a stretched or cut copy)
  resolution      the most pixels
  size            the largest file
  oldest, newest  by date taken (EXIF), else modification time
  shortest-path   the shortest path
  folder:DIR      a file inside DIR
  pattern:GLOB    a path matching GLOB (on the file name when GLOB has no /)
  default: shape,resolution,size,oldest,shortest-path; ties left: the first by path

actions (--action):
  trash           to the freedesktop trash ($XDG_DATA_HOME/Trash)
  move:DIR        into DIR, keeping each path relative to its imported folder
  hardlink        replace by a hard link to the keeper (same device only)
  symlink         replace by a symbolic link to the keeper
                  (links: the replaced file goes to the trash, so undo restores it)
  tag[:PROP/TAG]  only tag them (default Duplicates/copy)

Files in a --reference folder are always kept; a group with one keeps one of them."""


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_command(
        subparsers, common, "dedupe", run_dedupe,
        help="keep one file of each duplicate group by rules; trash, move or link the others",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    groups = sub.add_mutually_exclusive_group()
    groups.add_argument(
        "--clustering", type=int, metavar="ID",
        help="the groups of this duplicates clustering (`planche clusters`)",
    )  # fmt: skip
    groups.add_argument(
        "--threshold", type=float, metavar="T",
        help="cosine at least T (default: the embedder's, 0.95 for pixels)",
    )  # fmt: skip
    sub.add_argument("--embedder", choices=EMBEDDERS, help="find the groups with these vectors")
    sub.add_argument("--invariance", choices=("none", "mirror", "rotate", "all"),
                     help="also find mirrored or turned copies (all: both)")  # fmt: skip
    sub.add_argument("--keep", action="append", default=[], metavar="RULE,...",
                     help="keeper rules in order (see below)")  # fmt: skip
    sub.add_argument("--reference", action="extend", nargs="+", default=[], metavar="DIR",
                     help="folders whose files are always kept, never touched")  # fmt: skip
    sub.add_argument("--action", metavar="ACTION",
                     help="trash, move:DIR, hardlink, symlink or tag[:PROP/TAG]")  # fmt: skip
    sub.add_argument("--dry-run", action="store_true",
                     help="check and list what the action would do, changing nothing")  # fmt: skip


def run_dedupe(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {
        "clustering_id": args.clustering,
        "threshold": args.threshold,
        "embedder": args.embedder,
        "invariance": args.invariance,
        "reference": args.reference,
        "action": args.action,
    }
    if args.keep:
        params["keep"] = args.keep
    listing = args.dry_run or not args.action
    name = "dedupe_plan" if listing else "dedupe"
    outcome = run_command(args, name, params, label="dedupe")
    emit(args, outcome, text=lambda: print_dedupe(outcome))
    return 0


def print_dedupe(outcome: dict[str, Any]) -> None:
    for note in outcome["notes"]:
        say(printable(note), style="yellow")
    for group in outcome["groups"]:
        _print_group(group)
    counts = outcome["counts"]
    parts = [f"{n} {status}" for status, n in counts.items() if status not in ("groups", "files")]
    summary = (
        f"{count(counts['groups'], 'group')}, {count(counts['files'], 'file')}"
        + (f": {', '.join(parts)}" if parts else "")
        + "."
    )
    if not outcome["action"]:
        summary += " Nothing was changed (choose an --action)."
    elif outcome["dry_run"]:
        summary += " Dry run: nothing was changed."
    elif outcome["cancelled"]:
        summary += " Stopped early; `planche undo` puts back what was done."
    elif outcome["action"].startswith("tag"):
        summary += " `planche undo` takes the tags back."
    else:
        summary += " `planche undo` puts every file back."
    say(summary, style="bold")


def _print_group(group: dict[str, Any]) -> None:
    files = group["files"]
    if group["keeper"]:
        rule = f" [{printable(group['rule'])}]" if group["rule"] else ""
        head = (f"Group {group['group']} ({count(len(files), 'file')}): keep "
                f"{printable(group['keeper'])}: {printable(group['reason'])}{rule}")  # fmt: skip
    else:
        head = f"Group {group['group']} ({count(len(files), 'file')}): {printable(group['reason'])}"
    say(head, style="bold")
    similarities = [_similarity(f) for f in files]
    wide = max(len(s) for s in similarities)
    for f, similarity in zip(files, similarities, strict=True):
        status = "keep" if f["role"] == "keeper" else f["status"]
        if f["role"] == "reference":
            status = "reference"
        resolution = f"{f['width']}x{f['height']}"
        line = (f"  {status:<13} {f['size']:>13,} B {resolution:>11} {similarity:<{wide}}  "
                f"{printable(f['path'])}")  # fmt: skip
        if f["to"]:
            line += f" -> {printable(f['to'])}"
        say(line, style="yellow" if f["status"] in ("skipped", "left") else None)
        if f["message"]:
            say(f"  {'':<13} {printable(f['path'])}: {printable(f['message'])}", style="yellow")


def _similarity(f: dict[str, Any]) -> str:
    """The cosine to the keeper, after the turn that matched them (named): "0.981 mirrored"."""
    if f["similarity"] is None:
        return " " * 6
    text = f"{f['similarity']:>6.3f}"
    return f"{text} {f['transform']}" if f.get("transform") else text
