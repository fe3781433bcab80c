"""What a shard holds: one Parquet row per file, and the model that made it.

A shard is a Parquet file written by `planche embed-shards` (one per batch of
files) and read back by `planche ingest`. Each row is a file: its path, size
and modification time, and either what the import would have stored for it
(sha256, image size and format, thumbnail, vector) or the reason it failed.
The model's identity is repeated on every row (Parquet stores a repeated
value once per column chunk), so a shard is self-describing and shards of
two models cannot be mixed up by renaming a folder.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from planche.core.models import ModelIdentity

SHARD_SUFFIX = ".parquet"
# Written beside, then renamed: a shard is whole or absent.
PARTIAL_SUFFIX = ".partial"

MODEL_COLUMNS = (
    "model_embedder", "model_name", "model_pretrained", "model_weights_hash", "model_dim",
    "model_precision", "model_preprocessing",
)  # fmt: skip


def shard_schema(dim: int) -> pa.Schema:
    return pa.schema(
        [
            ("path", pa.string()),
            ("size", pa.int64()),
            ("mtime", pa.float64()),
            ("sha256", pa.string()),
            ("width", pa.int32()),
            ("height", pa.int32()),
            ("format", pa.string()),
            ("mode", pa.string()),
            ("exif_date", pa.timestamp("us")),
            ("thumbnail", pa.binary()),
            ("vector", pa.list_(pa.float32(), dim)),
            ("error", pa.string()),
            ("model_embedder", pa.string()),
            ("model_name", pa.string()),
            ("model_pretrained", pa.string()),
            ("model_weights_hash", pa.string()),
            ("model_dim", pa.int32()),
            ("model_precision", pa.string()),
            ("model_preprocessing", pa.string()),
        ]
    )


@dataclass
class ShardRow:
    """One file of a shard: embedded (vector set) or failed (error set)."""

    path: str
    size: int
    mtime: float
    sha256: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    exif_date: Any = None
    thumbnail: bytes | None = None
    error: str | None = None


def shard_table(
    rows: Sequence[ShardRow], vectors: np.ndarray | None, identity: ModelIdentity
) -> pa.Table:
    """The Arrow table of one shard. `vectors` has a row for each row without
    an error, in order."""
    dim = identity.dim
    schema = shard_schema(dim)
    ok = np.array([row.error is None for row in rows], dtype=bool)
    matrix = np.zeros((len(rows), dim), dtype=np.float32)
    if ok.any():
        assert vectors is not None and len(vectors) == int(ok.sum())
        matrix[ok] = vectors
    vector = pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel()), dim)
    vector = pa.Array.from_buffers(
        vector.type, len(rows), [pa.array(ok).buffers()[1]], children=[vector.values]
    )
    columns: dict[str, Any] = {
        name: [getattr(row, name) for row in rows]
        for name in (
            "path",
            "size",
            "mtime",
            "sha256",
            "width",
            "height",
            "format",
            "mode",
            "exif_date",
            "thumbnail",
            "error",
        )  # fmt: skip
    }
    columns["vector"] = vector
    for name, value in model_columns(identity).items():
        columns[name] = [value] * len(rows)
    return pa.table({field.name: columns[field.name] for field in schema}, schema=schema)


def model_columns(identity: ModelIdentity) -> dict[str, Any]:
    return {
        "model_embedder": identity.embedder,
        "model_name": identity.name,
        "model_pretrained": identity.pretrained,
        "model_weights_hash": identity.weights_hash,
        "model_dim": identity.dim,
        "model_precision": identity.precision,
        "model_preprocessing": json.dumps(identity.preprocessing, sort_keys=True),
    }


def identity_from_columns(values: Sequence[Any]) -> ModelIdentity:
    """A model identity from the MODEL_COLUMNS values of a shard row."""
    embedder, name, pretrained, weights_hash, dim, precision, preprocessing = values
    return ModelIdentity(
        embedder=embedder, name=name, pretrained=pretrained, weights_hash=weights_hash,
        dim=int(dim), precision=precision,
        preprocessing=json.loads(preprocessing) if preprocessing else {},
    )  # fmt: skip
