"""Embedding a project's images with one embedder, resumably.

Images that already have a vector for this exact model are skipped, so an
interrupted run continues where it stopped. Files are read and decoded in a
thread pool running ahead of the model (Pillow's JPEG draft mode decodes
only the resolution the model needs), so the model does not wait for the
disk; vectors are committed every few seconds in one transaction each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from planche.core.blas import reading_blas
from planche.core.decode import THUMBNAIL_SIZE, BadImage, decode, thumbnail_bytes
from planche.core.embedders.base import Embedder, decode_size, prepare_file
from planche.core.errors import BadParameter
from planche.core.index import update_index_if_present
from planche.core.models import ModelRow
from planche.core.parallel import default_workers, ordered_map
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.store import open_store

_COMMIT_EVERY_S = 3.0
_THUMBNAIL_CHUNK = 1024


@dataclass
class EmbedSummary:
    model: str
    device: str
    embedded: int = 0
    already: int = 0  # images that had a vector for this model before
    failed: list[tuple[int, str]] = field(default_factory=list)  # (image id, reason)
    seconds: float = 0.0
    cancelled: bool = False

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "device": self.device,
            "embedded": self.embedded,
            "already": self.already,
            "failed": [{"image_id": i, "reason": r} for i, r in self.failed],
            "seconds": round(self.seconds, 2),
            "images_per_s": round(self.images_per_s, 1),
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class _Prepared:
    image_id: int
    tensor: Any = None
    error: str | None = None


def embed_project(
    project: Path | str,
    embedder: Embedder,
    *,
    workers: int | None = None,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
) -> EmbedSummary:
    """Give every image of the project a vector from `embedder`."""
    if workers is not None and not 1 <= workers <= 64:
        raise BadParameter("workers", workers, "a whole number from 1 to 64")
    cancel = cancel or CancelToken()
    started = time.monotonic()
    summary = EmbedSummary(model=embedder.identity.label, device=embedder.device)
    with open_store(project) as store:
        model = store.register_model(**asdict(embedder.identity))
        todo = store.images_without_embedding(model.id)
        summary.already = store.counts()["images"] - len(todo)
        paths = store.image_paths(todo) if embedder.source == "file" else {}

    def prepare(item: tuple[int, Any]) -> _Prepared:
        image_id, source = item
        return _prepare_one(embedder, image_id, source)

    workers = workers or default_workers()
    window = max(workers * 4, 2 * embedder.batch_size)
    items = _thumbnail_items(project, todo) if not paths else ((i, paths[i]) for i in todo)
    batch: list[_Prepared] = []
    pending_ids: list[int] = []
    pending_vectors: list[Any] = []
    last_commit = time.monotonic()
    progress(ProgressEvent("embed", 0, len(todo), summary.model))
    # Thumbnail vectors (pixels) are numpy products on the reading threads: see core/blas.py.
    with reading_blas(embedder):
        try:
            for prepared in ordered_map(prepare, items, workers=workers, window=window,
                                        cancel=cancel, name="planche-decode"):  # fmt: skip
                if prepared.error is not None:
                    summary.failed.append((prepared.image_id, prepared.error))
                else:
                    batch.append(prepared)
                if len(batch) >= embedder.batch_size:
                    pending_vectors.append(embedder.embed_prepared([p.tensor for p in batch]))
                    pending_ids.extend(p.image_id for p in batch)
                    batch = []
                if pending_ids and time.monotonic() - last_commit > _COMMIT_EVERY_S:
                    # Handed over before writing, so an interrupt cannot write it twice.
                    ids, vectors = pending_ids, pending_vectors
                    pending_ids, pending_vectors = [], []
                    summary.embedded += _commit(project, model, ids, vectors)
                    last_commit = time.monotonic()
                done = summary.embedded + len(pending_ids) + len(batch) + len(summary.failed)
                progress(ProgressEvent("embed", done, len(todo), summary.model))
            if batch and not cancel.cancelled:
                pending_vectors.append(embedder.embed_prepared([p.tensor for p in batch]))
                pending_ids.extend(p.image_id for p in batch)
        except KeyboardInterrupt:
            summary.cancelled = True
    summary.embedded += _commit(project, model, pending_ids, pending_vectors)
    summary.cancelled = summary.cancelled or cancel.cancelled
    if summary.embedded:
        with open_store(project, read_only=True) as store:
            update_index_if_present(store, model)
    summary.seconds = time.monotonic() - started
    return summary


def _thumbnail_items(project: Path | str, todo: list[int]) -> Iterator[tuple[int, bytes]]:
    for start in range(0, len(todo), _THUMBNAIL_CHUNK):
        chunk = todo[start : start + _THUMBNAIL_CHUNK]
        with open_store(project, read_only=True) as store:
            thumbnails = store.thumbnails(chunk)
        for image_id in chunk:
            yield image_id, thumbnails[image_id]


def prepare_decoded(embedder: Embedder, image: Image.Image, thumbnail: bytes | None = None) -> Any:
    """Model input from a decoded picture, the way the pipeline makes it.

    An embedder that works from thumbnails sees the stored thumbnail (made
    here when not given), so its vectors do not depend on whether it ran
    during the import, after it, or on a query file.
    """
    if embedder.source == "thumbnail":
        image = decode(thumbnail or thumbnail_bytes(image, THUMBNAIL_SIZE)).image
    return embedder.prepare(image)


def embed_file(embedder: Embedder, path: Path) -> np.ndarray:
    """The vector of an image file outside the project (a query)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadParameter("image", str(path), f"a readable image file ({exc.strerror})") from None
    try:
        # Decoded as the import decodes it: for the thumbnail, or for the model.
        target = THUMBNAIL_SIZE if embedder.source == "thumbnail" else decode_size(embedder)
        decoded = decode(data, target_size=target)
    except BadImage as exc:
        raise BadParameter("image", str(path), f"an image file; this one is {exc}") from None
    return embedder.embed_prepared([prepare_decoded(embedder, decoded.image)])[0]


def _prepare_one(embedder: Embedder, image_id: int, source: bytes | list[str]) -> _Prepared:
    if isinstance(source, bytes):
        try:
            decoded = decode(source)
        except BadImage as exc:
            return _Prepared(image_id, error=f"stored thumbnail unreadable: {exc}")
        return _Prepared(image_id, embedder.prepare(decoded.image))
    reasons = []
    for path in source:
        try:
            data = Path(path).read_bytes()
            decoded = decode(data, target_size=decode_size(embedder))
        except OSError as exc:
            reasons.append(f"{path}: cannot read ({exc.strerror or exc})")
            continue
        except BadImage as exc:
            reasons.append(f"{path}: {exc}")
            continue
        return _Prepared(image_id, prepare_file(embedder, decoded, data))
    return _Prepared(image_id, error="; ".join(reasons) or "no file left for this image")


def _commit(project: Path | str, model: ModelRow, ids: list[int], vectors: list[Any]) -> int:
    if not ids:
        return 0
    with open_store(project, wait_s=30) as store:
        store.write_embeddings(model, ids, np.concatenate(vectors))
    return len(ids)
