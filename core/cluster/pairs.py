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

On large inputs, where the CPU multiplies bfloat16 natively (AVX512-BF16,
AMX), the bound products run in bfloat16 through torch, about 3.7 times
faster than float32. Rounding the bound vectors to bfloat16 moves a product
by up to 2^-7: the screen adds to each product how far the rounding of its
two vectors can have moved it (`Bfloat16Products`, about 0.0045 on
bench/cluster.py data; the float32 sums in `_bfloat16_allowance`), so it lets
through every pair the float32 bound would, and a few more, and every one is
then scored in full in float32, as before.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

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
# Up to this many vectors every pair is scored by plain products (in blocks of
# _BLOCK rows against the rows after them): below it the cells' set-up costs
# more than it saves (1.5-2.7x slower at 1-4k stacked pixels views; level at 5k).
DIRECT_UP_TO = 4_000
# From this many vectors the bound products run in bfloat16 (torch), where
# the CPU has bfloat16 products (`_fast_bfloat16`): below it, importing torch
# (1-2 s) costs more than the products save (bench/cluster.py data, torch not
# yet imported: 2 s slower at 200k, even at 500k, 3-4 s faster at 1M).
BFLOAT16_FROM = 500_000
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
    if n <= DIRECT_UP_TO:
        yield from _direct_pairs(vectors, threshold, workers, progress, cancel)
        return
    # The cells are compared in parallel, each with one BLAS thread: the
    # products are most of the work, but not all (row maxima, gathers).
    with one_blas_thread(), _one_torch_thread(n >= BFLOAT16_FROM and _fast_bfloat16()) as torch:
        cells = Cells(vectors, np.sqrt(max(0.0, 2 - 2 * threshold)), workers, cancel)
        bounds = _bound_vectors(vectors, workers)
        if torch is None:
            products: Products = Products(bounds, threshold)
        else:
            products = Bfloat16Products(torch, bounds, threshold)
        del bounds
        cells_work = cells.work()
        done, total = 0, sum(cells_work)

        def cell_pairs(cell: int) -> tuple[np.ndarray, np.ndarray]:
            return cells.pairs(cell, vectors, products)

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


def _direct_pairs(
    vectors: np.ndarray,
    threshold: float,
    workers: int,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """All pairs by plain products, for few vectors: screened with the rounding
    allowance, then scored as the cells' candidates are, so the same pairs."""
    n = len(vectors)
    starts = range(0, n, _BLOCK)

    def block_pairs(start: int) -> tuple[np.ndarray, np.ndarray]:
        scores = vectors[start : start + _BLOCK] @ vectors[start:].T
        rows, cols = _at_least(scores, threshold - _ROUNDING)
        rows, cols = rows + start, cols + start
        above = cols > rows
        return _verified(vectors, rows[above], vectors, cols[above], threshold)

    done = 0
    with one_blas_thread():
        found = ordered_map(block_pairs, starts, workers=workers, cancel=cancel,
                            name="planche-pairs")  # fmt: skip
        for rows, cols in found:
            if len(rows):
                yield rows, cols
            done += 1
            progress(ProgressEvent("compare", done, len(starts), "pairs compared"))
    if done < len(starts):
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


class Products:
    """The bound products of blocks of vectors, compared with the threshold: in float32."""

    def __init__(self, bounds: np.ndarray, threshold: float) -> None:
        self.bounds = bounds
        self.threshold = threshold
        self.limit = threshold - _ROUNDING
        # How much further apart two vectors' first coordinates (`heads`) may be
        # along a unit vector than the float32 ones: 0, they are them.
        self.blur = 0.0

    def take(self, positions: np.ndarray) -> Any:
        """The bound vectors of the vectors at `positions`, as a block to compare."""
        return self.bounds[positions]

    def subset(self, block: Any, order: np.ndarray) -> Any:
        """The rows `order` of a block."""
        return block[order]

    def heads(self, block: Any) -> np.ndarray:
        """A block's coordinates in the orthonormal basis (float32)."""
        return block[:, :-1]

    def passing(
        self, rows: Any, columns: Any, diagonal: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) positions in two blocks of the pairs whose bound reaches the
        threshold. `diagonal`: the rows are the first columns, not compared with themselves."""
        scores = rows @ columns.T
        if diagonal:
            np.fill_diagonal(scores, -np.inf)
        return _at_least(scores, self.limit)


class Bfloat16Products(Products):
    """The bound products in bfloat16 (torch, float32 sums), plus how far their
    rounding can have moved them: every pair the float32 products let through,
    and a few more.

    With x~ = bf(x), d = x~ - x for each bound vector, x.y = x~.y~ - d_x.y~ -
    x~.d_y + d_x.d_y, so x.y <= x~.y~ + |d_x| (|y~| + |d_y|) + |x~| |d_y|. Each
    vector's |d| is measured (about 0.6 of the worst case, 2^-8 |x|) and the
    terms are two more columns: |d_x| and N (>= every |x~|) on the rows' side,
    N + |d_y| and |d_y| on the columns', each rounded up to bfloat16 so that
    these products can only come out larger. The threshold is two more:
    -high and -low on the rows' side, 1 and 1 on the columns'. The product is
    then (bound + rounding - threshold), whose sign rounding keeps: the test is
    the sign bit of the bfloat16 product (int16 >= 0).

    oneDNN prepares a product for each shape it meets and keeps the last 1,024:
    with a new shape every block it ran at a third of its speed. Blocks are
    multiplied in a few sizes (`_padded`), reaching into spare rows that every
    block has after its own, and the scores of the spare rows are not looked at.
    """

    def __init__(self, torch: Any, bounds: np.ndarray, threshold: float) -> None:
        self.torch = torch
        self.threshold = threshold
        n, width = bounds.shape
        self.axes = width - 1
        self.bounds = torch.empty((n, width + 4), dtype=torch.bfloat16)
        off = np.empty(n)
        largest = 0.0
        for start in range(0, n, _CHUNK):
            part = bounds[start : start + _CHUNK]
            rounded = self.bounds[start : start + len(part), :width]
            rounded[:] = torch.from_numpy(part)
            exact = rounded.double().numpy()  # float32 and bfloat16 values are exact in float64
            largest = max(largest, float(np.sqrt(np.einsum("ij,ij->i", exact, exact)).max()))
            off[start : start + len(part)] = _rounding_off(exact, part)
        # float64 norms are off by about 1e-16 of themselves: rounded up with room.
        reach = float(_bfloat16_above(np.array([largest * (1 + 1e-9)]))[0])
        off = off * (1 + 1e-9)
        self.bounds[:, width] = torch.from_numpy(_bfloat16_above(reach + off))
        self.bounds[:, width + 1] = torch.from_numpy(_bfloat16_above(off))
        self.bounds[:, width + 2 :] = 1
        limit = threshold - _ROUNDING - _bfloat16_allowance(reach**2, width + 4)
        high = _bfloat16_below(limit)
        low = _bfloat16_below(limit - high)
        # A row's last four columns: its |d|, N, -high, -low.
        self.row_tail = torch.tensor([reach, -high, -low], dtype=torch.bfloat16)
        assert self.row_tail.tolist() == [reach, -high, -low] and high + low <= limit
        # Along a unit vector a vector's first coordinates moved by at most |d|.
        self.blur = 2 * float(off.max(initial=0.0)) + 1e-6
        self._buffers = threading.local()

    def take(self, positions: np.ndarray) -> Any:
        return self._spared(self.bounds, positions)

    def subset(self, block: Any, order: np.ndarray) -> Any:
        return self._spared(block, order)

    def heads(self, block: Any) -> np.ndarray:
        return block[:, : self.axes].float().numpy()

    def passing(
        self, rows: Any, columns: Any, diagonal: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        queries = _grown(rows, _padded(len(rows))).clone()
        queries[:, -4] = queries[:, -3]
        queries[:, -3:] = self.row_tail
        padded = _grown(columns, _padded(len(columns)))
        # Into a buffer kept by each thread: with a new one (up to 2 MB) per
        # block, similar_pairs took 26.2 s at 1M instead of 23.5 s.
        products = self._buffer(len(queries) * len(padded)).view(len(queries), len(padded))
        self.torch.mm(queries, padded.T, out=products)
        scores = products.view(self.torch.int16).numpy()[: len(rows), : len(columns)]
        if diagonal:
            np.fill_diagonal(scores, -1)  # a negative bfloat16
        return _at_least(scores, 0)

    def _buffer(self, size: int) -> Any:
        """`size` bfloat16 values of this thread's own buffer for products."""
        buffer = getattr(self._buffers, "products", None)
        if buffer is None or len(buffer) < size:
            buffer = self._buffers.products = self.torch.empty(size, dtype=self.torch.bfloat16)
        return buffer[:size]

    def _spared(self, source: Any, positions: np.ndarray) -> Any:
        """The rows `positions` of `source`, followed by enough spare rows for any
        of its blocks to be `_padded`."""
        spare = max(_BLOCK, len(positions) // 16 + 64)
        block = self.torch.zeros((len(positions) + spare, source.shape[1]), dtype=source.dtype)
        index = self.torch.from_numpy(np.ascontiguousarray(positions, dtype=np.int64))
        self.torch.index_select(source, 0, index, out=block[: len(positions)])
        return block[: len(positions)]


def _padded(size: int) -> int:
    """`size` rounded up to one of few sizes: multiples of 64, and above 1,024
    16 sizes per doubling (at most 1/16 more)."""
    step = 64 << max(0, (size - 1).bit_length() - 11)
    return -(-size // step) * step


def _grown(block: Any, rows: int) -> Any:
    """A torch block seen with `rows` rows, reaching into the spare rows after it."""
    return block.as_strided((rows, block.shape[1]), block.stride(), block.storage_offset())


def _rounding_off(rounded: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """|bf(x) - x| of each vector (float64), from its rounded and float32 values."""
    return np.sqrt(np.einsum("ij,ij->i", rounded - vectors, rounded - vectors))


def _bfloat16_allowance(norm2: float, width: int) -> float:
    """How far below the float32 bound product the bfloat16 sum (rounding columns
    included) may come out, for vectors of squared norm at most `norm2`,
    `width` columns in all: float32 sums only, the rounding of the vectors to
    bfloat16 is in the rounding columns (`Bfloat16Products`).

    Rounding to bfloat16 (nearest, 8 significant bits: a step of 2^-7 from 1
    to 2) changes a value by at most half a step, 2^-8 of itself (tests check
    that torch rounds to nearest); the rounding columns count each vector's
    actual change |d|, at most 2^-8 |x|. Products of two bfloat16 values are
    exact in float32 and torch sums them in float32 (oneDNN; tests/test_pairs.py
    checks it on the shapes the search makes): a sum of `width` terms in any
    order is off by at most (width - 1) 2^-24 (1 + tiny) of the sum of their
    magnitudes, at most norm2 + 2^-6 + 1 here (the product terms, the rounding
    columns, the threshold's). The float32 product the screen replaces was
    itself off by up to width 2^-24 norm2 below the exact one. Counting both at
    2 width 2^-24 (norm2 + 2) covers them with room; rounding the sum to
    bfloat16 at the end keeps its sign, which is all that is tested. So every
    pair whose float32 bound reached threshold - _ROUNDING gets a sum of at
    least threshold - _ROUNDING - this, about 4e-5.
    """
    return 2 * width * 2.0**-24 * (norm2 + 2)


def _bfloat16_above(values: np.ndarray) -> np.ndarray:
    """The smallest bfloat16 numbers at least `values`, as float32."""
    single = values.astype(np.float32)
    single = np.where(single < values, np.nextafter(single, np.float32(np.inf)), single)
    bits = single.view(np.uint32) & np.uint32(0xFFFF_0000)  # cut towards 0
    cut = bits.view(np.float32)
    # Cutting moved a positive value down (one step up again), a negative one up.
    return np.where(cut < single, (bits + np.uint32(0x1_0000)).view(np.float32), cut)


def _bfloat16_below(value: float) -> float:
    """The largest bfloat16 number at most `value`."""
    return -float(_bfloat16_above(np.array([-value]))[0])


@cache
def _fast_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (elsewhere torch emulates it)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            flags = next((line for line in info if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@contextmanager
def _one_torch_thread(wanted: bool) -> Iterator[Any]:
    """torch with one thread per caller (the cells' threads are the parallelism),
    or None when not `wanted` or not installed."""
    if not wanted:
        yield None
        return
    try:
        import torch
    except ImportError:
        yield None
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield torch
    finally:
        torch.set_num_threads(threads)


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
        self, cell: int, vectors: np.ndarray, products: Products
    ) -> tuple[np.ndarray, np.ndarray]:
        """The pairs of the cell whose cosine reaches the threshold: inside it,
        and with the vectors of lower cells that reach it."""
        members = self.members[cell]
        if len(members) == 0:
            return _NO_POSITIONS, _NO_POSITIONS
        keys = self.keys[members].astype(np.float32)
        inside = products.take(members)
        found = [
            *self._within(inside, products),
            *self._across(cell, keys, inside, products),
        ]
        if not found:
            return _NO_POSITIONS, _NO_POSITIONS
        rows = np.concatenate([members[rows] if within else rows for rows, _, within in found])
        cols = np.concatenate([cols for _, cols, _ in found])
        # A row has several candidates (about 7 on bench/cluster.py data): each
        # vector is gathered once, then the pairs are scored from the copies.
        positions, rows = np.unique(rows, return_inverse=True)
        rows, cols = _verified(vectors[positions], rows, vectors[members], cols, products.threshold)
        return positions[rows], members[cols]

    def _within(
        self, inside: Any, products: Products
    ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
        """Each block of members (sorted along their widest direction) against
        itself and the members after it within the radius along it: (row,
        column) as members' indices."""
        if len(inside) > _BLOCK:
            # Along the direction the members spread most, two of them within
            # the radius are at most the radius apart.
            head = products.heads(inside)  # coordinates in an orthonormal basis
            along = head @ _widest_direction(head)
            order = np.argsort(along, kind="stable")
            own_keys, width = along[order], self.radius + _ROUNDING + products.blur
            inside = products.subset(inside, order)
        else:
            order = np.arange(len(inside))
            own_keys, width = np.zeros(len(inside), dtype=np.float32), 1.0
        for start in range(0, len(inside), _BLOCK):
            stop = min(start + _BLOCK, len(inside))
            end = int(np.searchsorted(own_keys, own_keys[stop - 1] + width, side="right"))
            rows, cols = products.passing(inside[start:stop], inside[start:end], diagonal=True)
            keep = cols > rows
            if keep.any():
                yield order[rows[keep] + start], order[cols[keep] + start], True

    def _across(
        self, cell: int, keys: np.ndarray, inside: Any, products: Products
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
            near = products.subset(inside, order[:widest])
            # Members each reacher must meet: fewer and fewer down the group.
            counts = np.searchsorted(member_keys[:widest], reach - reach_keys[first:last], "right")
            for start, stop in _blocks(counts):
                queries = reachers[first + start : first + stop]
                rows, cols = products.passing(products.take(queries), near[: counts[start]])
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
