"""Search by text, by image, and by combinations of both.

A query is a set of positive and negative terms, as in rclip: each term is
embedded and L2-normalised, the query vector is the sum of the positive terms
minus the negative ones, normalised again, and the results are the images
nearest to it by cosine similarity. Similarities are reported as computed,
never rescaled or clamped (CLIP's text-to-image cosines are small, 0.2 to
0.35, and that is information, not a defect).

An image term is an image id of the project, the path of one of its files
(its stored vector is used), or any other image file (embedded now). Images
given as terms are left out of the results.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.errors import BadParameter, PlancheError
from planche.core.index import IndexKind, NearestNeighbours, open_index, wants_graph
from planche.core.models import ModelRow, default_model
from planche.core.progress import ProgressCallback, ignore_progress
from planche.core.store import Store, open_store

# Text queries search exactly up to this many vectors (about 50 ms at 1M here).
EXACT_TEXT_LIMIT = 2_000_000


@dataclass(frozen=True)
class Query:
    texts: tuple[str, ...] = ()
    minus_texts: tuple[str, ...] = ()
    images: tuple[str, ...] = ()  # image id, project file path, or image file
    minus_images: tuple[str, ...] = ()

    @property
    def needs_text_tower(self) -> bool:
        return bool(self.texts or self.minus_texts)

    def describe(self) -> str:
        parts = [repr(t) for t in self.texts] + [f"image {i}" for i in self.images]
        parts += [f"- {t!r}" for t in self.minus_texts]
        parts += [f"- image {i}" for i in self.minus_images]
        return " ".join(parts)


@dataclass(frozen=True)
class Hit:
    image_id: int
    similarity: float
    paths: tuple[str, ...]


@dataclass
class SearchResult:
    query: str
    model: str
    model_id: int
    index: str
    vectors: int
    hits: list[Hit] = field(default_factory=list)
    seconds: float = 0.0
    # Where the graph was wanted but not there yet: "not built", or what is
    # being done about it (an exact search answered meanwhile).
    graph: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "query": self.query,
            "model": self.model,
            "model_id": self.model_id,
            "index": self.index,
            "vectors": self.vectors,
            "seconds": round(self.seconds, 4),
            **({"graph": self.graph} if self.graph else {}),
            "results": [
                {"image_id": h.image_id, "similarity": round(h.similarity, 5), "paths": h.paths}
                for h in self.hits
            ],
        }


def choose_model(
    store: Store, *, embedder: str | None = None, model_id: int | None = None, text: bool = False
) -> ModelRow:
    """The model to search with: as asked, else the newest CLIP model, else pixels."""
    models = store.models()
    if model_id is not None:
        found = [m for m in models if m.id == model_id]
        if not found:
            known = ", ".join(f"{m.id} ({m.label})" for m in models) or "none"
            raise BadParameter("model_id", model_id, f"one of the project's models: {known}")
        chosen = found[0]
    else:
        candidates = [m for m in models if embedder in (None, m.embedder)]
        candidates = [m for m in candidates if store.embedding_count(m.id) > 0]
        if not candidates:
            what = f"{embedder} vectors" if embedder else "vectors"
            raise PlancheError(
                f"the project has no {what} yet: run `planche embed --project {store.path}`"
            )
        chosen = default_model(candidates)
        assert chosen is not None
    if text and not chosen.kind.has_text_tower:
        raise PlancheError(
            f"{chosen.label} has no text tower, so it cannot search by text: search by image, "
            "or embed the project with CLIP (`planche embed --embedder clip`)"
        )
    return chosen


def search(
    project: Path | str,
    query: Query,
    *,
    k: int = 20,
    embedder: str | None = None,
    model_id: int | None = None,
    index: IndexKind = "auto",
    weights: Path | None = None,
    progress: ProgressCallback = ignore_progress,
    searcher: NearestNeighbours | None = None,
    query_embedder: Any = None,
    session: Any = None,
) -> SearchResult:
    """Run one query against the project's vectors for one model.

    A `session` (planche.core.session) keeps the index and the query model
    between queries; `searcher` and `query_embedder` give them directly.
    """
    _validate(query, k)
    started = time.monotonic()
    # One open for everything where no model has to be loaded for the query
    # (image terms of the project): each open is 20-50 ms. Where one must be
    # loaded (seconds), the project is not held meanwhile. What the session
    # leaves to the background (vector cache, graph) starts after the answer.
    with _answering(session), open_store(project, read_only=True) as store:
        model = choose_model(
            store, embedder=embedder, model_id=model_id, text=query.needs_text_tower
        )
        stored_terms = {
            "images": _stored_image_ids(store, query.images),
            "minus_images": _stored_image_ids(store, query.minus_images),
        }
        known = [i for ids in stored_terms.values() for i in ids if i is not None]
        stored_vectors = _stored_vectors(store, model, known)
        needs_model = query.needs_text_tower or any(
            i is None for ids in stored_terms.values() for i in ids
        )
        if not needs_model or query_embedder is not None:
            vector = _query_vector(query, stored_terms, stored_vectors, query_embedder)
            return _answer(store, model, query, vector, set(known), k, index, progress,
                           searcher, session, started)  # fmt: skip
    if query_embedder is None:
        if session is not None:
            query_embedder = session.embedder_for_model(model, weights=weights)
        else:
            from planche.core.embedders import load_embedder_for_model

            query_embedder = load_embedder_for_model(model, weights=weights)
    vector = _query_vector(query, stored_terms, stored_vectors, query_embedder)
    # The caches live beside the file, so reading the project is enough.
    with _answering(session), open_store(project, read_only=True) as store:
        return _answer(store, model, query, vector, set(known), k, index, progress,
                       searcher, session, started)  # fmt: skip


def _answering(session: Any) -> contextlib.AbstractContextManager[Any]:
    return session.answering() if session is not None else contextlib.nullcontext()


def _answer(
    store: Store,
    model: ModelRow,
    query: Query,
    vector: np.ndarray,
    excluded: set[int],
    k: int,
    index: IndexKind,
    progress: ProgressCallback,
    searcher: NearestNeighbours | None,
    session: Any,
    started: float,
) -> SearchResult:
    exact_for_text = False
    if searcher is None:
        index_of = session.index if session is not None else open_index
        searcher = index_of(store, model, index, progress)
        # Text vectors lie outside the images' region, where a graph finds
        # little (recall@10 0.73 at 1M, against 0.98 for image queries);
        # scanning everything costs less than the text tower does.
        exact_for_text = (
            index == "auto"
            and query.needs_text_tower
            and searcher.kind != "exact"
            and len(searcher) <= EXACT_TEXT_LIMIT
        )
        if exact_for_text:
            searcher = index_of(store, model, "exact")
    ids, similarities = searcher.search(vector[None, :], k + len(excluded))
    pairs = [
        (int(i), float(s))
        for i, s in zip(ids[0], similarities[0], strict=True)
        if int(i) >= 0 and int(i) not in excluded
    ][:k]
    graph = None
    if searcher.kind == "exact" and not exact_for_text and wants_graph(index, len(searcher)):
        graph = (session.building(model.id) if session is not None else None) or "not built"
    paths = store.image_paths([i for i, _ in pairs])
    hits = [Hit(i, s, tuple(paths.get(i, ()))) for i, s in pairs]
    return SearchResult(
        query=query.describe(),
        model=model.label,
        model_id=model.id,
        index=searcher.kind,
        vectors=len(searcher),
        hits=hits,
        seconds=time.monotonic() - started,
        graph=graph,
    )


def _validate(query: Query, k: int) -> None:
    if not 1 <= k <= 10_000:
        raise BadParameter("k", k, "a whole number from 1 to 10000")
    if not (query.texts or query.images):
        raise BadParameter("query", query.describe() or "nothing", "at least one text or image")
    for text in (*query.texts, *query.minus_texts):
        if not text.strip():
            raise BadParameter("text", text, "a non-empty phrase")


def _stored_image_ids(store: Store, terms: Sequence[str]) -> list[int | None]:
    """Project image ids for the terms that name one; None for outside files."""
    resolved: list[int | None] = []
    for term in terms:
        if term.isdigit():
            image_id = int(term)
            if not store.image_exists(image_id):
                raise BadParameter("image", term, "an image id of this project")
            resolved.append(image_id)
            continue
        path = Path(term).expanduser().absolute()
        image_id = store.image_id_for_path(str(path))
        if image_id is None and not path.is_file():
            raise BadParameter("image", term, "an image id, a file of the project or an image file")
        resolved.append(image_id)
    return resolved


def _stored_vectors(store: Store, model: ModelRow, image_ids: list[int]) -> dict[int, np.ndarray]:
    if not image_ids:
        return {}
    ids, vectors = store.read_embeddings(model, only=sorted(set(image_ids)))
    found = dict(zip(ids.tolist(), vectors, strict=True))
    missing = sorted(set(image_ids) - found.keys())
    if missing:
        raise PlancheError(
            f"image {missing[0]} has no vector for {model.label} yet: run `planche embed`"
        )
    return found


def _query_vector(
    query: Query,
    stored_terms: dict[str, list[int | None]],
    stored_vectors: dict[int, np.ndarray],
    embedder: Any,
) -> np.ndarray:
    from planche.core.embed import embed_file

    def image_vectors(terms: Sequence[str], ids: list[int | None]) -> list[np.ndarray]:
        return [
            stored_vectors[i] if i is not None else embed_file(embedder, Path(t).expanduser())
            for t, i in zip(terms, ids, strict=True)
        ]

    positive = image_vectors(query.images, stored_terms["images"])
    negative = image_vectors(query.minus_images, stored_terms["minus_images"])
    if query.texts:
        positive.extend(embedder.embed_text(list(query.texts)))
    if query.minus_texts:
        negative.extend(embedder.embed_text(list(query.minus_texts)))
    total = np.sum(positive, axis=0) - (np.sum(negative, axis=0) if negative else 0)
    norm = float(np.linalg.norm(total))
    if norm < 1e-6:
        raise BadParameter("query", query.describe(), "terms that do not cancel each other out")
    return (total / norm).astype(np.float32)
