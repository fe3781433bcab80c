"""Importing a folder into a project.

The content hash (sha256) is an image's identity: the same bytes at two paths
are one image with two files. A file whose path, size and modification time are
already stored is not read again, so re-running an import costs a scan.

Reading, hashing and decoding run in a thread pool (Pillow and hashlib release
the GIL); the calling thread gathers results and commits them in batches, each
batch one transaction on a briefly opened project. A process killed at any
moment therefore leaves a consistent project, and the next run picks up
exactly the files that were not committed. Between batches the file is closed,
so `planche info` in another terminal gets in.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from planche.core.blas import reading_blas
from planche.core.decode import (
    DEFAULT_MAX_PIXELS,
    THUMBNAIL_SIZE,
    BadImage,
    decode,
    thumbnail_bytes,
)
from planche.core.embed import prepare_decoded
from planche.core.embedders.base import Embedder, prepare_file
from planche.core.errors import BadParameter, Cancelled
from planche.core.index import update_index_if_present
from planche.core.parallel import default_workers, ordered_map
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.core.scan import Candidate, ScanProblem, scan
from planche.core.store import (
    ErrorRow,
    FileRow,
    ImportVectors,
    NewImage,
    Store,
    StoredBatch,
    open_store,
)
from planche.core.text import is_valid_utf8, printable

# Commit at least this often so a kill loses little and other processes get the file.
_COMMIT_EVERY_S = 2.0
# A busy project (the app, another import) is waited for longer than a quick
# command would wait: losing an import's batch is worse than a pause.
_IMPORT_LOCK_WAIT_S = 30.0


@dataclass
class ImportSummary:
    folder: str
    project: str
    new: int = 0  # images whose content was not in the project before
    known: int = 0  # files already imported and unchanged (not read again)
    updated: int = 0  # known paths whose content changed
    duplicates: int = 0  # new files whose content the project already had
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed_before: int = 0  # unchanged files that failed in an earlier run
    missing: int = 0  # stored files under the folder that are gone from disk
    pruned: int = 0  # of those, how many were forgotten (with --prune)
    embedded: int = 0  # new images given a vector in the same pass
    seconds: float = 0.0
    cancelled: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "folder": self.folder,
            "project": self.project,
            "new": self.new,
            "embedded": self.embedded,
            "known": self.known,
            "updated": self.updated,
            "duplicates": self.duplicates,
            "failed": [{"path": p, "reason": r} for p, r in self.failed],
            "failed_before": self.failed_before,
            "missing": self.missing,
            "pruned": self.pruned,
            "seconds": round(self.seconds, 2),
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class FileRead:
    """What a worker learnt about one file."""

    candidate: Candidate
    sha256: str | None = None
    image: NewImage | None = None  # None when the content was already known
    prepared: Any = None  # model input, when the import also embeds
    error: str | None = None


@dataclass
class _Batch:
    images: list[NewImage] = field(default_factory=list)
    files: list[FileRow] = field(default_factory=list)
    errors: list[ErrorRow] = field(default_factory=list)
    prepared: list[tuple[str, Any]] = field(default_factory=list)  # (sha256, model input)
    # How each file was counted ("new", "updated", "duplicate", "known"), to
    # correct the counts when another import stored the same files meanwhile.
    counted: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.files) + len(self.errors)


def import_folder(
    folder: Path | str,
    project: Path | str,
    *,
    workers: int | None = None,
    batch_size: int = 64,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    progress: ProgressCallback = ignore_progress,
    cancel: CancelToken | None = None,
    embedder: Embedder | None = None,
    prune: bool = False,
) -> ImportSummary:
    """Import every image under `folder` into `project` (created if missing).

    Bad files are recorded with their reason and the import goes on. When
    `cancel` is set, the batch in hand is committed and the summary says
    `cancelled`; running the import again continues where it stopped.

    With an `embedder`, each new image is embedded from the picture decoded
    for its thumbnail, so files are read and decoded once, and its vector is
    stored in the same transaction as the image. (Images already in the
    project are left to `embed_project`.)

    Files stored from under `folder` that are no longer there are counted as
    `missing`; with `prune` they are forgotten, and images left without any
    file go with their tags and vectors. (Never by default: an unmounted disk
    must not cost anyone their tags.)
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        found = "a file" if folder.exists() else "nothing"
        raise BadParameter("FOLDER", str(folder), f"a folder of images (there is {found} there)")
    if workers is not None and not 1 <= workers <= 64:
        raise BadParameter("workers", workers, "a whole number from 1 to 64")
    if not 1 <= batch_size <= 10_000:
        raise BadParameter("batch_size", batch_size, "a whole number from 1 to 10000")
    if max_pixels < 1:
        raise BadParameter("max_pixels", max_pixels, "a positive number of pixels")
    cancel = cancel or CancelToken()
    started = time.monotonic()
    summary = ImportSummary(folder=str(folder.absolute()), project=str(project))

    told: list[str] = []

    def say_waiting(holder: str) -> None:  # once; Escape stops the wait
        if cancel.cancelled:
            raise Cancelled(f"stopped waiting for the project (held by {holder})")
        if not told:
            told.append(holder)
            progress(ProgressEvent("wait", 0, None, holder))

    def open_project(create: bool = False):  # noqa: ANN202 - a context manager
        return open_store(project, create=create, wait_s=_IMPORT_LOCK_WAIT_S, on_wait=say_waiting)

    def open_known() -> tuple[dict, dict, set[str], _Committer]:
        with open_project(create=True) as store:
            summary.project = str(store.path)
            committer = _Committer(open_project, embedder, store)
            return store.known_files(), store.known_failures(), store.known_hashes(), committer

    opening = _Opening(open_known, new=not Path(project).expanduser().exists())
    known_files, known_failures, known_hashes = opening.known()
    if embedder is not None:
        batch_size = max(batch_size, embedder.batch_size)

    progress(ProgressEvent("scan", 0, None, str(folder)))
    to_read: list[Candidate] = []
    seen: set[str] = set()
    batch = _Batch()
    for found in scan(folder):
        if isinstance(found, ScanProblem):
            path = found.path if is_valid_utf8(found.path) else printable(found.path)
            if known_failures.get(path, (0, 0)) == (None, None):
                summary.failed_before += 1  # the same link loop as last time
                continue
            batch.errors.append(ErrorRow(path, found.reason, None, None))
            summary.failed.append((path, found.reason))
            continue
        seen.add(found.path)
        stored = known_files.get(found.path)
        if stored is not None and (stored.size, stored.mtime) == (found.size, found.mtime):
            summary.known += 1
        elif known_failures.get(found.path) == (found.size, found.mtime):
            summary.failed_before += 1
        else:
            to_read.append(found)
    missing = _missing_under(folder, known_files, seen)
    summary.missing = len(missing)

    total = len(to_read)
    progress(ProgressEvent("import", 0, total))
    last_commit = time.monotonic()
    done = 0
    claims = _Claims()
    reads = _read_all(to_read, known_hashes, max_pixels, workers, cancel, embedder, claims)
    try:
        with reading_blas(embedder):
            for read in reads:
                done += 1
                opening.check()
                _account(read, known_files, known_hashes, batch, summary, claims)
                if len(batch) >= batch_size or time.monotonic() - last_commit > _COMMIT_EVERY_S:
                    # Hand the batch over before writing: an interrupt inside the
                    # write must not make the final commit below write it again.
                    committing, batch = batch, _Batch()
                    summary.embedded += opening.committer().commit(committing, summary)
                    last_commit = time.monotonic()
                progress(ProgressEvent("import", done, total, read.candidate.path))
    except KeyboardInterrupt:
        summary.cancelled = True
    summary.cancelled = summary.cancelled or cancel.cancelled
    committer = opening.committer()

    def finish(store: Store, embedded: int) -> None:  # embedded: by the last batch
        if prune and missing and not summary.cancelled:
            store.forget_files(missing)
            summary.pruned = len(missing)
        if committer.model is not None and summary.embedded + embedded:
            update_index_if_present(store, committer.model)

    # The last batch and the end of the import share one open of the project.
    summary.embedded += committer.commit(batch, summary, then=finish)
    summary.failed.sort()
    summary.seconds = time.monotonic() - started
    return summary


class _Opening:
    """The import's first open of the project: what it knows, and the committer.

    A project that does not exist yet knows nothing, so it is created (DuckDB's
    start, the schema, the model's table: 25-50 ms) on another thread while the
    folder is scanned and read; its error, if any, stops the import at the next
    file read, as it would have before the first."""

    def __init__(self, open_known: Callable[[], tuple[dict, dict, set[str], _Committer]],
                 new: bool) -> None:  # fmt: skip
        self._done: tuple[dict, dict, set[str], _Committer] | None = None
        self._future: Future[tuple[dict, dict, set[str], _Committer]] | None = None
        if new:
            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planche-create")
            self._future = pool.submit(open_known)
            pool.shutdown(wait=False)
        else:
            self._done = open_known()

    def known(self) -> tuple[dict, dict, set[str]]:
        if self._done is None:
            return {}, {}, set()
        files, failures, hashes, _ = self._done
        return files, failures, hashes

    def check(self) -> None:
        """Raise the creation's error as soon as it is known."""
        if self._done is None and self._future is not None and self._future.done():
            self.committer()

    def committer(self) -> _Committer:
        if self._done is None:
            assert self._future is not None
            self._done = self._future.result()
        return self._done[3]


def _missing_under(folder: Path, known_files: dict, seen: set[str]) -> list[str]:
    """Stored files from inside `folder` that the scan did not find."""
    prefix = str(folder.absolute()).rstrip(os.sep) + os.sep
    return sorted(p for p in known_files if p.startswith(prefix) and p not in seen)


def _account(
    read: FileRead,
    known_files: dict,
    known_hashes: set[str],
    batch: _Batch,
    summary: ImportSummary,
    claims: _Claims,
) -> None:
    candidate = read.candidate
    if read.sha256 is not None:
        claims.accounted(read)
    if read.error is not None:
        batch.errors.append(ErrorRow(candidate.path, read.error, candidate.size, candidate.mtime))
        summary.failed.append((candidate.path, read.error))
        return
    assert read.sha256 is not None
    if read.image is None and read.sha256 not in known_hashes:
        # Its bytes are an earlier file's of this import, which failed: so does this one.
        error = claims.failures[read.sha256]
        batch.errors.append(ErrorRow(candidate.path, error, candidate.size, candidate.mtime))
        summary.failed.append((candidate.path, error))
        return
    previous = known_files.get(candidate.path)
    if read.image is not None and read.sha256 not in known_hashes:
        batch.images.append(read.image)
        if read.prepared is not None:
            batch.prepared.append((read.sha256, read.prepared))
        known_hashes.add(read.sha256)
        kind = "new" if previous is None else "updated"
    elif previous is None:
        kind = "duplicate"
    else:
        # A touched file with the same bytes, or content known under another path.
        kind = "known"
    _count(summary, kind, +1)
    batch.counted.append(kind)
    batch.files.append(FileRow(candidate.path, read.sha256, candidate.size, candidate.mtime))


def _count(summary: ImportSummary, kind: str, step: int) -> None:
    if kind in ("new", "updated"):
        summary.new += step
        summary.updated += step if kind == "updated" else 0
    elif kind == "duplicate":
        summary.duplicates += step
    else:
        summary.known += step


def _recount(summary: ImportSummary, batch: _Batch, stored: StoredBatch) -> None:
    """Correct the counts for what another import stored while this one read:
    a file it stored identically is known; an image it stored makes ours a duplicate."""
    for row, kind in zip(batch.files, batch.counted, strict=True):
        actual = kind
        if row.path in stored.files_present:
            actual = "known"
        elif kind in ("new", "updated") and row.sha256 in stored.images_present:
            actual = "duplicate" if kind == "new" else "known"
        if actual != kind:
            _count(summary, kind, -1)
            _count(summary, actual, +1)


class _Claims:
    """The files being read that first had each content, so that a byte copy
    read at the same time is not decoded twice.

    A file is skipped only for an earlier file of the import (in reading
    order), whose result is therefore accounted first: its image is then known,
    or its error is in `failures` (and later copies are skipped for it too). A
    claim is dropped once accounted (the image is known from then on), so only
    the files in flight are held.
    """

    def __init__(self) -> None:
        self._first: dict[str, int] = {}
        self._lock = threading.Lock()
        self.failures: dict[str, str] = {}  # sha256 -> why its first file failed

    def first(self, sha256: str, position: int) -> bool:
        """Whether the file at `position` must decode this content (no earlier file
        does or did)."""
        with self._lock:
            if sha256 in self.failures:
                return False
            return self._first.setdefault(sha256, position) >= position

    def accounted(self, read: FileRead) -> None:
        assert read.sha256 is not None
        with self._lock:
            if read.error is not None:
                self.failures[read.sha256] = read.error
            self._first.pop(read.sha256, None)


class _Committer:
    """Writes batches, first running the model over the batch's new images."""

    def __init__(
        self, open_project: Callable[[], Any], embedder: Embedder | None, store: Store
    ) -> None:
        self.open_project = open_project
        self.embedder = embedder
        self.model = (
            store.register_model(**asdict(embedder.identity)) if embedder is not None else None
        )

    def commit(
        self,
        batch: _Batch,
        summary: ImportSummary,
        then: Callable[[Store, int], None] | None = None,
    ) -> int:
        """Store the batch (correcting `summary`); return how many new vectors went with it.
        `then(store, that count)` runs after it, in the same open of the project
        (or alone in one, when the batch is empty)."""
        if not len(batch):
            if then is not None:
                with self.open_project() as store:
                    then(store, 0)
            return 0
        vectors = None
        if self.embedder is not None and self.model is not None and batch.prepared:
            matrix = self.embedder.embed_prepared([tensor for _, tensor in batch.prepared])
            vectors = ImportVectors(self.model, [sha for sha, _ in batch.prepared], matrix)
        with self.open_project() as store:
            stored = store.write_import_batch(batch.images, batch.files, batch.errors, vectors)
            _recount(summary, batch, stored)
            embedded = sum(1 for sha, _ in batch.prepared if sha not in stored.images_present)
            if then is not None:
                then(store, embedded)
        return embedded


def _read_all(
    candidates: list[Candidate],
    known_hashes: set[str],
    max_pixels: int,
    workers: int | None,
    cancel: CancelToken,
    embedder: Embedder | None,
    claims: _Claims,
) -> Iterator[FileRead]:
    def read(item: tuple[int, Candidate]) -> FileRead:
        position, candidate = item
        return read_image_file(
            candidate, known_hashes, max_pixels, embedder, lambda sha: claims.first(sha, position)
        )

    workers = workers or default_workers()
    # Keep the model fed: a whole batch decoded ahead while it runs.
    window = max(workers * 4, 2 * embedder.batch_size) if embedder else None
    return ordered_map(
        read,
        enumerate(candidates),
        workers=workers,
        window=window,
        cancel=cancel,
        name="planche-read",
    )


def read_image_file(
    candidate: Candidate,
    known_hashes: set[str],
    max_pixels: int,
    embedder: Embedder | None,
    first: Callable[[str], bool] | None = None,
) -> FileRead:
    """Read, hash and decode one file: its image row, thumbnail and model input
    (the same steps for a local import and for a distributed embedding run).

    Known content is not decoded, nor content for which `first` says another
    file decodes it: both come back without an image."""
    try:
        with open(candidate.path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        return FileRead(candidate, error=f"cannot read: {exc.strerror or exc}")
    sha256 = hashlib.sha256(data).hexdigest()
    if sha256 in known_hashes or (first is not None and not first(sha256)):
        return FileRead(candidate, sha256)
    try:
        # Drafted for the thumbnail: libjpeg's reduced decode (an average over
        # each block) is nearly as good a first step down as a bicubic one, and
        # costs a third of the decode and the resize (PSNR and timings in
        # BENCHMARKS.md). A model that needs more decodes the file again.
        decoded = decode(data, max_pixels=max_pixels, target_size=THUMBNAIL_SIZE)
        thumb = thumbnail_bytes(decoded.image, THUMBNAIL_SIZE)
        prepared = None
        if embedder is not None and embedder.source == "file":
            prepared = prepare_file(embedder, decoded, data, max_pixels)
        elif embedder is not None:
            prepared = prepare_decoded(embedder, decoded.image, thumb)
    except BadImage as exc:
        return FileRead(candidate, sha256, error=str(exc))
    except Exception as exc:  # noqa: BLE001 - one odd file must not stop the import
        return FileRead(candidate, sha256, error=f"cannot decode: {type(exc).__name__}: {exc}")
    image = NewImage(
        sha256=sha256,
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        mode=decoded.mode,
        exif_date=decoded.exif_date,
        thumbnail=thumb,
    )
    return FileRead(candidate, sha256, image, prepared)
