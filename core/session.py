"""What is expensive to load, kept for the life of the app or of one CLI command.

A `Session` belongs to one front end and one project. It keeps loaded
embedders (by their options and by the model whose vectors they made) and
the nearest-neighbour indexes per model, so the app's second search does not
re-read every vector from the project and a by_tags clustering does not
reload CLIP. It never keeps the project open: an index is revalidated against
the stored vectors' fingerprint (one cheap query) before it is reused.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from planche.core.errors import PlancheError
from planche.core.index import (
    ExactIndex,
    Fingerprint,
    IndexBusy,
    NearestNeighbours,
    build_graph,
    build_state,
    graph_ready,
    open_index,
    read_vectors,
    save_vectors,
    vector_fingerprint,
    wants_graph,
)  # fmt: skip
from planche.core.index.building import describe_build
from planche.core.index.vectors import VectorTable
from planche.core.models import DEFAULT_EMBEDDER, ModelRow
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.store import Store


class Session:
    def __init__(
        self, project: Path | str | None = None, *, background_builds: bool = True
    ) -> None:
        self.project = Path(project) if project is not None else None
        self._lock = threading.RLock()
        self._by_options: dict[tuple[Any, ...], Any] = {}
        self._by_model: dict[tuple[Any, ...], Any] = {}
        self._indexes: dict[tuple[int, str], tuple[Any, NearestNeighbours]] = {}
        self._tables: dict[int, tuple[Fingerprint, VectorTable]] = {}
        self._builds: dict[int, threading.Thread] = {}
        self._saves: list[threading.Thread] = []
        self._held = threading.local()  # threads held back while this thread answers
        self._build_progress: dict[int, ProgressEvent] = {}
        self._build_errors: dict[int, str] = {}
        self._cancel_builds = CancelToken()
        # A one-shot CLI command exits before a thread could finish: it starts
        # a separate process instead (see `planche index`).
        self.background_builds = background_builds
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
        """An index over `model`'s vectors, reused while the vectors are unchanged.

        Where the graph is wanted but not built (`auto` on a large project), the
        answer is an exact index at once, and the graph is built in the
        background (when `background_builds`) for the searches that follow.
        """
        fingerprint = vector_fingerprint(store, model)
        key = (model.id, kind)
        with self._lock:
            cached = self._indexes.get(key)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
        if fingerprint.count == 0:
            return open_index(store, model, kind, progress)  # type: ignore[arg-type]  # says why
        table = self._table(store, model, fingerprint)
        if not wants_graph(kind, fingerprint.count):
            found: NearestNeighbours = ExactIndex.of(table)
        else:
            ready = graph_ready(store, model, table, fingerprint)
            if ready is not None:
                found = ready
            elif kind == "hnsw":  # asked for by name: built here and now
                found = open_index(store, model, "hnsw", progress)
            else:
                if self.background_builds:
                    self._start_build(store.path, model, table, fingerprint)
                return ExactIndex.of(table)  # not kept: the graph replaces it when built
        with self._lock:
            self._indexes[key] = (fingerprint, found)
        return found

    def _table(self, store: Store, model: ModelRow, fingerprint: Fingerprint) -> VectorTable:
        with self._lock:
            cached = self._tables.get(model.id)
            if cached is not None and cached[0] == fingerprint:
                return cached[1]
        table, cached = read_vectors(store, model, fingerprint)
        if not cached:
            # Read out of the project (0.3-0.5 s at 100k): kept beside it for the
            # next process, after this search has its answer where a thread can
            # do it (the app), or now (a one-shot command, which exits).
            if self.background_builds:
                self._save_later(store.path, model, fingerprint, table)
            else:
                save_vectors(store.path, model, fingerprint, table)
        with self._lock:
            self._tables[model.id] = (fingerprint, table)
        return table

    def _save_later(
        self, project: Path, model: ModelRow, fingerprint: Fingerprint, table: VectorTable
    ) -> None:
        thread = threading.Thread(
            target=save_vectors, args=(project, model, fingerprint, table), daemon=True,
            name=f"planche-vectors-model{model.id}",
        )  # fmt: skip
        with self._lock:
            self._saves = [t for t in self._saves if _running(t)] + [thread]
        self._launch(thread)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        """Work for the background that the session starts inside this block (the
        vector cache, the graph) starts when it ends, so that the answer does not
        share the CPU with it (on 2 cores the first search's scan took 10 ms alone,
        0.13 s beside them). Per thread: other threads' work starts as usual."""
        outer = getattr(self._held, "threads", None)
        self._held.threads = [] if outer is None else outer
        try:
            yield
        finally:
            if outer is None:
                held, self._held.threads = self._held.threads, None
                for thread in held:
                    thread.start()

    def _launch(self, thread: threading.Thread) -> None:
        held = getattr(self._held, "threads", None)
        if held is not None:
            held.append(thread)
        else:
            thread.start()

    # -- graphs built in the background ---------------------------------

    def _start_build(
        self, project: Path, model: ModelRow, table: VectorTable, fingerprint: Fingerprint
    ) -> None:
        with self._lock:
            running = self._builds.get(model.id)
            if running is not None and _running(running):
                return
            if build_state(project, model.id) is not None:
                return  # another process builds it; its cache will be picked up
            self._build_errors.pop(model.id, None)
            thread = threading.Thread(
                target=self._build, args=(project, model, table, fingerprint), daemon=True,
                name=f"planche-index-model{model.id}",
            )  # fmt: skip
            self._builds[model.id] = thread
            self._build_progress[model.id] = ProgressEvent("index", 0, None, "starting")
        self._launch(thread)

    def _build(
        self, project: Path, model: ModelRow, table: VectorTable, fingerprint: Fingerprint
    ) -> None:
        def record(event: ProgressEvent) -> None:
            with self._lock:
                self._build_progress[model.id] = event

        try:
            # The vectors and their fingerprint are given: the build does not open
            # the project (nor wait for this process's other users of it).
            built = build_graph(project, model, record, self._cancel_builds, table, fingerprint)
            with self._lock:
                # Kept here too: where the cache cannot be written (a read-only
                # folder), the next search must not start the build again.
                self._indexes[(model.id, "auto")] = (built.built_for, built)
        except IndexBusy:
            pass  # another process got there first
        except (PlancheError, OSError) as exc:
            with self._lock:
                self._build_errors[model.id] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a background thread must not die silently
            with self._lock:
                self._build_errors[model.id] = f"the search index could not be built: {exc}"
        finally:
            with self._lock:
                self._build_progress.pop(model.id, None)

    def building(self, model_id: int) -> str | None:
        """What is being done to the model's graph, for a status line; None when nothing."""
        with self._lock:
            event = self._build_progress.get(model_id)
            error = self._build_errors.get(model_id)
        if error is not None:
            return error
        if event is not None:
            return describe_build(event.detail, event.done, event.total)
        if self.project is not None:
            other = build_state(self.project, model_id)
            if other is not None:
                return other.describe()
        return None

    def wait_for_builds(self, timeout: float | None = None) -> None:
        """Wait for background builds and cache writes to end (tests, and a front end
        closing cleanly)."""
        with self._lock:
            threads = [*self._builds.values(), *self._saves]
        for thread in filter(_started, threads):
            thread.join(timeout)

    def stop_builds(self) -> None:
        """Ask background builds to stop at their next step (nothing half-built is kept)."""
        self._cancel_builds.cancel()


def _started(thread: threading.Thread) -> bool:
    return thread.ident is not None


def _running(thread: threading.Thread) -> bool:
    """Started and not ended, or held back to start after an answer."""
    return thread.is_alive() or not _started(thread)


def _identity_key(model: Any) -> tuple[Any, ...]:
    return (model.embedder, model.name, model.pretrained, model.weights_hash, model.precision)
