"""`dedupe`: keep one file of each duplicate group by rules and act on the
others (trash, move, hard or symbolic link, or only tag them), journaled and
undoable; `dedupe_plan`: the same run as a dry run, which reads only;
`dedupe_target`: a move's folder checked as `dedupe` checks it, and where
each file would go (for a review that asks for the folder).

File operations cannot share the project's transaction, so (see
core/dedupe/__init__.py) the ops run inside `apply`, with the project open for
writing (no other dedupe, undo or redo can run meanwhile), behind a pending
log; the journal entry that commits with them lists exactly what was done.
`settle`, after the transaction, removes the log, or puts the files back when
the transaction did not commit; a log left by a killed process is finished by
whatever command changes the project next (`finish_interrupted`, called by
journal.py before any writing command, undo or redo). Undo and redo replay the recorded ops the
same way; both look at the disk and do only what is missing, so running
either again after a kill completes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core.commands.base import COMMANDS, Command, Context, Field, RecordedChoice, command
from planche.core.dedupe.fileops import (
    OpError,
    PendingLog,
    check,
    forget_own_log,
    pending_path,
    perform,
    recover,
    redo_op,
    undo_op,
)
from planche.core.dedupe.keeper import DEFAULT_RULES, parse_rules
from planche.core.dedupe.plan import (
    ACTIONS_ALLOWED,
    DID,
    Plan,
    check_target,
    folders,
    make_plan,
    move_target,
    parse_action,
    source_roots,
)
from planche.core.errors import BadParameter, PlancheError
from planche.core.progress import ProgressEvent
from planche.core.store import Store, open_store
from planche.core.text import count

_GROUPS = (
    Field("clustering_id", int, ref="clustering",
          help="act on the groups of this duplicates clustering"),
    Field("threshold", float,
          help="find the groups at this cosine (default: the embedder's own)"),
    Field("embedder", str, help="find them with the vectors of this kind of embedder"),
    Field("invariance", str, help="also find mirrored or turned copies: mirror, rotate or "
          "all (as the duplicates strategy)"),
    Field("keep", str, many=True, default=list(DEFAULT_RULES), nullable=False,
          help="keeper rules in order: resolution, size, oldest, newest, shortest-path, "
          "folder:DIR, pattern:GLOB"),
    Field("reference", str, many=True, default=[], nullable=False,
          help="folders whose files are always kept"),
    Field("keepers", str, many=True, default=[], nullable=False,
          help="files chosen by hand: each is its group's keeper (a review's choice)"),
    Field("leave", str, many=True, default=[], nullable=False,
          help="files whose groups are left alone (a review's skip)"),
    Field("images", int, many=True, ref="image",
          help="only duplicates among these images (a filtered view, a folder, a tag)"),
)  # fmt: skip
_ACTION_HELP = "trash, move:DIR, hardlink, symlink or tag[:PROPERTY/TAG]"


class _Dedupe(Command):
    def check(self, params: dict[str, Any]) -> None:
        if params["clustering_id"] is not None and params["threshold"] is not None:
            raise BadParameter("threshold", params["threshold"],
                               "no threshold with a clustering (its groups are made)")  # fmt: skip
        if params["clustering_id"] is not None and params["invariance"] is not None:
            raise BadParameter("invariance", params["invariance"],
                               "nothing with a clustering (its groups are made)")  # fmt: skip
        params["keep"] = [rule.text for rule in parse_rules(params["keep"])]
        params["reference"] = folders(params["reference"], "reference")
        params["action"] = parse_action(params["action"]).text or None

    def folders_read(self, params: dict[str, Any]) -> list[str]:
        return list(params["reference"])


@command
class DedupePlan(_Dedupe):
    name = "dedupe_plan"
    description = "what dedupe would do: the groups, keepers and actions (changes nothing)"
    writes = False
    fields = (*_GROUPS, Field("action", str, help=_ACTION_HELP + "; none: list the groups"))

    def read(self, project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
        plan = make_plan(project, params, progress=context.progress, cancel=context.cancel,
                         session=context.session)  # fmt: skip
        work = [entry for entry in plan.entries() if entry.op]
        keepers: dict[str, str | None] = {}
        for index, entry in enumerate(work):
            context.progress(ProgressEvent("check", index, len(work), entry.path))
            assert entry.op is not None
            why = check(entry.op, keepers)
            if why is not None:
                entry.skip(why)
        context.progress(ProgressEvent("check", len(work), len(work)))
        if pending_path(project).exists():
            plan.notes.append(
                f"an interrupted dedupe left {pending_path(project)}: the next command that "
                "changes the project (or undo, redo) first brings its files where the "
                "journal says"
            )
        return plan.as_dict(dry_run=True)


@command
class DedupeTarget(Command):
    name = "dedupe_target"
    description = ("where dedupe's move:DIR would put files, the folder checked as dedupe "
                   "checks it (changes nothing)")  # fmt: skip
    writes = False
    fields = (
        Field("folder", str, required=True, help="the folder to move the copies into"),
        Field("paths", str, many=True, default=[], nullable=False,
              help="files of the project: where each would go"),
    )  # fmt: skip

    def read(self, project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
        """{"action": "move:DIR" as dedupe takes it, "folder", "targets": {path: target}};
        BadParameter (as `dedupe --action move:DIR` says it) for a folder that is a
        file, or lies in a folder the files were imported from."""
        if not params["folder"].strip():
            raise BadParameter("folder", params["folder"], "a folder")
        action = parse_action(f"move:{params['folder']}")
        with open_store(project, read_only=True) as store:
            roots = source_roots(store)
        check_target(action.folder, roots)
        targets = {path: move_target(path, action.folder, roots) for path in params["paths"]}
        return {"action": action.text, "folder": action.folder, "targets": targets}


@command
class Dedupe(_Dedupe):
    name = "dedupe"
    description = "keep one file of each duplicate group by rules and act on the others"
    undoable = True
    fields = (*_GROUPS, Field("action", str, required=True, help=_ACTION_HELP))

    def check(self, params: dict[str, Any]) -> None:
        super().check(params)
        if params["action"] is None:
            raise BadParameter("action", "", ACTIONS_ALLOWED)

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        return make_plan(project, params, progress=context.progress, cancel=context.cancel,
                         session=context.session)  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        plan: Plan = prepared
        plan.notes.extend(recover(store.path, _in_effect(store)))
        undo: dict[str, Any] = {"run_id": plan.run_id, "ops": []}
        if plan.action.name == "tag":
            undo["tag"] = _tag(store, plan)
        else:
            undo["ops"] = _act(plan, store.path, context)
        return plan.as_dict(dry_run=False), undo

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> list[str]:
        return _replay(store, data, forward=False)

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> list[str]:
        return _replay(store, data, forward=True)

    def settle(self, project: Path, committed: bool) -> None:
        if not pending_path(project).exists():
            return
        if committed and forget_own_log(project):
            return  # the journal says what was done: the log is no longer needed
        try:
            with open_store(project, read_only=True, wait_s=2.0) as store:
                recover(store.path, _in_effect(store))
        except PlancheError:
            pass  # the log stays: the next writing command, undo or redo finishes it

    def summary(self, outcome: dict[str, Any]) -> str:
        counts = outcome["counts"]
        done = DID.get((outcome["action"] or "").partition(":")[0], "acted on")
        acted = counts.get(done, 0)
        return (f"{count(counts['groups'], 'group')}: {count(acted, 'file')} {done}, "
                f"{counts.get('skipped', 0)} skipped")  # fmt: skip

    def folders_read(self, params: dict[str, Any]) -> list[str]:
        action = parse_action(params["action"])
        return [*params["reference"], *([action.folder] if action.folder else [])]


def finish_interrupted(store: Store) -> list[str]:
    """Bring the files of a dedupe, undo or redo that was killed (its pending log
    is beside the project) to what the journal says; notes on what was done.

    Every writing command, undo and redo calls this first, with the project
    open (so no other process is acting on files meanwhile), so that whatever
    runs next after a crash starts from files that match the journal."""
    if not pending_path(store.path).exists():
        return []
    return recover(store.path, _in_effect(store))


def _in_effect(store: Store) -> Any:
    """run id -> whether the dedupe run of that id is done (not undone, not absent)."""
    done = {
        (entry["outcome"] or {}).get("run_id")
        for entry in store.journal()
        if entry["command"] == "dedupe" and entry["status"] == "done"
    }
    return lambda run_id: run_id in done


def _replay(store: Store, data: dict[str, Any], *, forward: bool) -> list[str]:
    """Redo (forward) or undo a run's recorded ops, each only as far as the disk
    needs; notes on the files that could not be."""
    notes = recover(store.path, _in_effect(store))
    if data.get("tag"):
        tag = COMMANDS["tag"]
        (tag.redo if forward else tag.undo)(store, {}, data["tag"])
    ops = data["ops"]
    if not ops:
        return notes
    log = PendingLog.begin(store.path, data["run_id"], "forward" if forward else "backward", ops)
    try:
        for index in range(len(ops)) if forward else reversed(range(len(ops))):
            op = ops[index]
            log.started(index)
            if forward:
                note, hint = redo_op(op, op.get("hint"))
            else:
                note, hint = undo_op(op, op.get("hint")), {}
            log.finished(index, hint)
            if note:
                notes.append(note)
    finally:
        log.close()
    return notes


def _tag(store: Store, plan: Plan) -> dict[str, Any] | None:
    prop, *path = plan.action.tag
    chosen = [e for e in plan.entries() if e.status.startswith("would")]
    if not chosen:
        return None  # no tag made for nothing
    tag_id, made = store.add_tag_path_recorded(prop, path)
    added = store.tag_images(tag_id, sorted({e.candidate.image_id for e in chosen}))
    for entry in chosen:
        entry.status = DID["tag"]
    return {"tag_id": tag_id, "added": added, "made": made}


def _act(plan: Plan, project: Path, context: Context) -> list[dict[str, Any]]:
    """Do the planned ops, each checked just before; the ops done, with hints."""
    work = [entry for entry in plan.entries() if entry.op]
    if not work:
        return []
    ops = [entry.op for entry in work]
    log = PendingLog.begin(project, plan.run_id, "forward", ops)  # type: ignore[arg-type]
    done: list[dict[str, Any]] = []
    started: dict[int, dict[str, Any]] = {}
    keepers: dict[str, str | None] = {}
    try:
        for index, entry in enumerate(work):
            op = entry.op
            assert op is not None
            if context.cancel.cancelled:
                plan.cancelled = True
                for rest in work[index:]:
                    rest.status, rest.message = "left", "not done: the run was stopped"
                break
            context.progress(ProgressEvent("dedupe", index, len(work), entry.path))
            why = check(op, keepers)
            if why is not None:
                entry.skip(why)
                continue
            log.started(index)
            started[index] = {}
            try:
                hint = perform(op)
            except OpError as exc:
                entry.skip(str(exc))
                continue
            log.finished(index, hint)
            started[index] = hint
            entry.status = DID[op["action"]]
            if op["action"] != "move" and not hint:
                entry.message = "its place in the trash was not found: undo cannot bring it back"
            done.append({**op, "hint": hint})
        context.progress(ProgressEvent("dedupe", len(work), len(work)))
    except BaseException:
        # Interrupted (a second Ctrl-C, a bug): put back what was done, then go on failing.
        notes = [undo_op(ops[i], hint) for i, hint in reversed(started.items())]  # type: ignore[arg-type]
        if any(notes):
            log.close()  # the log stays: recovery tries again
        else:
            log.remove()
        raise
    log.close()
    return done


@command
class NotDuplicates(RecordedChoice):
    name = "not_duplicates"
    description = "remember that these images are not duplicates of each other"
    fields = (
        Field("images", int, required=True, many=True, ref="image",
              help="the images of a group that are not copies of each other"),
    )  # fmt: skip

    def check(self, params: dict[str, Any]) -> None:
        params["images"] = sorted(set(params["images"]))
        if len(params["images"]) < 2:
            raise BadParameter("images", params["images"], "at least two images")

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        missing = store.missing_images(params["images"])
        if missing:
            raise BadParameter("images", missing[0], "an image of this project")
        return {"images": params["images"]}, {"images": params["images"]}

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(len(outcome['images']), 'image')} marked as not duplicates"
