"""Clustering a project: run a strategy over a scope, describe and store the result.

The scope is every image with a vector for the chosen model, or the members
of one cluster (`within`): clustering a cluster again makes a child
clustering, to any depth. Every cluster gets:
- a size;
- a score from 0 to 100, lower meaning more coherent: 100 x (1 - |m|^2),
  where m is the mean of the members' unit vectors. That is 100 times the
  mean squared distance of the members to their centroid (0 when all are the
  same picture, towards 100 when they point every which way); it depends only
  on the members and the model, so runs on the same model compare. It is
  Panoptic's score, kept so their users read it the same way;
- a medoid: the member nearest the centroid, shown as the cluster's face;
- a label: the strategy's own (a tag name) or a zero-shot word from the text
  tower, when the model has one.
Groups are numbered 1.. by decreasing size; number 0 holds what no cluster
took (noise, unassigned).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.cluster import ClusterInput, Group, get_strategy
from planche.core.errors import BadParameter, PlancheError
from planche.core.models import ModelRow
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.search import choose_model
from planche.core.store import NewCluster, Store, open_store

LEFTOVER_LABEL = "unclustered"


@dataclass
class ClusteringSummary:
    clustering_id: int
    strategy: str
    params: dict[str, Any]
    model: str
    scope: str
    images: int
    clusters: list[NewCluster] = field(default_factory=list)
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    within: int | None = None  # the cluster clustered again, if any
    model_id: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "clustering_id": self.clustering_id,
            "strategy": self.strategy,
            "params": self.params,
            "model": self.model,
            "scope": self.scope,
            "images": self.images,
            "seconds": round(self.seconds, 2),
            "notes": self.notes,
            "clusters": [
                {
                    "idx": c.idx,
                    "size": len(c.members),
                    "score": None if c.score is None else round(c.score, 2),
                    "medoid": c.medoid,
                    "label": c.label,
                }
                for c in self.clusters
            ],
        }


def score_colour(score: float | None) -> str:
    """Panoptic's badge thresholds (green under 21, yellow under 56, red above),
    so its users read our scores the same way; dim when there is no score."""
    if score is None:
        return "dim"
    return "green" if score < 21 else "yellow" if score < 56 else "red"


def score(vectors: np.ndarray) -> float:
    """100 x (1 - |mean of unit vectors|^2): 0 for identical members."""
    mean = vectors.mean(axis=0)
    return float(np.clip(100.0 * (1.0 - float(mean @ mean)), 0.0, 100.0))


def cluster(
    project: Path | str,
    strategy: str,
    params: Mapping[str, Any] | None = None,
    **options: Any,
) -> ClusteringSummary:
    """Cluster a scope with a strategy and store the result as a new clustering.

    The scope is every image, the members of cluster `within` (the result is a
    child clustering), or the given `image_ids` (a selection); `options` are
    those of `prepare_clustering`.
    """
    started = time.monotonic()
    summary = prepare_clustering(project, strategy, params, **options)
    with open_store(project) as store:
        store_clustering(store, summary)
    summary.seconds = time.monotonic() - started
    return summary


def prepare_clustering(
    project: Path | str,
    strategy: str,
    params: Mapping[str, Any] | None = None,
    *,
    within: int | None = None,
    image_ids: list[int] | None = None,
    embedder: str | None = None,
    model_id: int | None = None,
    weights: Path | None = None,
    labels: bool = True,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    session: Any = None,
) -> ClusteringSummary:
    """Everything of `cluster` but storing: reads, the strategy, the description."""
    chosen = get_strategy(strategy)
    values = chosen.validate(params or {})
    started = time.monotonic()
    project = Path(project)
    with open_store(project, read_only=True) as store:
        if within is not None:
            parent = store.cluster(within)
            if parent is None:
                raise BadParameter("within", within, "the id of a cluster (`planche clusters`)")
            parent_clustering = store.clustering(parent.clustering_id)
            assert parent_clustering is not None
            model_id = model_id or parent_clustering["model_id"]
        model = choose_model(store, embedder=embedder, model_id=model_id)
        if within is not None:
            ids, vectors = store.read_embeddings(model, only=store.cluster_member_ids(within))
            scope = f"cluster {within}"
        elif image_ids is not None:
            ids, vectors = store.read_embeddings(model, only=sorted(set(image_ids)))
            scope = f"{len(ids)} chosen images"
        else:
            ids, vectors = store.read_embeddings(model)
            scope = "all images"
    if len(ids) == 0:
        raise PlancheError(f"nothing to cluster: no image in {scope} has a {model.label} vector")
    text_tower = _text_tower_loader(model, weights, session)
    data = ClusterInput(
        ids=ids,
        vectors=vectors,
        model=model,
        project=project,
        progress=progress,
        cancel=cancel or CancelToken(),
        text_embedder=text_tower,
    )
    progress(ProgressEvent("cluster", 0, None, f"{strategy} over {len(ids)} images"))
    groups = chosen.run(data, values)
    summary = ClusteringSummary(0, strategy, values, model.label, scope, len(ids))
    summary.within, summary.model_id = within, model.id
    summary.notes.extend(chosen.retired_notes(params or {}))
    summary.clusters = _describe(groups, data, labels, summary.notes)
    if not summary.clusters:
        summary.notes.append(f"no clusters: {strategy} found no group among {scope}")
    summary.seconds = time.monotonic() - started
    return summary


def store_clustering(store: Store, summary: ClusteringSummary) -> ClusteringSummary:
    """Write a prepared clustering into the project (one transaction, or the caller's)."""
    if summary.within is not None and store.cluster(summary.within) is None:
        raise BadParameter("within", summary.within, "a cluster that still exists")
    summary.clustering_id = store.write_clustering(
        parent_cluster_id=summary.within,
        strategy=summary.strategy,
        params=summary.params,
        model_id=summary.model_id,
        clusters=summary.clusters,
    )
    return summary


def _text_tower_loader(model: ModelRow, weights: Path | None, session: Any):  # noqa: ANN202
    if not model.kind.has_text_tower:
        return None
    loaded: list[Any] = []

    def load() -> Any:
        if not loaded:
            if session is not None:
                loaded.append(session.embedder_for_model(model, weights=weights))
            else:
                from planche.core.embedders import load_embedder_for_model

                loaded.append(load_embedder_for_model(model, weights=weights))
        return loaded[0]

    return load


def _describe(
    groups: list[Group], data: ClusterInput, want_labels: bool, notes: list[str]
) -> list[NewCluster]:
    by_id = np.argsort(data.ids)
    sorted_ids = data.ids[by_id]
    ordered = sorted((g for g in groups if not g.leftover), key=lambda g: -len(g.members))
    leftovers = [g for g in groups if g.leftover]
    described: list[tuple[Group, float, int, np.ndarray]] = []
    for group in [*ordered, *leftovers]:
        rows = by_id[np.searchsorted(sorted_ids, np.asarray(group.members))]
        members = data.vectors[rows]
        mean = members.mean(axis=0)
        medoid = int(group.members[int(np.argmax(members @ mean))])
        described.append((group, score(members), medoid, mean))
    words: list[str | None] = [None] * len(described)
    unlabelled = [i for i, (g, *_rest) in enumerate(described) if g.label is None]
    if want_labels and unlabelled and data.text_embedder is not None:
        from planche.core.labels import zero_shot_labels

        try:
            found = zero_shot_labels(
                data.project, data.model, np.stack([described[i][3] for i in unlabelled]),
                data.text_embedder,
            )  # fmt: skip
            for i, word in zip(unlabelled, found, strict=True):
                words[i] = word
        except PlancheError as exc:
            notes.append(f"no labels: {exc}")
    clusters = []
    for number, ((group, group_score, medoid, _), word) in enumerate(
        zip(described, words, strict=True), start=1
    ):
        idx = 0 if group.leftover else number
        label = group.label or (LEFTOVER_LABEL if group.leftover else word)
        clusters.append(NewCluster(idx, np.asarray(group.members), group_score, medoid, label))
    return clusters


def clustering_tree(project: Path | str) -> list[dict[str, Any]]:
    """Every clustering with its clusters, children nested under their cluster."""
    with open_store(project, read_only=True) as store:
        clusterings = store.clusterings()
        models = {m.id: m.label for m in store.models()}
        clusters = {c["id"]: store.clusters(c["id"]) for c in clusterings}
    by_parent: dict[int | None, list[dict[str, Any]]] = {}
    for item in clusterings:
        by_parent.setdefault(item["parent_cluster_id"], []).append(item)

    def build(item: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": item["id"],
            "strategy": item["strategy"],
            "params": item["params"],
            "model": models.get(item["model_id"], "?"),
            "created_at": item["created_at"].isoformat(),
            "images": item["images"],
            "clusters": [
                {
                    "id": c.id,
                    "idx": c.idx,
                    "size": c.size,
                    "score": None if c.score is None else round(c.score, 2),
                    "medoid": c.medoid,
                    "label": c.label,
                    "children": [build(child) for child in by_parent.get(c.id, [])],
                }
                for c in clusters[item["id"]]
            ],
        }

    return [build(item) for item in by_parent.get(None, [])]


def delete_clustering(project: Path | str, clustering_id: int) -> list[int]:
    with open_store(project) as store:
        return delete_clustering_in(store, clustering_id)


def delete_clustering_in(store: Store, clustering_id: int) -> list[int]:
    """Hide a clustering and those nested in it; their ids (undo restores them)."""
    if store.clustering(clustering_id) is None:
        raise BadParameter("clustering", clustering_id, "a clustering id (`planche clusters`)")
    return store.delete_clustering(clustering_id)


def save_clustering(
    project: Path | str, clustering_id: int, name: str = "Clustering", replace: bool = False
) -> dict[str, Any]:
    """Write a tag property whose hierarchical tags mirror the clustering's tree.

    Tags are named by number and label ("3 tabby cat"; "0 unclustered"), each
    nested clustering's tags under its cluster's tag, in one transaction.
    Undo: delete the property.
    """
    with open_store(project) as store:
        return save_clustering_in(store, clustering_id, name, replace)


def save_clustering_in(
    store: Store, clustering_id: int, name: str = "Clustering", replace: bool = False
) -> dict[str, Any]:
    """`save_clustering` on an open store (one transaction, or the caller's)."""
    if not name.strip():
        raise BadParameter("name", name, "a non-empty property name")
    if store.clustering(clustering_id) is None:
        raise BadParameter("clustering", clustering_id, "a clustering id (`planche clusters`)")
    paths = tag_paths_for(store, clustering_id)
    if not paths:
        raise BadParameter("clustering", clustering_id, "a clustering that found clusters")
    with store.transaction():
        if store.property_id(name) is not None:
            if not replace:
                raise BadParameter("name", name, "a property name not in use (or --replace)")
            store.delete_property(name)
        made = store.save_clustering_as_tags(clustering_id, name, paths)
    return {"property": name, "tags": made, "clustering_id": clustering_id}


def tag_paths_for(store: Store, clustering_id: int) -> dict[int, tuple[str, ...]]:
    """Tag path of every cluster in the clustering's tree, by cluster id.

    A cluster clustered again once has its child clusters right under it; one
    clustered again several ways gets a level per way ("kmeans #7"), so the
    clusters of different runs never share a tag.
    """
    children: dict[int, list[dict[str, Any]]] = {}
    for item in store.clusterings():
        if item["parent_cluster_id"] is not None:
            children.setdefault(item["parent_cluster_id"], []).append(item)
    paths: dict[int, tuple[str, ...]] = {}

    def walk(current: int, prefix: tuple[str, ...]) -> None:
        for c in store.clusters(current):
            title = f"{c.idx} {c.label}" if c.label else str(c.idx)
            paths[c.id] = (*prefix, title)
            runs = children.get(c.id, [])
            for child in runs:
                way = (f"{child['strategy']} #{child['id']}",) if len(runs) > 1 else ()
                walk(child["id"], (*paths[c.id], *way))

    walk(clustering_id, ())
    return paths
