"""One BLAS thread while planche's own threads do numpy products.

planche runs per-image numpy work (the pixels embedder's grids during an
import, the duplicates' alignment of near misses) in its own thread pools.
Numpy's BLAS (OpenBLAS) then splits each product that is not tiny over its
own threads too, which wait for work by spinning: on 2 cores, importing 446
photos with the pixels embedder took 3-9 s instead of 0.8 s (3 s of CPU
instead of 0.8: the spinning threads took the cores from the decoding),
unless OPENBLAS_NUM_THREADS=1 was set. The thread that starts such a pool
holds BLAS at one thread until the pool is done (`one_blas_thread`), as the
pair search, k-means and the map already do around their own work.

Lowered and restored by that one thread, through threadpoolctl: it lets one
live thread at a time set OpenBLAS (the first that did), and ignores the
others, so a limit set by pool threads could be left behind by a restore
that was ignored.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from functools import cache
from typing import Any


@cache
def blas_controller() -> Any:  # a threadpoolctl.ThreadpoolController
    """Finding the loaded BLAS libraries takes about 10-20 ms: done once per process."""
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_blas_thread() -> AbstractContextManager[Any]:
    """BLAS at one thread inside the block, then the libraries' own setting."""
    return blas_controller().limit(limits=1, user_api="blas")


def reading_blas(embedder: Any) -> AbstractContextManager[Any]:
    """For reading threads that make vectors from thumbnails with numpy (the
    pixels embedder, `source == "thumbnail"`): one BLAS thread. A model's own
    threads (CLIP) are left as they are."""
    if embedder is not None and getattr(embedder, "source", None) == "thumbnail":
        return one_blas_thread()
    return nullcontext()
