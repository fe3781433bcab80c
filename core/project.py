"""Read-only views of a whole project, for `planche info` and the status bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core.store import open_store


def project_info(project: Path | str) -> dict[str, Any]:
    """Counts and models of a project, as plain data (JSON-ready)."""
    with open_store(project, read_only=True) as store:
        counts = store.counts()
        models = [
            {
                "id": model.id,
                "embedder": model.embedder,
                "name": model.name,
                "pretrained": model.pretrained,
                "weights_hash": model.weights_hash,
                "dim": model.dim,
                "precision": model.precision,
                "vectors": store.embedding_count(model.id),
            }
            for model in store.models()
        ]
        version = store.schema_version()
        path = store.path
    return {
        "project": str(path),
        "schema_version": version,
        "size_bytes": path.stat().st_size,
        **counts,
        "models": models,
    }
