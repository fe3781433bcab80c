"""k-means: a fixed number of round clusters, the default strategy.

Fitted with scikit-learn on a random sample (at most `sample` images) and
then every image is assigned to its nearest centre, so a million images cost
one fit on 100k and one matrix product. On unit vectors, Euclidean k-means
is cosine k-means.

`k = -1` picks the number: k-means is fitted for k in 2..30 (on a sample of
at most 20,000 images) and the k with the best silhouette (cosine, measured
on at most 3,000 images) wins.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planche.core.cluster.base import ClusterInput, Group, Strategy, groups_from_labels, register
from planche.core.cluster.params import Param
from planche.core.errors import BadParameter

_AUTO_CANDIDATES = (2, 3, 4, 5, 6, 7, 8, 10, 12, 15, 20, 25, 30)
_AUTO_SAMPLE = 20_000
_SILHOUETTE_SAMPLE = 3_000


@register
class KMeansStrategy(Strategy):
    name = "kmeans"
    description = "a fixed number of round clusters (k-means); k = -1 picks the number"
    params = (
        Param("k", int, 10, "number of clusters", minimum=2, maximum=1000, special=(-1,)),
        Param("seed", int, 0, "random seed, for reproducible runs", minimum=0),
        Param("sample", int, 100_000, "fit on at most this many images", minimum=100),
        Param("n_init", int, 3, "fits from different starts; the best is kept", 1, 20),
    )

    def run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]:
        from threadpoolctl import threadpool_limits

        # scikit-learn's k-means already runs its loops on every core (OpenMP);
        # BLAS threads on top of those fought for the same 2 cores and doubled
        # the time at 1M vectors (bench/cluster.py).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._run(data, params)

    def _run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]:
        k = params["k"]
        n = len(data)
        if n < 2:
            raise BadParameter("scope", n, "at least 2 images to cluster")
        rng = np.random.default_rng(params["seed"])
        if k == -1:
            k = _best_k(data.vectors, rng, params)
        elif k > n:
            raise BadParameter("k", k, f"at most the {n} images in scope")
        centres = _fit(data.vectors, k, rng, params)
        return groups_from_labels(data.ids, nearest_centre(data.vectors, centres))


def _fit(vectors: np.ndarray, k: int, rng: np.random.Generator, params: dict) -> np.ndarray:
    from sklearn.cluster import KMeans

    sample = _sample(vectors, params["sample"], rng)
    model = KMeans(n_clusters=k, n_init=params["n_init"], random_state=params["seed"])
    return model.fit(sample).cluster_centers_.astype(np.float32)


def nearest_centre(vectors: np.ndarray, centres: np.ndarray, chunk: int = 65_536) -> np.ndarray:
    """Index of the nearest centre (Euclidean) for each row, in bounded memory."""
    centre_norms = (centres**2).sum(axis=1)
    labels = np.empty(len(vectors), dtype=np.int64)
    for start in range(0, len(vectors), chunk):
        part = vectors[start : start + chunk]
        labels[start : start + chunk] = np.argmin(centre_norms - 2 * part @ centres.T, axis=1)
    return labels


def _sample(vectors: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    if len(vectors) <= size:
        return vectors
    return vectors[np.sort(rng.choice(len(vectors), size, replace=False))]


def _best_k(vectors: np.ndarray, rng: np.random.Generator, params: dict) -> int:
    from sklearn.metrics import silhouette_score

    sample = _sample(vectors, _AUTO_SAMPLE, rng)
    probe = _sample(sample, _SILHOUETTE_SAMPLE, np.random.default_rng(params["seed"]))
    best_k, best_score = 2, -2.0
    for k in (k for k in _AUTO_CANDIDATES if k < len(probe)):
        centres = _fit(sample, k, rng, params | {"n_init": 1})
        labels = nearest_centre(probe, centres)
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(probe, labels, metric="cosine")
        if score > best_score:
            best_k, best_score = k, score
    return best_k
