"""Nearest-neighbour indexes over one model's vectors.

Two kinds, one interface (`search(queries, k) -> (ids, similarities)`):
- `ExactIndex`: the vectors in memory and one matrix product per query batch.
  Exact, no build, about 10 ms per query at 100k vectors on 2 cores.
- `HnswIndex`: a usearch HNSW graph (cosine, f16 storage), a cache kept beside
  the project in `<project>.planche/`. It can always be rebuilt from the
  vectors in DuckDB, so it is never trusted blindly: its metadata must match
  the model and the stored vectors' fingerprint, and a file that does not load
  is rebuilt. New vectors are added to it incrementally.

`open_index` picks the kind: exact below `HNSW_THRESHOLD` vectors, HNSW at and
above, or as forced.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from planche.core.errors import BadParameter, PlancheError
from planche.core.models import ModelRow
from planche.core.progress import ProgressCallback, ProgressEvent, ignore_progress
from planche.core.store import Store

IndexKind = Literal["auto", "exact", "hnsw"]
INDEX_KINDS = ("auto", "exact", "hnsw")
# Below this many vectors an exact search is fast enough (and needs no build);
# at 100k it costs about 17 ms a query here, while an HNSW build costs ~35 s.
HNSW_THRESHOLD = 100_000

# HNSW settings measured on clustered 512-d vectors: recall@10 >= 0.95 with
# ef_search 64 at 1M (see BENCHMARKS.md).
HNSW_CONNECTIVITY = 16
HNSW_EXPANSION_ADD = 128
HNSW_EXPANSION_SEARCH = 64
_FORMAT = 1


class NearestNeighbours(Protocol):
    kind: str

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k image ids and cosine similarities per query row, best first."""
        ...


@dataclass(frozen=True)
class Fingerprint:
    """Cheap summary of a model's stored vectors, to tell a stale cache."""

    count: int
    id_sum: int
    id_max: int


class ExactIndex:
    kind = "exact"

    def __init__(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self.ids = np.asarray(ids, dtype=np.int64)
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, len(self.ids))
        if k == 0:
            empty = np.zeros((len(queries), 0))
            return empty.astype(np.int64), empty.astype(np.float32)
        scores = queries @ self.vectors.T
        if k < scores.shape[1]:
            top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        else:
            top = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        best = np.take_along_axis(top, order, axis=1)
        return self.ids[best], np.take_along_axis(scores, best, axis=1)


class HnswIndex:
    kind = "hnsw"

    def __init__(self, index: Any, expansion_search: int = HNSW_EXPANSION_SEARCH) -> None:
        self._index = index
        self._index.expansion_search = expansion_search

    def __len__(self) -> int:
        return len(self._index)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, len(self._index))
        matches = self._index.search(queries, k)
        keys = np.atleast_2d(matches.keys).astype(np.int64)
        similarities = 1.0 - np.atleast_2d(matches.distances).astype(np.float32)
        # A batch reports how many results each row really has; usearch pads
        # the rest, which become id -1. (A single query is one unpadded row.)
        counts = np.atleast_1d(getattr(matches, "counts", keys.shape[1]))
        padding = np.arange(keys.shape[1])[None, :] >= counts[:, None]
        keys[padding] = -1
        similarities[padding] = -np.inf
        return keys, similarities


def cache_dir(project: Path) -> Path:
    """The folder of rebuildable caches beside a project file."""
    return project.with_name(project.name + ".planche")


def open_index(
    store: Store,
    model: ModelRow,
    kind: IndexKind = "auto",
    progress: ProgressCallback = ignore_progress,
) -> NearestNeighbours:
    """An index over `model`'s vectors in `store`, built or repaired as needed."""
    if kind not in INDEX_KINDS:
        raise BadParameter("index", kind, " or ".join(INDEX_KINDS))
    fingerprint = vector_fingerprint(store, model)
    if fingerprint.count == 0:
        raise PlancheError(
            f"the project has no vectors for {model.label}: run `planche embed` first"
        )
    if kind == "exact" or (kind == "auto" and fingerprint.count < HNSW_THRESHOLD):
        ids, vectors = store.read_embeddings(model)
        return ExactIndex(ids, vectors)
    return HnswIndex(_synced_hnsw(store, model, fingerprint, progress))


def update_index_if_present(store: Store, model: ModelRow) -> bool:
    """After new vectors, bring an existing HNSW cache up to date (incrementally)."""
    paths = _paths(store.path, model)
    if not paths[0].exists():
        return False
    _synced_hnsw(store, model, vector_fingerprint(store, model), ignore_progress)
    return True


def vector_fingerprint(store: Store, model: ModelRow) -> Fingerprint:
    return Fingerprint(*store.embedding_fingerprint(model.id))


def _paths(project: Path, model: ModelRow) -> tuple[Path, Path]:
    folder = cache_dir(project)
    return folder / f"hnsw-model{model.id}.usearch", folder / f"hnsw-model{model.id}.json"


def _synced_hnsw(
    store: Store, model: ModelRow, fingerprint: Fingerprint, progress: ProgressCallback
) -> Any:
    index_path, meta_path = _paths(store.path, model)
    index, cached_fingerprint = _load_trusted(index_path, meta_path, model)
    if index is not None and cached_fingerprint == fingerprint:
        return index
    if index is None:
        index = new_hnsw(model)
    stored_ids = store.read_embedding_ids(model.id)
    indexed = np.asarray(index.keys, dtype=np.int64) if len(index) else np.zeros(0, np.int64)
    missing = np.setdiff1d(stored_ids, indexed, assume_unique=True)
    removed = np.setdiff1d(indexed, stored_ids, assume_unique=True)
    if len(removed):
        index.remove(removed.astype(np.uint64))
    if len(missing):
        _add_in_chunks(store, model, index, missing, progress)
    if len(missing) or len(removed) or not meta_path.exists():
        # A read-only folder or a full disk: the index serves from memory.
        with contextlib.suppress(OSError):
            _save(index, index_path, meta_path, model, fingerprint)
    return index


def _load_trusted(
    index_path: Path, meta_path: Path, model: ModelRow
) -> tuple[Any, Fingerprint | None]:
    """The cached index and the fingerprint it was built for, or (None, None)."""
    from usearch.index import Index

    nothing = (None, None)
    if not index_path.exists() or not meta_path.exists():
        return nothing
    try:
        meta = json.loads(meta_path.read_text())
        if (meta.get("format"), meta.get("model_id"), meta.get("dim")) != (
            _FORMAT, model.id, model.dim,
        ):  # fmt: skip
            return nothing
        index = Index.restore(str(index_path))
        fingerprint = Fingerprint(*meta["fingerprint"])
    except (OSError, ValueError, RuntimeError, TypeError, KeyError, json.JSONDecodeError):
        return nothing  # corrupt or foreign: rebuilt from the vectors
    if index is None or index.ndim != model.dim or len(index) != meta.get("count"):
        return nothing
    return index, fingerprint


def new_hnsw(model: ModelRow) -> Any:
    from usearch.index import Index

    return Index(
        ndim=model.dim,
        metric="cos",
        dtype="f16",
        connectivity=HNSW_CONNECTIVITY,
        expansion_add=HNSW_EXPANSION_ADD,
        expansion_search=HNSW_EXPANSION_SEARCH,
    )


def _add_in_chunks(
    store: Store, model: ModelRow, index: Any, ids: np.ndarray, progress: ProgressCallback
) -> None:
    if len(ids) == store.embedding_count(model.id):
        # A build from nothing: one ordered read, not a join per chunk.
        all_ids, vectors = store.read_embeddings(model)
        index.add(all_ids.astype(np.uint64), vectors, threads=os.cpu_count() or 1)
        progress(ProgressEvent("index", len(ids), len(ids), "HNSW"))
        return
    chunk = 50_000
    for start in range(0, len(ids), chunk):
        part = ids[start : start + chunk]
        got_ids, vectors = store.read_embeddings(model, only=part)
        index.add(got_ids.astype(np.uint64), vectors, threads=os.cpu_count() or 1)
        progress(ProgressEvent("index", min(start + chunk, len(ids)), len(ids), "HNSW"))


def _save(index: Any, index_path: Path, meta_path: Path, model: ModelRow, fp: Fingerprint) -> None:
    index_path.parent.mkdir(parents=True, exist_ok=True)
    # Write beside, then rename: a crash never leaves a half-written cache in place.
    tmp_index = index_path.with_suffix(".usearch.tmp")
    index.save(str(tmp_index))
    os.replace(tmp_index, index_path)
    meta = {
        "format": _FORMAT,
        "model_id": model.id,
        "dim": model.dim,
        "count": len(index),
        "fingerprint": [fp.count, fp.id_sum, fp.id_max],
    }
    tmp_meta = meta_path.with_suffix(".json.tmp")
    tmp_meta.write_text(json.dumps(meta))
    os.replace(tmp_meta, meta_path)
