"""Every pair of vectors at or above a cosine threshold, exactly, without comparing all pairs.

For unit vectors, cosine >= t is distance <= r = sqrt(2 - 2t). The vectors are
split into cells around a few k-means centres (each vector in the cell of its
nearest centre). A vector y of cell B is nearer to B's centre b than to any
other centre a, so it lies on b's side of the hyperplane halfway between a
and b; a vector x can only be within r of it if x itself is within r of that
half-space, whose distance is (|x - b|^2 - |x - a|^2) / (2 |a - b|). With a as
x's own centre, that needs only the distances to the centres, computed once.
So each vector is compared with the cells it can reach and no others, and the
pairs found are exactly the ones an all-pairs matrix finds.

Inside that search the scores are first bounded from above in few
dimensions: in an orthonormal basis whose first d axes carry most of the
vectors' energy, x.y = x'.y' + x''.y'' <= x'.y' + |x''| |y''| (Cauchy-Schwarz on
the rest), a (d+1)-dimensional product. Only pairs whose bound reaches the
threshold (a fraction of a percent) are scored in full.

How much that saves depends on the data: on vectors with the structure of
image embeddings (bench/cluster.py) about 8% of all pairs are compared, 20
times faster than all pairs at 100k; on structureless noise every pair is, and
only the cheaper bound is left (3.4 times faster). The duplicates strategy
turns the pairs into groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache

import numpy as np

from planche.core.errors import Cancelled
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress

# Vectors per cell, about: fewer cells prune less, more cost more distances.
CELL_SIZE = 1_000
MAX_CELLS = 256
_LLOYD_ITERATIONS = 8
_SAMPLE_PER_CELL = 40
# Rows compared at a time: their scores against a cell stay in the CPU's cache
# (4,096 rows were 30% slower per pair at 1M vectors).
_BLOCK = 512
# Share of the axes kept for the upper bound. Fewer axes make the bound
# cheaper and looser: at 512-d, 64 axes let 0.8% of the pairs through to be
# scored in full, 160 axes 0.02%, which was fastest (bench/cluster.py data).
_BOUND_SHARE = 5 / 16
_BASIS_SAMPLE = 5_000
# Float32 distances to the centres and bound products are off by at most a
# few 1e-5 (sums of at most 512 products of unit-scale numbers); comparisons
# allow more than that, so rounding can only make work be done, never skipped.
_ROUNDING = 1e-4
# Two identical float32 unit vectors score anywhere from 0.9999996 to
# 1.0000004: a threshold above 1 - this means "identical" and is lowered to it.
_SAME_WITHIN = 1e-6


def similar_pairs(
    vectors: np.ndarray,
    threshold: float,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, columns) of the pairs with cosine >= threshold, each pair once, cell by cell.

    `vectors` are L2-normalised rows. Rows and columns are positions in it.
    """
    n = len(vectors)
    if n < 2:
        return
    threshold = min(threshold, 1 - _SAME_WITHIN)
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.sqrt(np.einsum("ij,ij->i", vectors, vectors))
    if np.any(np.abs(norms - 1) > 1e-3):  # the distance bound holds for unit vectors only
        vectors = vectors / np.maximum(norms, 1e-12)[:, None]
    cells = min(MAX_CELLS, max(1, n // CELL_SIZE))
    centres = _centres(vectors, cells)
    members, reachers = _partition(vectors, centres, radius=np.sqrt(max(0.0, 2 - 2 * threshold)))
    bounds = _bound_vectors(vectors)
    cells_work = [
        len(m) * (len(m) - 1) // 2 + len(r) * len(m) for m, r in zip(members, reachers, strict=True)
    ]
    done, total = 0, sum(cells_work)
    for cell_members, cell_reachers, work in zip(members, reachers, cells_work, strict=True):
        if cancel is not None and cancel.cancelled:
            raise Cancelled("stopped while comparing images")
        if len(cell_members) == 0:
            continue
        inside = bounds[cell_members]
        for rows, cols in _within(inside, cell_members, threshold):
            yield _verified(vectors, rows, cols, threshold)
        for rows, cols in _across(bounds, cell_reachers, inside, cell_members, threshold):
            yield _verified(vectors, rows, cols, threshold)
        done += work
        progress(ProgressEvent("compare", done, total, "pairs compared"))


def _centres(vectors: np.ndarray, cells: int) -> np.ndarray:
    """A few rounds of Lloyd's k-means on a sample: the cells need only be compact."""
    from planche.core.cluster.kmeans import nearest_centre

    if cells == 1:
        return vectors[:1].astype(np.float32)
    rng = np.random.default_rng(0)
    size = min(len(vectors), cells * _SAMPLE_PER_CELL)
    sample = np.asarray(vectors[np.sort(rng.choice(len(vectors), size, replace=False))])
    centres = sample[rng.choice(size, cells, replace=False)].astype(np.float32)
    for _ in range(_LLOYD_ITERATIONS):
        labels = nearest_centre(sample, centres)
        sums = (labels[None, :] == np.arange(cells)[:, None]).astype(np.float32) @ sample
        counts = np.bincount(labels, minlength=cells)
        filled = counts > 0  # an empty cell keeps its centre
        centres[filled] = sums[filled] / counts[filled, None]
    return centres


def _bound_vectors(vectors: np.ndarray) -> np.ndarray:
    """Each vector as (its first d coordinates in a high-energy basis, the norm of the rest).

    The product of two of these is at least the cosine of the two vectors.
    """
    dim = vectors.shape[1]
    axes = int(np.ceil(dim * _BOUND_SHARE))
    if axes < 32:  # too few dimensions to be worth bounding: the bound is the score
        return np.hstack([vectors, np.zeros((len(vectors), 1), dtype=np.float32)])
    rng = np.random.default_rng(0)
    size = min(len(vectors), _BASIS_SAMPLE)
    sample = vectors[np.sort(rng.choice(len(vectors), size, replace=False))]
    # Uncentred: the axes that carry the most of |x|^2 leave the smallest rest.
    # One BLAS thread: on a busy 2-core machine several made this small
    # eigendecomposition take ~2 s instead of ~0.03 s (as for the map's PCA).
    with _blas_controller().limit(limits=1, user_api="blas"):
        _, eigenvectors = np.linalg.eigh((sample.T @ sample).astype(np.float64))
    basis = np.ascontiguousarray(eigenvectors[:, ::-1][:, :axes], dtype=np.float32)
    bound = np.empty((len(vectors), axes + 1), dtype=np.float32)
    head = bound[:, :axes]
    np.matmul(vectors, basis, out=head)
    # The rest's squared norm is |x|^2 - |x'|^2; adding more than the float32
    # error of that difference keeps the bound an upper bound.
    rest = np.einsum("ij,ij->i", vectors, vectors) - np.einsum("ij,ij->i", head, head)
    bound[:, axes] = np.sqrt(np.maximum(rest, 0) + _ROUNDING / 10)
    return bound


@cache
def _blas_controller():  # noqa: ANN202 - a threadpoolctl.ThreadpoolController
    """Finding the loaded BLAS libraries takes about 20 ms: done once per process."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _verified(
    vectors: np.ndarray, rows: np.ndarray, cols: np.ndarray, threshold: float, chunk: int = 65_536
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs whose full cosine reaches the threshold."""
    keep = np.empty(len(rows), dtype=bool)
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        scores = np.einsum("ij,ij->i", vectors[rows[part]], vectors[cols[part]])
        keep[part] = scores >= threshold
    return rows[keep], cols[keep]


def _partition(
    vectors: np.ndarray, centres: np.ndarray, radius: float, chunk: int = 16_384
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per cell: its members, and the vectors of lower cells that can reach it.

    A pair in cells A < B is looked for only from A's side, so each is found once.
    """
    cells = len(centres)
    squared = (centres**2).sum(axis=1)
    gaps = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * centres @ centres.T, 0))
    later = np.arange(cells)[None, :]
    owners = np.empty(len(vectors), dtype=np.int64)
    reach_parts: list[list[np.ndarray]] = [[] for _ in range(cells)]
    for start in range(0, len(vectors), chunk):
        # |x - c|^2 less |x|^2, the same for every centre.
        distances = squared[None, :] - 2 * (np.asarray(vectors[start : start + chunk]) @ centres.T)
        own = np.argmin(distances, axis=1)
        owners[start : start + len(own)] = own
        nearer_own = distances - distances[np.arange(len(own)), own][:, None]
        reach = (nearer_own - _ROUNDING <= 2 * radius * gaps[own]) & (later > own[:, None])
        for cell in np.flatnonzero(reach.any(axis=0)):
            reach_parts[cell].append(np.flatnonzero(reach[:, cell]) + start)
    order = np.argsort(owners, kind="stable")
    starts = np.searchsorted(owners[order], np.arange(cells + 1))
    members = [order[starts[c] : starts[c + 1]] for c in range(cells)]
    empty = np.empty(0, dtype=np.int64)
    reachers = [np.concatenate(parts) if parts else empty for parts in reach_parts]
    return members, reachers


def _within(
    inside: np.ndarray, positions: np.ndarray, threshold: float
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Candidate pairs inside one cell: each block of rows against itself and the rows after."""
    for start in range(0, len(inside), _BLOCK):
        scores = inside[start : start + _BLOCK] @ inside[start:].T
        np.fill_diagonal(scores, -np.inf)  # each row with itself
        rows, cols = _at_least(scores, threshold - _ROUNDING)
        keep = cols > rows
        if keep.any():
            yield positions[rows[keep] + start], positions[cols[keep] + start]


def _across(
    vectors: np.ndarray,
    reachers: np.ndarray,
    inside: np.ndarray,
    positions: np.ndarray,
    threshold: float,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Candidate pairs between a cell's members and the vectors of other cells that reach it."""
    for start in range(0, len(reachers), _BLOCK):
        queries = reachers[start : start + _BLOCK]
        rows, cols = _at_least(vectors[queries] @ inside.T, threshold - _ROUNDING)
        if len(rows):
            yield queries[rows], positions[cols]


def _at_least(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    # Most rows have nothing this similar: a row maximum is three times
    # cheaper than testing every score, so only the rows that pass are tested.
    hit = np.flatnonzero(scores.max(axis=1) >= threshold)
    rows, cols = np.nonzero(scores[hit] >= threshold)
    return hit[rows], cols
