"""Nearest-neighbour indexes over one model's vectors.

Two kinds, one interface (`search(queries, k) -> (ids, similarities)`):
- `ExactIndex`: every vector scored, from float16 rows in memory. No build.
- `HnswIndex` (graph.py): usearch graphs over int8 codes, candidates
  re-ranked with the float16 rows; every image findable, copies together.

Both read the vectors from a cache beside the project (cache.py), made from
DuckDB the first time and kept in step with it by fingerprint, so opening a
large project's vectors is a memory map, not a 2 GB read.

`open_index` gives an index at once where it can and builds where it must;
the session (planche.core.session) instead answers exactly while the graph
is built in the background (building.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from planche.core.errors import BadParameter, PlancheError
from planche.core.index import cache, graph
from planche.core.index.building import BuildState, IndexBusy, build_lock, build_state
from planche.core.index.cache import Fingerprint, cache_dir
from planche.core.index.graph import HnswIndex
from planche.core.index.vectors import VectorTable
from planche.core.models import ModelRow
from planche.core.progress import CancelToken, ProgressCallback, ignore_progress
from planche.core.store import Store, open_store

__all__ = [
    "INDEX_KINDS", "HNSW_THRESHOLD", "BuildState", "ExactIndex", "Fingerprint", "HnswIndex",
    "IndexBusy", "IndexKind", "NearestNeighbours", "build_graph", "build_state", "cache_dir",
    "graph_ready", "graph_status", "load_vectors", "open_index", "read_vectors",
    "save_vectors", "update_index_if_present", "vector_fingerprint", "wants_graph",
]  # fmt: skip

IndexKind = Literal["auto", "exact", "hnsw"]
INDEX_KINDS = ("auto", "exact", "hnsw")
# Below this many vectors an exact search is fast enough (about 10-17 ms a
# query at 100k here) and needs no build.
HNSW_THRESHOLD = 100_000


class NearestNeighbours(Protocol):
    kind: str

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k image ids and cosine similarities per query row, best first."""
        ...


class ExactIndex:
    kind = "exact"

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.table = VectorTable.from_float32(ids, vectors)

    @classmethod
    def of(cls, table: VectorTable) -> ExactIndex:
        index = cls.__new__(cls)
        index.table = table
        return index

    def __len__(self) -> int:
        return len(self.table)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.table.scan(queries, k)


def wants_graph(kind: str, count: int) -> bool:
    if kind not in INDEX_KINDS:
        raise BadParameter("index", kind, " or ".join(INDEX_KINDS))
    return kind == "hnsw" or (kind == "auto" and count >= HNSW_THRESHOLD)


def vector_fingerprint(store: Store, model: ModelRow) -> Fingerprint:
    return Fingerprint(*store.embedding_fingerprint(model.id))


def _no_vectors(model: ModelRow) -> PlancheError:
    return PlancheError(f"the project has no vectors for {model.label}: run `planche embed` first")


def load_vectors(
    store: Store, model: ModelRow, fingerprint: Fingerprint | None = None
) -> VectorTable:
    """The model's vectors: the cached copy, brought up to date from the project if stale."""
    fingerprint = fingerprint or vector_fingerprint(store, model)
    table, cached = read_vectors(store, model, fingerprint)
    if not cached:
        save_vectors(store.path, model, fingerprint, table)
    return table


def read_vectors(
    store: Store, model: ModelRow, fingerprint: Fingerprint
) -> tuple[VectorTable, bool]:
    """The model's vectors, and whether the cache beside the project holds them as
    they are (if not, `save_vectors` puts them there: the caller chooses when)."""
    cached = cache.load_table(store.path, model)
    if cached is not None and cached[1] == fingerprint:
        return cached[0], True
    if cached is not None:
        old = cached[0]
        stored = store.read_embedding_ids(model.id)
        missing = np.setdiff1d(stored, old.ids, assume_unique=True)
        removed = np.setdiff1d(old.ids, stored, assume_unique=True)
        ids, vectors = store.read_embeddings(model, only=missing, dtype=np.float16)
        return old.merged(ids, vectors, removed), False
    # Straight into float16 rows in id order: no float32 copy of all of them.
    return VectorTable(*store.read_embeddings(model, dtype=np.float16)), False


def save_vectors(
    project: Path, model: ModelRow, fingerprint: Fingerprint, table: VectorTable
) -> None:
    """Keep the vectors in the cache beside the project (0.1-0.3 s at 100k)."""
    # A read-only folder or a full disk: the vectors serve from memory.
    with contextlib.suppress(OSError):
        cache.save_table(project, model, fingerprint, table)


def _indexed_ids(parts: graph.GraphParts) -> np.ndarray:
    return np.concatenate([parts.rep_ids, parts.twins.members])


def graph_ready(
    store: Store, model: ModelRow, table: VectorTable, fingerprint: Fingerprint
) -> HnswIndex | None:
    """The cached graph, brought up to date with new or removed vectors; None if none."""
    found = cache.load_graph(store.path, model, view=True)
    if found is None:
        return None
    parts, built_for = found
    if built_for != fingerprint:
        loaded = cache.load_graph(store.path, model, view=False)  # a view cannot grow
        if loaded is None:
            return None
        parts = loaded[0]
        indexed = _indexed_ids(parts)
        graph.remove(parts, table, np.setdiff1d(indexed, table.ids))
        graph.add(parts, table, np.setdiff1d(table.ids, indexed))
        with contextlib.suppress(OSError):
            cache.save_graph(store.path, model, fingerprint, parts)
    return HnswIndex(parts, table)


def build_graph(
    project: Path | str,
    model: ModelRow,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    table: VectorTable | None = None,
    fingerprint: Fingerprint | None = None,
) -> HnswIndex:
    """Build the model's graph and save it, holding the project only to read vectors.

    Given the vectors with the fingerprint they were read for (a session has
    both), the project is not opened at all. Raises IndexBusy if another build
    is under way, Cancelled if cancelled.
    """
    project = Path(project)
    if table is not None and fingerprint is not None and len(table) == fingerprint.count:
        return _build_and_save(project, model, fingerprint, table, progress, cancel)
    with open_store(project, read_only=True) as store:
        fingerprint = vector_fingerprint(store, model)
        if fingerprint.count == 0:
            raise _no_vectors(model)
        if table is None or len(table) != fingerprint.count:
            table = load_vectors(store, model, fingerprint)
    return _build_and_save(project, model, fingerprint, table, progress, cancel)


def _build_and_save(
    project: Path,
    model: ModelRow,
    fingerprint: Fingerprint,
    table: VectorTable,
    progress: ProgressCallback,
    cancel: CancelToken | None,
) -> HnswIndex:
    """Build under the model's build lock (one builder at a time, visible to all)."""
    with contextlib.ExitStack() as stack:
        try:
            record = stack.enter_context(build_lock(project, model.id, progress))
        except OSError:  # the cache cannot be written: build in memory, unshared
            record = progress
        parts = graph.build(table, record, cancel)
        with contextlib.suppress(OSError):
            cache.save_graph(project, model, fingerprint, parts)
        return HnswIndex(parts, table, built_for=fingerprint)


def open_index(
    store: Store,
    model: ModelRow,
    kind: IndexKind = "auto",
    progress: ProgressCallback = ignore_progress,
) -> NearestNeighbours:
    """An index over `model`'s vectors in `store`, built here and now if needed."""
    fingerprint = vector_fingerprint(store, model)
    if fingerprint.count == 0:
        raise _no_vectors(model)
    table = load_vectors(store, model, fingerprint)
    if not wants_graph(kind, fingerprint.count):
        return ExactIndex.of(table)
    ready = graph_ready(store, model, table, fingerprint)
    if ready is not None:
        return ready
    return _build_and_save(store.path, model, fingerprint, table, progress, None)


def graph_status(store: Store, model: ModelRow) -> str:
    """The state of the model's graph, in words (see read.index_status)."""
    running = build_state(store.path, model.id)
    if running is not None:
        return running.describe()
    fingerprint = vector_fingerprint(store, model)
    described = cache.graph_description(store.path, model)
    if described is not None:
        return "ready" if described == fingerprint else "out of date"
    return "not built" if wants_graph("auto", fingerprint.count) else "not needed"


def update_index_if_present(store: Store, model: ModelRow) -> bool:
    """After new vectors: bring the caches up to date. The graph only where one
    exists (incrementally); the vectors also wherever the project is large, so
    that the first search of a freshly imported large project does not wait for
    2 GB to be read out of DuckDB. True if a graph was updated."""
    fingerprint = vector_fingerprint(store, model)
    has_graph = cache.has_graph(store.path, model)
    if not (
        has_graph or wants_graph("auto", fingerprint.count) or cache.has_table(store.path, model)
    ):
        return False
    table = load_vectors(store, model, fingerprint)
    return has_graph and graph_ready(store, model, table, fingerprint) is not None
