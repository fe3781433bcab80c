"""Running a function over many items in a thread pool, results in order.

Decoding images is the work planche does most: Pillow, hashlib and torch
release the GIL, so threads overlap it with the model or the database. The
window bounds how far ahead the pool runs, so memory stays flat on a million
files, and a cancelled token stops new work from being started.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from planche.core.progress import CancelToken


def default_workers() -> int:
    return min(8, (os.cpu_count() or 2) + 1)


def ordered_map[T, R](
    function: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int | None = None,
    window: int | None = None,
    cancel: CancelToken | None = None,
    name: str = "planche-worker",
) -> Iterator[R]:
    """Yield `function(item)` for each item, in order, computed `window` items ahead."""
    workers = workers or default_workers()
    window = window or workers * 4
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name) as pool:
        pending: deque[Future[R]] = deque()
        queue = iter(items)
        try:
            while True:
                while len(pending) < window and not (cancel and cancel.cancelled):
                    item = next(queue, _END)
                    if item is _END:
                        break
                    pending.append(pool.submit(function, item))  # type: ignore[arg-type]
                if not pending:
                    return
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


_END = object()
