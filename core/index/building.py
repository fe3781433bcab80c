"""Building the graph without making anyone wait: one builder at a time, visible to all.

A build holds an advisory lock on `<cache>/model<N>/build.lock` (flock, so it
goes with the process if that dies) and writes its progress beside it in
`build.json`. Any process can ask whether a build is under way, by whom and
how far it has got; a second builder, in this process or another, is told
who holds the lock instead of starting again. The project itself is opened
only to read the vectors, for as long as that takes: the build computes
without holding it, so imports and tagging go on meanwhile.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from planche.core.errors import PlancheError
from planche.core.index.cache import model_dir
from planche.core.progress import ProgressCallback, ProgressEvent

# Progress is written at most this often (seconds): readers poll the file.
_WRITE_EVERY_S = 0.5


@dataclass(frozen=True)
class BuildState:
    """A build under way: who runs it and how far it has got."""

    pid: int
    phase: str
    done: int
    total: int | None
    started: float

    def describe(self) -> str:
        return f"{describe_build(self.phase, self.done, self.total)} in PID {self.pid}"


def describe_build(phase: str, done: int, total: int | None) -> str:
    """A build's progress in words: "building (adding images, 43%)"."""
    share = f", {done / total:.0%}" if total else ""
    return f"building ({phase}{share})"


class IndexBusy(PlancheError):
    def __init__(self, state: BuildState | None) -> None:
        who = f"PID {state.pid}" if state else "another task"
        super().__init__(f"the search graph is being built by {who}; search again when it is "
                         "done (`planche index` shows how far it has got), or search exactly "
                         "now with --index exact")  # fmt: skip
        self.state = state


def _lock_path(project: Path, model_id: int) -> Path:
    return model_dir(project, model_id) / "build.lock"


def _state_path(project: Path, model_id: int) -> Path:
    return model_dir(project, model_id) / "build.json"


def build_state(project: Path, model_id: int) -> BuildState | None:
    """The build under way for this model, in any process, or None."""
    lock = _lock_path(project, model_id)
    if not lock.exists():
        return None
    try:
        with open(lock, "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_state(project, model_id)
            fcntl.flock(handle, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _read_state(project: Path, model_id: int) -> BuildState:
    try:
        raw = json.loads(_state_path(project, model_id).read_text())
        return BuildState(
            int(raw["pid"]), str(raw["phase"]), int(raw["done"]),
            None if raw.get("total") is None else int(raw["total"]), float(raw["started"]),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return BuildState(0, "starting", 0, None, time.time())


@contextlib.contextmanager
def build_lock(
    project: Path, model_id: int, progress: ProgressCallback
) -> Iterator[ProgressCallback]:
    """Hold the model's build lock; yields a progress callback that also records progress.

    Raises IndexBusy when another build holds it; raises OSError when the cache
    folder cannot be written (a read-only place: the caller builds in memory).
    """
    folder = model_dir(project, model_id)
    folder.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(_lock_path(project, model_id), "a+")  # noqa: SIM115
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(_read_state(project, model_id)) from None
        started = time.time()
        last_write = 0.0

        def record(event: ProgressEvent) -> None:
            nonlocal last_write
            now = time.monotonic()
            if now - last_write >= _WRITE_EVERY_S or event.done == event.total:
                last_write = now
                state = {"pid": os.getpid(), "phase": event.detail or event.phase,
                         "done": event.done, "total": event.total, "started": started}  # fmt: skip
                with contextlib.suppress(OSError):
                    path = _state_path(project, model_id)
                    tmp = path.with_name(path.name + ".tmp")
                    tmp.write_text(json.dumps(state))
                    os.replace(tmp, path)
            progress(event)

        record(ProgressEvent("index", 0, None, "reading vectors"))
        try:
            yield record
        finally:
            with contextlib.suppress(OSError):
                _state_path(project, model_id).unlink()
    finally:
        handle.close()
