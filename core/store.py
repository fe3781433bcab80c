"""The project file: one DuckDB database holding images, vectors, tags,
clusterings, the journal and import errors. All SQL of planche lives here.

DuckDB lets one process at a time open a file for writing, and while it does no
other process can open it at all. Users run `planche info` in one tmux pane
while an import or the app runs in another, so a `Store` is opened for one short
piece of work and closed again (`with open_store(path) as store: ...`); opening
waits a few seconds for a lock held elsewhere and then names the holder.

Every write method runs in one transaction, so a process killed at any instant
leaves the file as it was before or after that write, never in between.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from planche.core.attach import AttachedProject, attach
from planche.core.errors import (
    BadParameter,
    DiskFull,
    ProjectDamaged,
    ProjectInvalid,
    ProjectLocked,
    ProjectNotFound,
    ProjectReadOnly,
)
from planche.core.models import ModelRow

SCHEMA_VERSION = 4

# Each entry upgrades the schema by one version; a project written by an older
# planche is brought forward on its next writable open. Never edit a shipped
# entry: append a new one.
MIGRATIONS: list[str] = [
    # 1: the initial schema.
    """
    CREATE SEQUENCE image_ids START 1;
    CREATE TABLE images (
        id          INTEGER PRIMARY KEY DEFAULT nextval('image_ids'),
        sha256      VARCHAR NOT NULL UNIQUE,
        width       INTEGER NOT NULL,
        height      INTEGER NOT NULL,
        format      VARCHAR NOT NULL,
        mode        VARCHAR NOT NULL,
        exif_date   TIMESTAMP,
        thumbnail   BLOB NOT NULL,
        imported_at TIMESTAMP NOT NULL
    );
    CREATE TABLE files (
        path        VARCHAR PRIMARY KEY,
        image_id    INTEGER NOT NULL,
        size        BIGINT NOT NULL,
        mtime       DOUBLE NOT NULL,
        imported_at TIMESTAMP NOT NULL
    );
    CREATE TABLE import_errors (
        path   VARCHAR PRIMARY KEY,
        reason VARCHAR NOT NULL,
        size   BIGINT,
        mtime  DOUBLE,
        failed_at TIMESTAMP NOT NULL
    );
    CREATE SEQUENCE model_ids START 1;
    CREATE TABLE models (
        id            INTEGER PRIMARY KEY DEFAULT nextval('model_ids'),
        embedder      VARCHAR NOT NULL,
        name          VARCHAR NOT NULL,
        pretrained    VARCHAR,
        weights_hash  VARCHAR,
        dim           INTEGER NOT NULL,
        precision     VARCHAR NOT NULL,
        preprocessing JSON,
        created_at    TIMESTAMP NOT NULL,
        UNIQUE (embedder, name, pretrained, weights_hash, precision)
    );
    CREATE SEQUENCE property_ids START 1;
    CREATE TABLE properties (
        id         INTEGER PRIMARY KEY DEFAULT nextval('property_ids'),
        name       VARCHAR NOT NULL UNIQUE,
        created_at TIMESTAMP NOT NULL
    );
    CREATE SEQUENCE tag_ids START 1;
    CREATE TABLE tags (
        id          INTEGER PRIMARY KEY DEFAULT nextval('tag_ids'),
        property_id INTEGER NOT NULL,
        parent_id   INTEGER,
        name        VARCHAR NOT NULL
    );
    CREATE TABLE image_tags (
        image_id INTEGER NOT NULL,
        tag_id   INTEGER NOT NULL,
        PRIMARY KEY (image_id, tag_id)
    );
    CREATE SEQUENCE clustering_ids START 1;
    CREATE TABLE clusterings (
        id                INTEGER PRIMARY KEY DEFAULT nextval('clustering_ids'),
        parent_cluster_id INTEGER,
        strategy          VARCHAR NOT NULL,
        params            JSON NOT NULL,
        model_id          INTEGER,
        created_at        TIMESTAMP NOT NULL
    );
    CREATE SEQUENCE cluster_ids START 1;
    CREATE TABLE clusters (
        id              INTEGER PRIMARY KEY DEFAULT nextval('cluster_ids'),
        clustering_id   INTEGER NOT NULL,
        idx             INTEGER NOT NULL,
        size            INTEGER NOT NULL,
        score           DOUBLE,
        medoid_image_id INTEGER,
        label           VARCHAR
    );
    CREATE TABLE cluster_members (
        cluster_id INTEGER NOT NULL,
        image_id   INTEGER NOT NULL,
        PRIMARY KEY (cluster_id, image_id)
    );
    CREATE SEQUENCE journal_ids START 1;
    CREATE TABLE journal (
        seq     BIGINT PRIMARY KEY DEFAULT nextval('journal_ids'),
        ran_at  TIMESTAMP NOT NULL,
        command VARCHAR NOT NULL,
        params  JSON NOT NULL,
        outcome JSON
    );
    """,
    # 2: undo. Deleted clusterings are kept (and hidden) so a delete can be
    # undone; the journal says which commands were undone and how to undo them.
    """
    ALTER TABLE clusterings ADD COLUMN deleted_at TIMESTAMP;
    ALTER TABLE journal ADD COLUMN status VARCHAR DEFAULT 'done';
    ALTER TABLE journal ADD COLUMN undo JSON;
    """,
    # 3: maps. One row per map (a model's vectors of one scope laid out on a
    # plane by one method) and its points. scope_ref is '' for all images, the
    # folder, the tag or cluster id, or a hash of the sorted image ids of a
    # selection. A PCA map keeps its mean and components so that images added
    # later are placed exactly; `fingerprint` says which vectors it covers.
    # Points have no key: a map's points are written together, so a scan by
    # map_id reads one run of rows; a primary key made writing 1M points about
    # 5 times slower (0.65 against 0.12 s) and reading them no faster.
    """
    CREATE SEQUENCE map_ids START 1;
    CREATE TABLE maps (
        id             INTEGER PRIMARY KEY DEFAULT nextval('map_ids'),
        model_id       INTEGER NOT NULL,
        scope_kind     VARCHAR NOT NULL,
        scope_ref      VARCHAR NOT NULL,
        scope_title    VARCHAR NOT NULL,
        method         VARCHAR NOT NULL,
        params         JSON NOT NULL,
        points         INTEGER NOT NULL,
        quality        DOUBLE,
        pca_mean       FLOAT[],
        pca_components FLOAT[],
        fingerprint    VARCHAR NOT NULL,
        created_at     TIMESTAMP NOT NULL
    );
    CREATE TABLE map_points (
        map_id   INTEGER NOT NULL,
        image_id INTEGER NOT NULL,
        x        FLOAT NOT NULL,
        y        FLOAT NOT NULL
    );
    """,
    # 4: typed properties. A property is a tag property (hierarchical tags,
    # several per image) or holds one value per image of its type; a value
    # lives in the column of its type (core/properties/kinds.py). No key on
    # property_values: its rows are replaced a property's images at a time,
    # by set-based deletes and inserts (a CSV of 1M rows in one statement).
    """
    ALTER TABLE properties ADD COLUMN type VARCHAR DEFAULT 'tag';
    CREATE TABLE property_values (
        property_id  INTEGER NOT NULL,
        image_id     INTEGER NOT NULL,
        value_text   VARCHAR,
        value_number DOUBLE,
        value_date   TIMESTAMP,
        value_flag   BOOLEAN
    );
    """,
]
assert len(MIGRATIONS) == SCHEMA_VERSION

# How long opening waits for another process to let go of the file. Short
# commands hold it for milliseconds, an import for one batch at a time.
DEFAULT_LOCK_WAIT_S = 5.0
_LOCK_RETRY_S = 0.1
# The file header and the two database headers before the first block.
_DUCKDB_HEADERS = 3 * 4096
_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<prog>.+?) \(PID (?P<pid>\d+)\)")


@dataclass(frozen=True)
class NewImage:
    sha256: str
    width: int
    height: int
    format: str
    mode: str
    exif_date: datetime | None
    thumbnail: bytes


@dataclass(frozen=True)
class FileRow:
    path: str
    sha256: str
    size: int
    mtime: float


@dataclass(frozen=True)
class ErrorRow:
    path: str
    reason: str
    size: int | None
    mtime: float | None


@dataclass(frozen=True)
class StoredBatch:
    """What a batch found already stored (by another import running meanwhile)."""

    images_present: set[str]  # sha256 of batch images the project already had
    files_present: set[str]  # paths stored already with the same size, mtime and content


@dataclass(frozen=True)
class ImportVectors:
    """Vectors of images identified by content, for `write_import_batch`."""

    model: ModelRow
    sha256: list[str]
    matrix: np.ndarray

    def as_arrow(self) -> pa.Table:
        return pa.table({"sha256": self.sha256, "vector": _vector_column(self.matrix, self.model)})


@dataclass(frozen=True)
class NewCluster:
    idx: int  # 1.. by decreasing size; 0 for the images no cluster took
    members: np.ndarray  # image ids
    score: float | None
    medoid: int | None
    label: str | None


@dataclass(frozen=True)
class ClusterRow:
    id: int
    clustering_id: int
    idx: int
    size: int
    score: float | None
    medoid: int | None
    label: str | None


@dataclass(frozen=True)
class NewMap:
    """A map to store: a model's vectors of one scope laid out by one method."""

    model_id: int
    scope_kind: str  # all, folder, tag, cluster, images
    scope_ref: str  # '', the folder, the tag or cluster id, a hash of the selection
    scope_title: str
    method: str
    params: dict[str, Any]
    quality: float | None
    fingerprint: str
    image_ids: np.ndarray  # int
    xy: np.ndarray  # float32 (n, 2)
    pca_mean: np.ndarray | None = None
    pca_components: np.ndarray | None = None  # (2, dim)


@dataclass(frozen=True)
class MapRow:
    id: int
    model_id: int
    scope_kind: str
    scope_ref: str
    scope_title: str
    method: str
    params: dict[str, Any]
    points: int
    quality: float | None
    pca_mean: np.ndarray | None
    pca_components: np.ndarray | None  # (2, dim)
    fingerprint: str
    created_at: datetime


@dataclass(frozen=True)
class KnownFile:
    size: int
    mtime: float
    image_id: int


def _model_row(row: Sequence[Any]) -> ModelRow:
    model_id, *fields, preprocessing = row
    return ModelRow(
        *fields, preprocessing=json.loads(preprocessing) if preprocessing else {}, id=model_id
    )


def _vector_column(vectors: np.ndarray, model: ModelRow) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[1] != model.dim:
        raise ValueError(f"expected vectors of dim {model.dim}, got shape {vectors.shape}")
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), model.dim)


# Above this many ids, reading every image's name beats binding the list (0.09 s
# for 100k ids against 0.04 s for all 100k names).
_NAMES_FILTER_LIMIT = 40_000
_NUMPY_OF_ARROW = {pa.int32(): np.int32, pa.int64(): np.int64, pa.float32(): np.float32}


def _primitive_numpy(array: pa.Array) -> np.ndarray:
    """A numeric Arrow array as numpy over the same memory (Arrow's own `to_numpy`
    imports pandas on first use: about 0.25 s)."""
    dtype = _NUMPY_OF_ARROW.get(array.type)
    if dtype is not None and len(array) == 0:
        return np.zeros(0, dtype)
    if dtype is None or array.null_count:
        raise ValueError(f"expected {' or '.join(map(str, _NUMPY_OF_ARROW))} without nulls, "
                         f"got {array.type} with {array.null_count} nulls")  # fmt: skip
    itemsize = np.dtype(dtype).itemsize
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * itemsize
    )


def _id_table(image_ids: Sequence[int] | np.ndarray) -> pa.Table:
    """An Arrow table of one INTEGER column `image_id` (built from its buffer:
    `pa.array` of a numpy array imports pandas)."""
    ids = np.ascontiguousarray(image_ids, dtype=np.int32)
    column = pa.Array.from_buffers(pa.int32(), len(ids), [None, pa.py_buffer(ids)])
    return pa.Table.from_arrays([column], names=["image_id"])


def _now() -> datetime:
    return datetime.now().replace(microsecond=0)


def _connect(
    path: Path, read_only: bool, wait_s: float, on_wait: Callable[[str], None] | None
) -> AttachedProject:
    deadline = time.monotonic() + wait_s
    started = time.monotonic()
    while True:
        try:
            return attach(path, read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            match = _LOCK_HOLDER.search(message)
            if match is None and _being_created(path) and time.monotonic() < deadline:
                # Another process has just created the file and not yet
                # written its headers: wait for it as for a lock.
                time.sleep(_LOCK_RETRY_S)
                continue
            if match is None:
                found = _as_user_error(exc, path)
                if isinstance(found, ProjectDamaged):
                    raise ProjectInvalid(path, _first_line(message)) from None
                raise found from None
            holder = f"PID {match['pid']}, {Path(match['prog']).name}"
            if time.monotonic() >= deadline:
                raise ProjectLocked(path, holder, time.monotonic() - started) from None
            if on_wait is not None:
                on_wait(holder)  # each retry: it may stop the wait by raising
            time.sleep(_LOCK_RETRY_S)
        except duckdb.Error as exc:
            raise ProjectInvalid(path, _first_line(str(exc))) from None


def _being_created(path: Path) -> bool:
    try:
        return path.stat().st_size < _DUCKDB_HEADERS
    except OSError:
        return False


def _as_user_error(exc: duckdb.Error, path: Path) -> Exception:
    """A DuckDB error met while working on the project, as something to tell the user;
    programming errors (a bad query, a broken constraint) stay as they are."""
    message = _first_line(str(exc))
    lowered = message.lower()
    if "no space left" in lowered or "disk is full" in lowered:
        return DiskFull(path)
    if "read-only file system" in lowered or "permission denied" in lowered:
        return ProjectReadOnly(path, message)
    if isinstance(exc, duckdb.IOException | duckdb.SerializationException) or "corrupt" in lowered:
        return ProjectDamaged(path, message)
    if isinstance(exc, duckdb.InternalException | duckdb.FatalException):
        return ProjectDamaged(path, message)
    return exc


def _lock_wait_from_environment() -> float:
    raw = os.environ.get("PLANCHE_LOCK_WAIT")
    if raw is None:
        return DEFAULT_LOCK_WAIT_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3600:
        raise BadParameter("PLANCHE_LOCK_WAIT", raw, "a number of seconds from 0 to 3600")
    return value


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else "unknown error"


@contextmanager
def open_store(
    path: Path | str,
    *,
    read_only: bool = False,
    create: bool = False,
    wait_s: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Store]:
    """Open the project at `path` for one short piece of work, then close it.

    `create` makes a new project where none exists; otherwise a missing file is
    an error. A read-only open coexists with other read-only opens. `wait_s` is
    how long to wait for another process's lock (default: $PLANCHE_LOCK_WAIT or 5 s);
    `on_wait` is told who holds it at each retry (every 0.1 s), so a front end can
    say why it pauses, and stop waiting by raising (Cancelled).
    """
    if wait_s is None:
        wait_s = _lock_wait_from_environment()
    path = Path(path).expanduser().absolute()
    if not path.exists():
        if not create:
            raise ProjectNotFound(path)
        if read_only:
            raise ProjectNotFound(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file where a folder must be, no permission, ...
            why = exc.strerror or str(exc)
            if isinstance(exc, FileExistsError | NotADirectoryError):
                why = "a file is in the way"
            raise ProjectInvalid(path, f"its folder {path.parent} cannot be made ({why})") from None
    elif path.is_dir():
        raise ProjectInvalid(path, "it is a folder; give the path of a .duckdb file")
    elif not read_only and not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        # Checked by mode, not by access(): root may write anything, but a
        # file made read-only says what its owner wants.
        raise ProjectReadOnly(path)
    # Threads of one process take turns too: DuckDB refuses a read-only and a
    # read-write connection to one file in the same process at the same time.
    turn = _process_lock(path)
    if not turn.acquire(timeout=max(wait_s, 0.001)):
        raise ProjectLocked(path, "another task of this program", wait_s)
    try:
        attached = _connect(path, read_only, wait_s, on_wait)
        state = _file_state(path)
        verified = state is not None and _VERIFIED.get(path) == (SCHEMA_VERSION, state)
        try:
            store = Store(attached.con, path)
            if not verified:
                version = store.schema_version()
                if read_only and 0 < version < SCHEMA_VERSION:
                    # A project from an older planche: upgrade it once, in a short
                    # writing open, rather than refuse to show it.
                    attached.close()
                    writer = _connect(path, False, wait_s, on_wait)
                    try:
                        Store(writer.con, path)._check_schema(read_only=False)
                    finally:
                        writer.close()
                    attached = _connect(path, True, wait_s, on_wait)
                    store = Store(attached.con, path)
                    version = SCHEMA_VERSION
                if not read_only:
                    # Before anything is written to a file that is not whole.
                    store.check_complete()
                store._check_schema(read_only=read_only, version=version)
                verified = not read_only
            yield store
        except duckdb.Error as exc:
            verified = False
            raise _as_user_error(exc, path) from None
        except OSError as exc:
            verified = False
            if exc.errno == errno.ENOSPC:
                raise DiskFull(path) from None
            raise
        finally:
            try:
                attached.close()
            except duckdb.Error as exc:  # the checkpoint of what was written
                verified = False
                raise _as_user_error(exc, path) from None
            finally:
                _VERIFIED.pop(path, None)
                if verified:
                    _VERIFIED[path] = (SCHEMA_VERSION, _file_state(path))
    finally:
        turn.release()


# Projects found whole and at the current schema by this process, with the state
# of their files (`_file_state`) when it last closed them: while the files are
# exactly as it left them, the next open skips those checks (5-12 ms each open).
_VERIFIED: dict[Path, tuple[int, tuple[Any, ...] | None]] = {}


def _file_state(path: Path) -> tuple[Any, ...] | None:
    """The project file's and its write-ahead log's identity, size and modification
    time: another process's write, a copy over it or a cut changes it."""
    state: list[Any] = []
    for each in (path, path.with_name(path.name + ".wal")):
        try:
            found = each.stat()
        except FileNotFoundError:
            state.append(None)
            continue
        except OSError:
            return None
        state.append((found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns))
    return tuple(state)


_PROCESS_LOCKS: dict[Path, threading.RLock] = {}
_PROCESS_LOCKS_GUARD = threading.Lock()


def _process_lock(path: Path) -> threading.RLock:
    with _PROCESS_LOCKS_GUARD:
        return _PROCESS_LOCKS.setdefault(path, threading.RLock())


class Store:
    """One open connection to a project. Obtain it from `open_store`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._con = con
        self.path = path
        self._depth = 0

    @property
    def con(self) -> duckdb.DuckDBPyConnection:
        """The connection, for the core modules that keep their own SQL beside
        this one (core/properties/): store.py stays the tables' owner."""
        return self._con

    def _fetch_one(self, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...] | None:
        # Fetch everything: DuckDB refuses new work on a connection while a
        # result is still half read.
        rows = self._con.execute(sql, params).fetchall()
        return rows[0] if rows else None

    def check_complete(self) -> None:
        """Refuse a file cut short (a copy that did not finish, a full disk):
        every block the tables use must lie inside the file."""
        block_size = self._fetch_one(
            "SELECT block_size FROM pragma_database_size() WHERE database_name = current_database()"
        )
        if not block_size or not block_size[0]:
            return
        in_file = (self.path.stat().st_size - _DUCKDB_HEADERS) // int(block_size[0])
        tables = [
            name
            for (name,) in self._con.execute(
                "SELECT table_name FROM duckdb_tables() "
                "WHERE database_name = current_database() AND schema_name = 'main'"
            ).fetchall()
        ]
        highest = -1
        if tables:
            # One query for every table (one per table cost 10 ms of each writing open).
            each = "SELECT max(block_id) AS b FROM pragma_storage_info(?) WHERE block_id >= 0"
            row = self._fetch_one(
                f"SELECT max(b) FROM ({' UNION ALL '.join([each] * len(tables))})", tables
            )
            if row and row[0] is not None:
                highest = int(row[0])
        if highest >= in_file:
            raise ProjectDamaged(
                self.path, f"its tables use block {highest} but the file ends at block "
                f"{in_file}: it was cut short, by a copy that did not finish or a full disk",
            )  # fmt: skip

    # -- schema -----------------------------------------------------------

    def schema_version(self) -> int:
        has_table = self._fetch_one(
            "SELECT count(*) FROM duckdb_tables() "
            "WHERE database_name = current_database() AND table_name = 'schema_version'"
        )
        if not has_table or has_table[0] == 0:
            tables = self._fetch_one(
                "SELECT count(*) FROM duckdb_tables() WHERE database_name = current_database()"
            )
            if tables and tables[0] > 0:
                raise ProjectInvalid(self.path, "it is a DuckDB file but not a planche project")
            return 0
        row = self._fetch_one("SELECT max(version) FROM schema_version")
        return int(row[0]) if row and row[0] is not None else 0

    def _check_schema(self, *, read_only: bool, version: int | None = None) -> None:
        if version is None:
            version = self.schema_version()
        if version > SCHEMA_VERSION:
            raise ProjectInvalid(
                self.path,
                f"it was written by a newer planche (schema {version}, this one knows "
                f"{SCHEMA_VERSION}); upgrade planche",
            )
        if version == SCHEMA_VERSION:
            return
        if read_only and version == 0:
            raise ProjectInvalid(self.path, "it is empty: no import into it has finished yet")
        if read_only:
            raise ProjectInvalid(
                self.path,
                f"its schema (version {version}) needs an upgrade to {SCHEMA_VERSION}; "
                "run any writing command (such as `planche import`) once",
            )
        with self._transaction():
            self._con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER NOT NULL, applied_at TIMESTAMP NOT NULL)"
            )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                self._con.execute(MIGRATIONS[number - 1])
                self._con.execute("INSERT INTO schema_version VALUES (?, ?)", [number, _now()])

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction; nested uses join the outermost one, so a command's
        writes and its journal entry commit together or not at all."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._con.execute("BEGIN TRANSACTION")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            self._con.execute("ROLLBACK")
            raise
        self._depth = 0
        self._con.execute("COMMIT")

    _transaction = transaction

    # -- import -----------------------------------------------------------

    def known_files(self) -> dict[str, KnownFile]:
        rows = self._con.execute("SELECT path, size, mtime, image_id FROM files").fetchall()
        return {path: KnownFile(size, mtime, image_id) for path, size, mtime, image_id in rows}

    def known_failures(self) -> dict[str, tuple[int | None, float | None]]:
        rows = self._con.execute("SELECT path, size, mtime FROM import_errors").fetchall()
        return {path: (size, mtime) for path, size, mtime in rows}

    def known_hashes(self) -> set[str]:
        return {row[0] for row in self._con.execute("SELECT sha256 FROM images").fetchall()}

    def write_import_batch(
        self,
        images: Sequence[NewImage],
        files: Sequence[FileRow],
        errors: Sequence[ErrorRow],
        vectors: ImportVectors | None = None,
    ) -> StoredBatch:
        """Store one batch of an import atomically.

        `files` may point at images of this batch or at images already stored
        (matched by sha256). A file whose content changed is re-pointed, and an
        image no file points at any more is removed with everything attached.
        A path that imports cleanly loses its earlier error, if any. `vectors`,
        computed during the import, land in the same transaction as their images.
        Images and files another import stored meanwhile are left as they are
        and reported, so two imports of one folder can take turns.
        """
        now = _now()
        images_present: set[str] = set()
        files_present: set[str] = set()
        with self._transaction():
            if images:
                table = pa.table(
                    {
                        "sha256": [i.sha256 for i in images],
                        "width": pa.array([i.width for i in images], pa.int32()),
                        "height": pa.array([i.height for i in images], pa.int32()),
                        "format": [i.format for i in images],
                        "mode": [i.mode for i in images],
                        "exif_date": pa.array([i.exif_date for i in images], pa.timestamp("us")),
                        "thumbnail": pa.array([i.thumbnail for i in images], pa.binary()),
                    }
                )
                self._con.register("batch_images", table)
                images_present = {
                    row[0]
                    for row in self._con.execute(
                        "SELECT sha256 FROM batch_images JOIN images USING (sha256)"
                    ).fetchall()
                }
                self._con.execute(
                    "INSERT INTO images (sha256, width, height, format, mode, exif_date, "
                    "thumbnail, imported_at) SELECT sha256, width, height, format, mode, "
                    "exif_date, thumbnail, ? FROM batch_images "
                    "WHERE sha256 NOT IN (SELECT sha256 FROM images)",
                    [now],
                )
                self._con.unregister("batch_images")
            if files:
                table = pa.table(
                    {
                        "path": [f.path for f in files],
                        "sha256": [f.sha256 for f in files],
                        "size": pa.array([f.size for f in files], pa.int64()),
                        "mtime": pa.array([f.mtime for f in files], pa.float64()),
                    }
                )
                self._con.register("batch_files", table)
                files_present = {
                    row[0]
                    for row in self._con.execute(
                        "SELECT b.path FROM batch_files b JOIN files f USING (path) "
                        "JOIN images i ON i.id = f.image_id "
                        "WHERE f.size = b.size AND f.mtime = b.mtime AND i.sha256 = b.sha256"
                    ).fetchall()
                }
                replaced = [
                    row[0]
                    for row in self._con.execute(
                        "SELECT files.image_id FROM files JOIN batch_files USING (path)"
                    ).fetchall()
                ]
                self._con.execute("DELETE FROM files WHERE path IN (SELECT path FROM batch_files)")
                self._con.execute(
                    "INSERT INTO files SELECT b.path, i.id, b.size, b.mtime, ? "
                    "FROM batch_files b JOIN images i USING (sha256)",
                    [now],
                )
                self._con.execute(
                    "DELETE FROM import_errors WHERE path IN (SELECT path FROM batch_files)"
                )
                self._con.unregister("batch_files")
                if replaced:
                    self._delete_unreferenced_images(replaced)
            if errors:
                self._con.executemany(
                    "INSERT OR REPLACE INTO import_errors VALUES (?, ?, ?, ?, ?)",
                    [(e.path, e.reason, e.size, e.mtime, now) for e in errors],
                )
            if vectors is not None and vectors.sha256:
                self._insert_import_vectors(vectors, images_present)
        return StoredBatch(images_present, files_present)

    def _insert_import_vectors(self, vectors: ImportVectors, images_present: set[str]) -> None:
        """The batch's vectors: images it added have none yet (a plain INSERT,
        a third of the time of INSERT OR REPLACE's index probes); an image another
        import stored meanwhile keeps the vector it may already have."""
        table = vectors.as_arrow()
        present = np.array([sha in images_present for sha in vectors.sha256], dtype=bool)
        target = self._embedding_table(vectors.model.id)
        for rows, verb in ((~present, "INSERT"), (present, "INSERT OR IGNORE")):
            if not rows.any():
                continue
            # (Arrow's filter loads pyarrow.compute: only when the batch is mixed.)
            self._con.register("batch_vectors", table if rows.all() else table.filter(rows))
            self._con.execute(
                f"{verb} INTO {target} "
                "SELECT i.id, b.vector FROM batch_vectors b JOIN images i USING (sha256)"
            )
            self._con.unregister("batch_vectors")

    def _delete_unreferenced_images(self, candidates: Sequence[int]) -> None:
        orphans = [
            row[0]
            for row in self._con.execute(
                "SELECT id FROM images WHERE id IN (SELECT unnest(?)) "
                "AND id NOT IN (SELECT image_id FROM files)",
                [list(candidates)],
            ).fetchall()
        ]
        if not orphans:
            return
        dependants = ["image_tags", "cluster_members", "map_points"] + [
            self._embedding_table(model.id) for model in self.models()
        ]
        for table in dependants:
            self._con.execute(
                f"DELETE FROM {table} WHERE image_id IN (SELECT unnest(?))", [orphans]
            )
        self._con.execute("DELETE FROM images WHERE id IN (SELECT unnest(?))", [orphans])

    def ingest_shards(self, shard_files: Sequence[str], model: ModelRow) -> dict[str, int]:
        """Load Parquet shards (see core/shards/schema.py) in one transaction,
        inside DuckDB: no row passes through Python.

        One row per path is kept (an embedded one before a failed one); one
        row per content becomes the image, new ones only; every file points
        at its image (a path whose content changed is re-pointed, and images
        left without a file go); images without a vector for `model` get the
        shard's; failed files become import errors. Returns counts.
        """
        shards = "[" + ", ".join("'" + str(f).replace("'", "''") + "'" for f in shard_files) + "]"
        source = f"read_parquet({shards}, filename = true, file_row_number = true)"
        vectors_table = self._embedding_table(model.id)
        now = _now()
        sql = self._con.execute
        with self._transaction():
            sql(
                "CREATE OR REPLACE TEMP TABLE shard_files AS "
                f"SELECT path, sha256, size, mtime, error, filename, file_row_number FROM {source} "
                "QUALIFY row_number() OVER (PARTITION BY path "
                "ORDER BY error IS NULL DESC, mtime DESC, filename) = 1"
            )
            # One shard row per content: the one at the first path.
            sql(
                "CREATE OR REPLACE TEMP TABLE shard_images AS SELECT DISTINCT ON (sha256) "
                "sha256, filename, file_row_number, sha256 IN (SELECT sha256 FROM images) AS known "
                "FROM shard_files WHERE error IS NULL ORDER BY sha256, path"
            )
            sql(
                "INSERT INTO images (sha256, width, height, format, mode, exif_date, thumbnail, "
                "imported_at) SELECT s.sha256, s.width, s.height, s.format, s.mode, s.exif_date, "
                f"s.thumbnail, ? FROM {source} s "
                "JOIN shard_images c USING (filename, file_row_number) WHERE NOT c.known",
                [now],
            )
            replaced = [
                row[0]
                for row in sql(
                    "SELECT f.image_id FROM files f JOIN shard_files s USING (path) "
                    "JOIN images i ON i.id = f.image_id "
                    "WHERE s.error IS NULL AND i.sha256 <> s.sha256"
                ).fetchall()
            ]
            listed = self._fetch_one(
                "SELECT count(*) FILTER (WHERE error IS NULL) FROM shard_files"
            )
            # Files stored already as they are in the shards stay as they are.
            sql(
                "DELETE FROM shard_files s USING files f, images i WHERE f.path = s.path "
                "AND i.id = f.image_id AND i.sha256 = s.sha256 AND f.size = s.size "
                "AND f.mtime = s.mtime"
            )
            sql(
                "DELETE FROM files WHERE path IN (SELECT path FROM shard_files WHERE error IS NULL)"
            )
            sql(
                "INSERT INTO files SELECT s.path, i.id, s.size, s.mtime, ? FROM shard_files s "
                "JOIN images i USING (sha256) WHERE s.error IS NULL",
                [now],
            )
            sql(
                "DELETE FROM import_errors WHERE path IN "
                "(SELECT path FROM shard_files WHERE error IS NULL)"
            )
            sql(
                "INSERT OR REPLACE INTO import_errors SELECT path, error, size, mtime, ? "
                "FROM shard_files WHERE error IS NOT NULL",
                [now],
            )
            before = self.embedding_count(model.id)
            sql(
                f"INSERT INTO {vectors_table} SELECT i.id, s.vector FROM {source} s "
                "JOIN shard_images c USING (filename, file_row_number) "
                "JOIN images i ON i.sha256 = s.sha256 "
                f"WHERE i.id NOT IN (SELECT image_id FROM {vectors_table})"
            )
            if replaced:
                self._delete_unreferenced_images(replaced)
            counts = self._fetch_one(
                "SELECT count(*) FILTER (WHERE error IS NULL), "
                "count(*) FILTER (WHERE error IS NOT NULL) FROM shard_files"
            )
            new_images = self._fetch_one("SELECT count(*) FROM shard_images WHERE NOT known")
            distinct = self._fetch_one("SELECT count(*) FROM shard_images")
            assert counts and new_images and distinct
            assert listed
            result = {
                "files": int(counts[0]),
                "unchanged_files": int(listed[0]) - int(counts[0]),
                "new_images": int(new_images[0]),
                "known_images": int(distinct[0]) - int(new_images[0]),
                "vectors": self.embedding_count(model.id) - before,
                "failed": int(counts[1]),
                "replaced": len(replaced),
            }
            sql("DROP TABLE shard_files")
            sql("DROP TABLE shard_images")
        return result

    def forget_files(self, paths: Sequence[str]) -> None:
        """Drop file rows (files gone from disk) and the images left without any."""
        with self._transaction():
            affected = [
                row[0]
                for row in self._con.execute(
                    "SELECT DISTINCT image_id FROM files WHERE path IN (SELECT unnest(?))",
                    [list(paths)],
                ).fetchall()
            ]
            self._con.execute("DELETE FROM files WHERE path IN (SELECT unnest(?))", [list(paths)])
            self._delete_unreferenced_images(affected)

    def import_errors(self) -> list[tuple[str, str]]:
        return self._con.execute("SELECT path, reason FROM import_errors ORDER BY path").fetchall()

    # -- reading ----------------------------------------------------------

    def counts(self) -> dict[str, int]:
        row = self._fetch_one(
            "SELECT (SELECT count(*) FROM images), (SELECT count(*) FROM files), "
            "(SELECT count(*) FROM import_errors), (SELECT count(*) FROM properties), "
            "(SELECT count(*) FROM tags), (SELECT count(*) FROM clusterings), "
            "(SELECT count(*) FROM journal)"
        )
        assert row is not None
        keys = ("images", "files", "errors", "tag_properties", "tags", "clusterings", "journal")
        return dict(zip(keys, (int(v) for v in row), strict=True))

    def image_rows(self) -> list[dict[str, Any]]:
        """Every image with its files, without thumbnails, ordered by id."""
        rows = self._con.execute(
            "SELECT i.id, i.sha256, i.width, i.height, i.format, i.mode, i.exif_date, "
            "list(f.path ORDER BY f.path) FROM images i JOIN files f ON f.image_id = i.id "
            "GROUP BY ALL ORDER BY i.id"
        ).fetchall()
        keys = ("id", "sha256", "width", "height", "format", "mode", "exif_date", "paths")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def file_details(self, image_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Every file of these images as imported (path, size, mtime) with its image's
        content hash, resolution, format and EXIF date; by image, then path."""
        rows = self._con.execute(
            "SELECT f.path, f.image_id, f.size, f.mtime, i.sha256, i.width, i.height, i.format, "
            "i.exif_date FROM files f JOIN images i ON i.id = f.image_id "
            "WHERE f.image_id IN (SELECT unnest(?)) ORDER BY f.image_id, f.path",
            [list(image_ids)],
        ).fetchall()
        keys = ("path", "image_id", "size", "mtime", "sha256", "width", "height", "format",
                "exif_date")  # fmt: skip
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def image_paths(self, image_ids: Sequence[int]) -> dict[int, list[str]]:
        rows = self._con.execute(
            "SELECT image_id, list(path ORDER BY path) FROM files "
            "WHERE image_id IN (SELECT unnest(?)) GROUP BY image_id",
            [list(image_ids)],
        ).fetchall()
        return {image_id: paths for image_id, paths in rows}

    def image_names(self, image_ids: Sequence[int]) -> dict[int, str]:
        """The file name (no folder) of each image's first path, for captions."""
        name = "parse_filename(min(path), false, 'forward_slash') AS name"  # os.path.basename
        if len(image_ids) > _NAMES_FILTER_LIMIT:
            # Binding a long id list costs more than reading every name: read all, keep some.
            found = self._con.execute(f"SELECT image_id, {name} FROM files GROUP BY image_id")
            wanted: set[int] | None = set(image_ids)
        else:
            found = self._con.execute(
                f"SELECT image_id, {name} FROM files WHERE image_id IN (SELECT unnest(?)) "
                "GROUP BY image_id",
                [list(image_ids)],
            )
            wanted = None
        columns = found.fetchnumpy()  # not Arrow: its to_numpy imports pandas
        pairs = zip(columns["image_id"].tolist(), columns["name"].tolist(), strict=True)
        if wanted is None:
            return dict(pairs)
        return {i: n for i, n in pairs if i in wanted}

    def image_exists(self, image_id: int) -> bool:
        row = self._fetch_one("SELECT count(*) FROM images WHERE id = ?", [image_id])
        return bool(row and row[0])

    def image_id_for_path(self, path: str) -> int | None:
        row = self._fetch_one("SELECT image_id FROM files WHERE path = ?", [path])
        return int(row[0]) if row else None

    def thumbnails(self, image_ids: Sequence[int]) -> dict[int, bytes]:
        rows = self._con.execute(
            "SELECT id, thumbnail FROM images WHERE id IN (SELECT unnest(?))", [list(image_ids)]
        ).fetchall()
        return {image_id: bytes(data) for image_id, data in rows}

    def thumbnail(self, image_id: int) -> bytes | None:
        row = self._fetch_one("SELECT thumbnail FROM images WHERE id = ?", [image_id])
        return bytes(row[0]) if row else None

    # -- models and embeddings -------------------------------------------

    def models(self) -> list[ModelRow]:
        rows = self._con.execute(
            "SELECT id, embedder, name, pretrained, weights_hash, dim, precision, preprocessing "
            "FROM models ORDER BY id"
        ).fetchall()
        return [_model_row(row) for row in rows]

    @staticmethod
    def _embedding_table(model_id: int) -> str:
        # One table per model, because a fixed-size FLOAT[dim] column (what
        # DuckDB's array functions and Arrow's FixedSizeList want) has one dim.
        return f"embeddings_{int(model_id)}"

    def register_model(
        self,
        *,
        embedder: str,
        name: str,
        pretrained: str | None,
        weights_hash: str | None,
        dim: int,
        precision: str,
        preprocessing: dict[str, Any] | None = None,
    ) -> ModelRow:
        """Return the model row for this exact model, creating it and its table."""
        key = [embedder, name, pretrained, weights_hash, precision]
        query = (
            "SELECT id, embedder, name, pretrained, weights_hash, dim, precision, preprocessing "
            "FROM models "
            "WHERE embedder = ? AND name = ? AND pretrained IS NOT DISTINCT FROM ? "
            "AND weights_hash IS NOT DISTINCT FROM ? AND precision = ?"
        )
        row = self._fetch_one(query, key)
        if row:
            return _model_row(row)
        with self._transaction():
            self._con.execute(
                "INSERT INTO models (embedder, name, pretrained, weights_hash, dim, precision, "
                "preprocessing, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [*key[:4], dim, precision, json.dumps(preprocessing or {}), _now()],
            )
            created = _model_row(self._fetch_one(query, key))  # type: ignore[arg-type]
            self._con.execute(
                f"CREATE TABLE {self._embedding_table(created.id)} "
                f"(image_id INTEGER PRIMARY KEY, vector FLOAT[{int(dim)}] NOT NULL)"
            )
        return created

    def images_without_embedding(self, model_id: int) -> list[int]:
        table = self._embedding_table(model_id)
        rows = self._con.execute(
            f"SELECT id FROM images WHERE id NOT IN (SELECT image_id FROM {table}) ORDER BY id"
        ).fetchall()
        return [row[0] for row in rows]

    def write_embeddings(self, model: ModelRow, image_ids: Sequence[int], vectors: Any) -> None:
        if len(vectors) != len(image_ids):
            raise ValueError(f"expected {len(image_ids)} vectors, got {len(vectors)}")
        column = _vector_column(vectors, model)
        table = pa.table({"image_id": pa.array(image_ids, pa.int32()), "vector": column})
        with self._transaction():
            self._con.register("batch_vectors", table)
            self._con.execute(
                f"INSERT OR REPLACE INTO {self._embedding_table(model.id)} "
                "SELECT image_id, vector FROM batch_vectors"
            )
            self._con.unregister("batch_vectors")

    # Rows per Arrow batch when reading vectors: 32 MB of float32 at 512-d.
    _VECTOR_BATCH = 16_384

    def read_embeddings(
        self,
        model: ModelRow,
        only: Sequence[int] | np.ndarray | None = None,
        dtype: Any = np.float32,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Vectors of one model as (image ids ascending, matrix of `dtype`), via Arrow.

        All of them, or those of the image ids in `only`. Batch by batch into one
        matrix, without Arrow's `to_numpy` (which imports pandas, about 0.25 s the
        first time) and without a float32 copy of everything when `dtype` is
        float16 (the vector table's rows: the same values as float32 cast after).
        """
        table_name = self._embedding_table(model.id)
        if only is None:
            # DuckDB sorting 2 KB rows costs more than putting each batch in its
            # place: the ids come sorted first (a few ms), the rows unsorted.
            ids = self.read_embedding_ids(model.id)
            rows = np.empty((len(ids), model.dim), dtype=dtype)
            reader = self._con.sql(f"SELECT image_id, vector FROM {table_name}").to_arrow_reader(
                self._VECTOR_BATCH
            )
            placed = 0
            try:
                for batch in reader:
                    batch_ids, vectors = self._vector_batch(batch, model.dim)
                    rows[np.searchsorted(ids, batch_ids)] = vectors
                    placed += len(batch_ids)
            finally:
                reader.close()
            if placed != len(ids):  # the ids and the rows are read in one snapshot
                raise RuntimeError(f"read {placed} vectors for {len(ids)} ids")
            return ids, rows
        self._con.register("wanted_ids", _id_table(only))
        try:
            reader = self._con.sql(
                f"SELECT e.image_id, e.vector FROM {table_name} e "
                "JOIN wanted_ids USING (image_id) ORDER BY e.image_id"
            ).to_arrow_reader(self._VECTOR_BATCH)
            try:
                parts = [self._vector_batch(batch, model.dim) for batch in reader]
            finally:
                reader.close()
        finally:
            self._con.unregister("wanted_ids")
        if not parts:
            return np.zeros(0, np.int64), np.zeros((0, model.dim), dtype=dtype)
        ids = np.concatenate([part[0] for part in parts]).astype(np.int64)
        rows = np.empty((len(ids), model.dim), dtype=dtype)
        at = 0
        for _, vectors in parts:
            rows[at : at + len(vectors)] = vectors
            at += len(vectors)
        return ids, rows

    @staticmethod
    def _vector_batch(batch: pa.RecordBatch, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(image ids, float32 (n, dim)) of one batch of (image_id, vector), no copy."""
        ids = _primitive_numpy(batch.column(0))
        flat = batch.column(1).flatten()  # a FLOAT[dim] column: a slice of its values
        return ids, _primitive_numpy(flat).reshape(len(ids), dim)

    def read_embedding_ids(self, model_id: int) -> np.ndarray:
        # fetchnumpy, not Arrow: Arrow's to_numpy imports pandas
        found = self._con.execute(
            f"SELECT image_id FROM {self._embedding_table(model_id)} ORDER BY image_id"
        ).fetchnumpy()
        return np.asarray(found["image_id"], dtype=np.int64)

    def embedding_fingerprint(self, model_id: int) -> tuple[int, int, int]:
        """(count, sum, max) of the image ids that have a vector for the model."""
        row = self._fetch_one(
            "SELECT count(*), coalesce(sum(image_id), 0), coalesce(max(image_id), 0) "
            f"FROM {self._embedding_table(model_id)}"
        )
        assert row is not None
        return int(row[0]), int(row[1]), int(row[2])

    def embedding_count(self, model_id: int) -> int:
        row = self._fetch_one(f"SELECT count(*) FROM {self._embedding_table(model_id)}")
        return int(row[0]) if row else 0

    # -- clusterings -----------------------------------------------------

    def write_clustering(
        self,
        *,
        parent_cluster_id: int | None,
        strategy: str,
        params: dict[str, Any],
        model_id: int,
        clusters: Sequence[NewCluster],
    ) -> int:
        """Store a clustering and its clusters with their members; return its id."""
        with self._transaction():
            row = self._fetch_one(
                "INSERT INTO clusterings (parent_cluster_id, strategy, params, model_id, "
                "created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
                [parent_cluster_id, strategy, json.dumps(params), model_id, _now()],
            )
            assert row is not None
            clustering_id = int(row[0])
            ids = [
                r[0]
                for r in self._con.execute(
                    "SELECT nextval('cluster_ids') FROM range(?)", [len(clusters)]
                ).fetchall()
            ]
            table = pa.table(
                {
                    "id": pa.array(ids, pa.int32()),
                    "idx": pa.array([c.idx for c in clusters], pa.int32()),
                    "size": pa.array([len(c.members) for c in clusters], pa.int32()),
                    "score": pa.array([c.score for c in clusters], pa.float64()),
                    "medoid": pa.array([c.medoid for c in clusters], pa.int32()),
                    "label": pa.array([c.label for c in clusters], pa.string()),
                }
            )
            members = pa.table(
                {
                    "cluster_id": pa.array(
                        np.repeat(ids, [len(c.members) for c in clusters]), pa.int32()
                    ),
                    "image_id": pa.array(
                        np.concatenate([c.members for c in clusters]) if clusters else [],
                        pa.int32(),
                    ),
                }
            )
            self._con.register("new_clusters", table)
            self._con.register("new_members", members)
            self._con.execute(
                "INSERT INTO clusters SELECT id, ?, idx, size, score, medoid, label "
                "FROM new_clusters",
                [clustering_id],
            )
            self._con.execute("INSERT INTO cluster_members SELECT * FROM new_members")
            self._con.unregister("new_clusters")
            self._con.unregister("new_members")
        return clustering_id

    def clusterings(self) -> list[dict[str, Any]]:
        rows = self._con.execute(
            "SELECT c.id, c.parent_cluster_id, c.strategy, c.params, c.model_id, c.created_at, "
            "count(k.id), coalesce(sum(k.size), 0) FROM clusterings c "
            "LEFT JOIN clusters k ON k.clustering_id = c.id WHERE c.deleted_at IS NULL "
            "GROUP BY ALL ORDER BY c.id"
        ).fetchall()
        keys = ("id", "parent_cluster_id", "strategy", "params", "model_id", "created_at",
                "clusters", "images")  # fmt: skip
        result = [dict(zip(keys, row, strict=True)) for row in rows]
        for item in result:
            item["params"] = json.loads(item["params"])
        return result

    def clusters(self, clustering_id: int) -> list[ClusterRow]:
        rows = self._con.execute(
            "SELECT id, clustering_id, idx, size, score, medoid_image_id, label FROM clusters "
            "WHERE clustering_id = ? ORDER BY idx = 0, idx",
            [clustering_id],
        ).fetchall()
        return [ClusterRow(*row) for row in rows]

    def cluster(self, cluster_id: int) -> ClusterRow | None:
        row = self._fetch_one(
            "SELECT id, clustering_id, idx, size, score, medoid_image_id, label FROM clusters "
            "WHERE id = ?",
            [cluster_id],
        )
        return ClusterRow(*row) if row else None

    def clustering(self, clustering_id: int) -> dict[str, Any] | None:
        found = [c for c in self.clusterings() if c["id"] == clustering_id]
        return found[0] if found else None

    def cluster_member_ids(self, cluster_id: int) -> np.ndarray:
        table = self._con.sql(
            f"SELECT image_id FROM cluster_members WHERE cluster_id = {int(cluster_id)} "
            "ORDER BY image_id"
        ).to_arrow_table()
        return table.column("image_id").to_numpy().astype(np.int64)

    def delete_clustering(self, clustering_id: int) -> list[int]:
        """Delete a clustering and every clustering nested in it; return their ids.

        They are hidden, not erased, so that `restore_clusterings` can undo it.
        """
        doomed = [clustering_id]
        frontier = [clustering_id]
        while frontier:
            rows = self._con.execute(
                "SELECT id FROM clusterings WHERE deleted_at IS NULL AND parent_cluster_id IN "
                "(SELECT id FROM clusters WHERE clustering_id IN (SELECT unnest(?)))",
                [frontier],
            ).fetchall()
            frontier = [r[0] for r in rows]
            doomed.extend(frontier)
        with self._transaction():
            self._con.execute(
                "UPDATE clusterings SET deleted_at = ? WHERE id IN (SELECT unnest(?))",
                [_now(), doomed],
            )
        return doomed

    def hide_clusterings(self, clustering_ids: Sequence[int]) -> None:
        with self._transaction():
            self._con.execute(
                "UPDATE clusterings SET deleted_at = ? WHERE id IN (SELECT unnest(?))",
                [_now(), list(clustering_ids)],
            )

    def restore_clusterings(self, clustering_ids: Sequence[int]) -> None:
        with self._transaction():
            self._con.execute(
                "UPDATE clusterings SET deleted_at = NULL WHERE id IN (SELECT unnest(?))",
                [list(clustering_ids)],
            )

    def cluster_by_index(self, clustering_id: int, idx: int) -> int | None:
        row = self._fetch_one(
            "SELECT id FROM clusters WHERE clustering_id = ? AND idx = ?", [clustering_id, idx]
        )
        return int(row[0]) if row else None

    def image_id_for_sha256(self, sha256: str) -> int | None:
        row = self._fetch_one("SELECT id FROM images WHERE sha256 = ?", [sha256])
        return int(row[0]) if row else None

    def sha256_of_images(self, image_ids: Sequence[int]) -> dict[int, str]:
        rows = self._con.execute(
            "SELECT id, sha256 FROM images WHERE id IN (SELECT unnest(?))", [list(image_ids)]
        ).fetchall()
        return dict(rows)

    def image_ids_for_sha256(self, hashes: Sequence[str]) -> dict[str, int]:
        """Image ids by content hash, for the hashes that are in the project (one query)."""
        table = pa.table({"sha256": pa.array(list(hashes), pa.string())})
        self._con.register("wanted_hashes", table)
        try:
            rows = self._con.execute(
                "SELECT i.sha256, i.id FROM images i JOIN wanted_hashes USING (sha256)"
            ).fetchall()
        finally:
            self._con.unregister("wanted_hashes")
        return dict(rows)

    def missing_images(self, image_ids: Sequence[int]) -> list[int]:
        """The ids among `image_ids` that are not images of the project, sorted."""
        rows = self._con.execute(
            "SELECT DISTINCT unnest(?) AS id EXCEPT SELECT id FROM images ORDER BY id",
            [list(image_ids)],
        ).fetchall()
        return [row[0] for row in rows]

    def tag_exists(self, tag_id: int) -> bool:
        row = self._fetch_one("SELECT count(*) FROM tags WHERE id = ?", [tag_id])
        return bool(row and row[0])

    def tag_path_of(self, tag_id: int) -> tuple[str, ...] | None:
        """(property, tag names from the top) of one tag, or None."""
        row = self._fetch_one(
            "SELECT p.name FROM tags t JOIN properties p ON p.id = t.property_id WHERE t.id = ?",
            [tag_id],
        )
        if row is None:
            return None
        found = dict(self.all_tag_paths(row[0]))
        return (row[0], *found[tag_id]) if tag_id in found else None

    def tag_id_for_path(self, property_name: str, path: Sequence[str]) -> int | None:
        return next(
            (tag_id for tag_id, p in self.all_tag_paths(property_name) if p == tuple(path)), None
        )

    # -- tags -------------------------------------------------------------

    def property_id(self, name: str) -> int | None:
        row = self._fetch_one("SELECT id FROM properties WHERE name = ?", [name])
        return int(row[0]) if row else None

    def properties(self) -> list[tuple[int, str]]:
        """The tag properties (typed ones: core/properties/values.py)."""
        return self._con.execute(
            "SELECT id, name FROM properties WHERE type = 'tag' ORDER BY name"
        ).fetchall()

    def tags(self, property_id: int) -> list[tuple[int, int | None, str, int]]:
        """(tag id, parent id, name, images) of one property, counting the images
        with the tag or any tag below it, as opening it and `tag:` filters do."""
        return self._con.execute(
            "WITH RECURSIVE below(top, id) AS ("
            "SELECT id, id FROM tags WHERE property_id = $p UNION ALL "
            "SELECT b.top, t.id FROM tags t JOIN below b ON t.parent_id = b.id) "
            "SELECT t.id, t.parent_id, t.name, count(DISTINCT it.image_id) FROM tags t "
            "JOIN below b ON b.top = t.id LEFT JOIN image_tags it ON it.tag_id = b.id "
            "WHERE t.property_id = $p GROUP BY ALL ORDER BY t.id",
            {"p": property_id},
        ).fetchall()

    def leaf_tag_paths(self, property_name: str) -> list[tuple[int, tuple[str, ...]]]:
        """Tags without children, each with its names from the top: (id, ("animal", "cat"))."""
        property_id = self.property_id(property_name)
        if property_id is None:
            return []
        parents = {parent for _, parent, _, _ in self.tags(property_id) if parent is not None}
        return [(t, p) for t, p in self.all_tag_paths(property_name) if t not in parents]

    def all_tag_paths(self, property_name: str) -> list[tuple[int, tuple[str, ...]]]:
        """Every tag of a property with its names from the top."""
        property_id = self.property_id(property_name)
        if property_id is None:
            return []
        rows = self.tags(property_id)
        by_id = {tag_id: (parent, name) for tag_id, parent, name, _ in rows}
        paths = []
        for tag_id in by_id:
            path, current = [], tag_id
            while current is not None:
                parent, name = by_id[current]
                path.append(name)
                current = parent
            paths.append((tag_id, tuple(reversed(path))))
        return paths

    def add_tag_path_recorded(
        self, property_name: str, path: Sequence[str]
    ) -> tuple[int, dict[str, Any]]:
        """`add_tag_path`, also saying what it made (for undo): the property if it
        was new, and each new tag as [id, parent id, name]."""
        with self._transaction():
            existed = self.property_id(property_name) is not None
            before = {tag_id for tag_id, _ in self.all_tag_paths(property_name)}
            tag_id = self._tag_path(property_name, path)
            property_id = self.property_id(property_name)
            made = [
                [t, parent, name]
                for t, parent, name, _ in self.tags(property_id)  # type: ignore[arg-type]
                if t not in before
            ]
        return tag_id, {
            "property_id": property_id,
            "property": None if existed else property_name,
            "tags": made,
        }

    def remove_made_tags(self, made: dict[str, Any]) -> None:
        """Undo what `add_tag_path_recorded` made (their image links go too)."""
        ids = [t[0] for t in made["tags"]]
        with self._transaction():
            self._con.execute("DELETE FROM image_tags WHERE tag_id IN (SELECT unnest(?))", [ids])
            self._con.execute("DELETE FROM tags WHERE id IN (SELECT unnest(?))", [ids])
            if made["property"] is not None:
                self._con.execute("DELETE FROM properties WHERE id = ?", [made["property_id"]])

    def restore_made_tags(self, made: dict[str, Any]) -> None:
        """Make again, with the same ids, what `remove_made_tags` removed."""
        with self._transaction():
            if made["property"] is not None:
                self._con.execute(
                    "INSERT INTO properties (id, name, created_at) VALUES (?, ?, ?)",
                    [made["property_id"], made["property"], _now()],
                )
            for tag_id, parent, name in made["tags"]:
                self._con.execute(
                    "INSERT INTO tags (id, property_id, parent_id, name) VALUES (?, ?, ?, ?)",
                    [tag_id, made["property_id"], parent, name],
                )

    def add_tag_path(self, property_name: str, path: Sequence[str]) -> int:
        """The tag at `path` under the property, created with its parents as needed."""
        with self._transaction():
            return self._tag_path(property_name, path)

    def _tag_path(self, property_name: str, path: Sequence[str]) -> int:
        property_id = self.property_id(property_name)
        kind = self._fetch_one("SELECT type FROM properties WHERE id = ?", [property_id])
        if kind and kind[0] != "tag":
            why = f"a tag property: {property_name} holds {kind[0]} values"
            raise BadParameter("property", property_name, why)
        if property_id is None:
            row = self._fetch_one(
                "INSERT INTO properties (name, created_at) VALUES (?, ?) RETURNING id",
                [property_name, _now()],
            )
            assert row is not None
            property_id = int(row[0])
        parent: int | None = None
        for name in path:
            row = self._fetch_one(
                "SELECT id FROM tags WHERE property_id = ? AND parent_id IS NOT DISTINCT FROM ? "
                "AND name = ?",
                [property_id, parent, name],
            )
            if row is None:
                row = self._fetch_one(
                    "INSERT INTO tags (property_id, parent_id, name) VALUES (?, ?, ?) RETURNING id",
                    [property_id, parent, name],
                )
            assert row is not None
            parent = int(row[0])
        assert parent is not None
        return parent

    def delete_property(self, name: str) -> bool:
        property_id = self.property_id(name)
        if property_id is None:
            return False
        with self._transaction():
            self._con.execute(
                "DELETE FROM image_tags WHERE tag_id IN "
                "(SELECT id FROM tags WHERE property_id = ?)",
                [property_id],
            )
            self._con.execute("DELETE FROM tags WHERE property_id = ?", [property_id])
            self._con.execute("DELETE FROM property_values WHERE property_id = ?", [property_id])
            self._con.execute("DELETE FROM properties WHERE id = ?", [property_id])
        return True

    def save_clustering_as_tags(
        self, clustering_id: int, property_name: str, tag_names: dict[int, tuple[str, ...]]
    ) -> int:
        """Write a property whose tags mirror clusters, in one transaction.

        `tag_names` maps each cluster id to its tag path; members are tagged
        with their cluster's tag. Returns how many tags were made.
        """
        with self._transaction():
            for cluster_id, path in tag_names.items():
                tag_id = self._tag_path(property_name, path)
                self._con.execute(
                    "INSERT OR IGNORE INTO image_tags SELECT image_id, ? FROM cluster_members "
                    "WHERE cluster_id = ?",
                    [tag_id, cluster_id],
                )
        # Every path's prefixes are tags too ("1", then "1 / kmeans #7", ...).
        return len(
            {path[:depth] for path in tag_names.values() for depth in range(1, len(path) + 1)}
        )

    def image_tag_paths(self, image_id: int) -> list[tuple[str, tuple[str, ...]]]:
        """(property, tag path) of every tag on one image."""
        rows = self._con.execute(
            "SELECT p.name, t.id FROM image_tags it JOIN tags t ON t.id = it.tag_id "
            "JOIN properties p ON p.id = t.property_id WHERE it.image_id = ? ORDER BY p.name",
            [image_id],
        ).fetchall()
        result = []
        for property_name, tag_id in rows:
            names, current = [], tag_id
            while current is not None:
                row = self._fetch_one("SELECT parent_id, name FROM tags WHERE id = ?", [current])
                assert row is not None
                names.append(row[1])
                current = row[0]
            result.append((property_name, tuple(reversed(names))))
        return result

    # -- browsing ---------------------------------------------------------

    def all_image_ids(self) -> np.ndarray:
        # fetchnumpy, not Arrow: Arrow's to_numpy imports pandas (0.24 s at start-up)
        found = self._con.execute("SELECT id FROM images ORDER BY id").fetchnumpy()
        return np.asarray(found["id"], dtype=np.int64)

    def folder_counts(self) -> list[tuple[str, int]]:
        """(folder, number of images with a file directly in it), by folder."""
        return self._con.execute(
            "SELECT regexp_replace(path, '/[^/]*$', '') AS folder, count(DISTINCT image_id) "
            "FROM files GROUP BY folder ORDER BY folder"
        ).fetchall()

    def images_under(self, folder: str) -> np.ndarray:
        prefix = folder.rstrip("/") + "/"
        rows = self._con.execute(
            "SELECT DISTINCT image_id FROM files WHERE starts_with(path, ?) ORDER BY image_id",
            [prefix],
        ).fetchall()
        return np.array([row[0] for row in rows], dtype=np.int64)

    def images_with_tag(self, tag_id: int) -> np.ndarray:
        """Images tagged with this tag or any tag below it."""
        rows = self._con.execute(
            "WITH RECURSIVE below(id) AS (SELECT ?::INTEGER UNION ALL "
            "SELECT t.id FROM tags t JOIN below b ON t.parent_id = b.id) "
            "SELECT DISTINCT image_id FROM image_tags WHERE tag_id IN (SELECT id FROM below) "
            "ORDER BY image_id",
            [tag_id],
        ).fetchall()
        return np.array([row[0] for row in rows], dtype=np.int64)

    def image_record(self, image_id: int) -> dict[str, Any] | None:
        row = self._fetch_one(
            "SELECT id, sha256, width, height, format, mode, exif_date, imported_at "
            "FROM images WHERE id = ?",
            [image_id],
        )
        if row is None:
            return None
        keys = ("id", "sha256", "width", "height", "format", "mode", "exif_date", "imported_at")
        record = dict(zip(keys, row, strict=True))
        record["paths"] = self.image_paths([image_id]).get(image_id, [])
        record["tags"] = self.image_tag_paths(image_id)
        return record

    def _tagged(self, tag_id: int, image_ids: Sequence[int]) -> set[int]:
        rows = self._con.execute(
            "SELECT image_id FROM image_tags WHERE tag_id = ? AND image_id IN (SELECT unnest(?))",
            [tag_id, list(image_ids)],
        ).fetchall()
        return {row[0] for row in rows}

    def tag_images(self, tag_id: int, image_ids: Sequence[int]) -> list[int]:
        """Tag the images; return those that did not have the tag (what undo removes)."""
        with self._transaction():
            added = sorted(set(image_ids) - self._tagged(tag_id, image_ids))
            self._con.execute("INSERT INTO image_tags SELECT unnest(?), ?", [added, tag_id])
        return added

    def untag_images(self, tag_id: int, image_ids: Sequence[int]) -> list[int]:
        """Untag the images; return those that had the tag."""
        with self._transaction():
            removed = sorted(self._tagged(tag_id, image_ids))
            self._con.execute(
                "DELETE FROM image_tags WHERE tag_id = ? AND image_id IN (SELECT unnest(?))",
                [tag_id, removed],
            )
        return removed

    # -- maps -------------------------------------------------------------

    _MAP_COLUMNS = (
        "id, model_id, scope_kind, scope_ref, scope_title, method, params, points, quality, "
        "pca_mean, pca_components, fingerprint, created_at"
    )

    def write_map(self, new: NewMap) -> int:
        """Store a map and its points, replacing the map of the same model, scope
        and method if there is one, in one transaction; return its id.

        Points go in through Arrow, sorted by image id, in one statement.
        """
        ids = np.asarray(new.image_ids, dtype=np.int64)
        xy = np.asarray(new.xy, dtype=np.float32).reshape(len(ids), 2)
        order = np.argsort(ids, kind="stable")
        mean = None if new.pca_mean is None else np.asarray(new.pca_mean, np.float32).tolist()
        components = (
            None
            if new.pca_components is None
            else np.asarray(new.pca_components, np.float32).ravel().tolist()
        )
        with self._transaction():
            self._delete_maps(new.model_id, new.scope_kind, new.scope_ref, new.method)
            row = self._fetch_one(
                "INSERT INTO maps (model_id, scope_kind, scope_ref, scope_title, method, params, "
                "points, quality, pca_mean, pca_components, fingerprint, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                [new.model_id, new.scope_kind, new.scope_ref, new.scope_title, new.method,
                 json.dumps(new.params), len(ids), new.quality, mean, components,
                 new.fingerprint, _now()],
            )  # fmt: skip
            assert row is not None
            map_id = int(row[0])
            points = pa.table(
                {
                    "map_id": pa.array(np.full(len(ids), map_id, np.int32)),
                    "image_id": pa.array(ids[order].astype(np.int32)),
                    "x": pa.array(xy[order, 0]),
                    "y": pa.array(xy[order, 1]),
                }
            )
            self._con.register("new_points", points)
            try:
                self._con.execute("INSERT INTO map_points SELECT * FROM new_points")
            finally:
                self._con.unregister("new_points")
        return map_id

    def _delete_maps(self, model_id: int, scope_kind: str, scope_ref: str, method: str) -> None:
        old = [
            r[0]
            for r in self._con.execute(
                "SELECT id FROM maps WHERE model_id = ? AND scope_kind = ? AND scope_ref = ? "
                "AND method = ?",
                [model_id, scope_kind, scope_ref, method],
            ).fetchall()
        ]
        if old:
            self._con.execute("DELETE FROM map_points WHERE map_id IN (SELECT unnest(?))", [old])
            self._con.execute("DELETE FROM maps WHERE id IN (SELECT unnest(?))", [old])

    def _map_row(self, row: Sequence[Any]) -> MapRow:
        (map_id, model_id, kind, ref, title, method, params, points, quality, mean, components,
         fingerprint, created_at) = row  # fmt: skip
        return MapRow(
            id=int(map_id), model_id=int(model_id), scope_kind=kind, scope_ref=ref,
            scope_title=title, method=method, params=json.loads(params), points=int(points),
            quality=quality,
            pca_mean=None if mean is None else np.asarray(mean, np.float32),
            pca_components=None if components is None
            else np.asarray(components, np.float32).reshape(2, -1),
            fingerprint=fingerprint, created_at=created_at,
        )  # fmt: skip

    def latest_map(
        self, model_id: int, scope_kind: str, scope_ref: str, method: str
    ) -> MapRow | None:
        """The stored map of this model, scope and method, or None."""
        row = self._fetch_one(
            f"SELECT {self._MAP_COLUMNS} FROM maps WHERE model_id = ? AND scope_kind = ? "
            "AND scope_ref = ? AND method = ? ORDER BY id DESC LIMIT 1",
            [model_id, scope_kind, scope_ref, method],
        )
        return self._map_row(row) if row else None

    def map_row(self, map_id: int) -> MapRow | None:
        row = self._fetch_one(f"SELECT {self._MAP_COLUMNS} FROM maps WHERE id = ?", [map_id])
        return self._map_row(row) if row else None

    def maps(self) -> list[MapRow]:
        rows = self._con.execute(f"SELECT {self._MAP_COLUMNS} FROM maps ORDER BY id").fetchall()
        return [self._map_row(row) for row in rows]

    def map_points(self, map_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(image ids int64, positions float32 (n, 2)) of a map, by image id, via Arrow."""
        table = self._con.sql(
            f"SELECT image_id, x, y FROM map_points WHERE map_id = {int(map_id)} ORDER BY image_id"
        ).to_arrow_table()
        ids = table.column("image_id").to_numpy().astype(np.int64)
        xy = np.empty((len(ids), 2), np.float32)
        xy[:, 0] = table.column("x").to_numpy()
        xy[:, 1] = table.column("y").to_numpy()
        return ids, xy

    def _wanted(self, image_ids: Sequence[int] | np.ndarray) -> pa.Table:
        ids = np.asarray(image_ids, dtype=np.int64)
        return pa.table(
            {"pos": pa.array(np.arange(len(ids), dtype=np.int64)), "image_id": pa.array(ids)}
        )

    def cluster_index_of(
        self, clustering_id: int, image_ids: Sequence[int] | np.ndarray
    ) -> np.ndarray:
        """The number (idx) of each image's cluster in one clustering, -1 for an
        image in none of its clusters; in the order of `image_ids` (one query)."""
        out = np.full(len(image_ids), -1, np.int32)
        self._con.register("wanted_images", self._wanted(image_ids))
        try:
            table = self._con.sql(
                "SELECT w.pos, c.idx FROM wanted_images w "
                "JOIN cluster_members m ON m.image_id = w.image_id "
                "JOIN clusters c ON c.id = m.cluster_id "
                f"WHERE c.clustering_id = {int(clustering_id)}"
            ).to_arrow_table()
        finally:
            self._con.unregister("wanted_images")
        out[table.column("pos").to_numpy()] = table.column("idx").to_numpy()
        return out

    def _tag_roots(self, property_id: int) -> dict[int, int]:
        """The top-level tag above each tag of a property (a top-level tag is its own)."""
        parents = {t: parent for t, parent, _, _ in self.tags(property_id)}
        roots = {}
        for tag in parents:
            current, seen = tag, set()
            while parents.get(current) is not None and current not in seen:
                seen.add(current)
                current = parents[current]  # type: ignore[assignment]
            roots[tag] = current
        return roots

    def _register_roots(self, property_id: int) -> None:
        roots = self._tag_roots(property_id)
        self._con.register(
            "tag_roots",
            pa.table(
                {
                    "tag_id": pa.array(list(roots), pa.int64()),
                    "root_id": pa.array(list(roots.values()), pa.int64()),
                }
            ),
        )

    def tag_root_of(self, property_id: int, image_ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """The top-level tag (id) of a property on each image, -1 for none; an image
        under several top-level tags gets the lowest id (one query)."""
        out = np.full(len(image_ids), -1, np.int64)
        self._register_roots(property_id)
        self._con.register("wanted_images", self._wanted(image_ids))
        try:
            table = self._con.sql(
                "SELECT w.pos, min(r.root_id) AS root FROM wanted_images w "
                "JOIN image_tags it ON it.image_id = w.image_id "
                "JOIN tag_roots r ON r.tag_id = it.tag_id GROUP BY w.pos"
            ).to_arrow_table()
        finally:
            self._con.unregister("wanted_images")
            self._con.unregister("tag_roots")
        out[table.column("pos").to_numpy()] = table.column("root").to_numpy()
        return out

    def tag_root_sizes(self, property_id: int) -> list[tuple[int, str, int]]:
        """(tag id, name, images under it) of each top-level tag of a property,
        largest first."""
        names = {t: name for t, parent, name, _ in self.tags(property_id) if parent is None}
        self._register_roots(property_id)
        try:
            sizes = dict(
                self._con.execute(
                    "SELECT r.root_id, count(DISTINCT it.image_id) FROM image_tags it "
                    "JOIN tag_roots r ON r.tag_id = it.tag_id GROUP BY r.root_id"
                ).fetchall()
            )
        finally:
            self._con.unregister("tag_roots")
        found = [(t, name, int(sizes.get(t, 0))) for t, name in names.items()]
        return sorted(found, key=lambda item: (-item[2], item[1], item[0]))

    # -- journal ----------------------------------------------------------

    def append_journal(
        self,
        command: str,
        params: dict[str, Any],
        outcome: dict[str, Any] | None,
        *,
        status: str = "done",
        undo: dict[str, Any] | None = None,
    ) -> int:
        row = self._fetch_one(
            "INSERT INTO journal (ran_at, command, params, outcome, status, undo) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING seq",
            [_now(), command, json.dumps(params, default=str), json.dumps(outcome, default=str),
             status, json.dumps(undo) if undo is not None else None],
        )  # fmt: skip
        assert row is not None
        return int(row[0])

    def set_journal_status(self, seq: int, status: str) -> None:
        self._con.execute("UPDATE journal SET status = ? WHERE seq = ?", [status, seq])

    def journal(self) -> list[dict[str, Any]]:
        rows = self._con.execute(
            "SELECT seq, ran_at, command, params, outcome, status, undo FROM journal ORDER BY seq"
        ).fetchall()
        return [
            {
                "seq": seq,
                "at": at.isoformat(),
                "command": command,
                "params": json.loads(params),
                "outcome": json.loads(outcome) if outcome else None,
                "status": status,
                "undo": json.loads(undo) if undo else None,
            }
            for seq, at, command, params, outcome, status, undo in rows
        ]
