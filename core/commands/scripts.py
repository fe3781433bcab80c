"""Replay scripts: export the journal as one, check one whole, replay it.

A script is JSON lines: a header, then one step per line
(`{"step": 2, "command": "cluster", "params": {...}}`), where references are
symbolic (refs.py). `keys` steps (keys to press) are for the app only. A
script is a program the user chose to run: it can import any folder it
names, so `plan` lists every folder and file each step would read, and
`validate` checks every step (command, parameter types and sizes,
references) before the first one runs, so a bad script changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planche.core.commands import refs
from planche.core.commands.base import COMMANDS, Context, get_command
from planche.core.commands.journal import run
from planche.core.errors import BadParameter, PlancheError
from planche.core.store import open_store

SCRIPT_HEADER = {"planche_script": 1}
APP_ONLY = "keys"
# One step per line; a line this long holds about 900,000 image references.
MAX_LINE_BYTES = 64 * 1024 * 1024
# What earlier steps of a script can make, so that a reference to it cannot
# be checked before the script runs.
MADE_BY = {
    "image": {"import"},
    "image_term": {"import"},
    "model": {"import", "embed"},
    "tag": {"tag", "save_clustering"},
    "clustering": {"cluster"},
    "cluster": {"cluster"},
}


class ReplayError(PlancheError):
    def __init__(self, step: int, command: str, why: str) -> None:
        super().__init__(f"step {step} ({command}): {why}")
        self.step = step


def export_script(project: Path | str) -> list[dict[str, Any]]:
    """The journal's commands still in effect, as replayable steps."""
    with open_store(project, read_only=True) as store:
        entries = [e for e in store.journal()
                   if e["command"] in COMMANDS and e["status"] == "done"]  # fmt: skip
        step_of_clustering: dict[int, int] = {}
        steps = []
        for number, entry in enumerate(entries, start=1):
            spec = COMMANDS[entry["command"]]
            params = refs.to_symbolic(store, spec, entry["params"], step_of_clustering)
            steps.append({"step": number, "command": entry["command"], "params": params})
            outcome = entry["outcome"] or {}
            if entry["command"] == "cluster" and "clustering_id" in outcome:
                step_of_clustering[outcome["clustering_id"]] = number
    return steps


def write_script(steps: list[dict[str, Any]], path: Path) -> None:
    lines = [json.dumps(SCRIPT_HEADER)] + [json.dumps(step, ensure_ascii=False) for step in steps]
    try:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PlancheError(f"cannot write the script {path}: {exc.strerror or exc}") from None


def read_script(path: Path) -> list[dict[str, Any]]:
    """Steps of a script file, checked for shape; errors name the line."""
    try:
        with path.open("rb") as handle:
            raw_lines = handle.read().split(b"\n")
    except OSError as exc:
        raise BadParameter(
            "script", str(path), f"a readable file ({exc.strerror or exc})"
        ) from None
    steps: list[dict[str, Any]] = []
    for number, raw in enumerate(raw_lines, start=1):
        if len(raw) > MAX_LINE_BYTES:
            raise PlancheError(
                f"{path}, line {number}: {len(raw) / 2**20:.0f} MB in one step; a step may "
                f"hold at most {MAX_LINE_BYTES // 2**20} MB (split it into several)"
            )
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise PlancheError(f"{path}, line {number}: not UTF-8 text") from None
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise PlancheError(f"{path}, line {number}: not JSON ({exc.msg})") from None
        if item == SCRIPT_HEADER:
            continue
        if not isinstance(item, dict) or not isinstance(item.get("command"), str):
            raise PlancheError(f'{path}, line {number}: a step needs a "command"')
        if item["command"] != APP_ONLY and item["command"] not in COMMANDS:
            raise PlancheError(
                f"{path}, line {number}: unknown command {item['command']!r} "
                f"(known: {APP_ONLY}, {', '.join(sorted(COMMANDS))})"
            )
        if not isinstance(item.get("params", {}), dict):
            raise PlancheError(f'{path}, line {number}: "params" must be an object')
        item.setdefault("params", {})
        item.setdefault("step", len(steps) + 1)
        if not isinstance(item["step"], int) or isinstance(item["step"], bool):
            raise PlancheError(f'{path}, line {number}: "step" must be a whole number')
        steps.append(item)
    if not steps:
        raise PlancheError(f"{path}: the script has no steps")
    return steps


def validate(project: Path | str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Check every step before any runs: command, parameters, references.

    References to the project's content are checked against it now, unless an
    earlier step of the script could make them (an import makes images).
    Returns the steps with their parameters checked. Raises ReplayError.
    """
    project = Path(project)
    earlier: dict[int, str] = {}
    checked_steps = []
    pending: list[tuple[dict[str, Any], Any, set[str]]] = []
    for step in steps:
        number, name = step["step"], step["command"]
        if number in earlier:
            raise ReplayError(number, name, f"step number {number} is used twice")
        if name == APP_ONLY:
            keys = step["params"].get("keys", [])
            if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
                raise ReplayError(number, name, '"keys" takes a list of key names')
            earlier[number] = name
            checked_steps.append(step)
            continue
        spec = get_command(name)
        try:
            params = spec.validate(step["params"])
        except PlancheError as exc:
            raise ReplayError(number, name, str(exc)) from None
        for f in spec.fields:
            values = params.get(f.name)
            items = values if f.many and values is not None else [values]
            ref = f.ref_for(params)
            for value in items if ref else ():
                why = refs.check_shape(ref, value, number, earlier)
                if why:
                    raise ReplayError(number, name, f"{f.name}: {why}")
        made_before = set(earlier.values())
        pending.append((step | {"params": params}, spec, made_before))
        earlier[number] = name
        checked_steps.append(step | {"params": params})
    if project.exists():
        _check_against_project(project, pending)
    return checked_steps


def _check_against_project(
    project: Path, pending: list[tuple[dict[str, Any], Any, set[str]]]
) -> None:
    with open_store(project, read_only=True) as store:
        for step, spec, made_before in pending:
            checkable = {
                f.name for f in spec.fields
                if (ref := f.ref_for(step["params"])) in ("image", "image_term", "model", "tag")
                and not (MADE_BY[ref] & made_before)
            }  # fmt: skip
            if not checkable:
                continue
            subset = {k: (v if k in checkable else None) for k, v in step["params"].items()}

            def fail(why: str, step: dict[str, Any] = step) -> ReplayError:
                return ReplayError(step["step"], step["command"], why)

            resolved = refs.resolve(store, spec, subset, {}, fail)
            for f in spec.fields:
                if f.name in checkable and f.ref == "image":
                    ids = resolved[f.name] if f.many else [resolved[f.name]]
                    ids = [i for i in ids or [] if isinstance(i, int)]
                    missing = store.missing_images(ids)
                    if missing:
                        raise fail(f"{f.name}: no image {missing[0]} in this project")


def plan(project: Path | str, steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What each step would do and read, without doing it (`--dry-run`)."""
    checked = validate(project, steps)
    listing = []
    for step in checked:
        name = step["command"]
        if name == APP_ONLY:
            listing.append({"step": step["step"], "command": name, "reads": [],
                            "does": "presses keys in the app (skipped headless)"})  # fmt: skip
            continue
        spec = COMMANDS[name]
        shown = {k: v for k, v in step["params"].items() if v not in (None, [], {})}
        listing.append({
            "step": step["step"], "command": name, "reads": spec.folders_read(step["params"]),
            "does": spec.description, "params": shown,
        })  # fmt: skip
    return listing


def replay(
    project: Path | str,
    steps: list[dict[str, Any]],
    *,
    context: Context | None = None,
    on_step: Callable[[dict[str, Any], dict[str, Any] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Check the whole script, then run its steps in order ("keys" steps are for the app)."""
    replayer = Replayer(project, context)
    checked = validate(project, steps)
    outcomes = []
    for step in checked:
        outcome = replayer.step(step)
        if outcome is not None:
            outcomes.append(outcome)
        if on_step:
            on_step(step, outcome)
    return outcomes


def summary(step: dict[str, Any], outcome: dict[str, Any] | None) -> str:
    """One line about a replayed step's outcome."""
    if outcome is None:
        return "(app only: skipped)"
    return COMMANDS[step["command"]].summary(outcome)


class Replayer:
    """Runs steps one at a time, remembering what earlier steps made."""

    def __init__(self, project: Path | str, context: Context | None = None) -> None:
        self.project = Path(project)
        self.context = context
        self.made: dict[int, int] = {}  # script step -> clustering id it made

    def step(self, step: dict[str, Any]) -> dict[str, Any] | None:
        name = step["command"]
        if name == APP_ONLY:
            return None
        spec = get_command(name)

        def fail(why: str) -> ReplayError:
            return ReplayError(step["step"], name, why)

        try:
            params = step["params"]
            if self.project.exists():
                with open_store(self.project, read_only=True) as store:
                    params = refs.resolve(store, spec, params, self.made, fail)
            outcome = run(self.project, name, params, self.context)
        except ReplayError:
            raise
        except PlancheError as exc:
            raise fail(str(exc)) from None
        if name == "cluster":
            self.made[step["step"]] = outcome["clustering_id"]
        return outcome
