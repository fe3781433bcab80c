"""Planning a dedupe run: the duplicate groups, each group's files as imported,
the keeper and why, and what would happen to every other file.

Groups come from the duplicates strategy (computed read-only, nothing stored)
or from a stored duplicates clustering. A group's members are images; its
files are every file of those images, so byte copies (one image, several
paths) take part like any near-duplicate. Files not on disk any more are
listed and left alone; the keeper is chosen among the others by the rules
(keeper.py), among the files in reference folders when the group has any:
every file in a reference folder is kept.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.cluster.views import TURNS, GridLayout
from planche.core.dedupe.keeper import Candidate, Rule, choose_keeper, inside, parse_rules
from planche.core.errors import BadParameter
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.store import Store, open_store

DEFAULT_TAG = ("Duplicates", "copy")
ACTIONS_ALLOWED = "trash, move:DIR, hardlink, symlink, or tag[:PROPERTY/TAG]"
# What a dry run says and what a run says it did, by action.
WOULD = {"trash": "would trash", "move": "would move", "hardlink": "would hard-link",
         "symlink": "would symlink", "tag": "would tag"}  # fmt: skip
DID = {"trash": "trashed", "move": "moved", "hardlink": "hard-linked", "symlink": "symlinked",
       "tag": "tagged"}  # fmt: skip
# How a file looks next to another when a turn of that other's grids matched it
# best (`a` is `b` mirrored when `a` matches `b`'s grids mirrored); the turns are
# those of core/cluster/views.py (np.rot90 turns a grid counter-clockwise).
TRANSFORMS = {
    "identity": None, "mirror": "mirrored", "flip": "flipped", "rot90": "turned left",
    "rot180": "turned upside down", "rot270": "turned right",
    "transpose": "turned, mirrored", "antitranspose": "turned, mirrored",
}  # fmt: skip
# A turn is named only when it matches better than the file as it is by this
# much: a picture that is nearly its own mirror image is not "mirrored".
_TURN_MARGIN = 0.01


@dataclass(frozen=True)
class Action:
    name: str  # trash, move, hardlink, symlink, tag; "" lists only
    folder: str = ""  # move: the target folder
    tag: tuple[str, ...] = ()  # tag: the property, then the tag's names

    @property
    def text(self) -> str:
        if self.name == "move":
            return f"move:{self.folder}"
        if self.name == "tag":
            return "tag:" + "/".join(self.tag)
        return self.name


def parse_action(text: str | None) -> Action:
    """An action from its spelling; BadParameter names a wrong one."""
    if text is None or text == "":
        return Action("")
    name, sep, arg = text.partition(":")
    if name in ("trash", "hardlink", "symlink") and not sep:
        return Action(name)
    if name == "move" and arg.strip():
        folder = os.path.abspath(os.path.expanduser(arg))
        if os.path.exists(folder) and not os.path.isdir(folder):
            raise BadParameter("action", text, "move:DIR with a folder, not a file")
        return Action("move", folder=folder)
    if name == "tag":
        parts = tuple(p for p in arg.split("/")) if sep else DEFAULT_TAG
        if len(parts) < 2 or not all(p.strip() for p in parts):
            raise BadParameter("action", text, "tag:PROPERTY/TAG, e.g. tag:Duplicates/copy")
        return Action("tag", tag=parts)
    raise BadParameter("action", text, ACTIONS_ALLOWED)


def folders(texts: list[str], name: str) -> list[str]:
    """Absolute folders; BadParameter names one that is not a folder."""
    found = []
    for text in texts:
        folder = os.path.abspath(os.path.expanduser(text))
        if not os.path.isdir(folder):
            raise BadParameter(name, text, "a folder that exists")
        found.append(folder)
    return found


@dataclass
class FileEntry:
    """One file of a group and what happens to it."""

    candidate: Candidate
    sha256: str
    format: str
    role: str  # keeper, reference, duplicate, gone
    similarity: float | None = None
    transform: str | None = None  # how it looks next to its keeper: mirrored, turned left...
    status: str = "kept"  # kept, left, skipped, or a WOULD / DID verb
    message: str = ""
    op: dict[str, Any] | None = None

    @property
    def path(self) -> str:
        return self.candidate.path

    def skip(self, why: str) -> None:
        self.status, self.message, self.op = "skipped", why, None

    def as_dict(self) -> dict[str, Any]:
        c = self.candidate
        return {
            "path": c.path,
            "image_id": c.image_id,
            "role": self.role,
            "status": self.status,
            "message": self.message,
            "to": self.op.get("target") if self.op else None,
            "size": c.size,
            "width": c.width,
            "height": c.height,
            "format": self.format,
            "taken": c.taken.isoformat(sep=" ") if c.taken else None,
            "modified": c.mtime,
            "similarity": self.similarity,
            "transform": self.transform,
        }


@dataclass
class GroupPlan:
    number: int
    files: list[FileEntry]
    keeper: FileEntry | None = None
    rule: str | None = None
    reason: str = ""
    # Cosine similarity of every file to every other (by position in `files`),
    # so that a review can show the similarity to whichever file it keeps; with
    # an invariance, after the turn that matches them best, which `turns` names
    # (turns[a][b]: how file a looks next to file b; None: as it is).
    pairwise: list[list[float | None]] = field(default_factory=list)
    turns: list[list[str | None]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.number,
            "keeper": self.keeper.path if self.keeper else None,
            "rule": self.rule,
            "reason": self.reason,
            "files": [f.as_dict() for f in self.files],
            "images": sorted({f.candidate.image_id for f in self.files}),
            "similarities": self.pairwise,
            "transforms": self.turns,
        }


@dataclass
class Plan:
    action: Action
    rules: list[Rule]
    references: list[str]
    model: str
    threshold: float | None
    clustering_id: int | None
    groups: list[GroupPlan] = field(default_factory=list)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    notes: list[str] = field(default_factory=list)
    cancelled: bool = False

    def entries(self) -> list[FileEntry]:
        return [f for g in self.groups for f in g.files]

    def as_dict(self, dry_run: bool) -> dict[str, Any]:
        entries = self.entries()
        statuses: dict[str, int] = {}
        for entry in entries:
            statuses[entry.status] = statuses.get(entry.status, 0) + 1
        return {
            "run_id": self.run_id,
            "action": self.action.text or None,
            "dry_run": dry_run,
            "keep": [r.text for r in self.rules],
            "references": self.references,
            "model": self.model,
            "threshold": self.threshold,
            "clustering_id": self.clustering_id,
            "groups": [g.as_dict() for g in self.groups],
            "counts": {"groups": len(self.groups), "files": len(entries), **statuses},
            "problems": [{"path": f.path, "message": f.message} for f in entries if f.message],
            "notes": self.notes,
            "cancelled": self.cancelled,
        }


def make_plan(
    project: Path | str,
    params: dict[str, Any],
    *,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    session: Any = None,
) -> Plan:
    """Everything a dedupe run will do, from the project and the disk (reads only)."""
    from planche.core.clustering import prepare_clustering

    project = Path(project)
    action = parse_action(params["action"])
    rules = parse_rules(params["keep"])
    references = folders(params["reference"], "reference")
    clustering_id = params["clustering_id"]
    invariance = params.get("invariance") or "none"
    within = params.get("images")
    if clustering_id is not None:
        with open_store(project, read_only=True) as store:
            groups, model_id, threshold, invariance = _stored_groups(store, clustering_id)
        if within is not None:  # a stored group, as far as it lies in the scope
            wanted = set(within)
            groups = [kept for g in groups if len(kept := [i for i in g if i in wanted]) > 1]
    else:
        threshold = params["threshold"]
        found = prepare_clustering(
            project, "duplicates",
            {"threshold": -1.0 if threshold is None else threshold, "invariance": invariance},
            embedder=params["embedder"], labels=False, progress=_files_only(progress),
            cancel=cancel, session=session, image_ids=within,
        )  # fmt: skip
        groups = [[int(i) for i in c.members] for c in found.clusters]
        model_id, threshold = found.model_id, found.params["threshold"]
    with open_store(project, read_only=True) as store:
        dismissed = dismissed_groups(store)
    if dismissed:  # groups a review said are not duplicates (`not_duplicates`)
        groups = [g for g in groups if not any(set(g) <= d for d in dismissed)]
    ids = sorted({i for members in groups for i in members})
    with open_store(project, read_only=True) as store:
        model = next(m for m in store.models() if m.id == model_id)
        rows = store.file_details(ids)
        vector_ids, vectors = store.read_embeddings(model, only=ids)
        roots = source_roots(store) if action.name == "move" else []
    if action.name == "move":
        check_target(action.folder, roots)
    plan = Plan(action, rules, references, model.label, threshold, clustering_id)
    turns = _turns(GridLayout.of(model), invariance)
    by_image: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_image.setdefault(row["image_id"], []).append(row)
    row_of = {int(i): n for n, i in enumerate(vector_ids)}
    chosen, left = set(params.get("keepers") or ()), set(params.get("leave") or ())
    for number, members in enumerate(groups, start=1):
        files = [_entry(row) for image_id in members for row in by_image.get(image_id, [])]
        group = GroupPlan(number, files)
        _choose(group, rules, references, chosen)
        if group.keeper is not None:
            _similarities(group, vectors, row_of, turns)
            if any(f.path in left for f in files):
                _leave(group)
            else:
                _plan_actions(group, action, roots)
        plan.groups.append(group)
    return plan


def dismissed_groups(store: Store) -> list[set[int]]:
    """The image sets a review marked as not duplicates (`not_duplicates` runs in
    effect): a group lying wholly inside one of them is not shown again."""
    return [
        set(entry["params"]["images"])
        for entry in store.journal()
        if entry["command"] == "not_duplicates" and entry["status"] == "done"
    ]


def _leave(group: GroupPlan) -> None:
    for entry in group.files:
        if entry.role == "duplicate":
            entry.status, entry.message = "left", "its group was left alone in the review"


def _files_only(progress: ProgressCallback) -> ProgressCallback:
    """Progress of the grouping told as words: the run counts files, not pairs."""

    def told(event: ProgressEvent) -> None:
        if event.total is None or event.phase != "compare":
            progress(event)

    return told


def _stored_groups(
    store: Store, clustering_id: int
) -> tuple[list[list[int]], int, float | None, str]:
    clustering = store.clustering(clustering_id)
    if clustering is None:
        raise BadParameter("clustering", clustering_id, "a clustering id (`planche clusters`)")
    if clustering["strategy"] != "duplicates":
        raise BadParameter(
            "clustering", clustering_id,
            "a duplicates clustering (`planche cluster --strategy duplicates`)",
        )  # fmt: skip
    groups = [
        store.cluster_member_ids(c.id).tolist() for c in store.clusters(clustering_id) if c.idx > 0
    ]
    stored = clustering["params"]
    return (groups, clustering["model_id"], stored.get("threshold"),
            stored.get("invariance") or "none")  # fmt: skip


def source_roots(store: Store) -> list[str]:
    """The folders the project's files were imported from: those of the import
    commands in the journal, and the folder common to all files for any file
    outside them (projects imported before the journal)."""
    roots = set()
    for entry in store.journal():
        if entry["command"] == "import":
            folder = (entry["outcome"] or {}).get("folder") or entry["params"].get("folder")
            if folder:
                roots.add(os.path.abspath(folder))
    folders_with_files = [folder for folder, _ in store.folder_counts()]
    if any(not any(inside(f + os.sep, r) for r in roots) for f in folders_with_files):
        roots.add(os.path.commonpath(folders_with_files))
    return sorted(roots)


def check_target(folder: str, roots: list[str]) -> None:
    """BadParameter when a move's target folder lies in (or is) a folder the
    files were imported from (`source_roots`), as spelt or once links are resolved."""
    real = os.path.realpath(folder)
    for root in roots:
        for candidate, base in ((folder, root), (real, os.path.realpath(root))):
            if candidate == base or inside(candidate, base):
                raise BadParameter(
                    "action", f"move:{folder}",
                    f"a folder outside {root}, the folder the files were imported from "
                    "(moved files would be imported again as duplicates)",
                )  # fmt: skip


def _entry(row: dict[str, Any]) -> FileEntry:
    candidate = Candidate(
        path=row["path"], image_id=int(row["image_id"]), size=int(row["size"]),
        mtime=float(row["mtime"]), width=int(row["width"]), height=int(row["height"]),
        taken=row["exif_date"],
    )  # fmt: skip
    role = "duplicate" if os.path.exists(candidate.path) else "gone"
    entry = FileEntry(candidate, row["sha256"], row["format"], role)
    if role == "gone":
        entry.status, entry.message = "left", "is gone since it was imported; left as it is"
    return entry


def in_folder(path: str, folder: str) -> bool:
    """Whether `path` lies in `folder`, as spelt or once links are resolved (a
    reference folder named through a link still protects its files)."""
    if inside(path, folder):
        return True
    return inside(os.path.realpath(path), os.path.realpath(folder))


def _choose(
    group: GroupPlan, rules: list[Rule], references: list[str], chosen: set[str] = frozenset()
) -> None:
    present = [f for f in group.files if f.role != "gone"]
    if not present:
        group.reason = "no file of this group is on disk any more"
        return
    in_reference = [f for f in present if any(in_folder(f.path, r) for r in references)]
    by_hand = [f for f in present if f.path in chosen]
    pool = by_hand or in_reference or present
    choice = choose_keeper([f.candidate for f in pool], rules)
    for entry in in_reference:
        entry.role = "reference"
    keeper = next(f for f in pool if f.candidate is choice.keeper)
    keeper.role = "keeper"
    group.keeper, group.rule, group.reason = keeper, choice.rule, choice.reason
    if by_hand:
        group.rule, group.reason = "chosen", "chosen by hand in the review"
    elif in_reference:
        group.reason = "in a reference folder" + (f"; {choice.reason}" if len(pool) > 1 else "")
        group.rule = "reference" + (f", {choice.rule}" if choice.rule else "")


def _turns(layout: GridLayout | None, invariance: str) -> list[tuple[str, np.ndarray | None]]:
    """(turn, permutation of a whole vector) for each turn the invariance allows,
    and those its turns make one after the other (None: as it is); only the
    identity for vectors that are not grids."""
    if layout is None or invariance not in TURNS:
        return [("identity", None)]
    allowed = TURNS[invariance]
    if invariance == "mirror":
        # Groups are chains of matches: a copy mirrored one way of a copy mirrored
        # the other way is the keeper turned upside down.
        allowed = (*allowed, "rot180")
    found: list[tuple[str, np.ndarray | None]] = [("identity", None)]
    for turn in allowed[1:]:
        block = layout.permutation(turn)
        whole = np.concatenate([block + v * layout.block for v in range(len(layout.views))])
        found.append((turn, whole))
    return found


def _similarities(
    group: GroupPlan,
    vectors: np.ndarray,
    row_of: dict[int, int],
    turns: list[tuple[str, np.ndarray | None]],
) -> None:
    """Every file's cosine to every other, after the allowed turn that matches
    them best (the one the duplicates search could have matched them by)."""
    assert group.keeper is not None
    rows = [row_of.get(f.candidate.image_id) for f in group.files]
    known = [r for r in rows if r is not None]
    group.pairwise = [[None] * len(rows) for _ in rows]
    group.turns = [[None] * len(rows) for _ in rows]
    if known:
        own = np.asarray(vectors[known], dtype=np.float32)
        best = own @ own.T
        which = np.zeros(best.shape, dtype=np.int64)
        for index, (_, order) in enumerate(turns):
            if order is None:
                continue
            # scores[a, b]: file a against file b turned
            scores = own @ own[:, order].T
            better = scores > best + np.where(which == 0, _TURN_MARGIN, 0.0)
            best, which = np.where(better, scores, best), np.where(better, index, which)
        at = {r: n for n, r in enumerate(known)}
        for a, row_a in enumerate(rows):
            for b, row_b in enumerate(rows):
                if row_a is None or row_b is None:
                    continue
                i, j = at[row_a], at[row_b]
                group.pairwise[a][b] = round(float(best[i, j]), 4)
                group.turns[a][b] = None if i == j else TRANSFORMS[turns[which[i, j]][0]]
    keeper = group.files.index(group.keeper)
    for index, entry in enumerate(group.files):
        entry.similarity = group.pairwise[index][keeper]
        entry.transform = group.turns[index][keeper]


def _plan_actions(group: GroupPlan, action: Action, roots: list[str]) -> None:
    keeper = group.keeper
    assert keeper is not None
    kept_images = {f.candidate.image_id for f in group.files if f.role in ("keeper", "reference")}
    for entry in group.files:
        if entry.role != "duplicate":
            continue
        if not action.name:
            entry.status = "duplicate"
            continue
        if action.name == "tag":
            if entry.candidate.image_id in kept_images:
                entry.skip("the same bytes as a kept file: a tag cannot single it out")
            else:
                entry.status = WOULD["tag"]
            continue
        why = _pointless(entry, keeper, action.name)
        if why:
            entry.skip(why)
            continue
        entry.status = WOULD[action.name]
        entry.op = _op(entry, keeper, action, roots)


def _pointless(entry: FileEntry, keeper: FileEntry, action: str) -> str | None:
    try:
        same = os.path.samefile(entry.path, keeper.path)
    except OSError:
        return None
    if same and action == "hardlink":
        return "already the same file as its keeper (a hard link)"
    if same and action == "symlink" and os.path.islink(entry.path):
        return "already a link to its keeper"
    if same:
        return f"the same file as its keeper {keeper.path} (a link to it): left as it is"
    return None


def _op(entry: FileEntry, keeper: FileEntry, action: Action, roots: list[str]) -> dict[str, Any]:
    c, k = entry.candidate, keeper.candidate
    op: dict[str, Any] = {
        "action": action.name, "path": c.path, "size": c.size, "mtime": c.mtime,
        "sha256": entry.sha256, "keeper": k.path, "keeper_size": k.size,
        "keeper_mtime": k.mtime, "keeper_sha256": keeper.sha256,
    }  # fmt: skip
    if action.name == "move":
        op["target"] = move_target(c.path, action.folder, roots)
        op["root"] = action.folder
    return op


def move_target(path: str, folder: str, roots: list[str]) -> str:
    """Where `move:folder` puts the file at `path`: its path relative to the
    folder it was imported from (the innermost of `roots`), inside `folder`."""
    root = max((r for r in roots if inside(path, r)), key=len, default=None)
    relative = os.path.relpath(path, root) if root else path.lstrip(os.sep)
    return os.path.join(folder, relative)
