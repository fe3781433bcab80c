"""The app stays current: every second it looks whether another process (the
CLI, another app) changed the project, and reads it again if so, keeping the
scope and the cursor's place. A file that has not changed on disk costs a stat;
the app's own writes are not news (it refreshes what it changed itself)."""

from __future__ import annotations

from pathlib import Path

from planche.core import read
from planche.core.errors import PlancheError
from planche.tui.workers import background

WATCH_S = 1.0  # how often the app looks for changes made by other processes


def disk_stamp(project: Path) -> tuple[int, ...]:
    """Size and modification time of the project file and its write-ahead log:
    any commit changes one of them."""
    stamp: list[int] = []
    for path in (project, project.with_name(project.name + ".wal")):
        try:
            found = path.stat()
            stamp += [found.st_size, found.st_mtime_ns]
        except OSError:
            stamp += [-1, -1]
    return tuple(stamp)


class LiveProject:
    """Mixed into PlancheApp: uses its project, job token and refresh."""

    project: Path
    filling_grid: bool
    _seen_head: int | None = None  # the journal's last entry when last read
    _disk_stamp: tuple[int, ...] = ()  # the project's files on disk when last checked

    def _note_own_writes(self) -> None:
        """After the app's own work (worker thread): what it wrote is not news for
        the watch (`done` refreshes what it changed)."""
        try:
            stamp, head = disk_stamp(self.project), read.journal_head(self.project)
        except Exception:  # noqa: BLE001 - the watch looks again on its next tick
            return
        if head is not None:
            self._disk_stamp, self._seen_head = stamp, head

    def _watch_project(self) -> None:
        """Every second: has another process (the CLI, another app) changed the
        project? Then read it again, keeping the scope and the cursor's place.
        A file that has not changed on disk costs a stat, nothing more."""
        if (self._cancel is None or self.filling_grid) and self.project.exists():
            self._check_for_changes()

    @background("watch")
    def _check_for_changes(self) -> None:
        stamp = disk_stamp(self.project)
        if stamp == self._disk_stamp:
            return
        if self.filling_grid:  # an import commits batches before its journal entry
            self._disk_stamp = stamp
            self.call_from_thread(self.refresh_project, keep_scope=True)
            return
        try:
            head = read.journal_head(self.project)
        except PlancheError:
            return  # a damaged or vanished project is told by whatever reads it next
        except Exception:
            self._disk_stamp = stamp  # told once (by the worker's guard), not every second
            raise
        if head is None:
            return  # written right now: look again on the next tick
        self._disk_stamp = stamp
        if self._seen_head is None:  # the first look: the app's own first read is on
            self._seen_head = head
            return
        if head != self._seen_head:
            self._seen_head = head
            self.call_from_thread(self.refresh_project, keep_scope=True)
