"""The index cache beside a project: `<project>.planche/model<N>/`.

Everything here can be rebuilt from the vectors in DuckDB, so nothing is
trusted blindly: each part has a JSON description, written last, that names
the model, the vectors' fingerprint and the sizes of the files; a part that
does not match or does not load is rebuilt. Files are written beside and
renamed into place, so a crash never leaves a half-written part.

- `vectors.json`, `ids.npy`, `rows.npy`: the vectors as float16, memory-mapped
  when read (a 1M-image project opens its vectors at once instead of reading
  2 GB out of DuckDB).
- `graph.json`, `level<i>.usearch`, `graph.npz`: the graph parts.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.index.graph import GraphParts, Twins
from planche.core.index.kernels import usearch_index
from planche.core.index.vectors import VectorTable
from planche.core.models import ModelRow

FORMAT = 2


@dataclass(frozen=True)
class Fingerprint:
    """Cheap summary of a model's stored vectors, to tell a stale cache."""

    count: int
    id_sum: int
    id_max: int


def cache_dir(project: Path) -> Path:
    """The folder of rebuildable caches beside a project file."""
    return project.with_name(project.name + ".planche")


def model_dir(project: Path, model_id: int) -> Path:
    return cache_dir(project) / f"model{int(model_id)}"


def forget_old_format(project: Path, model_id: int) -> None:
    """Remove the single-file HNSW cache of planche before this layout."""
    for suffix in (".usearch", ".json"):
        with contextlib.suppress(OSError):
            (cache_dir(project) / f"hnsw-model{int(model_id)}{suffix}").unlink()


def _describe(model: ModelRow, fingerprint: Fingerprint, **sizes: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "model_id": model.id,
        "dim": model.dim,
        "fingerprint": [fingerprint.count, fingerprint.id_sum, fingerprint.id_max],
        **sizes,
    }


def _read_description(path: Path, model: ModelRow) -> dict[str, Any] | None:
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict):
        return None
    if (meta.get("format"), meta.get("model_id"), meta.get("dim")) != (FORMAT, model.id, model.dim):
        return None
    return meta


def _fingerprint_of(meta: dict[str, Any]) -> Fingerprint | None:
    try:
        return Fingerprint(*(int(x) for x in meta["fingerprint"]))
    except (KeyError, TypeError, ValueError):
        return None


def _part(
    project: Path, model: ModelRow, description: str
) -> tuple[Path, dict[str, Any], Fingerprint] | None:
    """The model's cache folder, with a part's description and fingerprint if it has one."""
    folder = model_dir(project, model.id)
    meta = _read_description(folder / description, model)
    fingerprint = _fingerprint_of(meta) if meta else None
    return (folder, meta, fingerprint) if meta is not None and fingerprint is not None else None


def _replace(target: Path, write: Any) -> None:
    tmp = target.with_name(target.name + ".tmp")
    write(tmp)
    os.replace(tmp, target)


def _save_npy(target: Path, array: np.ndarray) -> None:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            np.save(out, array)

    _replace(target, write)


def _save_description(target: Path, meta: dict[str, Any]) -> None:
    _replace(target, lambda tmp: tmp.write_text(json.dumps(meta)))


def load_table(project: Path, model: ModelRow) -> tuple[VectorTable, Fingerprint] | None:
    """The cached vectors and the fingerprint they were saved for, if whole."""
    part = _part(project, model, "vectors.json")
    if part is None:
        return None
    folder, meta, fingerprint = part
    try:
        ids = np.load(folder / "ids.npy", mmap_mode="r")
        rows = np.load(folder / "rows.npy", mmap_mode="r")
    except (OSError, ValueError):
        return None
    if ids.dtype != np.int64 or rows.dtype != np.float16 or rows.ndim != 2:
        return None
    if len(ids) != meta.get("count") or rows.shape != (len(ids), model.dim):
        return None
    return VectorTable(np.asarray(ids), rows), fingerprint


def save_table(project: Path, model: ModelRow, fp: Fingerprint, table: VectorTable) -> None:
    folder = model_dir(project, model.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vectors.json").unlink(missing_ok=True)  # not whole while being written
    _save_npy(folder / "ids.npy", np.asarray(table.ids, dtype=np.int64))
    _save_npy(folder / "rows.npy", np.asarray(table.rows, dtype=np.float16))
    _save_description(folder / "vectors.json", _describe(model, fp, count=len(table)))


def load_graph(
    project: Path, model: ModelRow, *, view: bool = False
) -> tuple[GraphParts, Fingerprint] | None:
    """The cached graph parts and the fingerprint they were built for, if whole.

    `view` memory-maps the graphs (quick to open, but they cannot grow).
    """
    part = _part(project, model, "graph.json")
    if part is None:
        return None  # without importing usearch (0.1 s or more), not needed until then
    folder, meta, fingerprint = part
    Index = usearch_index()  # noqa: N806
    try:
        levels = []
        for number, size in enumerate(meta["levels"]):
            level = Index.restore(str(folder / f"level{number}.usearch"), view=view)
            if level is None or level.ndim != model.dim or len(level) != size:
                return None
            levels.append(level)
        with np.load(folder / "graph.npz") as saved:
            arrays = {name: saved[name] for name in saved.files}
        parts = GraphParts(
            levels=levels,
            exact_ids=arrays["exact_ids"].astype(np.int64),
            exact_rows=arrays.get("exact_rows"),
            twins=Twins(
                arrays["twin_reps"].astype(np.int64),
                arrays["twin_starts"].astype(np.int64),
                arrays["twin_members"].astype(np.int64),
            ),
            rep_hashes=arrays["rep_hashes"].astype(np.uint64),
            rep_ids=arrays["rep_ids"].astype(np.int64),
        )
    except (OSError, ValueError, RuntimeError, TypeError, KeyError):
        return None  # corrupt or foreign: rebuilt from the vectors
    if parts.nodes + len(parts.twins) != meta.get("count"):
        return None
    return parts, fingerprint


def save_graph(project: Path, model: ModelRow, fp: Fingerprint, parts: GraphParts) -> None:
    folder = model_dir(project, model.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "graph.json").unlink(missing_ok=True)
    for number, level in enumerate(parts.levels):
        _replace(folder / f"level{number}.usearch", lambda tmp, lv=level: lv.save(str(tmp)))

    def write_arrays(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            np.savez(
                out,
                exact_ids=parts.exact_ids,
                exact_rows=np.asarray(
                    parts.exact_rows if parts.exact_rows is not None else np.zeros((0, 0)),
                    dtype=np.float16,
                ),
                twin_reps=parts.twins.reps,
                twin_starts=parts.twins.starts,
                twin_members=parts.twins.members,
                rep_hashes=parts.rep_hashes,
                rep_ids=parts.rep_ids,
            )

    _replace(folder / "graph.npz", write_arrays)
    meta = _describe(
        model, fp, count=parts.nodes + len(parts.twins), levels=[len(lv) for lv in parts.levels]
    )
    _save_description(folder / "graph.json", meta)
    forget_old_format(project, model.id)


def graph_description(project: Path, model: ModelRow) -> Fingerprint | None:
    """The fingerprint the cached graph was built for, without loading it."""
    part = _part(project, model, "graph.json")
    return part[2] if part else None


def has_table(project: Path, model: ModelRow) -> bool:
    return (model_dir(project, model.id) / "vectors.json").exists()


def has_graph(project: Path, model: ModelRow) -> bool:
    return (model_dir(project, model.id) / "graph.json").exists()
