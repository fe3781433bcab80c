"""The two native libraries of search, imported in the one order that works.

usearch's extension carries its own build of SimSIMD. Once usearch is loaded,
the SimSIMD package's `cdist` refuses float16 arrays ("Input tensors must
have matching datatypes"); loaded first, it works. So SimSIMD is imported
here, at import time, and usearch only through `usearch_index()`. Should
something else load usearch first anyway, `half_dot` answers None and the
caller falls back to numpy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import simsimd

THREADS = os.cpu_count() or 1


def half_dot(queries: np.ndarray, rows: np.ndarray) -> np.ndarray | None:
    """Dot products of float16 queries with float16 rows, as float32 (within ~1e-3)."""
    try:
        scores = simsimd.cdist(queries, rows, metric="dot", threads=THREADS, out_dtype="float32")
    except TypeError:
        return None
    return np.asarray(scores)


def usearch_index() -> Any:
    """usearch's Index class (imported on first use: it is not needed below 100k images)."""
    from usearch.index import Index

    return Index
