"""Running a command with its journal entry, and undo and redo.

A writing command's changes and its journal entry commit in one transaction;
undo and redo change the data, the undone command's status and append their
own entry in one transaction too. A process killed at any instant therefore
leaves journal and data in step, and the next undo undoes the right thing.

Files are the exception: a dedupe acts on them behind a pending log (see
core/dedupe/__init__.py). Before any writing command, undo or redo, a log left
by a killed dedupe is finished first, so the files match the journal again
before anything else reads or changes them; what that did is added to the
command's `notes`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core.commands.base import COMMANDS, Context, get_command
from planche.core.errors import Cancelled, PlancheError
from planche.core.progress import ProgressEvent
from planche.core.store import Store, open_store


def run(
    project: Path | str, name: str, params: dict[str, Any], context: Context | None = None
) -> dict[str, Any]:
    """Validate and run a command; journal it (failures too) when it writes."""
    spec = get_command(name)
    checked = spec.validate(params)
    project = Path(project)
    context = context or Context()
    if not spec.writes:
        return spec.read(project, checked, context)
    try:
        if project.is_file():
            # A damaged file is refused before minutes of work, not after.
            with open_store(project, read_only=True, on_wait=_told_waiting(context)) as store:
                store.check_complete()
        recovered = _finish_interrupted(project, context)
        prepared = spec.prepare(project, checked, context)
        committed = False
        try:
            opened = open_store(project, create=spec.creates_project,
                                on_wait=_told_waiting(context))  # fmt: skip
            with opened as store, store.transaction():
                outcome, undo_data = spec.apply(store, checked, prepared, context)
                if recovered:
                    outcome["notes"] = [*recovered, *outcome.get("notes", [])]
                seq = store.append_journal(name, checked, outcome, undo=undo_data)
                outcome["journal_seq"] = seq
            committed = True
        finally:
            spec.settle(project, committed)
    except PlancheError as exc:
        _journal_failure(project, name, checked, exc)
        raise
    return outcome


def _finish_interrupted(project: Path, context: Context) -> list[str]:
    """Finish what a killed dedupe left (its pending log), before the command
    reads the folder or the project: notes on the files brought back."""
    from planche.core.dedupe.fileops import pending_path  # not at start: see COMMAND_MODULES

    if not project.is_file() or not pending_path(project).exists():
        return []
    with open_store(project, on_wait=_told_waiting(context)) as store:
        return _finish_dedupe(store)


def _finish_dedupe(store: Store) -> list[str]:
    from planche.core.commands.dedupe import finish_interrupted  # see COMMAND_MODULES

    return finish_interrupted(store)


def _told_waiting(context: Context) -> Any:
    """Say once who holds the project; stop waiting when the user cancels."""
    told: list[str] = []

    def on_wait(holder: str) -> None:
        if context.cancel.cancelled:
            raise Cancelled(f"stopped waiting for the project (held by {holder})")
        if not told:
            told.append(holder)
            context.progress(ProgressEvent("wait", 0, None, holder))

    return on_wait


def _journal_failure(project: Path, name: str, params: dict[str, Any], exc: Exception) -> None:
    """Record a failed command, best effort: the project may itself be the problem."""
    if not project.is_file():
        return
    try:
        with open_store(project, wait_s=1.0) as store:
            store.append_journal(name, params, {"error": str(exc)}, status="error")
    except PlancheError:
        pass


def undo(project: Path | str) -> dict[str, Any] | None:
    """Undo the last undoable command still in effect; None when there is none."""
    return _step_back_or_forth(project, forward=False)


def redo(project: Path | str) -> dict[str, Any] | None:
    """Redo what the last undo took back, while no new change came after it;
    None when there is nothing to redo."""
    return _step_back_or_forth(project, forward=True)


def _step_back_or_forth(project: Path | str, *, forward: bool) -> dict[str, Any] | None:
    """Undo or redo one command: its changes, its new status and the undo or
    redo entry, in one transaction. The target entry comes back with `notes`:
    what could not be taken back or done again (files, for dedupe)."""
    target = None
    committed = False
    try:
        with open_store(project) as store, store.transaction():
            recovered = _finish_dedupe(store)
            entries = store.journal()
            target = _redo_target(entries) if forward else _undo_target(entries)
            if target is None:
                return None
            target["notes"] = [*recovered, *(_apply(store, target, forward=forward) or [])]
            store.set_journal_status(target["seq"], "done" if forward else "undone")
            outcome = {"command": target["command"]}
            if target["notes"]:
                outcome["notes"] = target["notes"]
            store.append_journal("redo" if forward else "undo", {"seq": target["seq"]}, outcome)
        committed = True
    finally:
        if target is not None:
            COMMANDS[target["command"]].settle(Path(project), committed)
    return target


def _undo_target(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    return next((e for e in reversed(entries) if _undoable(e) and e["status"] == "done"), None)


def _redo_target(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    # A new change ends what can be redone: only undos after the newest
    # undoable command count, and the most recent of them is redone first.
    last_new = max((e["seq"] for e in entries if _undoable(e)), default=0)
    undone_at: dict[int, int] = {}
    for entry in entries:
        if entry["command"] == "undo":
            undone_at[entry["params"]["seq"]] = entry["seq"]
    live = [
        e for e in entries
        if _undoable(e) and e["status"] == "undone" and undone_at.get(e["seq"], 0) > last_new
    ]  # fmt: skip
    return max(live, key=lambda e: undone_at[e["seq"]], default=None)


def history(project: Path | str) -> list[dict[str, Any]]:
    with open_store(project, read_only=True) as store:
        return store.journal()


def _undoable(entry: dict[str, Any]) -> bool:
    spec = COMMANDS.get(entry["command"])
    return bool(spec and spec.undoable and entry["undo"] is not None)


def _apply(store: Store, entry: dict[str, Any], *, forward: bool) -> list[str] | None:
    spec = COMMANDS[entry["command"]]
    return (spec.redo if forward else spec.undo)(store, entry["params"], entry["undo"])
