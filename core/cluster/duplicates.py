"""Near-duplicates: groups of images at least `threshold` similar.

Every pair at or above the threshold is found exactly (core/cluster/pairs.py:
the pairs an all-pairs matrix would give, without comparing all pairs), and
the connected components of those pairs are the groups: so groups are
transitive and disjoint, unlike Panoptic's greedy seeds. Singletons are not
groups. The same bytes at several paths (one image, several files) are always
reported, as a group of their own if no near-duplicate joined them.

Default thresholds (cosine), per embedder: pixels 0.95 (re-encoded, resized,
brightened or lightly cropped copies measure 0.98-1.0 on the demo photos,
distinct photos at most about 0.75); clip 0.95 (Panoptic's default).

Pixels vectors are grids, and from pixels-v3 hold three views of each
picture: their views are compared with each other and near misses aligned,
which finds crops, aspect cuts and portrait cuts (core/cluster/views.py).
`invariance` also finds mirrored (`mirror`: left-right or top-bottom),
turned (`rotate`: a quarter, half or three-quarter turn) or both (`all`)
copies of pixels vectors by comparing turned grids: nothing is embedded
again, but the search holds 3, 4 or 8 times as many rows (grouping 446
real images: 0.7 s without, 1.2 s mirror, 0.85 s rotate, 2.3 s all, on 2
busy cores; bench/duplicates_real.py). Pictures that are mirror images of
each other in their layout (the four quarters of a round fundus photo) are
then grouped too.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from planche.core.cluster.base import ClusterInput, Group, Strategy, register, rows_by_label
from planche.core.cluster.pairs import similar_pairs
from planche.core.cluster.params import Param
from planche.core.cluster.views import INVARIANCES, GridLayout, check_invariance, turned_pairs
from planche.core.store import open_store

# Pairs held before they are folded into components: thousands of identical
# images (blank frames) make millions of pairs, and a tree per component is enough.
_MAX_HELD_PAIRS = 4_000_000


@register
class DuplicatesStrategy(Strategy):
    name = "duplicates"
    description = "groups of near-identical images (resized, re-encoded, lightly edited)"
    params = (
        Param("threshold", float, -1.0,
              "cosine at least this (1: identical; -1: the embedder's default)",
              0.5, 1.0, special=(-1.0,)),
        Param("invariance", str, "none",
              "also find mirrored (mirror), turned (rotate) or mirrored and turned (all) copies; "
              "pixels vectors only", choices=INVARIANCES),
    )  # fmt: skip
    retired = {"neighbours": "duplicates now compares every pair it cannot rule out"}

    def run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]:
        threshold = params["threshold"]
        if threshold == -1.0:
            threshold = data.model.kind.duplicate_threshold
        params["threshold"] = threshold  # stored with the clustering, as used
        invariance = params["invariance"]
        layout = GridLayout.of(data.model)
        check_invariance(invariance, layout, data.model.label)
        copies, sizes = _files(data, sizes=layout is not None and layout.aligned)
        if layout is None or (not layout.aligned and invariance == "none"):
            pairs = similar_pairs(data.vectors, threshold, data.progress, data.cancel)
        else:
            aspects = _aspects(data, sizes) if layout.aligned else None
            pairs = turned_pairs(
                data.vectors, layout, threshold, invariance, data.progress, data.cancel, aspects
            )
        labels = connected_labels(len(data), pairs)
        sizes = np.bincount(labels)
        grouped_labels = np.where(sizes[labels] >= 2, labels, -1)
        groups = [Group(data.ids[rows]) for rows in rows_by_label(grouped_labels)]
        grouped = set(np.concatenate([g.members for g in groups]).tolist()) if groups else set()
        for image_id, paths in copies.items():
            if image_id not in grouped:
                groups.append(
                    Group(np.array([image_id]), label=f"same bytes at {len(paths)} paths")
                )
        return groups


def connected_labels(n: int, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The component of each of n nodes joined by the pairs, in bounded memory."""
    held_rows: list[np.ndarray] = []
    held_cols: list[np.ndarray] = []
    held = 0
    for rows, cols in pairs:
        held_rows.append(rows)
        held_cols.append(cols)
        held += len(rows)
        if held > max(_MAX_HELD_PAIRS, 4 * n):
            # Replace the pairs by a star per component: same components, at most n pairs.
            labels = _components(n, held_rows, held_cols)
            _, first = np.unique(labels, return_index=True)  # labels are 0..count-1
            nodes = np.flatnonzero(first[labels] != np.arange(n))
            held_rows, held_cols = [nodes], [first[labels[nodes]]]
            held = len(nodes)
    return _components(n, held_rows, held_cols)


def _components(n: int, rows: list[np.ndarray], cols: list[np.ndarray]) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    graph = coo_matrix((np.ones(len(row), dtype=np.int8), (row, col)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _files(
    data: ClusterInput, sizes: bool
) -> tuple[dict[int, list[str]], dict[int, tuple[int, int]]]:
    """The images with several files (their paths), and, when asked, each
    image's width and height; one read of the project."""
    ids = data.ids.tolist()
    with open_store(data.project, read_only=True) as store:
        if not sizes:
            paths = store.image_paths(ids)
            return {i: p for i, p in paths.items() if len(p) > 1}, {}
        details = store.file_details(ids)
    found: dict[int, list[str]] = {}
    for row in details:  # by image, then path
        found.setdefault(row["image_id"], []).append(row["path"])
    shown = {row["image_id"]: (row["width"], row["height"]) for row in details}
    return {i: p for i, p in found.items() if len(p) > 1}, shown


def _aspects(data: ClusterInput, sizes: dict[int, tuple[int, int]]) -> np.ndarray | None:
    """Width / height of each picture (as shown), for aligning crops; None when
    some are unknown (vectors without images)."""
    if any(not sizes.get(i, (0, 0))[1] for i in data.ids.tolist()):
        return None
    return np.array([sizes[i][0] / sizes[i][1] for i in data.ids.tolist()], dtype=np.float64)
