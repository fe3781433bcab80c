"""Maps: one model's vectors laid out on a plane, and how faithful the plane is.

Two methods:
- `pca` (the default): the plane of the two principal components, fitted on a
  random sample of at most `sample` vectors and applied to all of them. It is
  deterministic, keeps global distances roughly, and places an image added
  later exactly where a new fit would have (the mean and the two components are
  stored with the map).
- `neighbours`: a neighbour-preserving layout (PaCMAP, seeded:
  `_neighbour_layout`) of all the vectors, or of a random sample of `sample`
  of them (100,000 by default) when there are more, every other vector then
  placed at the similarity-weighted mean of the positions of its 10 nearest
  sampled vectors (cosine, an exact matrix product in chunks of bounded
  memory). Images added later are placed the same way.

`neighbour_preservation` is the figure shown beside a map: on a random sample
of points, the mean fraction of each point's k nearest neighbours in the full
space (cosine) that are also among its k nearest on the plane. 1 means every
neighbourhood survived; a random layout scores about k/n.

The layout functions take vectors and never touch the project; `resolve_scope`
and `scope_vector_ids` read what a map covers from an open store, and the `map`
command (planche.core.commands.maps) stores the result.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from planche.core.errors import BadParameter, Cancelled, PlancheError
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.text import count

if TYPE_CHECKING:
    from planche.core.models import ModelRow
    from planche.core.store import Store

METHODS = ("pca", "neighbours")
SCOPES = ("all", "folder", "tag", "cluster", "images")
# Images a map is fitted on, the rest placed after. PCA is cheap. PaCMAP lays
# out 100,000 in about a minute here (57-69 s of CPU, more on a busy machine) and
# keeps far more neighbours fitted on all of them than on a sample; past that,
# fitting all is still better (and faster than placing the rest), but a cancel
# waits for the whole fit, so the default stays at the minute
# (BENCHMARKS.md).
DEFAULT_SAMPLE = {"pca": 20_000, "neighbours": 100_000}
MIN_SAMPLE, MAX_SAMPLE = 100, 1_000_000
MIN_POINTS = 3
NEIGHBOURS = 10  # sampled points that place each other point (neighbours method)
MIN_NEIGHBOUR_LAYOUT = 10  # fewer points: their PCA plane (PaCMAP needs 5 and more to pair)
_PACMAP_LOCK = threading.Lock()
# PaCMAP's three phases, shortened from its (100, 100, 250): at 100k on this
# machine 49-50 s instead of 70 s, keeping 0.387 of the 10 nearest on photo-like
# vectors instead of 0.391 (0.012 instead of 0.013 on blobs; BENCHMARKS.md).
PACMAP_ITERATIONS = (100, 100, 100)
QUALITY_SAMPLE = 2_000
QUALITY_K = 10
# The map command's neighbour-preservation figure looks for neighbours among
# at most this many images (a random subset of a larger map, from which the
# sampled points are drawn too), so it costs about a second at any size: among
# all 100k images it took 5-6 s here, 15 times what the PCA itself takes
# (bench/map.py). Up to this size the figure is exactly as defined.
QUALITY_UNIVERSE = 20_000
# Scores of one chunk of rows against all columns stay under this many bytes.
CHUNK_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class MapDetails:
    """How a layout was made: enough to place more vectors on it later."""

    method: str
    seed: int
    sample: int  # the most vectors fitted on, as asked
    fitted: int  # how many were
    mean: np.ndarray | None = None  # pca: the fitted mean (dim,)
    components: np.ndarray | None = None  # pca: (2, dim)
    explained: tuple[float, ...] = ()  # pca: share of the variance each axis holds

    def params(self) -> dict[str, Any]:
        """The JSON-ready part (the stored map's params)."""
        params: dict[str, Any] = {"seed": self.seed, "sample": self.sample, "fitted": self.fitted}
        if self.explained:
            params["explained_variance"] = [round(v, 4) for v in self.explained]
        return params


def project_map(
    vectors: np.ndarray,
    ids: np.ndarray,
    method: str = "pca",
    seed: int = 0,
    sample: int | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> tuple[np.ndarray, MapDetails]:
    """Positions (n, 2) float32 of `vectors` (one row per id in `ids`), and how
    they were made. Raises Cancelled when `cancel` is set between steps."""
    cancel = cancel or CancelToken()
    if method not in METHODS:
        raise BadParameter("method", method, "one of " + ", ".join(METHODS))
    sample = sample or DEFAULT_SAMPLE.get(method, DEFAULT_SAMPLE["pca"])
    if not MIN_SAMPLE <= sample <= MAX_SAMPLE:
        raise BadParameter("sample", sample, f"a number from {MIN_SAMPLE:,} to {MAX_SAMPLE:,}")
    n = len(vectors)
    if len(ids) != n:
        raise ValueError(f"{len(ids)} ids for {n} vectors")
    if n < MIN_POINTS:
        raise TooFew(n)
    check_spread(vectors)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(n, sample, replace=False)) if n > sample else np.arange(n)
    check_cancelled(cancel)
    if method == "pca":
        progress(ProgressEvent("map", 0, None, f"PCA fitted on {len(chosen):,} of {n:,} images"))
        mean, components, explained = fit_pca(vectors[chosen])
        check_cancelled(cancel)
        xy = pca_positions(vectors, mean, components, cancel)
        details = MapDetails("pca", seed, sample, len(chosen), mean, components, explained)
        return xy, details
    progress(ProgressEvent("map", 0, None, f"laying out {len(chosen):,} of {n:,} images"))
    anchors = vectors[chosen]
    anchor_xy = np.asarray(_neighbour_layout(anchors, seed, cancel), dtype=np.float32)
    check_cancelled(cancel)
    xy = np.empty((n, 2), np.float32)
    xy[chosen] = anchor_xy
    rest = np.setdiff1d(np.arange(n), chosen, assume_unique=True)
    if len(rest):
        progress(ProgressEvent("map", 0, None, f"placing {len(rest):,} more by their neighbours"))
        xy[rest] = place_by_neighbours(vectors, rest, anchors, anchor_xy, cancel=cancel,
                                       progress=progress)  # fmt: skip
    return xy, MapDetails("neighbours", seed, sample, len(chosen))


def check_spread(vectors: np.ndarray) -> None:
    """Refuse vectors that are all the same: a plane of one point shows nothing."""
    first = vectors[0]
    rows = _chunk_rows(vectors.shape[1])
    for start in range(0, len(vectors), rows):
        if np.abs(vectors[start : start + rows] - first).max() > 1e-6:
            return
    raise ZeroSpread(len(vectors))


class TooFew(PlancheError):
    def __init__(self, n: int) -> None:
        super().__init__(f"a map needs at least {MIN_POINTS} images with vectors; there are {n}")
        self.n = n


class ZeroSpread(PlancheError):
    def __init__(self, n: int) -> None:
        super().__init__(f"all {n:,} vectors are the same: a map of them would be one point")
        self.n = n


def fit_pca(sample_vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[float, ...]]:
    """(mean, components (2, dim), explained variance ratios) of a scikit-learn PCA.

    The covariance solver is exact and deterministic (signs fixed by
    scikit-learn); one BLAS thread, because several fought over a busy 2-core
    machine and made the 512x512 eigendecomposition 100 times slower.
    """
    from sklearn.decomposition import PCA
    from threadpoolctl import threadpool_limits

    x = np.asarray(sample_vectors, dtype=np.float32)
    if len(x) < MIN_POINTS:
        raise TooFew(len(x))
    with threadpool_limits(limits=1, user_api="blas"):
        pca = PCA(n_components=2, svd_solver="covariance_eigh").fit(x)
    components = pca.components_.astype(np.float32)
    if len(components) < 2:  # scikit-learn gives fewer when the sample is tiny
        components = np.vstack([components, np.zeros((2 - len(components), x.shape[1]))])
    ratios = np.nan_to_num(pca.explained_variance_ratio_)
    return pca.mean_.astype(np.float32), components.astype(np.float32), tuple(map(float, ratios))


def pca_positions(
    vectors: np.ndarray,
    mean: np.ndarray,
    components: np.ndarray,
    cancel: CancelToken | None = None,
) -> np.ndarray:
    """Project onto stored components: (v - mean) @ components.T, chunk by chunk."""
    components = np.asarray(components, np.float32).reshape(2, -1)
    offset = np.asarray(mean, np.float32) @ components.T
    out = np.empty((len(vectors), 2), np.float32)
    rows = _chunk_rows(vectors.shape[1]) * 4
    for start in range(0, len(vectors), rows):
        check_cancelled(cancel)
        out[start : start + rows] = vectors[start : start + rows] @ components.T - offset
    return out


def _neighbour_layout(
    sample_vectors: np.ndarray, seed: int, cancel: CancelToken | None = None
) -> np.ndarray:
    """A neighbour-preserving 2-D layout of the sample, (m, 2) float32: PaCMAP
    (10 neighbours, its default pair ratios, PCA start, seeded).

    Chosen by measurement (bench/map_methods.py, BENCHMARKS.md "The map's
    neighbour-preserving layout"): on photo-like vectors, PaCMAP fitted on all
    100k kept 0.39 of each image's 10 nearest neighbours in about a minute,
    where openTSNE on a 10,000 sample with the rest placed by their neighbours
    kept 0.15 in 77 s; UMAP and openTSNE on all points keep as much but take
    2-5 times as long. With a seed it is repeatable: the same vectors and seed
    give the same layout, in any process.

    PaCMAP has no callback: a cancel is seen before the fit and right after
    it, not during it (about a minute for 100k here). It runs on one thread,
    and the thread counts are restored after it (a seeded PaCMAP would leave
    OpenMP on one thread, torch's included, for the whole process), and so is
    numpy's global random state (it seeds it); its warnings are silenced, and
    one fit runs at a time (it keeps the seed in a module global). Fewer than
    MIN_NEIGHBOUR_LAYOUT points are laid out on their PCA plane: PaCMAP cannot
    pair them up.
    """
    x = np.asarray(sample_vectors, dtype=np.float32)
    if len(x) < MIN_NEIGHBOUR_LAYOUT:
        mean, components, _ = fit_pca(x)
        return pca_positions(x, mean, components)
    logging.getLogger("pacmap").setLevel(logging.ERROR)  # before the import: it logs then too
    import numba  # pacmap's own dependency
    import pacmap
    from threadpoolctl import threadpool_limits

    check_cancelled(cancel)
    # One thread for BLAS, OpenMP and numba, all put back on exit: the bulk of
    # the fit is serial anyway, and PaCMAP's parallel loops (two per iteration)
    # wait on each other's threads, which on a busy machine made a fit of 160
    # points take 40 s instead of 0.3.
    with _PACMAP_LOCK, threadpool_limits(limits=1):
        numba_threads, random_state = numba.get_num_threads(), np.random.get_state()
        numba.set_num_threads(1)
        try:
            layout = pacmap.PaCMAP(
                n_components=2, n_neighbors=NEIGHBOURS, MN_ratio=0.5, FP_ratio=2.0,
                random_state=int(seed), num_iters=PACMAP_ITERATIONS,
            ).fit_transform(x, init="pca")  # fmt: skip
        finally:
            numba.set_num_threads(numba_threads)
            np.random.set_state(random_state)
    check_cancelled(cancel)
    return np.asarray(layout, dtype=np.float32)


def place_by_neighbours(
    vectors: np.ndarray,
    rows: np.ndarray,
    anchors: np.ndarray,
    anchor_xy: np.ndarray,
    k: int = NEIGHBOURS,
    cancel: CancelToken | None = None,
    progress: ProgressCallback = ignore_progress,
) -> np.ndarray:
    """Positions of `vectors[rows]`: each at the mean of the positions of its k
    most similar anchors (cosine), weighted by similarity (negatives count as 0)."""
    k = min(k, len(anchors))
    out = np.empty((len(rows), 2), np.float32)
    step = _chunk_rows(len(anchors))
    for start in range(0, len(rows), step):
        check_cancelled(cancel)
        part = vectors[rows[start : start + step]]
        near, sims = _top_k(part @ anchors.T, k)
        weights = np.maximum(sims, 0.0) + 1e-6
        out[start : start + len(part)] = np.einsum(
            "rk,rkd->rd", weights, anchor_xy[near]
        ) / weights.sum(axis=1, keepdims=True)
        progress(ProgressEvent("place", min(start + step, len(rows)), len(rows), "placed"))
    return out


def neighbour_preservation(
    vectors: np.ndarray,
    xy: np.ndarray,
    sample: int = QUALITY_SAMPLE,
    k: int = QUALITY_K,
    seed: int = 0,
    universe: int | None = None,
    cancel: CancelToken | None = None,
) -> float:
    """On a random sample of points, the mean fraction of each one's k nearest
    neighbours in the full space (cosine, itself excluded) that are among its k
    nearest on the plane (Euclidean, itself excluded).

    Neighbours are sought among all points, or among a random `universe` of
    them when there are more (the sampled points are drawn from it).
    """
    n = len(vectors)
    k = min(k, n - 1)
    if k < 1:
        return 1.0
    rng = np.random.default_rng(seed)
    if universe is not None and n > universe:
        among = np.sort(rng.choice(n, universe, replace=False))
        vectors, xy = vectors[among], xy[among]
        n = universe
    queries = np.sort(rng.choice(n, min(sample, n), replace=False))
    plane = _plane_neighbours(np.asarray(xy, np.float64), queries, k)
    kept = np.empty(len(queries))
    step = _chunk_rows(n)
    for start in range(0, len(queries), step):
        check_cancelled(cancel)
        chunk = queries[start : start + step]
        scores = vectors[chunk] @ vectors.T
        scores[np.arange(len(chunk)), chunk] = -np.inf
        full, _ = _top_k(scores, k)
        same = (full[:, :, None] == plane[start : start + len(chunk), None, :]).any(axis=2)
        kept[start : start + len(chunk)] = same.sum(axis=1) / k
    return float(kept.mean())


def _plane_neighbours(xy: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k nearest points on the plane of each query, itself excluded."""
    from scipy.spatial import cKDTree

    _, found = cKDTree(xy).query(xy[queries], k=k + 1)
    found = np.asarray(found).reshape(len(queries), k + 1)
    # Drop the query itself; where points coincide it need not come first.
    is_self = found == queries[:, None]
    keep = ~is_self
    keep[~is_self.any(axis=1), k] = False  # itself not among them: drop the farthest
    return found[keep].reshape(len(queries), k)


def _top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the k highest scores of each row (in no order) and those scores."""
    if k >= scores.shape[1]:
        near = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    else:
        near = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    return near, np.take_along_axis(scores, near, axis=1)


def _chunk_rows(columns: int) -> int:
    return max(1, CHUNK_BYTES // (4 * max(1, columns)))


def check_cancelled(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled("map stopped; nothing was stored")


# -- scopes ----------------------------------------------------------------------


@dataclass(frozen=True)
class MapScope:
    """What a map covers: its kind, the reference stored with it, a title, and
    the image ids in it (None for every image with a vector)."""

    kind: str
    ref: str
    title: str
    image_ids: np.ndarray | None
    cluster_model_id: int | None = None  # a cluster's clustering was made with this model


def scope_ref(kind: str, ref: Any = None, image_ids: Sequence[int] | None = None) -> str:
    """The reference stored with a map of this scope: '' for all images, the
    folder's absolute path, the tag or cluster id, or a hash of the sorted,
    distinct image ids of a selection."""
    if kind not in SCOPES:
        raise BadParameter("scope", kind, "one of " + ", ".join(SCOPES))
    if kind == "all":
        if ref not in (None, ""):
            raise BadParameter("scope_ref", ref, "nothing for the scope all")
        return ""
    if kind == "images":
        wanted = image_ids if image_ids is not None else ref
        if isinstance(wanted, str):
            return wanted  # already a hash
        if not wanted:
            raise BadParameter("image_ids", wanted, "the images of the selection to map")
        ids = np.unique(np.asarray(list(wanted), dtype=np.int64))
        return "ids:" + hashlib.blake2b(ids.tobytes(), digest_size=16).hexdigest()
    if ref is None or ref == "":
        what = "a folder path" if kind == "folder" else f"a {kind} id"
        raise BadParameter("scope_ref", ref, f"{what} for the scope {kind}")
    if kind == "folder":
        return os.path.abspath(os.path.expanduser(str(ref)))
    try:
        number = int(ref)
    except (TypeError, ValueError):
        number = -1
    if isinstance(ref, bool) or number < 1:
        raise BadParameter("scope_ref", ref, f"a {kind} id (a whole number)")
    return str(number)


def resolve_scope(
    store: Store, kind: str, ref: Any = None, image_ids: Sequence[int] | None = None
) -> MapScope:
    """The scope's image ids and title, read from the project; BadParameter
    names a folder, tag or cluster that is not there."""
    key = scope_ref(kind, ref, image_ids)
    if kind == "all":
        return MapScope(kind, key, "all images", None)
    if kind == "folder":
        ids = store.images_under(key)
        if not len(ids):
            raise BadParameter("scope_ref", key, "a folder with imported images")
        return MapScope(kind, key, f"folder {key}", ids)
    if kind == "tag":
        path = store.tag_path_of(int(key))
        if path is None:
            raise BadParameter("scope_ref", int(key), "a tag id (`planche tags`)")
        return MapScope(kind, key, "tag " + "/".join(path), store.images_with_tag(int(key)))
    if kind == "cluster":
        row = store.cluster(int(key))
        if row is None:
            raise BadParameter("scope_ref", int(key), "a cluster id (`planche clusters`)")
        clustering = store.clustering(row.clustering_id)
        title = f"cluster {row.idx} {row.label or ''}".strip() + f" (id {key})"
        return MapScope(kind, key, title, store.cluster_member_ids(int(key)),
                        clustering["model_id"] if clustering else None)  # fmt: skip
    ids = np.unique(np.asarray(list(image_ids or []), dtype=np.int64))
    return MapScope(kind, key, f"{count(len(ids), 'chosen image')}", ids)


def scope_vector_ids(store: Store, scope: MapScope, model: ModelRow) -> np.ndarray:
    """The ids of the scope's images that have a vector for the model, sorted;
    refuses a scope where some images have none (saying how many) or fewer
    than three do."""
    have = store.read_embedding_ids(model.id)
    if scope.image_ids is None:
        missing = len(store.images_without_embedding(model.id))
        total = missing + len(have)
    else:
        total = len(scope.image_ids)
        have = np.intersect1d(scope.image_ids, have, assume_unique=True)
        if scope.kind == "images" and len(have) < total:
            unknown = sorted(set(store.missing_images(scope.image_ids.tolist())) - set(have))
            if unknown:
                raise BadParameter("image_ids", unknown[0], "ids of images of the project")
        missing = total - len(have)
    if missing:
        raise PlancheError(
            f"{count(missing, 'image')} of the {total:,} in {scope.title} "
            f"{'has' if missing == 1 else 'have'} no {model.label} vector: give "
            f"{'it one' if missing == 1 else 'them one'} with `planche embed --project "
            f"{store.path} --embedder {model.embedder}`, then map again"
        )
    if len(have) < MIN_POINTS:
        raise PlancheError(
            f"a map needs at least {MIN_POINTS} images; {scope.title} has {len(have)} with a "
            f"{model.label} vector"
        )
    return have


def fingerprint(ids: np.ndarray) -> str:
    """Which vectors a map covers: their count and a hash of their image ids.

    A vector never changes under one (model, image) pair, since an image is
    its content's hash and a model its weights, so the ids identify them."""
    ids = np.sort(np.asarray(ids, dtype=np.int64))
    return f"{len(ids)}:" + hashlib.blake2b(ids.tobytes(), digest_size=16).hexdigest()
