"""Density clusters (HDBSCAN): as many clusters as the data has, and a group
for the images that fit nowhere.

HDBSCAN on raw 512-d vectors took 109 s for 10k images here; on a 16-d PCA
projection 1.4 s. So the vectors are reduced with PCA first (`dims`), the
model is fitted on a sample of at most `sample` images, and the others join
the cluster whose centre is nearest if they are at least as close to it as
that cluster's farthest fitted member; else they stay unclustered.

Memory stays bounded, under 0.5 GB above the vectors at 100k images whatever
the parameters (BENCHMARKS.md): the fit is scikit-learn's HDBSCAN (a kd-tree
and Prim's algorithm, no distance matrix) with its core distances found a
block of images at a time, and the other images are compared with the centres
a block at a time. The fit's time grows as the square of the sample.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planche.core.cluster.base import ClusterInput, Group, Strategy, groups_from_labels, register
from planche.core.cluster.params import Param
from planche.core.errors import BadParameter, Cancelled

# The temporaries of one block of rows (neighbour lists, distances to every
# centre) are kept to about this size, so that memory does not grow with
# min_samples, the number of clusters or dims.
BLOCK_BYTES = 64 * 2**20


@register
class DensityStrategy(Strategy):
    name = "density"
    description = "clusters of any number and shape (HDBSCAN); outliers stay unclustered"
    params = (
        Param("min_cluster_size", int, 5, "smallest group that counts as a cluster", 2, 100_000),
        Param("min_samples", int, 0, "neighbours for a core point; 0: min_cluster_size", 0, 1000),
        Param("dims", int, 16, "PCA dimensions HDBSCAN works in", 2, 256),
        Param(
            "sample",
            int,
            20_000,
            "fit on at most this many images (the fit's memory grows with it, its time as "
            "its square)",
            100,
            100_000,
        ),
        Param("seed", int, 0, "random seed (sample and PCA)", minimum=0),
    )

    def run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]:
        from sklearn.decomposition import PCA

        n = len(data)
        if n < params["min_cluster_size"]:
            raise BadParameter("min_cluster_size", params["min_cluster_size"],
                               f"at most the {n} images in scope")  # fmt: skip
        rng = np.random.default_rng(params["seed"])
        fit_rows = (
            np.sort(rng.choice(n, params["sample"], replace=False))
            if n > params["sample"]
            else np.arange(n)
        )
        min_samples = params["min_samples"] or params["min_cluster_size"]
        if min_samples > len(fit_rows):
            # HDBSCAN needs that many neighbours of each fitted image.
            name = "min_samples" if params["min_samples"] else "min_cluster_size"
            raise BadParameter(name, params[name], f"at most the {len(fit_rows)} images "
                               f"it is fitted on (sample={params['sample']})")  # fmt: skip
        dims = min(params["dims"], data.vectors.shape[1], len(fit_rows))
        pca = PCA(n_components=dims, random_state=params["seed"]).fit(data.vectors[fit_rows])
        reduced = pca.transform(data.vectors).astype(np.float32, copy=False)
        labels = np.full(n, -1, dtype=np.int64)
        _stop_if_asked(data)
        labels[fit_rows] = _hdbscan(reduced[fit_rows], params["min_cluster_size"], min_samples)
        _stop_if_asked(data)
        if len(fit_rows) < n:
            rest = np.setdiff1d(np.arange(n), fit_rows)
            labels[rest] = _assign_rest(reduced, labels, fit_rows, rest)
        return groups_from_labels(data.ids, labels)


def _stop_if_asked(data: ClusterInput) -> None:
    # The fit itself cannot be interrupted; between its steps, Escape or
    # Ctrl-C stops the clustering with nothing stored.
    if data.cancel.cancelled:
        raise Cancelled("clustering stopped; nothing was stored")


def _hdbscan(points: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
    """The labels of `HDBSCAN(min_cluster_size, min_samples).fit_predict(points)`.

    scikit-learn's HDBSCAN asks its neighbour search for the min_samples nearest
    neighbours of every point at once, about 32 bytes each: 12.8 GB for
    min_cluster_size=20,000 on a 20,000 sample. It only keeps the farthest (the
    core distance), so that is found here a block at a time with the same
    kd-tree, and scikit-learn's own minimum spanning tree and cluster selection
    do the rest: the same labels.
    """
    try:
        from sklearn.cluster._hdbscan._linkage import mst_from_data_matrix
        from sklearn.cluster._hdbscan._tree import tree_to_labels
        from sklearn.cluster._hdbscan.hdbscan import _process_mst
    except ImportError:  # private modules: should a later scikit-learn move them
        from sklearn.cluster import HDBSCAN

        model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
        return model.fit_predict(points)
    from sklearn.metrics import DistanceMetric
    from sklearn.neighbors import KDTree

    # As HDBSCAN.fit prepares them (float64, C order) and its defaults
    # (euclidean, leaf_size=40, alpha=1, "eom" selection, no single cluster).
    points = np.ascontiguousarray(points, dtype=np.float64)
    tree = KDTree(points, leaf_size=40, metric="euclidean")
    core = np.empty(len(points))
    rows = max(1, BLOCK_BYTES // (32 * min_samples))
    for start in range(0, len(points), rows):
        found, _ = tree.query(points[start : start + rows], k=min_samples)
        core[start : start + rows] = found[:, -1]
    spanning = mst_from_data_matrix(points, core, DistanceMetric.get_metric("euclidean"), 1.0)
    labels, _ = tree_to_labels(_process_mst(spanning), min_cluster_size, "eom", False, 0.0, None)
    return labels


def _assign_rest(
    reduced: np.ndarray, labels: np.ndarray, fitted: np.ndarray, rest: np.ndarray
) -> np.ndarray:
    """The cluster each row of `rest` joins: its nearest centre's, if within that
    cluster's radius (its farthest fitted member); else -1."""
    fitted_labels = labels[fitted]
    clusters = np.unique(fitted_labels[fitted_labels >= 0])
    if not len(clusters):
        return np.full(len(rest), -1)
    members = reduced[fitted]
    # Each cluster's members in their original order, so that centres and radii
    # come out exactly as a boolean mask per cluster would give them.
    order = np.argsort(fitted_labels, kind="stable")
    by_label = fitted_labels[order]
    starts = np.searchsorted(by_label, clusters, side="left")
    stops = np.searchsorted(by_label, clusters, side="right")
    centres = np.empty((len(clusters), reduced.shape[1]), dtype=reduced.dtype)
    radii = np.empty(len(clusters), dtype=reduced.dtype)
    for i, (start, stop) in enumerate(zip(starts, stops, strict=True)):
        own = members[order[start:stop]]
        centres[i] = own.mean(axis=0)
        radii[i] = np.linalg.norm(own - centres[i], axis=1).max()

    # The nearest centre by |x - c|^2 = |x|^2 - 2 x.c + |c|^2 with a matrix
    # product: |x|^2 is the same for every centre, so it is left out. float64
    # keeps the cancellation far below float32's rounding; a block of rows
    # holds rows x clusters of it.
    centres64 = centres.astype(np.float64)
    squares = np.einsum("ij,ij->i", centres64, centres64)
    rows = max(1, BLOCK_BYTES // (8 * len(clusters) + 16 * reduced.shape[1]))
    assigned = np.empty(len(rest), dtype=np.int64)
    for start in range(0, len(rest), rows):
        part = reduced[rest[start : start + rows]]
        scores = part.astype(np.float64) @ centres64.T
        scores *= -2.0
        scores += squares
        nearest = scores.argmin(axis=1)
        del scores
        # The distance to the nearest centre directly, in the vectors' precision,
        # as the radii were measured.
        distance = np.linalg.norm(part - centres[nearest], axis=1)
        inside = distance <= radii[nearest]
        assigned[start : start + rows] = np.where(inside, clusters[nearest], -1)
    return assigned
