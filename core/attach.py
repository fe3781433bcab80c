"""Project files attached to one in-process DuckDB database.

`duckdb.connect(file)` builds a database instance, with its catalog of several
thousand built-in functions, and closing it tears that down again: 12-20 ms to
open and 3-40 ms to close on this project's machines, more than most of
planche's short opens spend on their queries. So each process keeps one
in-memory instance and, for each open of a project, ATTACHes the file to it
under a fresh name and DETACHes it afterwards. DuckDB locks the file for the
attachment just as for a connection (shared when read-only), checkpoints on
DETACH as on close, and releases the lock then, so other processes see no
difference; an open costs about 2 ms.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import threading
from pathlib import Path

import duckdb

_GUARD = threading.Lock()  # the shared connection is not thread-safe; its cursors are
_shared: tuple[int, duckdb.DuckDBPyConnection] | None = None
_names = itertools.count(1)


def _instance() -> duckdb.DuckDBPyConnection:
    """The process's in-memory database (a new one in a forked child: the
    parent's threads did not come along)."""
    global _shared
    if _shared is None or _shared[0] != os.getpid():
        # An in-memory database spills to ./.tmp by default; a file's went beside it.
        spill = Path(tempfile.gettempdir()) / f"planche-duckdb-{os.getuid()}"
        con = duckdb.connect(":memory:", config={"temp_directory": str(spill)})
        _shared = (os.getpid(), con)
    return _shared[1]


def _cursor() -> duckdb.DuckDBPyConnection:
    with _GUARD:
        return _instance().cursor()


class AttachedProject:
    """One project file attached for one open: `con` reads and writes it
    (it is the connection's default database); `close` detaches it.

    An open nested in another of the same file (the same thread: the store
    lets one thread at a time in) shares the outer attachment through a
    cursor of its own, as a second connection to one file used to share its
    database; only the outermost close detaches."""

    def __init__(self, path: Path, read_only: bool) -> None:
        self.path = path
        with _GUARD:
            outer = _open.get(path)
            if outer is not None and (read_only or not outer.read_only):
                self.name, self.read_only, self._outer = outer.name, outer.read_only, outer
            else:
                self.name, self.read_only, self._outer = f"project_{next(_names)}", read_only, None
            self.con = _instance().cursor()
        if self._outer is None:
            quoted = "'" + str(path).replace("'", "''") + "'"
            try:
                self.con.execute(
                    f"ATTACH {quoted} AS {self.name}" + (" (READ_ONLY)" if read_only else "")
                )
            except BaseException:
                self.con.close()
                raise
            with _GUARD:
                _open[path] = self
        try:
            self.con.execute(f"USE {self.name}")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Roll back what is left of a transaction, checkpoint and release the file."""
        self.con.close()
        if self._outer is not None:  # the outer open detaches
            return
        with _GUARD:
            if _open.get(self.path) is self:
                del _open[self.path]
        detaching = _cursor()
        try:
            detaching.execute(f"DETACH DATABASE IF EXISTS {self.name}")
        except duckdb.Error:
            # DuckDB detaches even when the checkpoint fails (a full disk): what
            # was committed stays in the write-ahead log, replayed by the next
            # open, as after a close whose checkpoint failed. Only a file still
            # attached (and locked) is an error.
            if self._attached(detaching):
                raise
        finally:
            detaching.close()

    def _attached(self, con: duckdb.DuckDBPyConnection) -> bool:
        found = con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE database_name = ?", [self.name]
        ).fetchall()
        return bool(found[0][0])


# The outermost attachment of each file open in this process.
_open: dict[Path, AttachedProject] = {}


def attach(path: Path, read_only: bool) -> AttachedProject:
    return AttachedProject(path, read_only)
