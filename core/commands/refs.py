"""References between a command's parameters and the project's content.

In the journal, a parameter that refers to something holds its id in this
project. In an exported script it is symbolic, so the script replays on a
fresh import of the same folder: an image by its content hash
(`{"$image": sha256}`), a clustering by the step that made it
(`{"$clustering": 3}`), a cluster by that step and its number
(`{"$cluster": [3, 2]}`), a tag by its property and names
(`{"$tag": ["Subject", "animal", "cat"]}`), a model by its label
(`{"$model": "clip:ViT-B-32/openai (bf16)"}`). Everything here is generic
over the commands' declared fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from planche.core.commands.base import Command
from planche.core.store import Store

SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_ref(value: Any, key: str) -> bool:
    return isinstance(value, dict) and len(value) == 1 and key in value


def to_symbolic(
    store: Store, spec: Command, params: dict[str, Any], steps: dict[int, int]
) -> dict[str, Any]:
    """Journal params -> script params. `steps` maps clustering ids to the step
    that made them."""
    params = dict(params)
    image_ids = [
        int(v) for f in spec.fields if f.ref in ("image", "image_term")
        for v in _items(params.get(f.name)) if _as_image_id(v, f.ref) is not None
    ]  # fmt: skip
    shas = store.sha256_of_images(sorted(set(image_ids))) if image_ids else {}
    models = {m.id: m.label for m in store.models()}

    def convert(value: Any, ref: str) -> Any:
        if ref in ("image", "image_term"):
            image_id = _as_image_id(value, ref)
            return {"$image": shas[image_id]} if image_id in shas else value
        if ref == "clustering" and isinstance(value, int) and value in steps:
            return {"$clustering": steps[value]}
        if ref == "cluster" and isinstance(value, int):
            row = store.cluster(value)
            if row is not None and row.clustering_id in steps:
                return {"$cluster": [steps[row.clustering_id], row.idx]}
        if ref == "tag" and isinstance(value, int):
            found = store.tag_path_of(value)
            if found is not None:
                return {"$tag": list(found)}
        if ref == "model" and isinstance(value, int) and value in models:
            return {"$model": models[value]}
        return value

    for f in spec.fields:
        ref = f.ref_for(params)
        if ref is not None and params.get(f.name) is not None:
            params[f.name] = _map(params[f.name], f.many, lambda v, r=ref: convert(v, r))
    return params


def resolve(
    store: Store, spec: Command, params: dict[str, Any], made: dict[int, int],
    fail: Callable[[str], Exception],
) -> dict[str, Any]:  # fmt: skip
    """Script params -> ids of this project; `made` maps script steps to the
    clusterings they made. Raises `fail(why)` for what does not resolve."""
    params = dict(params)
    wanted = [
        v["$image"] for f in spec.fields if f.ref in ("image", "image_term")
        for v in _items(params.get(f.name)) if _is_ref(v, "$image")
    ]  # fmt: skip
    found = store.image_ids_for_sha256(wanted) if wanted else {}

    def convert(value: Any, ref: str) -> Any:
        if not isinstance(value, dict):
            return value
        if "$image" in value:
            if value["$image"] not in found:
                raise fail(f"no image with sha256 {str(value['$image'])[:12]}… in this project")
            image_id = found[value["$image"]]
            return str(image_id) if ref == "image_term" else image_id
        if "$clustering" in value:
            if value["$clustering"] not in made:
                raise fail(f"refers to the clustering of step {value['$clustering']}, "
                           "which this replay did not make")  # fmt: skip
            return made[value["$clustering"]]
        if "$cluster" in value:
            origin, idx = value["$cluster"]
            if origin not in made:
                raise fail(f"refers to a cluster of step {origin}, which made no clustering")
            cluster_id = store.cluster_by_index(made[origin], idx)
            if cluster_id is None:
                raise fail(f"refers to cluster {idx} of step {origin}, which has none")
            return cluster_id
        if "$model" in value:
            model_id = next((m.id for m in store.models() if m.label == value["$model"]), None)
            if model_id is None:
                raise fail(f"refers to the model {value['$model']}, not in this project")
            return model_id
        if "$tag" in value:
            prop, *path = value["$tag"]
            tag_id = store.tag_id_for_path(prop, path)
            if tag_id is None:
                raise fail(f"refers to the tag {'/'.join(value['$tag'])}, not in this project")
            return tag_id
        return value

    for f in spec.fields:
        ref = f.ref_for(params)
        if ref is not None and params.get(f.name) is not None:
            params[f.name] = _map(params[f.name], f.many, lambda v, r=ref: convert(v, r))
    return params


def check_shape(ref: str, value: Any, step: int, earlier: dict[int, str]) -> str | None:
    """Why a symbolic reference is malformed (or points at no earlier step); None if fine.
    `earlier` maps earlier step numbers to their command names."""
    if not isinstance(value, dict):
        return None
    key = next(iter(value))
    target = value[key]
    if key == "$image":
        ok = isinstance(target, str) and SHA256.fullmatch(target) is not None
        return None if ok else "$image takes the 64 hex digits of a sha256"
    if key == "$clustering":
        if not isinstance(target, int) or earlier.get(target) != "cluster":
            return f"$clustering {target!r} is not an earlier cluster step"
        return None
    if key == "$cluster":
        if not (
            isinstance(target, list)
            and len(target) == 2
            and all(isinstance(t, int) and not isinstance(t, bool) for t in target)
        ):
            return "$cluster takes [step, cluster number]"  # fmt: skip
        if earlier.get(target[0]) != "cluster":
            return f"$cluster refers to step {target[0]}, not an earlier cluster step"
        return None
    if key == "$tag":
        ok = (
            isinstance(target, list)
            and len(target) >= 2
            and all(isinstance(t, str) for t in target)
        )
        return None if ok else "$tag takes [property, tag, ...]"
    if key == "$model":
        return None if isinstance(target, str) else "$model takes a model label"
    return f"unknown reference {key}"


def _as_image_id(value: Any, ref: str) -> int | None:
    if ref == "image" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if ref == "image_term" and isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _map(value: Any, many: bool, convert: Callable[[Any], Any]) -> Any:
    return [convert(v) for v in value] if many else convert(value)
