"""Work off the UI thread that can never take the app down.

`background(group)` is Textual's `@work(thread=True, exclusive=True)` where any
error becomes a notification: a PlancheError says what the user can do, any
other exception is named as an internal error, and the app goes on. (Textual's
default for a failing worker is to exit with a traceback.)
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from textual import work

from planche.core.errors import PlancheError

Method = TypeVar("Method", bound=Callable[..., Any])


def said(exc: BaseException) -> str:
    """What a notification says of an error met in a worker."""
    if isinstance(exc, PlancheError):
        return str(exc)
    return f"internal error: {type(exc).__name__}: {exc}"


def background(group: str) -> Callable[[Method], Method]:
    def decorate(method: Method) -> Method:
        @functools.wraps(method)
        def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
                app = self.app
                app.call_from_thread(app.notify, said(exc), severity="error", timeout=10)
                return None

        return work(thread=True, exclusive=True, group=group, exit_on_error=False)(guarded)

    return decorate
