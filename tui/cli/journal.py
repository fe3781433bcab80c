"""`planche history`, `undo`, `redo` and `replay`: the journal of commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from planche.core import commands, read
from planche.core.errors import BadParameter
from planche.core.session import Session
from planche.core.text import count, printable
from planche.tui.cli.common import add_command
from planche.tui.cli.output import ProgressReporter, emit, note, print_history, say


def add_parsers(subparsers: Any, common: argparse.ArgumentParser) -> None:
    hist = add_command(
        subparsers,
        common,
        "history",
        run_history,
        help="show the journal of commands; --export writes a replay script",
        description="Every command run on the project, in order, with its outcome. "
        "--export FILE writes the commands still in effect as a replay script (JSON lines; "
        "images are named by content hash and clusterings by the step that made them, so "
        "the script replays on a fresh import of the same folder).",
    )
    hist.add_argument("--export", type=Path, metavar="FILE", help="write a replay script")
    for name, text, run in (
        ("undo", "undo the last change to tags, clusterings or files (dedupe)", run_undo),
        ("redo", "redo what undo took back", run_redo),
    ):
        add_command(subparsers, common, name, run, help=text, description=text + ".")
    rep = add_command(
        subparsers,
        common,
        "replay",
        run_replay,
        help="run a replay script, headless or in the app (with screenshots)",
        description="Run the steps of a script made by `planche history --export` (or "
        "written by hand) on the project, and report each step. With --app, drive the app "
        "through the same steps and save an SVG screenshot after each step that names one. "
        "A script is a program you chose to run: its import steps read the folders it "
        "names. Every step is checked before the first one runs; --dry-run lists them.",
    )
    rep.add_argument("script", type=Path, metavar="FILE")
    rep.add_argument("--app", action="store_true", help="drive the app (headless) instead")
    rep.add_argument("--screenshots", type=Path, metavar="DIR", help="where --app saves SVGs")
    rep.add_argument("--size", default="160x48", help="terminal size for --app (default 160x48)")
    rep.add_argument(
        "--dry-run",
        action="store_true",
        help="check the whole script and list every step and the folders it would read, "
        "changing nothing",
    )


def _print_plan(listing: list[dict[str, Any]]) -> None:
    for step in listing:
        say(f"step {step['step']:>3}  {step['command']:<18} {printable(step['does'])}")
        shown = json.dumps(step.get("params", {}), ensure_ascii=False, default=str)
        if len(shown) > 2:
            say(f"       {printable(shown if len(shown) <= 200 else shown[:199] + '…')}")
        for folder in step["reads"]:
            say(f"       reads {printable(folder)}")
    say(f"{count(len(listing), 'step')} checked; nothing was run (--dry-run).")


def run_history(args: argparse.Namespace) -> int:
    if args.export:
        steps = commands.export_script(args.project)
        commands.write_script(steps, args.export)
        emit(
            args,
            {"exported": len(steps), "file": str(args.export)},
            text=lambda: say(
                f"Wrote {count(len(steps), 'step')} to {printable(str(args.export))}."
            ),
        )
        return 0
    entries = read.journal(args.project)
    emit(args, entries, text=lambda: print_history(entries))
    return 0


def run_undo(args: argparse.Namespace) -> int:
    return _undo_redo(args, commands.undo(args.project), "undid", "Nothing to undo.")


def run_redo(args: argparse.Namespace) -> int:
    return _undo_redo(args, commands.redo(args.project), "redid", "Nothing to redo.")


def _undo_redo(
    args: argparse.Namespace, entry: dict[str, Any] | None, verb: str, nothing: str
) -> int:
    notes = entry.get("notes", []) if entry else []
    if entry is not None:
        nothing = f"{verb.capitalize()} {entry['command']} (journal entry {entry['seq']})."

    def text() -> None:
        say(nothing)
        for line in notes:
            say(f"  {printable(line)}", style="yellow")

    emit(args, {verb: entry["seq"] if entry else None, "notes": notes}, text=text)
    return 0


def run_replay(args: argparse.Namespace) -> int:
    steps = commands.read_script(args.script)
    listing = commands.plan(args.project, steps)
    if args.dry_run:
        emit(args, listing, text=lambda: _print_plan(listing))
        return 0
    folders = [folder for step in listing for folder in step["reads"]]
    if folders:
        note(f"{args.script} will read {count(len(folders), 'folder')}:", *folders)
    if args.app:
        from planche.tui.replay_app import replay_in_app

        width, _, height = args.size.partition("x")
        if not (width.isdigit() and height.isdigit()):
            raise BadParameter("size", args.size, "WIDTHxHEIGHT, e.g. 160x48")
        size = (int(width), int(height))
        shots = [str(s) for s in replay_in_app(args.project, steps, args.screenshots, size)]

        def wrote() -> None:
            for shot in shots:
                say(f"wrote {printable(shot)}")

        emit(args, {"screenshots": shots}, text=wrote)
        return 0
    report = []

    def on_step(step: dict[str, Any], outcome: dict[str, Any] | None) -> None:
        summary = commands.summary(step, outcome)
        report.append({"step": step["step"], "command": step["command"], "summary": summary})
        if not args.json:
            name = printable(str(step["command"]))
            say(f"step {step['step']:>3}  {name:<18} {printable(summary)}")

    reporter = ProgressReporter(label="replay")
    context = commands.Context(progress=reporter, session=Session(args.project))
    try:
        commands.replay(args.project, steps, context=context, on_step=on_step)
    finally:
        reporter.close()
    emit(args, report, text=lambda: None)  # the steps were printed as they ran
    return 0
