"""Grid vectors (the pixels embedder's): their views, mirrored and turned, and aligned.

A pixels vector is made of grids: luma on an L x L grid, two chroma channels
on a C x C grid and, from v2, two numbers for flat pictures (which no turn
changes). v3 vectors hold one such block per *view* of the picture (the
whole of it, its centred square, a centred zoom: see
core/embedders/pixels.py), which the model row records. Because the blocks
are grids, a mirror or a quarter turn of the picture is a permutation of
their cells: `invariance` costs no new embedding, only more rows to compare.

Near-duplicates of a v3 vector are found in two steps:
1. candidates: every pair of views at cosine >= threshold - CANDIDATE_MARGIN
   (but not under CANDIDATE_FLOOR), found exactly by core/cluster/pairs.py,
   between views that can show the same thing: full with full, square with
   square or full, zoom with square;
2. a pair whose best view cosine already reaches the threshold is a
   duplicate; the others (each picture's 4 most similar ones at most, so
   the work grows with the pictures) are *aligned*, best first, skipping
   pairs already in one group: the grids of the best pair of views of one picture are
   resampled into the other's frame for every crop keeping 80, 90 or 100%
   of each side, on a grid of offsets of 1/16 of a side, then three times
   around the best crop, each end of each side kept or moved by half the
   previous step, both grids lightly blurred; the pair is a duplicate when the best
   aligned cosine reaches the threshold. That finds crops at any offset,
   which no single vector can: a 10% crop moves every detail by up to a
   tenth of the picture. A crop must be one a copy can be: it keeps at
   least 70% of a side and about 90% of the other (a trimmed copy, or one
   cut to another aspect, not a zoom), and it has the other picture's
   width:height (pictures' sizes from the project); a zoom view is only
   aligned within 5% (it stands for a centred cut already).
The aligned cosine is the cosine of the two blocks after the resampling, so
the threshold keeps its meaning. On the real-image set of
bench/duplicates_real.py (446 files) about 440 pairs are aligned, 0.5-1 ms
each on 2 busy cores (about 0.4 s); all 1,100 near misses gave the same
groups there.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

import numpy as np

from planche.core.blas import one_blas_thread
from planche.core.cluster.pairs import similar_pairs
from planche.core.errors import BadParameter, Cancelled
from planche.core.models import ModelIdentity
from planche.core.parallel import ordered_map
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress

INVARIANCES = ("none", "mirror", "rotate", "all")
# The picture's symmetries each invariance adds (the dihedral group of the square).
TURNS: dict[str, tuple[str, ...]] = {
    "none": ("identity",),
    "mirror": ("identity", "mirror", "flip"),
    "rotate": ("identity", "rot90", "rot180", "rot270"),
    "all": (
        "identity",
        "mirror",
        "flip",
        "rot90",
        "rot180",
        "rot270",
        "transpose",
        "antitranspose",
    ),
}
# Turns that swap width and height.
_QUARTER_TURNS = {"rot90", "rot270", "transpose", "antitranspose"}
# Candidate pairs are looked for this far under the threshold, then aligned,
# but never under the floor: with a loose threshold, aligning would compare
# most pairs for little gain.
CANDIDATE_MARGIN = 0.25
CANDIDATE_FLOOR = 0.7
# Views that may show the same thing in two copies: (view of one, view of the other).
_MATCHING_VIEWS = {("full", "full"), ("square", "square"), ("full", "square"), ("zoom", "square")}
# Crops tried when aligning: the kept share of a side, and the step of offsets.
_SCALES = (1.0, 0.9, 0.8)
_OFFSET_STEP = 1 / 16
# No side is cut to less than this while refining, and at least one side
# keeps _MIN_LONG: a copy cut to another aspect keeps one side (nearly) whole.
_MIN_SCALE = 0.7
_MIN_LONG = 0.89
# Pairs involving a zoom view keep at least this of each side.
_ZOOM_LEAST = 0.95
# A crop must have the other picture's shape (width:height), within this (log ratio).
_SHAPE_TOLERANCE = 0.1
# Then around each pair's best crop, this many times, with half the steps each time.
_REFINEMENTS = 3
# Both grids are blurred by [s, 1 - 2s, s] along each side before they are compared.
_SMOOTH = 0.1
_PAIRS_PER_BATCH = 64
# Near misses aligned at a time (between two looks at which groups they would join).
_ALIGN_CHUNK = 256
# Near misses aligned per picture, at most (its most similar ones).
_NEAR_MISSES_PER_IMAGE = 4


@dataclass(frozen=True)
class GridLayout:
    luma: int
    chroma: int
    flat: int
    views: tuple[str, ...]

    @classmethod
    def of(cls, model: ModelIdentity) -> GridLayout | None:
        """The grids of a model's vectors, or None when they are not grids (CLIP)."""
        pre = model.preprocessing or {}
        if "luma_grid" not in pre or "chroma_grid" not in pre:
            return None
        luma, chroma = int(pre["luma_grid"]), int(pre["chroma_grid"])
        views = tuple(pre.get("views", ("full",)))
        flat = model.dim // len(views) - luma**2 - 2 * chroma**2
        if flat not in (0, 2) or model.dim != len(views) * (luma**2 + 2 * chroma**2 + flat):
            return None
        return cls(luma, chroma, flat, views)

    @property
    def block(self) -> int:
        return self.luma**2 + 2 * self.chroma**2 + self.flat

    @property
    def aligned(self) -> bool:
        """Whether near misses are aligned (vectors with several views: v3)."""
        return len(self.views) > 1

    def blocks(self, vectors: np.ndarray) -> np.ndarray:
        """(n, views, block), each block of unit length."""
        blocks = np.asarray(vectors, dtype=np.float32).reshape(len(vectors), len(self.views), -1)
        norms = np.linalg.norm(blocks, axis=2, keepdims=True)
        return blocks / np.maximum(norms, 1e-12)

    def permutation(self, turn: str) -> np.ndarray:
        """Cell order of one block of the turned picture: turned = block[permutation]."""
        parts = [_turned(np.arange(self.luma**2).reshape(self.luma, self.luma), turn)]
        start = self.luma**2
        for _ in range(2):
            cells = np.arange(start, start + self.chroma**2).reshape(self.chroma, self.chroma)
            parts.append(_turned(cells, turn))
            start += self.chroma**2
        parts.append(np.arange(start, start + self.flat))
        return np.concatenate([p.ravel() for p in parts])


def _turned(grid: np.ndarray, turn: str) -> np.ndarray:
    return {
        "identity": lambda g: g,
        "mirror": np.fliplr,
        "flip": np.flipud,
        "rot90": lambda g: np.rot90(g, 1),
        "rot180": lambda g: np.rot90(g, 2),
        "rot270": lambda g: np.rot90(g, 3),
        "transpose": lambda g: g.T,
        "antitranspose": lambda g: np.rot90(g, 2).T,
    }[turn](grid)


def turned_pairs(
    vectors: np.ndarray,
    layout: GridLayout,
    threshold: float,
    invariance: str = "none",
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    aspects: np.ndarray | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(rows, columns) of the image pairs that are duplicates under this layout.

    Images match when some view of one and some view of the other (turned by
    one of the invariance's turns) score at least `threshold`, aligned when
    the layout says so. `aspects` (width / height of each picture), when
    given, make an aligned crop keep the other picture's shape.
    """
    n = len(vectors)
    if n < 2:
        return
    blocks = layout.blocks(vectors)
    turns = TURNS[invariance]
    views = len(layout.views)
    # Rows of the search: (turn, view, image), every turn of every view of every image.
    stacked = np.concatenate(
        [blocks[:, v, layout.permutation(t)] for t in turns for v in range(views)]
    )
    candidate = threshold
    if layout.aligned:
        candidate = min(threshold, max(threshold - CANDIDATE_MARGIN, CANDIDATE_FLOOR))
    view_names = layout.views
    matching = np.zeros((views, views), dtype=bool)
    for a in range(views):
        for b in range(views):
            pair = (view_names[a], view_names[b])
            matching[a, b] = pair in _MATCHING_VIEWS or pair[::-1] in _MATCHING_VIEWS
    found: list[tuple[np.ndarray, ...]] = []
    for rows, cols in similar_pairs(stacked, candidate, progress, cancel):
        turn_r, rest_r = np.divmod(rows, views * n)
        view_r, image_r = np.divmod(rest_r, n)
        turn_c, rest_c = np.divmod(cols, views * n)
        view_c, image_c = np.divmod(rest_c, n)
        # One side unturned: a pair of turned rows repeats an unturned one (or
        # stands for a turn the invariance does not allow, mirror then flip).
        keep = (image_r != image_c) & ((turn_r == 0) | (turn_c == 0)) & matching[view_r, view_c]
        if keep.any():
            rows, cols = rows[keep], cols[keep]
            scores = np.einsum("ij,ij->i", stacked[rows], stacked[cols])
            found.append((image_r[keep], image_c[keep], scores, rows, cols))
    if not found:
        return
    image_a, image_b, scores, rows, cols = (np.concatenate(f) for f in zip(*found, strict=True))
    low, high = np.minimum(image_a, image_b), np.maximum(image_a, image_b)
    done = scores >= threshold
    if done.any():
        yield low[done], high[done]
    if candidate >= threshold or done.all():
        return
    # Near misses: each image pair once, by its best pair of views that can be
    # a crop of one another, best first; a pair whose images are already in
    # one group cannot change the groups.
    zoom = np.array([v == "zoom" for v in layout.views])
    # A zoom view stands for a centred cut: aligned only to make up for
    # resampling, not searched for crops.
    least = np.where(zoom[rows // n % views] | zoom[cols // n % views], _ZOOM_LEAST, _MIN_SCALE)
    shape = np.full(len(rows), np.nan)
    if aspects is not None:
        shape = _view_aspect(cols, aspects, layout, turns) / _view_aspect(
            rows, aspects, layout, turns
        )
    # No crop keeping `least` of a side or more can change the shape further.
    possible = ~(np.abs(np.log(shape)) > _SHAPE_TOLERANCE - np.log(least))  # NaN: possible
    near = np.flatnonzero(~done & possible)
    order = near[np.lexsort((-scores[near], high[near], low[near]))]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (low[order][1:] != low[order][:-1]) | (high[order][1:] != high[order][:-1])
    best = order[first]
    best = best[np.argsort(-scores[best], kind="stable")]
    # At most the best few near misses of each picture: the work grows with
    # the pictures, not with the pairs that look alike.
    best = best[_among_best(low[best], high[best], n, _NEAR_MISSES_PER_IMAGE)]
    groups = _Groups(n, low[done], high[done])
    cancel = cancel or CancelToken()
    for start in range(0, len(best), _ALIGN_CHUNK):
        if cancel.cancelled:
            raise Cancelled()
        chunk = best[start : start + _ALIGN_CHUNK]
        chunk = chunk[groups.find(low[chunk]) != groups.find(high[chunk])]
        if len(chunk):
            aligned = aligned_cosines(
                stacked[rows[chunk]], stacked[cols[chunk]], layout, shape[chunk], least[chunk],
                enough=threshold,
            )  # fmt: skip
            hit = chunk[aligned >= threshold]
            groups.join(low[hit], high[hit])
            if len(hit):
                yield low[hit], high[hit]
        progress(ProgressEvent("align", min(start + _ALIGN_CHUNK, len(best)), len(best),
                               "aligning near misses"))  # fmt: skip


def _among_best(low: np.ndarray, high: np.ndarray, n: int, keep: int) -> np.ndarray:
    """Which pairs (given best first) are among the first `keep` of either picture."""
    images = np.concatenate([low, high])
    pair = np.concatenate([np.arange(len(low))] * 2)
    order = np.argsort(images, kind="stable")  # by picture, best first within each
    images, pair = images[order], pair[order]
    starts = np.searchsorted(images, np.arange(n))
    rank = np.arange(len(images)) - starts[images]
    chosen = np.zeros(len(low), dtype=bool)
    chosen[pair[rank < keep]] = True
    return chosen


def _view_aspect(
    rows: np.ndarray, aspects: np.ndarray, layout: GridLayout, turns: tuple[str, ...]
) -> np.ndarray:
    """Width / height of what each stacked row shows: the picture's for the full
    view (inverted by a quarter turn), 1 for the square views."""
    n, views = len(aspects), len(layout.views)
    turn, rest = np.divmod(rows, views * n)
    view, image = np.divmod(rest, n)
    across = np.array([t in _QUARTER_TURNS for t in turns])[turn]
    full = np.array([v == "full" for v in layout.views])[view]
    aspect = np.where(across, 1.0 / aspects[image], aspects[image])
    return np.where(full, aspect, 1.0)


class _Groups:
    """Union-find over images, so that pairs inside a group are not aligned."""

    def __init__(self, n: int, a: np.ndarray, b: np.ndarray) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
        labels = connected_components(graph, directed=False)[1].astype(np.int64)
        # Images point to their component's node (n + label), which points to itself.
        self.parent = np.concatenate([n + labels, np.arange(n, 2 * n, dtype=np.int64)])

    def find(self, images: np.ndarray) -> np.ndarray:
        roots = self.parent[images]
        while True:
            up = self.parent[roots]
            if np.array_equal(up, roots):
                return roots
            roots = up

    def join(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist(), strict=True):
            rx, ry = int(self.find(np.array([x]))[0]), int(self.find(np.array([y]))[0])
            if rx != ry:
                self.parent[rx] = ry


def aligned_cosines(
    a: np.ndarray,
    b: np.ndarray,
    layout: GridLayout,
    shape: np.ndarray | None = None,
    least: np.ndarray | None = None,
    *,
    enough: float | None = None,
) -> np.ndarray:
    """The best cosine of blocks a[i] and b[i] when either is a crop of the other.

    `shape[i]`, when given, is b[i]'s width:height over a[i]'s (of what the
    blocks show): a crop of one must then have the other's shape, within
    `_SHAPE_TOLERANCE`. `least[i]` is the smallest share of a side a crop
    may keep (default `_MIN_SCALE`). With `enough`, a pair is not refined
    further once it reaches that: its cosine is then at least `enough`, not
    always its best (every other pair's is exactly as without). Batches of
    pairs run on the CPU's cores (numpy's products release the GIL).
    """
    if shape is None:
        shape = np.full(len(a), np.nan)
    if least is None:
        least = np.full(len(a), _MIN_SCALE)
    # Batches of at most _PAIRS_PER_BATCH, of even sizes, at least one per core:
    # 66 pairs as 64 + 2 would leave one core idle most of the time.
    workers = min(len(a), os.cpu_count() or 1)
    count = max(workers, -(-len(a) // _PAIRS_PER_BATCH))
    edges = np.linspace(0, len(a), count + 1).round().astype(int)
    batches = [slice(start, stop) for start, stop in itertools.pairwise(edges.tolist())]

    def align(part: slice) -> np.ndarray:
        both = _best_crop(
            np.concatenate([a[part], b[part]]),
            np.concatenate([b[part], a[part]]),
            np.concatenate([shape[part], 1.0 / shape[part]]),
            np.concatenate([least[part], least[part]]),
            layout,
            enough,
        )
        return np.maximum(both[: len(both) // 2], both[len(both) // 2 :])

    with one_blas_thread():  # small products on planche's threads (core/blas.py)
        if workers <= 1:
            found = [align(part) for part in batches]
        else:
            found = list(ordered_map(align, batches, workers=workers, name="planche-align"))
    return np.concatenate(found).astype(np.float32) if found else np.empty(0, np.float32)


def _best_crop(
    source: np.ndarray,
    target: np.ndarray,
    shape: np.ndarray,
    least: np.ndarray,
    layout: GridLayout,
    enough: float | None = None,
) -> np.ndarray:
    """Best cosine of `target` with a crop of `source` resampled into target's frame.

    Every crop of a coarse grid (the same for all pairs), then, `_REFINEMENTS`
    times, the best crop so far with each end of each side kept or moved by
    half the previous step. With a known `shape` (target's width:height over
    source's), only crops (x share : y share) of that ratio count. With
    `enough`, rows i and i + p/2 are the two ways of one pair (as
    `aligned_cosines` stacks them), and a pair stops being refined once
    either way reaches `enough`: the rows still refined get the same values
    as without it (each row's products are its own).
    """
    src, dst = _Grids.of(source, layout, smooth=False), _Grids.of(target, layout, smooth=True)
    scale, offset = _coarse()
    p, k = len(source), scale.shape[1]
    rows = np.arange(p)
    scores = _scores(src, dst, _weights(layout, scale, offset), _weights(layout, scale, offset))
    scores = _shaped(
        scores, np.broadcast_to(scale, (p, k)), np.broadcast_to(scale, (p, k)), shape, least
    )
    at = np.divmod(scores.reshape(p, -1).argmax(axis=1), k)
    best = scores.reshape(p, -1).max(axis=1)
    sy, oy, sx, ox = scale[0, at[0]], offset[0, at[0]], scale[0, at[1]], offset[0, at[1]]
    step = _OFFSET_STEP
    for _ in range(_REFINEMENTS):
        step /= 2
        if enough is not None:
            half = p // 2
            done = best[:half] >= enough
            done |= best[half:] >= enough
            rows = np.flatnonzero(~np.concatenate([done, done]))
            if not len(rows):
                break
        ys, yo = _around(sy[rows], oy[rows], step)
        xs, xo = _around(sx[rows], ox[rows], step)
        y, x = _weights(layout, ys, yo), _weights(layout, xs, xo)
        some = len(rows) < p
        scores = _scores(src.take(rows) if some else src, dst.take(rows) if some else dst, y, x)
        scores = _shaped(scores, ys, xs, shape[rows], least[rows]).reshape(len(rows), -1)
        at = np.divmod(scores.argmax(axis=1), ys.shape[1])
        chosen = np.arange(len(rows))
        sy[rows], oy[rows] = ys[chosen, at[0]], yo[chosen, at[0]]
        sx[rows], ox[rows] = xs[chosen, at[1]], xo[chosen, at[1]]
        best[rows] = np.maximum(best[rows], scores.max(axis=1))
    return best


def _shaped(
    scores: np.ndarray, ys: np.ndarray, xs: np.ndarray, shape: np.ndarray, least: np.ndarray
) -> np.ndarray:
    """Scores (p, ky, kx) with the crops a copy cannot be set to -inf: those that
    keep less than `_MIN_LONG` of both sides (a zoom, not a trimmed copy) or
    less than `least` of a side, and, where the target's `shape` is known,
    those of another shape."""
    longer = np.maximum(xs[:, None, :], ys[:, :, None])
    shorter = np.minimum(xs[:, None, :], ys[:, :, None])
    ratio = np.log(xs[:, None, :] / ys[:, :, None]) - np.log(shape)[:, None, None]
    off = (np.abs(ratio) > _SHAPE_TOLERANCE) | (longer < _MIN_LONG)  # NaN shape: False
    off |= shorter < least[:, None, None] - 1e-6
    return np.where(off, -np.inf, scores)


@cache
def _coarse() -> tuple[np.ndarray, np.ndarray]:
    crops = [(s, o) for s in _SCALES for o in _offsets(s)]
    return np.array([[c[0] for c in crops]]), np.array([[c[1] for c in crops]])


def _around(scale: np.ndarray, offset: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(p, 9) crops of a side: each of its two ends kept or moved by `step` either way."""
    start, stop = offset[:, None], (offset + scale)[:, None]
    moves = np.array([(a, b) for a in (-1.0, 0.0, 1.0) for b in (-1.0, 0.0, 1.0)]) * step
    start = np.clip(start + moves[None, :, 0], 0.0, 1.0)
    stop = np.clip(stop + moves[None, :, 1], 0.0, 1.0)
    scale = np.clip(stop - start, _MIN_SCALE, 1.0)
    return scale, np.clip(start, 0.0, 1.0 - scale)


@dataclass(frozen=True)
class _Weights:
    luma: np.ndarray  # (p or 1, k, L, L), smoothing included
    chroma: np.ndarray  # (p or 1, k, C, C)


def _weights(layout: GridLayout, scale: np.ndarray, offset: np.ndarray) -> _Weights:
    if scale.shape[0] == 1:  # the coarse crops, the same for every pair
        return _shared_weights(layout.luma, layout.chroma)
    return _Weights(
        _smoothing(layout.luma) @ _resampling(layout.luma, scale, offset),
        _resampling(layout.chroma, scale, offset),
    )


@cache
def _shared_weights(luma: int, chroma: int) -> _Weights:
    scale, offset = _coarse()
    return _Weights(
        _smoothing(luma) @ _resampling(luma, scale, offset), _resampling(chroma, scale, offset)
    )


def _offsets(scale: float) -> np.ndarray:
    steps = int(np.floor((1.0 - scale) / _OFFSET_STEP + 1e-9))
    return np.linspace(0.0, 1.0 - scale, steps + 1) if steps else np.array([(1.0 - scale) / 2])


@dataclass
class _Grids:
    luma: np.ndarray  # (p, L, L), mean removed
    luma_norm: np.ndarray  # (p,) its length in the block
    chroma: np.ndarray  # (p, 2, C, C)
    flat: np.ndarray  # (p, flat)

    @classmethod
    def of(cls, blocks: np.ndarray, layout: GridLayout, smooth: bool) -> _Grids:
        n_luma, n_chroma = layout.luma**2, layout.chroma**2
        luma = blocks[:, :n_luma].reshape(-1, layout.luma, layout.luma)
        luma_norm = np.linalg.norm(blocks[:, :n_luma], axis=1)
        if smooth:  # the target side: smoothed as the resampled source will be
            g = _smoothing(layout.luma)
            luma = g @ luma @ g.T
            luma = luma - luma.mean(axis=(1, 2), keepdims=True)
            norm = np.linalg.norm(luma.reshape(len(luma), -1), axis=1)
            luma = luma * (luma_norm / np.maximum(norm, 1e-9))[:, None, None]
        chroma = blocks[:, n_luma : n_luma + 2 * n_chroma]
        return cls(
            luma.astype(np.float32),
            luma_norm,
            chroma.reshape(-1, 2, layout.chroma, layout.chroma),
            blocks[:, n_luma + 2 * n_chroma :],
        )

    def take(self, rows: np.ndarray) -> _Grids:
        return _Grids(self.luma[rows], self.luma_norm[rows], self.chroma[rows], self.flat[rows])

    def squared(self) -> np.ndarray:
        p = len(self.luma)
        return (
            np.einsum("pij,pij->p", self.luma, self.luma)
            + np.einsum("pi,pi->p", self.chroma.reshape(p, -1), self.chroma.reshape(p, -1))
            + np.einsum("pf,pf->p", self.flat, self.flat)
        )


def _scores(src: _Grids, dst: _Grids, y: _Weights, x: _Weights) -> np.ndarray:
    """(p, ky, kx) cosines of dst with src's crops y (rows) x x (columns).

    The crop of source S is Y = Wy S Wx^T, its luma mean removed and kept at
    the source's luma length (its weight in the block); Y itself is never
    made (see `_products`).
    """
    luma_n = src.luma.shape[-1]
    dot, square, total = _products(src.luma[:, None], dst.luma[:, None], y.luma, x.luma)
    centred = np.maximum(square - total**2 / luma_n**2, 1e-12)
    luma_dot = dot * (src.luma_norm[:, None, None] / np.sqrt(centred))
    chroma_dot, chroma_sq, _ = _products(src.chroma, dst.chroma, y.chroma, x.chroma)
    flat_dot = np.einsum("pf,pf->p", src.flat, dst.flat)[:, None, None]
    flat_sq = np.einsum("pf,pf->p", src.flat, src.flat)[:, None, None]
    src_sq = (src.luma_norm**2)[:, None, None] + chroma_sq + flat_sq
    dst_sq = dst.squared()[:, None, None]
    return (luma_dot + chroma_dot + flat_dot) / np.sqrt(np.maximum(src_sq * dst_sq, 1e-18))


def _products(
    source: np.ndarray, target: np.ndarray, wy: np.ndarray, wx: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Summed over channels c, for every (y crop, x crop): <Y, D>, |Y|^2 and sum(Y),
    where Y = Wy S Wx^T. source, target: (p, c, n, n); wy, wx: (p or 1, k, n, n).

    Y itself is never made: <Y, D> = <Wy S, D Wx>; |Y|^2 = trace(S^T Gy S Gx)
    = <Gy S, S Gx> with G = W^T W; sum(Y) = (1^T Wy) S (Wx^T 1). Each is a
    (ky, n^2) by (n^2, kx) product per pair, after 4k small products.
    """
    p, c, n, _ = source.shape
    ky, kx = wy.shape[1], wx.shape[1]
    wy, wx = wy[:, None], wx[:, None]  # (p or 1, 1, k, n, n)
    source, target = source[:, :, None], target[:, :, None]  # (p, c, 1, n, n)
    rows = (wy @ source).reshape(p, c, ky, n * n)
    against = (target @ wx).reshape(p, c, kx, n * n)
    dot = (rows @ against.swapaxes(-1, -2)).sum(axis=1)
    gram_y = (wy.swapaxes(-1, -2) @ wy) @ source
    gram_x = source @ (wx.swapaxes(-1, -2) @ wx)
    square = gram_y.reshape(p, c, ky, n * n) @ gram_x.reshape(p, c, kx, n * n).swapaxes(-1, -2)
    sums_y = wy.sum(axis=-2)[:, :, :, None] @ source  # (p, c, ky, 1, n)
    sums_x = wx.sum(axis=-2)  # (p or 1, 1, kx, n)
    total = sums_y[..., 0, :] @ sums_x.swapaxes(-1, -2)
    return dot, square.sum(axis=1), total.sum(axis=1)


@cache
def _smoothing(n: int) -> np.ndarray:
    """A [s, 1 - 2s, s] blur along one side (s = _SMOOTH, edges repeated), applied
    to both grids before comparing: bilinear resampling loses detail near the
    grid's resolution that the other grid still has."""
    g = np.zeros((n, n), dtype=np.float32)
    for i in range(n):
        for j, weight in ((i - 1, _SMOOTH), (i, 1 - 2 * _SMOOTH), (i + 1, _SMOOTH)):
            g[i, min(max(j, 0), n - 1)] += weight
    return g


def _resampling(n: int, scale: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """(p, k, n, n) bilinear weights: row i of the crop [offset, offset + scale]
    of a side, sampled from the n cells of the whole side."""
    centres = (np.arange(n, dtype=np.float32) + 0.5) / n
    position = (offset[..., None] + scale[..., None] * centres) * n - 0.5
    position = np.clip(position, 0.0, n - 1.0).astype(np.float32)
    # Tent weights: 1 - distance to each cell, where that is under 1.
    cells = np.arange(n, dtype=np.float32)
    return np.maximum(0.0, 1.0 - np.abs(position[..., None] - cells))


def check_invariance(invariance: str, layout: GridLayout | None, model_label: str) -> None:
    if invariance != "none" and layout is None:
        raise BadParameter(
            "invariance", invariance,
            f"none with {model_label}: only pixels vectors (grids) can be mirrored or turned",
        )  # fmt: skip
