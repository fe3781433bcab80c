"""Every pair of vectors at or above a cosine threshold, exactly, without comparing all pairs.

For unit vectors, cosine >= t is distance <= r = sqrt(2 - 2t). The vectors are
split into cells around a few k-means centres (each vector in the cell of its
nearest centre). A vector y of cell B is nearer to B's centre b than to any
other centre a, so it lies on b's side of the hyperplane halfway between a
and b; a vector x can only be within r of it if x itself is within r of that
half-space, whose distance is (|x - b|^2 - |x - a|^2) / (2 |a - b|). With a as
x's own centre, that needs only the distances to the centres, computed once.
So each vector is compared with the cells it can reach and no others.

Inside a reached cell, a projection cuts further: along any unit vector u,
|x.u - y.u| <= |x - y|. Along the line from a to b, a member y of B is beyond
the half-way hyperplane by some s, x is before it by h, and they can only be
within r if s + h <= r; members are sorted by s, so each x meets a prefix of
them (about a quarter of the cell at 1M vectors). Inside one cell, members
are sorted along their widest direction and compared only within r along it.
Every cut follows from the triangle inequality or Cauchy-Schwarz, so the pairs
found are exactly the ones an all-pairs matrix finds.

Inside that search the scores are first bounded from above in few
dimensions: in an orthonormal basis whose first d axes carry most of the
vectors' energy, x.y = x'.y' + x''.y'' <= x'.y' + |x''| |y''| (Cauchy-Schwarz on
the rest), a (d+1)-dimensional product. Only pairs whose bound reaches the
threshold (a fraction of a percent) are scored in full.

How much that saves depends on the data: on vectors with the structure of
image embeddings (bench/cluster.py) about 3% of all pairs are compared at 1M
(8% with cells alone); on structureless noise every pair is, and only the
cheaper bound is left (3.4 times faster than all pairs). Cells are compared in
parallel threads. The duplicates strategy turns the pairs into groups.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import numpy as np

from planche.core.blas import one_blas_thread
from planche.core.errors import Cancelled
from planche.core.parallel import ordered_map
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress

# Vectors per cell, about: fewer cells prune less, more cost more distances.
CELL_SIZE = 1_000
MAX_CELLS = 256
_LLOYD_ITERATIONS = 8
_SAMPLE_PER_CELL = 40
# Rows compared at a time: their scores against a cell stay in the CPU's cache
# (at 1M vectors 4,096 rows were 30% slower per pair than 512, and 512 4%
# slower than 256; 128 was slower again).
_BLOCK = 256
# A block of rows ends where they need this share of its first row's columns,
# unless it has fewer rows than _MIN_BLOCK (small products are slow per pair).
_SHRINK = 0.75
_MIN_BLOCK = 64
# Vectors whose distances to the centres are computed at a time.
_CHUNK = 16_384
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
    workers = os.cpu_count() or 1
    # The cells are compared in parallel, each with one BLAS thread: the
    # products are most of the work, but not all (row maxima, gathers).
    with one_blas_thread():
        cells = Cells(vectors, np.sqrt(max(0.0, 2 - 2 * threshold)), workers, cancel)
        bounds = _bound_vectors(vectors, workers)
        cells_work = cells.work()
        done, total = 0, sum(cells_work)

        def cell_pairs(cell: int) -> tuple[np.ndarray, np.ndarray]:
            return cells.pairs(cell, vectors, bounds, threshold)

        found = ordered_map(
            cell_pairs, range(len(cells_work)), workers=workers, cancel=cancel, name="planche-pairs"
        )
        compared = 0
        for rows, cols in found:
            if len(rows):
                yield rows, cols
            done += cells_work[compared]
            compared += 1
            progress(ProgressEvent("compare", done, total, "pairs compared"))
    if compared < len(cells_work):
        raise Cancelled("stopped while comparing images")


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


def _bound_vectors(vectors: np.ndarray, workers: int = 1) -> np.ndarray:
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
    with one_blas_thread():
        _, eigenvectors = np.linalg.eigh((sample.T @ sample).astype(np.float64))
    basis = np.ascontiguousarray(eigenvectors[:, ::-1][:, :axes], dtype=np.float32)
    bound = np.empty((len(vectors), axes + 1), dtype=np.float32)

    def fill(start: int) -> None:
        part = vectors[start : start + _CHUNK]
        head = part @ basis
        bound[start : start + len(part), :axes] = head
        # The rest's squared norm is |x|^2 - |x'|^2; adding more than the float32
        # error of that difference keeps the bound an upper bound.
        rest = np.einsum("ij,ij->i", part, part) - np.einsum("ij,ij->i", head, head)
        bound[start : start + len(part), axes] = np.sqrt(np.maximum(rest, 0) + _ROUNDING / 10)

    for _ in ordered_map(
        fill, range(0, len(vectors), _CHUNK), workers=workers, name="planche-bound"
    ):
        pass
    return bound


def _verified(
    row_vectors: np.ndarray,
    rows: np.ndarray,
    column_vectors: np.ndarray,
    cols: np.ndarray,
    threshold: float,
    chunk: int = 1_024,
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs (rows of `row_vectors`, cols of `column_vectors`) whose
    full cosine reaches the threshold.

    A chunk's two gathered copies (2 KiB a pair at 512-d) stay in the CPU's
    cache: 1,024 pairs at a time took 175 ns a pair, 65,536 550-950 ns."""
    keep = np.empty(len(rows), dtype=bool)
    for start in range(0, len(rows), chunk):
        part = slice(start, start + chunk)
        scores = np.einsum("ij,ij->i", row_vectors[rows[part]], column_vectors[cols[part]])
        keep[part] = scores >= threshold
    return rows[keep], cols[keep]


class Cells:
    """The vectors split around k-means centres, and each cell's candidate pairs.

    Every comparison a cell needs is cut twice, exactly. Cells: a vector only
    meets the cells it can reach (its half-space distance, module docstring).
    Inside that, a projection: for centres p and q, with u the unit vector
    from p to q, x.u - y.u is at most |x - y|, and 2 |p - q| (x.u - y.u) is
    the difference of the vectors' keys D(p) - D(q), where D(c) = |c|^2 - 2 x.c
    is what the partition computes anyway. So a pair within the radius has
    keys at most 2 |p - q| radius apart. Members are sorted by key and a
    vector is only compared with the members inside its window: about a
    quarter of what the cell test alone leaves at 1M (bench/cluster.py data).
    """

    def __init__(
        self,
        vectors: np.ndarray,
        radius: float,
        workers: int = 1,
        cancel: CancelToken | None = None,
    ) -> None:
        n = len(vectors)
        self.radius = radius
        self.centres = _centres(vectors, min(MAX_CELLS, max(1, n // CELL_SIZE)))
        cells = len(self.centres)
        squared = (self.centres**2).sum(axis=1)
        self.gaps = np.sqrt(
            np.maximum(squared[:, None] + squared[None, :] - 2 * self.centres @ self.centres.T, 0)
        )
        # 2 |a - b| radius, the most a vector of cell a can be nearer a than b
        # and still reach b's cell; only later cells are reached from a (-inf).
        self._reach = np.where(
            np.arange(cells)[None, :] > np.arange(cells)[:, None],
            2 * radius * self.gaps + _ROUNDING,
            -np.inf,
        ).astype(np.float32)
        # Cell numbers as int16 (MAX_CELLS fits): numpy sorts them by radix.
        self.owners = np.empty(n, dtype=np.int16)
        # D(c) of every vector and centre, kept in float16 (512 MB at 1M
        # vectors, 256 cells); the keys allow for its rounding (`slack`).
        self.keys = np.empty((n, cells), dtype=np.float16)
        parts = list(
            ordered_map(
                lambda start: self._place(vectors, start, squared),
                range(0, n, _CHUNK),
                workers=workers,
                cancel=cancel,
                name="planche-cells",
            )
        )
        if cancel is not None and cancel.cancelled:  # the partition stopped part-way
            raise Cancelled("stopped while comparing images")
        # A key is the difference of two float16 values, each off by at most
        # largest * 2^-11 (half a unit in the last place); twice that for room.
        self.slack = 4 * max(part[0] for part in parts) * 2.0**-11 + _ROUNDING
        order = np.argsort(self.owners, kind="stable")
        self.members = _split(order, self.owners[order], cells)
        found = np.concatenate([part[1] for part in parts])
        order = np.argsort(found, kind="stable")
        self.reachers = _split(np.concatenate([p[2] for p in parts])[order], found[order], cells)
        self.reach_keys = _split(np.concatenate([p[3] for p in parts])[order], found[order], cells)

    def _place(
        self, vectors: np.ndarray, start: int, squared: np.ndarray
    ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        """Own cells and keys of the vectors from `start`; the largest key and,
        per later cell they reach, (cell, position, reach key)."""
        distances = np.asarray(vectors[start : start + _CHUNK]) @ self.centres.T
        distances *= -2
        distances += squared
        self.keys[start : start + len(distances)] = distances
        largest = max(float(distances.max()), -float(distances.min()))
        own = np.argmin(distances, axis=1)
        self.owners[start : start + len(own)] = own
        nearest = distances[np.arange(len(own)), own]
        limit = self._reach[own]
        limit += nearest[:, None]
        rows, found = np.nonzero(distances <= limit)
        # 2 |a - b| times the distance to the half-space of b's cell.
        return largest, found.astype(np.int16), rows + start, distances[rows, found] - nearest[rows]

    def work(self) -> list[int]:
        """Pairs each cell would compare without the projection cut (for progress)."""
        return [
            len(m) * (len(m) - 1) // 2 + len(r) * len(m)
            for m, r in zip(self.members, self.reachers, strict=True)
        ]

    def pairs(
        self, cell: int, vectors: np.ndarray, bounds: np.ndarray, threshold: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pairs of the cell whose cosine reaches the threshold: inside it,
        and with the vectors of lower cells that reach it."""
        members = self.members[cell]
        if len(members) == 0:
            return _NO_POSITIONS, _NO_POSITIONS
        keys = self.keys[members].astype(np.float32)
        inside = bounds[members]
        found = [
            *self._within(inside, threshold),
            *self._across(cell, keys, inside, bounds, threshold),
        ]
        if not found:
            return _NO_POSITIONS, _NO_POSITIONS
        rows = np.concatenate([members[rows] if within else rows for rows, _, within in found])
        cols = np.concatenate([cols for _, cols, _ in found])
        # A row has several candidates (about 7 on bench/cluster.py data): each
        # vector is gathered once, then the pairs are scored from the copies.
        positions, rows = np.unique(rows, return_inverse=True)
        rows, cols = _verified(vectors[positions], rows, vectors[members], cols, threshold)
        return positions[rows], members[cols]

    def _within(
        self, inside: np.ndarray, threshold: float
    ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        """Each block of members (sorted along their widest direction) against
        itself and the members after it within the radius along it: (row,
        column) as members' indices."""
        if len(inside) > _BLOCK:
            # Along the direction the members spread most, two of them within
            # the radius are at most the radius apart.
            head = inside[:, :-1]  # coordinates in an orthonormal basis
            along = head @ _widest_direction(head)
            order = np.argsort(along, kind="stable")
            own_keys, width = along[order], self.radius + _ROUNDING
            inside = inside[order]
        else:
            order = np.arange(len(inside))
            own_keys, width = np.zeros(len(inside), dtype=np.float32), 1.0
        for start in range(0, len(inside), _BLOCK):
            stop = min(start + _BLOCK, len(inside))
            end = int(np.searchsorted(own_keys, own_keys[stop - 1] + width, side="right"))
            scores = inside[start:stop] @ inside[start:end].T
            np.fill_diagonal(scores, -np.inf)  # each row with itself
            rows, cols = _at_least(scores, threshold - _ROUNDING)
            keep = cols > rows
            if keep.any():
                yield order[rows[keep] + start], order[cols[keep] + start], True

    def _across(
        self, cell: int, keys: np.ndarray, inside: np.ndarray, bounds: np.ndarray, threshold: float
    ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        """The reachers of each lower cell, nearest the border first, against
        the members whose key is within reach of theirs: (position, member's index)."""
        reachers, reach_keys = self.reachers[cell], self.reach_keys[cell]
        if len(reachers) == 0:
            return
        owners = self.owners[reachers]
        order = np.lexsort((reach_keys, owners))
        reachers, reach_keys, owners = reachers[order], reach_keys[order], owners[order]
        firsts = np.concatenate([[0], np.flatnonzero(np.diff(owners)) + 1, [len(owners)]])
        for first, last in itertools.pairwise(firsts.tolist()):
            other = owners[first]
            # A member's key D(other) - D(cell) is >= 0; a reacher's reach key
            # is D(cell) - D(other) >= 0; a pair within the radius has their
            # sum at most 2 |other - cell| radius.
            member_keys = keys[:, other] - keys[:, cell]
            order = np.argsort(member_keys)
            member_keys = member_keys[order]
            reach = 2 * self.gaps[other, cell] * self.radius + self.slack
            widest = int(np.searchsorted(member_keys, reach - reach_keys[first], side="right"))
            if widest == 0:
                continue
            near = inside[order[:widest]]
            # Members each reacher must meet: fewer and fewer down the group.
            counts = np.searchsorted(member_keys[:widest], reach - reach_keys[first:last], "right")
            for start, stop in _blocks(counts):
                queries = reachers[first + start : first + stop]
                rows, cols = _at_least(
                    bounds[queries] @ near[: counts[start]].T, threshold - _ROUNDING
                )
                if len(rows):
                    yield queries[rows], order[cols], False


_NO_POSITIONS = np.empty(0, dtype=np.int64)


def _widest_direction(points: np.ndarray, rounds: int = 12) -> np.ndarray:
    """A unit vector along which the points spread most (power iteration)."""
    centred = points - points.mean(axis=0)
    direction = np.random.default_rng(0).standard_normal(points.shape[1]).astype(np.float32)
    for _ in range(rounds):
        direction = centred.T @ (centred @ direction)
        direction /= max(float(np.linalg.norm(direction)), 1e-30)
    return direction


def _blocks(counts: np.ndarray) -> Iterator[tuple[int, int]]:
    """Rows start:stop with non-increasing `counts` cut into blocks of at most
    _BLOCK rows, each ending before its rows need a quarter fewer columns than
    its first (the block's product covers its first row's count for all)."""
    start, size = 0, len(counts)
    while start < size and counts[start] > 0:
        smaller = int(np.searchsorted(-counts, -_SHRINK * counts[start], side="right"))
        stop = min(start + _BLOCK, size, max(smaller, start + _MIN_BLOCK))
        yield start, stop
        start = stop


def _split(values: np.ndarray, cells_sorted: np.ndarray, cells: int) -> list[np.ndarray]:
    """`values` (sorted by cell) cut into one array per cell 0..cells-1."""
    starts = np.searchsorted(cells_sorted, np.arange(cells + 1))
    return [values[starts[c] : starts[c + 1]] for c in range(cells)]


def _at_least(scores: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    # Most rows have nothing this similar: a row maximum is three times
    # cheaper than testing every score, so only the rows that pass are tested.
    hit = np.flatnonzero(scores.max(axis=1) >= threshold)
    rows, cols = np.nonzero(scores[hit] >= threshold)
    return hit[rows], cols
