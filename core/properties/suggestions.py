"""Suggestions for a tag: the untagged images most like the ones it already has.

The query is the mean of the tag's images' vectors (normalised); where the
model has a text tower, the tag's name ("a photo of cat", from its path, the
parents included when asked) is added to it with the same weight, so a tag
with one or two images, or none yet, still gets sensible proposals. Images
the user refused for this tag (`refuse_suggestions` runs in effect) are never
proposed again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.errors import BadParameter, PlancheError
from planche.core.index import open_index
from planche.core.search import choose_model
from planche.core.store import Store, open_store


def refused_for(store: Store, tag_id: int) -> set[int]:
    """The images refused for this tag (journal entries in effect are the record)."""
    rows = store.con.execute(
        "SELECT params FROM journal WHERE command = 'refuse_suggestions' AND status = 'done'"
    ).fetchall()
    runs = [json.loads(params) for (params,) in rows]
    return {image for run in runs if run["tag_id"] == tag_id for image in run["images"]}


def _normalised(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-9 else vector


def suggest_for_tag(
    project: Path | str,
    tag_id: int,
    *,
    k: int = 50,
    model_id: int | None = None,
    use_name: bool = True,
    with_parents: bool = False,
    session: Any = None,
) -> dict[str, Any]:
    """The `k` images without the tag most like its images (and its name)."""
    if not 1 <= k <= 10_000:
        raise BadParameter("k", k, "a whole number from 1 to 10000")
    with open_store(project, read_only=True) as store:
        path = store.tag_path_of(tag_id)
        if path is None:
            raise BadParameter("tag_id", tag_id, "a tag of this project (`planche tags`)")
        model = choose_model(store, model_id=model_id)
        members = store.images_with_tag(tag_id)
        ids, vectors = store.read_embeddings(model, only=members.tolist())
        refused = refused_for(store, tag_id)
        index = (session.index(store, model, "exact") if session is not None
                 else open_index(store, model, "exact"))  # fmt: skip
    terms = []
    if len(ids):
        terms.append(_normalised(vectors.astype(np.float32).mean(axis=0)))
    name_used = None
    if use_name and model.kind.has_text_tower:
        words = " ".join(path[1:]) if with_parents else path[-1]
        name_used = f"a photo of {words}"
        if session is not None:
            embedder = session.embedder_for_model(model)
        else:
            from planche.core.embedders import load_embedder_for_model

            embedder = load_embedder_for_model(model)
        terms.append(_normalised(np.asarray(embedder.embed_text([name_used])[0], np.float32)))
    if not terms:
        raise PlancheError(
            f"the tag {'/'.join(path)} has no images with {model.label} vectors yet, and "
            "that model has no text tower to read its name: tag a few images first"
        )
    query = _normalised(np.sum(terms, axis=0)).astype(np.float32)
    skip = set(members.tolist()) | refused
    found_ids, scores = index.search(query[None, :], min(k + len(skip), len(index)))
    pairs = [(int(i), float(s)) for i, s in zip(found_ids[0], scores[0], strict=True)
             if int(i) >= 0 and int(i) not in skip][:k]  # fmt: skip
    with open_store(project, read_only=True) as store:
        paths = store.image_paths([i for i, _ in pairs])
    return {
        "tag_id": tag_id,
        "tag": "/".join(path),
        "model": model.label,
        "from_images": int(len(ids)),
        "from_name": name_used,
        "refused": len(refused),
        "suggestions": [
            {"image_id": i, "score": round(s, 4), "paths": paths.get(i, [])} for i, s in pairs
        ],  # fmt: skip
    }
