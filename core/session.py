"""What is expensive to load, kept for the life of the app or of one CLI command.

A `Session` belongs to one front end and one project. It keeps loaded
embedders (by their options and by the model whose vectors they made) and
the nearest-neighbour indexes per model, so the app's second search does not
re-read every vector from the project and a by_tags clustering does not
reload CLIP. It never keeps the project open: an index is revalidated against
the stored vectors' fingerprint (one cheap query) before it is reused.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from planche.core.index import NearestNeighbours, open_index, vector_fingerprint
from planche.core.models import DEFAULT_EMBEDDER, ModelRow
from planche.core.progress import ProgressCallback, ignore_progress
from planche.core.store import Store


class Session:
    def __init__(self, project: Path | str | None = None) -> None:
        self.project = Path(project) if project is not None else None
        self._lock = threading.RLock()
        self._by_options: dict[tuple[Any, ...], Any] = {}
        self._by_model: dict[tuple[Any, ...], Any] = {}
        self._indexes: dict[tuple[int, str], tuple[Any, NearestNeighbours]] = {}
        self._model_keys: dict[int, tuple[Any, ...]] = {}  # project model id -> identity

    def embedder(
        self,
        name: str = DEFAULT_EMBEDDER,
        *,
        model: str | None = None,
        pretrained: str | None = None,
        weights: Path | str | None = None,
        device: str = "auto",
        precision: str = "auto",
        batch_size: int | None = None,
    ) -> Any:
        """An embedder built from options (as `planche import` takes them), loaded once."""
        from planche.core.embedders import load_embedder

        weights = Path(weights) if weights else None
        key = (name, model, pretrained, weights, device, precision, batch_size)
        with self._lock:
            if key not in self._by_options:
                loaded = load_embedder(
                    name, model=model, pretrained=pretrained, weights=weights,
                    device=device, precision=precision, batch_size=batch_size,
                )  # fmt: skip
                self._by_options[key] = loaded
                self._by_model.setdefault(_identity_key(loaded.identity), loaded)
            return self._by_options[key]

    def embedder_for_model(self, model: ModelRow, weights: Path | str | None = None) -> Any:
        """The embedder that made `model`'s vectors (to embed a query), loaded once."""
        from planche.core.embedders import load_embedder_for_model

        key = _identity_key(model)
        with self._lock:
            self._model_keys[model.id] = key
            if key not in self._by_model:
                self._by_model[key] = load_embedder_for_model(
                    model, weights=Path(weights) if weights else None
                )
            return self._by_model[key]

    def loaded_embedder(self, model_id: int) -> Any | None:
        """The embedder of the project's model `model_id`, if one is loaded already
        (for a status line)."""
        with self._lock:
            key = self._model_keys.get(model_id)
            return self._by_model.get(key) if key is not None else None

    def index(
        self,
        store: Store,
        model: ModelRow,
        kind: str = "auto",
        progress: ProgressCallback = ignore_progress,
    ) -> NearestNeighbours:
        """An index over `model`'s vectors, reused while the vectors are unchanged."""
        fingerprint = vector_fingerprint(store, model)
        key = (model.id, kind)
        with self._lock:
            cached = self._indexes.get(key)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
        built = open_index(store, model, kind, progress)  # type: ignore[arg-type]
        with self._lock:
            self._indexes[key] = (fingerprint, built)
        return built


def _identity_key(model: Any) -> tuple[Any, ...]:
    return (model.embedder, model.name, model.pretrained, model.weights_hash, model.precision)
