"""The approximate index: usearch HNSW graphs over int8 codes, re-ranked exactly.

The shape, and why (BENCHMARKS.md, "Search at a million"):
- The graph holds int8 codes of the vectors: a quarter of float32's bytes and
  usearch's VNNI kernel, so it builds much faster than over float16. It returns
  `OVERSAMPLE` times the candidates asked for, which are re-ranked with their
  float16 vectors, so the order and the similarities reported are the
  vectors', not the codes'.
- One node per distinct code. Images whose vectors share a code (byte copies,
  re-saves, the same photo in two folders) share a node and are all expanded
  into the results. Many identical vectors are what cut a group of copies off
  an HNSW graph: ties fill each other's neighbour lists.
- After a build every node is searched for with its own vector. The few the
  graph does not return go into a second, smaller graph, and what that one
  misses into a list scanned exactly with every query. So every image can be
  found, including by its own vector.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planche.core.errors import Cancelled
from planche.core.index.kernels import usearch_index
from planche.core.index.vectors import VectorTable
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent

# Measured on clustered 512-d vectors at 100k and 1M (BENCHMARKS.md, "Search
# at a million"): ef_add 64 builds 1M in about 200 s here (128: 400-470 s), and
# ef 96 then gives recall@10 0.98 (ef 64: 0.969).
CONNECTIVITY = 16
EXPANSION_ADD = 64
EXPANSION_SEARCH = 96
OVERSAMPLE = 3  # candidates per result taken from the graph for re-ranking
MIN_CANDIDATES = 30
# The reach check searches each node at this ef: a node found only at a higher
# ef goes to the next level, which costs nothing but a larger level. At 1M, ef
# 16 checks in 105 s and sends 3.6% on; ef 8 in about 73 s and 6%.
CHECK_EXPANSION = 8
# Below this many left-over nodes, a list scanned exactly is cheaper than a
# graph (1,024 float32 rows are 2 MB, about 0.1 ms a query).
EXACT_LIMIT = 1_024
MAX_LEVELS = 3
ADD_CHUNK = 50_000

CODE_SCALE = 127.0


def codes_of(vectors: np.ndarray) -> np.ndarray:
    """int8 codes of unit vectors, as the graph stores them."""
    return np.rint(np.clip(vectors, -1.0, 1.0) * CODE_SCALE).astype(np.int8)


def code_hashes(codes: np.ndarray) -> np.ndarray:
    """A 64-bit hash per row of codes (equal rows, equal hashes)."""
    dim = codes.shape[1]
    padded = codes if dim % 8 == 0 else np.pad(codes, ((0, 0), (0, 8 - dim % 8)))
    words = np.ascontiguousarray(padded).view(np.uint64)
    weights = np.random.default_rng(0x9E3779B9).integers(
        1, 2**63, size=words.shape[1], dtype=np.uint64
    ) | np.uint64(1)
    with np.errstate(over="ignore"):
        return (words * weights).sum(axis=1, dtype=np.uint64)


@dataclass
class Twins:
    """Images that share a node with the representative that stands for them."""

    reps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # ascending
    starts: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    members: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @classmethod
    def from_pairs(cls, reps: np.ndarray, members: np.ndarray) -> Twins:
        order = np.lexsort((members, reps))
        reps, members = reps[order], members[order]
        unique, counts = np.unique(reps, return_counts=True)
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(unique.astype(np.int64), starts, members.astype(np.int64))

    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat(self.reps, np.diff(self.starts)), self.members

    def __len__(self) -> int:
        return len(self.members)

    def expand(self, reps: np.ndarray) -> np.ndarray:
        """`reps` and every image that shares a node with one of them."""
        if not len(self.reps) or not len(reps):
            return reps
        at = np.searchsorted(self.reps, reps)
        found = (at < len(self.reps)) & (self.reps[np.minimum(at, len(self.reps) - 1)] == reps)
        extra = [self.members[self.starts[i] : self.starts[i + 1]] for i in at[found]]
        return np.concatenate([reps, *extra]) if extra else reps


@dataclass
class GraphParts:
    """What a build makes: the levels' graphs, the exact list, the twins."""

    levels: list[Any]  # usearch Index objects, searched in order
    exact_ids: np.ndarray  # representatives no level returns for their own vector
    twins: Twins
    rep_hashes: np.ndarray  # code hash of every representative (any level or exact)
    rep_ids: np.ndarray  # the representatives, in the order of rep_hashes
    # The exact list's vectors, kept with the graph: read in one piece when a
    # project opens rather than gathered from all over the vectors file.
    exact_rows: np.ndarray | None = None

    def set_exact(self, ids: np.ndarray, table: VectorTable) -> None:
        self.exact_ids = np.sort(ids)
        self.exact_rows = table.vectors_of(self.exact_ids)

    @property
    def nodes(self) -> int:
        return sum(len(level) for level in self.levels) + len(self.exact_ids)


def new_graph(dim: int) -> Any:
    Index = usearch_index()  # noqa: N806

    return Index(
        ndim=dim,
        metric="cos",
        dtype="i8",
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def _threads() -> int:
    return os.cpu_count() or 1


def _checked(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise Cancelled("index build stopped; exact search goes on")


def _same_codes(table: VectorTable, ids: np.ndarray, other_ids: np.ndarray) -> np.ndarray:
    """Per pair, whether the two images' vectors have equal codes (a hash is not proof)."""
    return np.all(codes_of(table.vectors_of(ids)) == codes_of(table.vectors_of(other_ids)), axis=1)


def collapse(table: VectorTable) -> tuple[np.ndarray, np.ndarray, Twins]:
    """(representative ids, their code hashes, twins): one representative per code."""
    hashes = np.concatenate([
        code_hashes(codes_of(table.float32_rows(start, start + ADD_CHUNK)))
        for start in range(0, len(table), ADD_CHUNK)
    ]) if len(table) else np.zeros(0, np.uint64)  # fmt: skip
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    rep_pos = first[inverse]  # each row's representative row (the lowest id of its code)
    shared = np.flatnonzero(rep_pos != np.arange(len(table)))
    # Rows whose codes differ from their representative's (a hash collision) stay apart.
    if len(shared):
        same = _same_codes(table, table.ids[shared], table.ids[rep_pos[shared]])
        apart, shared = shared[~same], shared[same]
        rep_pos[apart] = apart
    reps = np.flatnonzero(rep_pos == np.arange(len(table)))
    twins = Twins.from_pairs(table.ids[rep_pos[shared]], table.ids[shared])
    return table.ids[reps], hashes[reps], twins


def build(
    table: VectorTable,
    progress: Callable[[ProgressEvent], None],
    cancel: CancelToken | None = None,
) -> GraphParts:
    """Build the graphs for `table`, reporting progress and stopping when cancelled."""
    progress(ProgressEvent("index", 0, None, "finding identical images"))
    rep_ids, rep_hashes, twins = collapse(table)
    total = len(rep_ids)
    levels: list[Any] = []
    todo = rep_ids
    done_before = 0
    while len(todo) > EXACT_LIMIT and len(levels) < MAX_LEVELS:
        before = len(todo)
        graph = new_graph(table.dim)
        phase = "adding images" + (f", level {len(levels) + 1}" if levels else "")
        progress(ProgressEvent("index", 0, None, f"{phase}: {len(todo):,} images"))
        for start in range(0, len(todo), ADD_CHUNK):
            _checked(cancel)
            part = todo[start : start + ADD_CHUNK]
            graph.add(part.astype(np.uint64), table.vectors_of(part), threads=_threads())
            progress(ProgressEvent("index", done_before + start + len(part), total, phase))
        levels.append(graph)
        todo = _unreached(graph, table, todo, progress, cancel)
        done_before = total - len(todo)
        if len(todo) == before:  # a graph that finds nothing: stop adding levels
            break
    parts = GraphParts(levels, todo, twins, rep_hashes, rep_ids)
    parts.set_exact(todo, table)
    return parts


def _unreached(
    graph: Any,
    table: VectorTable,
    ids: np.ndarray,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> np.ndarray:
    """The ids that `graph` does not return first for their own vector."""
    graph.expansion_search = CHECK_EXPANSION
    progress(ProgressEvent("index", 0, None, "checking that every image can be found"))
    missed = []
    for start in range(0, len(ids), ADD_CHUNK):
        _checked(cancel)
        part = ids[start : start + ADD_CHUNK]
        found = graph.search(table.vectors_of(part), 1, threads=_threads())
        keys = np.atleast_2d(found.keys)[:, 0].astype(np.int64)
        missed.append(part[keys != part])
        progress(ProgressEvent("index", start + len(part), len(ids), "checking every image"))
    graph.expansion_search = EXPANSION_SEARCH
    return np.concatenate(missed) if missed else ids[:0]


def add(parts: GraphParts, table: VectorTable, new_ids: np.ndarray) -> None:
    """Put new images (whose vectors are in `table`) into the graphs."""
    if not len(new_ids):
        return
    hashes = code_hashes(codes_of(table.vectors_of(new_ids)))
    order = np.argsort(parts.rep_hashes, kind="stable")
    sorted_hashes = parts.rep_hashes[order]
    at = np.searchsorted(sorted_hashes, hashes)
    known = (at < len(sorted_hashes)) & (
        sorted_hashes[np.minimum(at, max(len(sorted_hashes) - 1, 0))] == hashes
    ) if len(sorted_hashes) else np.zeros(len(hashes), bool)  # fmt: skip
    twin_reps = parts.rep_ids[order[at[known]]] if known.any() else np.zeros(0, np.int64)
    if known.any():
        same = _same_codes(table, new_ids[known], twin_reps)
        known_idx = np.flatnonzero(known)
        known[known_idx[~same]] = False
        twin_reps = twin_reps[same]
    old_reps, old_members = parts.twins.pairs()
    parts.twins = Twins.from_pairs(
        np.concatenate([old_reps, twin_reps]), np.concatenate([old_members, new_ids[known]])
    )
    fresh = new_ids[~known]
    # New representatives: hashes de-duplicated among themselves first.
    fresh_hashes = hashes[~known]
    _, first, inverse = np.unique(fresh_hashes, return_index=True, return_inverse=True)
    lead = first[inverse]
    among = np.flatnonzero(lead != np.arange(len(fresh)))
    if len(among):
        old_reps, old_members = parts.twins.pairs()
        parts.twins = Twins.from_pairs(
            np.concatenate([old_reps, fresh[lead[among]]]),
            np.concatenate([old_members, fresh[among]]),
        )
    fresh, fresh_hashes = fresh[first], fresh_hashes[first]
    parts.rep_ids = np.concatenate([parts.rep_ids, fresh])
    parts.rep_hashes = np.concatenate([parts.rep_hashes, fresh_hashes])
    if not len(fresh):
        return
    if not parts.levels:
        parts.set_exact(np.concatenate([parts.exact_ids, fresh]), table)
        return
    graph = parts.levels[0]
    graph.add(fresh.astype(np.uint64), table.vectors_of(fresh), threads=_threads())
    missed = _unreached(graph, table, fresh, lambda _e: None, None)
    parts.set_exact(np.concatenate([parts.exact_ids, missed]), table)


def _relabel(values: np.ndarray, old: np.ndarray, new: np.ndarray) -> np.ndarray:
    """`values` with each occurrence of old[i] replaced by new[i]."""
    if not len(old):
        return values
    order = np.argsort(old)
    old, new = old[order], new[order]
    at = np.minimum(np.searchsorted(old, values), len(old) - 1)
    hit = old[at] == values
    relabelled = values.copy()
    relabelled[hit] = new[at[hit]]
    return relabelled


def remove(parts: GraphParts, table: VectorTable, gone: np.ndarray) -> None:
    """Take images out; a representative that goes hands its node to a twin.

    `table` still holds the vectors of the twins that take over.
    """
    if not len(gone):
        return
    gone = np.asarray(gone, dtype=np.int64)
    reps, members = parts.twins.pairs()
    keep = ~np.isin(members, gone)
    reps, members = reps[keep], members[keep]
    # Each representative that goes is replaced by its lowest remaining twin.
    leaving = parts.rep_ids[np.isin(parts.rep_ids, gone)]
    orphaned = np.isin(reps, leaving)
    left_reps, left_members = reps[orphaned], members[orphaned]
    order = np.lexsort((left_members, left_reps))
    old_reps, first = np.unique(left_reps[order], return_index=True)
    heirs = left_members[order][first]
    moved = ~np.isin(members, heirs)
    parts.twins = Twins.from_pairs(_relabel(reps[moved], old_reps, heirs), members[moved])
    for level in parts.levels:
        in_level = np.array([r for r in leaving.tolist() if level.contains(r)], dtype=np.int64)
        if len(in_level):
            level.remove(in_level.astype(np.uint64))
        taking_over = heirs[np.isin(old_reps, in_level)]
        if len(taking_over):
            level.add(taking_over.astype(np.uint64), table.vectors_of(taking_over),
                      threads=_threads())  # fmt: skip
    exact = parts.exact_ids
    exact = _relabel(exact, old_reps, heirs)
    parts.set_exact(exact[~np.isin(exact, gone)], table)
    survives = ~np.isin(parts.rep_ids, gone) | np.isin(parts.rep_ids, old_reps)
    parts.rep_ids = _relabel(parts.rep_ids[survives], old_reps, heirs)
    parts.rep_hashes = parts.rep_hashes[survives]


class HnswIndex:
    """Search over `GraphParts`, re-ranked with the vectors of `table`."""

    kind = "hnsw"

    def __init__(
        self,
        parts: GraphParts,
        table: VectorTable,
        expansion_search: int = EXPANSION_SEARCH,
        built_for: Any = None,  # the vectors' fingerprint, where the builder knows it
    ) -> None:
        self.parts = parts
        self.table = table
        self.built_for = built_for
        rows = parts.exact_rows
        if rows is None or len(rows) != len(parts.exact_ids):
            rows = table.vectors_of(parts.exact_ids)
        self._exact_rows = np.asarray(rows, dtype=np.float32)
        for level in parts.levels:
            level.expansion_search = expansion_search

    def __len__(self) -> int:
        return len(self.table)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, len(self.table))
        ids = np.full((len(queries), k), -1, dtype=np.int64)
        sims = np.full((len(queries), k), -np.inf, dtype=np.float32)
        for row, query in enumerate(queries):
            found, found_sims = self._one(query, k)
            ids[row, : len(found)], sims[row, : len(found)] = found, found_sims
        return ids, sims

    def _one(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        want = max(k * OVERSAMPLE, MIN_CANDIDATES)
        candidates: list[np.ndarray] = []
        for level in self.parts.levels:
            found = level.search(query, min(want, len(level))) if len(level) else None
            if found is not None:
                candidates.append(np.atleast_1d(found.keys).astype(np.int64))
        if len(self.parts.exact_ids):
            scores = self._exact_rows @ query
            if want < len(scores):
                candidates.append(self.parts.exact_ids[np.argpartition(-scores, want - 1)[:want]])
            else:
                candidates.append(self.parts.exact_ids)
        if not candidates:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        reps = np.unique(np.concatenate(candidates))
        members = np.unique(self.parts.twins.expand(reps))
        scores = self.table.vectors_of(members) @ query
        top = np.lexsort((members, -scores))[:k]
        return members[top], scores[top]
