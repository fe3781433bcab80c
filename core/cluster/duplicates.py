"""Near-duplicates: groups of images at least `threshold` similar.

Built from a k-nearest-neighbour graph (each image's `neighbours` nearest,
kept when their cosine reaches the threshold) whose connected components
are the groups: so groups are transitive and disjoint, unlike Panoptic's
greedy seeds, and the cost is one kNN query per image (exact blocks of
matrix products for small scopes, the HNSW index for large ones), never an
all-pairs loop. Singletons are not groups. The same bytes at several paths
(one image, several files) are always reported, as a group of their own if
no near-duplicate joined them.

Default thresholds (cosine), per embedder: pixels 0.95 (re-encoded, resized,
brightened or lightly cropped copies measure 0.98-1.0 on the demo photos,
distinct photos at most about 0.75); clip 0.95 (Panoptic's default).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planche.core.cluster.base import ClusterInput, Group, Strategy, register
from planche.core.cluster.params import Param
from planche.core.index import HNSW_THRESHOLD
from planche.core.store import open_store

DEFAULT_THRESHOLD = {"pixels": 0.95, "clip": 0.95}
_BLOCK = 2048


@register
class DuplicatesStrategy(Strategy):
    name = "duplicates"
    description = "groups of near-identical images (resized, re-encoded, lightly edited)"
    params = (
        Param("threshold", float, -1.0, "cosine at least this (-1: the embedder's default)",
              0.5, 1.0, special=(-1.0,)),
        Param("neighbours", int, 10, "nearest neighbours looked at per image", 1, 200),
    )  # fmt: skip

    def run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        threshold = params["threshold"]
        if threshold == -1.0:
            threshold = DEFAULT_THRESHOLD.get(data.model.embedder, 0.95)
        params["threshold"] = threshold  # stored with the clustering, as used
        rows, cols = knn_edges(data, params["neighbours"], threshold)
        n = len(data)
        graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
        count, labels = connected_components(graph, directed=False)
        sizes = np.bincount(labels, minlength=count)
        groups = [Group(data.ids[labels == c]) for c in np.flatnonzero(sizes >= 2)]
        grouped = set(np.concatenate([g.members for g in groups]).tolist()) if groups else set()
        for image_id, paths in _byte_copies(data).items():
            if image_id not in grouped:
                groups.append(
                    Group(np.array([image_id]), label=f"same bytes at {len(paths)} paths")
                )
        return groups


def knn_edges(data: ClusterInput, k: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) positions of neighbour pairs at or above the threshold."""
    n = len(data)
    k = min(k + 1, n)  # +1: each image finds itself first
    if n >= HNSW_THRESHOLD:
        neighbours, similarities = _hnsw_knn(data, k)
    else:
        neighbours, similarities = _exact_knn(data.vectors, k, threshold)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = neighbours.ravel()
    keep = (similarities.ravel() >= threshold) & (rows != cols) & (cols >= 0)
    return rows[keep], cols[keep]


def _exact_knn(
    vectors: np.ndarray, k: int, threshold: float = -1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Each row's k nearest at or above `threshold` among the rows after it.

    The graph is undirected, so comparing each pair once (the upper triangle)
    is enough and halves the work. Only rows with more than k candidates above
    the threshold pay for a partial sort; near-duplicates are rare, so that is
    almost none of them. Missing neighbours are -1.
    """
    n = len(vectors)
    neighbours = np.full((n, k), -1, dtype=np.int64)
    similarities = np.full((n, k), -np.inf, dtype=np.float32)
    for start in range(0, n, _BLOCK):
        scores = vectors[start : start + _BLOCK] @ vectors[start:].T
        rows, cols = np.nonzero(scores >= threshold)  # sorted by row
        cols += start
        counts = np.bincount(rows, minlength=len(scores))
        for row, found in enumerate(np.split(cols, np.cumsum(counts)[:-1])):
            if len(found) > k:
                found = found[np.argpartition(-scores[row, found - start], k - 1)[:k]]
            neighbours[start + row, : len(found)] = found
            similarities[start + row, : len(found)] = scores[row, found - start]
    return neighbours, similarities


def _hnsw_knn(data: ClusterInput, k: int) -> tuple[np.ndarray, np.ndarray]:
    """kNN through an HNSW index: the project's cached one for a whole model."""
    from planche.core.index import open_index

    if data.whole_model:
        with open_store(data.project, read_only=True) as store:
            index = open_index(store, data.model, "hnsw", data.progress)
    else:
        from planche.core.index import HnswIndex, new_hnsw

        raw = new_hnsw(data.model)
        raw.add(data.ids.astype(np.uint64), data.vectors)
        index = HnswIndex(raw)
    ids, similarities = index.search(data.vectors, k)
    # Image ids back to row positions in the scope (-1: outside it).
    order = np.argsort(data.ids)
    sorted_ids = data.ids[order]
    slots = np.clip(np.searchsorted(sorted_ids, ids), 0, len(sorted_ids) - 1)
    positions = np.where(sorted_ids[slots] == ids, order[slots], -1)
    # About 1% of an HNSW graph's nodes cannot be reached from its entry point
    # (measured at 100k): a search from such a node does not even find itself.
    # Those rows are searched exactly, so their duplicates are not missed.
    lost = np.flatnonzero(~np.any(positions == np.arange(len(positions))[:, None], axis=1))
    if len(lost):
        scores = data.vectors[lost] @ data.vectors.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        positions[lost] = top
        similarities[lost] = np.take_along_axis(scores, top, axis=1)
    return positions, similarities


def _byte_copies(data: ClusterInput) -> dict[int, list[str]]:
    with open_store(data.project, read_only=True) as store:
        paths = store.image_paths(data.ids.tolist())
    return {image_id: p for image_id, p in paths.items() if len(p) > 1}
