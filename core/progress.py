"""Progress reporting and cancellation shared by all long-running work in core.

Core never draws anything: it calls a `ProgressCallback` and checks a cancel
flag. The CLI turns the events into a progress line, the app into a bar.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ProgressEvent:
    phase: str
    done: int
    total: int | None
    detail: str = ""


ProgressCallback = Callable[[ProgressEvent], None]


def ignore_progress(_event: ProgressEvent) -> None:
    """The default callback: report nothing."""


class CancelToken:
    """A flag that a front end sets and long loops poll between units of work."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
