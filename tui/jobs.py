"""Long work in the app, off the UI thread: one job at a time, with a progress bar,
a status note, Escape to stop it, and every error as a notification. Short
writes (tag, set, rename, undo) go the same way, so a wait for a project that
another process holds shows who holds it and never freezes the screen."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widgets import ProgressBar

from planche.core import commands
from planche.core.progress import CancelToken, ProgressCallback, ProgressEvent, ignore_progress
from planche.tui.workers import said


class JobRunner:
    """Mixed into PlancheApp: uses its progress bar, status line and session."""

    _cancel: CancelToken | None = None
    _status_note = ""
    session: Any

    def _command_context(
        self, cancel: CancelToken | None = None, progress: ProgressCallback = ignore_progress
    ) -> commands.Context:
        """What a command borrows from the app: progress, cancellation, the session."""
        if cancel is None:
            cancel = CancelToken()
        return commands.Context(progress=progress, cancel=cancel, session=self.session)

    def _run_job(self, title: str, job: Callable[[CancelToken, Any], Any],
                 done: Callable[[Any], None]) -> None:  # fmt: skip
        if self._cancel is not None:
            self.notify("Wait for the running work to finish, or stop it with Escape.")
            return
        cancel = CancelToken()
        self._cancel = cancel
        bar = self.query_one("#progress", ProgressBar)
        bar.display = True
        bar.update(total=None, progress=0)
        self._status_note = title
        self._update_status()

        def progress(event: ProgressEvent) -> None:
            self.call_from_thread(self._show_progress, event)

        def run() -> None:
            try:
                result = job(cancel, progress)
            except Exception as exc:  # noqa: BLE001 - a notification, never a traceback on screen
                self.call_from_thread(self.notify, said(exc), severity="error", timeout=10)
                result = None
            self._note_own_writes()
            self.call_from_thread(self._finish_job, result, done)

        self.run_worker(run, thread=True, group="job", name=title)

    def _run_write(self, title: str, steps: Callable[[commands.Context], Any],
                   done: Callable[[Any], None]) -> None:  # fmt: skip
        """A short write (tag, set, rename, undo…) as a job: off the UI thread, so a
        lock wait shows who holds the project and Escape stops waiting. `steps`
        gets the command context; `done` its result, unless it failed (notified)."""

        def job(cancel: CancelToken, progress: Any) -> Any:
            return {"result": steps(self._command_context(cancel, progress))}

        self._run_job(title, job, lambda outcome: done(outcome["result"]))

    def _show_progress(self, event: ProgressEvent) -> None:
        bar = self.query_one("#progress", ProgressBar)
        if event.total:
            bar.update(total=event.total, progress=event.done)
        if event.phase == "wait":
            self._status_note = f"waiting for the project ({event.detail})"
            self._update_status()

    def _finish_job(self, result: Any, done: Callable[[Any], None]) -> None:
        self._cancel = None
        self.query_one("#progress", ProgressBar).display = False
        self._status_note = ""
        if result is not None:
            done(result)
        self._update_status()
