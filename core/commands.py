"""Every user action as a named command: run, journaled, undone, redone, replayed.

The CLI and the app never change a project except through `run`, which calls
the command, then appends one journal entry (name, parameters with their
seeds, time, outcome, and what undo needs). `undo` and `redo` work on the
commands that change the user's own data: tags, saved clusterings, deleted
clusterings. `export_script` turns the journal into a replay script whose
references are symbolic (an image by its content hash, a clustering by the
step that made it), so it replays on a fresh import of the same folder;
`replay` runs one and names the step when a reference does not resolve.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planche.core.errors import BadParameter, PlancheError
from planche.core.progress import CancelToken, ProgressCallback, ignore_progress
from planche.core.store import open_store

SCRIPT_HEADER = {"planche_script": 1}


class ReplayError(PlancheError):
    def __init__(self, step: int, command: str, why: str) -> None:
        super().__init__(f"step {step} ({command}): {why}")
        self.step = step


@dataclass
class Context:
    """What a front end lends a command: progress, cancellation, loaded models."""

    progress: ProgressCallback = ignore_progress
    cancel: CancelToken = field(default_factory=CancelToken)
    embedder: Any = None  # an embedder already loaded (the app keeps one)
    query_embedder: Any = None


@dataclass(frozen=True)
class Command:
    name: str
    run: Callable[[Path, dict[str, Any], Context], dict[str, Any]]
    undoable: bool = False


COMMANDS: dict[str, Command] = {}


def command(name: str, undoable: bool = False) -> Callable[..., Any]:
    def register(function: Callable[[Path, dict[str, Any], Context], dict[str, Any]]) -> Any:
        COMMANDS[name] = Command(name, function, undoable)
        return function

    return register


def run(
    project: Path | str, name: str, params: dict[str, Any], context: Context | None = None
) -> dict[str, Any]:
    """Run a command and journal it (failures too, when the project exists)."""
    if name not in COMMANDS:
        raise BadParameter("command", name, "one of " + ", ".join(sorted(COMMANDS)))
    project = Path(project)
    context = context or Context()
    try:
        outcome = COMMANDS[name].run(project, dict(params), context)
    except PlancheError as exc:
        if project.exists():
            try:
                with open_store(project) as store:
                    store.append_journal(name, params, {"error": str(exc)}, status="error")
            except PlancheError:
                pass  # the project itself is the problem; the error says so
        raise
    undo = outcome.pop("_undo", None)
    with open_store(project) as store:
        outcome["journal_seq"] = store.append_journal(name, params, outcome, undo=undo)
    return outcome


# -- the commands -------------------------------------------------------------


def _embedder_from(params: dict[str, Any], context: Context) -> Any:
    if context.embedder is not None:
        return context.embedder
    name = params.get("embedder", "clip")
    if name == "none":
        return None
    from planche.core.embedders import load_embedder

    return load_embedder(
        name, model=params.get("model"), pretrained=params.get("pretrained"),
        weights=Path(params["weights"]) if params.get("weights") else None,
        device=params.get("device", "auto"), precision=params.get("precision", "auto"),
        batch_size=params.get("batch_size"),
    )  # fmt: skip


@command("import")
def _import(project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
    from planche.core.embed import embed_project
    from planche.core.ingest import DEFAULT_MAX_PIXELS, import_folder

    embedder = _embedder_from(params, context)
    summary = import_folder(
        params["folder"], project, workers=params.get("workers"),
        max_pixels=params.get("max_pixels", DEFAULT_MAX_PIXELS),
        progress=context.progress, cancel=context.cancel, embedder=embedder,
        prune=params.get("prune", False),
    )  # fmt: skip
    outcome: dict[str, Any] = summary.as_dict()
    outcome["embedding"] = None
    if embedder is not None and not summary.cancelled:
        # Images imported earlier without this model get their vectors too.
        embedded = embed_project(project, embedder, progress=context.progress,
                                 cancel=context.cancel, workers=params.get("workers"))  # fmt: skip
        outcome["embedding"] = embedded.as_dict()
    return outcome


@command("embed")
def _embed(project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
    from planche.core.embed import embed_project

    embedder = _embedder_from(params, context)
    return embed_project(project, embedder, progress=context.progress, cancel=context.cancel,
                         workers=params.get("workers")).as_dict()  # fmt: skip


@command("cluster")
def _cluster(project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
    from planche.core.clustering import cluster

    summary = cluster(
        project, params.get("strategy", "kmeans"), params.get("params") or {},
        within=params.get("within"), image_ids=params.get("image_ids"),
        embedder=params.get("embedder"), model_id=params.get("model_id"),
        weights=Path(params["weights"]) if params.get("weights") else None,
        labels=params.get("labels", True), progress=context.progress, cancel=context.cancel,
    )  # fmt: skip
    return summary.as_dict()


@command("delete_clustering", undoable=True)
def _delete_clustering(project: Path, params: dict[str, Any], _: Context) -> dict[str, Any]:
    from planche.core.clustering import delete_clustering

    deleted = delete_clustering(project, params["clustering_id"])
    return {"deleted": deleted, "_undo": {"deleted": deleted}}


@command("save_clustering", undoable=True)
def _save_clustering(project: Path, params: dict[str, Any], _: Context) -> dict[str, Any]:
    from planche.core.clustering import save_clustering

    saved = save_clustering(project, params["clustering_id"], params.get("name", "Clustering"),
                            params.get("replace", False))  # fmt: skip
    return saved | {"_undo": {"property": saved["property"]}}


@command("tag", undoable=True)
def _tag(project: Path, params: dict[str, Any], _: Context) -> dict[str, Any]:
    path = list(params["path"])
    if not params.get("property") or not path or not all(str(p).strip() for p in path):
        raise BadParameter("tag", params, "a property and a tag path, e.g. Subject/animal/cat")
    with open_store(project) as store:
        tag_id = store.add_tag_path(params["property"], path)
        added = store.tag_images(tag_id, params.get("images", []))
    return {"tag_id": tag_id, "added": added, "_undo": {"tag_id": tag_id, "added": added}}


@command("untag", undoable=True)
def _untag(project: Path, params: dict[str, Any], _: Context) -> dict[str, Any]:
    with open_store(project) as store:
        removed = store.untag_images(params["tag_id"], params["images"])
    return {"removed": removed, "_undo": {"tag_id": params["tag_id"], "removed": removed}}


@command("delete_property")
def _delete_property(project: Path, params: dict[str, Any], _: Context) -> dict[str, Any]:
    with open_store(project) as store:
        if not store.delete_property(params["name"]):
            raise BadParameter("property", params["name"], "the name of a tag property")
    return {"deleted": params["name"]}


@command("search")
def _search(project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
    from planche.core.search import Query, search

    query = Query(**{k: tuple(str(v) for v in params.get(k) or ()) for k in
                     ("texts", "minus_texts", "images", "minus_images")})  # fmt: skip
    result = search(project, query, k=params.get("k", 20), embedder=params.get("embedder"),
                    model_id=params.get("model_id"), index=params.get("index", "auto"),
                    weights=Path(params["weights"]) if params.get("weights") else None,
                    progress=context.progress,
                    query_embedder=context.query_embedder)  # fmt: skip
    return result.as_dict()


# -- undo and redo ------------------------------------------------------------


def undo(project: Path | str) -> dict[str, Any] | None:
    """Undo the last undoable command still in effect; None when there is none."""
    with open_store(project) as store:
        entries = store.journal()
        target = next((e for e in reversed(entries) if _undoable(e) and e["status"] == "done"),
                      None)  # fmt: skip
        if target is None:
            return None
        _apply(store, target, forward=False)
        store.set_journal_status(target["seq"], "undone")
        store.append_journal("undo", {"seq": target["seq"]}, {"command": target["command"]})
    return target


def redo(project: Path | str) -> dict[str, Any] | None:
    """Redo the earliest command undone since the last new one; None when there is none."""
    with open_store(project) as store:
        trailing = []
        for entry in reversed(store.journal()):
            if not _undoable(entry):
                continue
            if entry["status"] == "done":
                break
            if entry["status"] == "undone":
                trailing.append(entry)
        if not trailing:
            return None
        target = trailing[-1]
        _apply(store, target, forward=True)
        store.set_journal_status(target["seq"], "done")
        store.append_journal("redo", {"seq": target["seq"]}, {"command": target["command"]})
    return target


def _undoable(entry: dict[str, Any]) -> bool:
    spec = COMMANDS.get(entry["command"])
    return bool(spec and spec.undoable and entry["undo"] is not None)


def _apply(store: Any, entry: dict[str, Any], *, forward: bool) -> None:
    data, name = entry["undo"], entry["command"]
    if name == "tag":
        (store.tag_images if forward else store.untag_images)(data["tag_id"], data["added"])
    elif name == "untag":
        (store.untag_images if forward else store.tag_images)(data["tag_id"], data["removed"])
    elif name == "delete_clustering":
        if forward:
            store.delete_clustering(data["deleted"][0])
        else:
            store.restore_clusterings(data["deleted"])
    elif name == "save_clustering":
        if forward:
            from planche.core.clustering import tag_paths_for

            params = entry["params"]
            store.save_clustering_as_tags(
                params["clustering_id"], data["property"],
                tag_paths_for(store, params["clustering_id"]),
            )  # fmt: skip
        else:
            store.delete_property(data["property"])


def history(project: Path | str) -> list[dict[str, Any]]:
    with open_store(project, read_only=True) as store:
        return store.journal()


# -- scripts ------------------------------------------------------------------


def export_script(project: Path | str) -> list[dict[str, Any]]:
    """The journal's commands still in effect, as replayable steps."""
    with open_store(project, read_only=True) as store:
        entries = [e for e in store.journal()
                   if e["command"] in COMMANDS and e["status"] == "done"]  # fmt: skip
        step_of_clustering: dict[int, int] = {}
        steps = []
        for number, entry in enumerate(entries, start=1):
            params = _symbolic(store, entry["command"], entry["params"], step_of_clustering)
            steps.append({"step": number, "command": entry["command"], "params": params})
            outcome = entry["outcome"] or {}
            if entry["command"] == "cluster" and "clustering_id" in outcome:
                step_of_clustering[outcome["clustering_id"]] = number
    return steps


def write_script(steps: list[dict[str, Any]], path: Path) -> None:
    lines = [json.dumps(SCRIPT_HEADER)] + [json.dumps(step, ensure_ascii=False) for step in steps]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def read_script(path: Path) -> list[dict[str, Any]]:
    """Steps of a script file, checked for shape; errors name the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadParameter("script", str(path), f"a readable UTF-8 file ({exc})") from None
    steps = []
    for number, line in enumerate(text.splitlines(), start=1):
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
        if item["command"] != "keys" and item["command"] not in COMMANDS:
            raise PlancheError(
                f"{path}, line {number}: unknown command {item['command']!r} "
                f"(known: keys, {', '.join(sorted(COMMANDS))})"
            )
        if not isinstance(item.get("params", {}), dict):
            raise PlancheError(f'{path}, line {number}: "params" must be an object')
        item.setdefault("params", {})
        item.setdefault("step", len(steps) + 1)
        steps.append(item)
    if not steps:
        raise PlancheError(f"{path}: the script has no steps")
    return steps


def replay(
    project: Path | str,
    steps: list[dict[str, Any]],
    *,
    context: Context | None = None,
    on_step: Callable[[dict[str, Any], dict[str, Any] | None], None] | None = None,
) -> list[dict[str, Any]]:
    """Run a script's steps in order ("keys" steps are for the app only)."""
    replayer = Replayer(project, context)
    outcomes = []
    for step in steps:
        outcome = replayer.step(step)
        if outcome is not None:
            outcomes.append(outcome)
        if on_step:
            on_step(step, outcome)
    return outcomes


class Replayer:
    """Runs steps one at a time, remembering what earlier steps made."""

    def __init__(self, project: Path | str, context: Context | None = None) -> None:
        self.project = Path(project)
        self.context = context
        self.made: dict[int, int] = {}  # script step -> clustering id it made

    def step(self, step: dict[str, Any]) -> dict[str, Any] | None:
        if step["command"] == "keys":
            return None
        try:
            params = (
                _resolve(self.project, step, self.made) if self.project.exists() else step["params"]
            )
            outcome = run(self.project, step["command"], params, self.context)
        except ReplayError:
            raise
        except PlancheError as exc:
            raise ReplayError(step["step"], step["command"], str(exc)) from None
        if step["command"] == "cluster":
            self.made[step["step"]] = outcome["clustering_id"]
        return outcome


def _symbolic(store: Any, name: str, params: dict[str, Any], steps: dict[int, int]) -> Any:
    params = dict(params)

    def clustering_ref(clustering_id: int) -> Any:
        return {"$clustering": steps[clustering_id]} if clustering_id in steps else clustering_id

    def images_ref(ids: list[int]) -> list[Any]:
        shas = store.sha256_of_images(ids)
        return [{"$image": shas[i]} if i in shas else i for i in ids]

    if name == "cluster":
        if params.get("within") is not None:
            row = store.cluster(params["within"])
            if row is not None and row.clustering_id in steps:
                params["within"] = {"$cluster": [steps[row.clustering_id], row.idx]}
        if params.get("image_ids"):
            params["image_ids"] = images_ref(params["image_ids"])
        if params.get("model_id") is not None:
            model = next((m for m in store.models() if m.id == params["model_id"]), None)
            if model is not None:
                params["model_id"] = {"$model": model.label}
    elif name in ("save_clustering", "delete_clustering"):
        params["clustering_id"] = clustering_ref(params["clustering_id"])
    elif name in ("tag", "untag"):
        params["images"] = images_ref(params.get("images", []))
        if name == "untag":
            found = _tag_path_of(store, params["tag_id"])
            if found is not None:
                params["tag_id"] = {"$tag": list(found)}
    elif name == "search":
        for key in ("images", "minus_images"):
            params[key] = [
                {"$image": store.sha256_of_images([int(t)]).get(int(t), t)} if str(t).isdigit()
                else t for t in params.get(key, [])
            ]  # fmt: skip
    return params


def _tag_path_of(store: Any, tag_id: int) -> tuple[str, ...] | None:
    for _, property_name in store.properties():
        for found_id, path in store.all_tag_paths(property_name):
            if found_id == tag_id:
                return (property_name, *path)
    return None


def _resolve(project: Path, step: dict[str, Any], made: dict[int, int]) -> dict[str, Any]:
    number, name = step["step"], step["command"]

    def fail(why: str) -> ReplayError:
        return ReplayError(number, name, why)

    with open_store(project, read_only=True) as store:

        def resolve(value: Any) -> Any:
            if isinstance(value, list):
                return [resolve(v) for v in value]
            if not isinstance(value, dict):
                return value
            if "$image" in value:
                found = store.image_id_for_sha256(value["$image"])
                if found is None:
                    raise fail(f"no image with sha256 {value['$image'][:12]}… in this project")
                return found
            if "$clustering" in value:
                if value["$clustering"] not in made:
                    raise fail(f"refers to the clustering of step {value['$clustering']}, "
                               "which this replay did not make")  # fmt: skip
                return made[value["$clustering"]]
            if "$cluster" in value:
                origin, idx = value["$cluster"]
                if origin not in made:
                    raise fail(f"refers to a cluster of step {origin}, which made no clustering")
                found = store.cluster_by_index(made[origin], idx)
                if found is None:
                    raise fail(f"refers to cluster {idx} of step {origin}, which has none")
                return found
            if "$model" in value:
                found = next((m.id for m in store.models() if m.label == value["$model"]), None)
                if found is None:
                    raise fail(f"refers to the model {value['$model']}, not in this project")
                return found
            if "$tag" in value:
                prop, *path = value["$tag"]
                found = store.tag_id_for_path(prop, path)
                if found is None:
                    raise fail(f"refers to the tag {'/'.join(value['$tag'])}, not in this project")
                return found
            return {k: resolve(v) for k, v in value.items()}

        return resolve(step["params"])
