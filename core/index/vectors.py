"""One model's vectors in memory, for exact search and for re-ranking.

Rows are kept as float16: half the bytes of float32 (1 GB rather than 2 GB at
1M x 512), and exact search over them is bound by the bytes read. Ids are
ascending, so an id's row is found by bisection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planche.core.index.kernels import half_dot

# Rows scored per call of the float16 kernel.
_SCAN_BLOCK = 262_144
# How far SimSIMD's float16 dot product of unit vectors can be from the
# float32 one (measured: 8e-4 on 512-d vectors), with a margin.
_APPROX_ERROR = 2e-3


@dataclass
class VectorTable:
    ids: np.ndarray  # int64, ascending
    rows: np.ndarray  # float16 (n, dim), unit length; possibly a read-only memory map

    @classmethod
    def from_float32(cls, ids: np.ndarray, vectors: np.ndarray) -> VectorTable:
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        if np.any(order != np.arange(len(ids))):
            ids, vectors = ids[order], vectors[order]
        return cls(ids, np.asarray(vectors, dtype=np.float16))

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def dim(self) -> int:
        return int(self.rows.shape[1])

    def positions(self, image_ids: np.ndarray) -> np.ndarray:
        """Row positions of ids known to be in the table."""
        return np.searchsorted(self.ids, np.asarray(image_ids, dtype=np.int64))

    def vectors_of(self, image_ids: np.ndarray) -> np.ndarray:
        return self.rows[self.positions(image_ids)].astype(np.float32)

    def float32_rows(self, start: int, stop: int) -> np.ndarray:
        return np.asarray(self.rows[start:stop], dtype=np.float32)

    def merged(self, ids: np.ndarray, vectors: np.ndarray, removed: np.ndarray) -> VectorTable:
        """This table without `removed`, with `ids` added (or replaced)."""
        drop = np.isin(self.ids, np.concatenate([removed, ids]).astype(np.int64))
        keep_ids = self.ids[~drop]
        all_ids = np.concatenate([keep_ids, np.asarray(ids, dtype=np.int64)])
        all_rows = np.concatenate([self.rows[~drop], np.asarray(vectors, dtype=np.float16)])
        order = np.argsort(all_ids, kind="stable")
        return VectorTable(all_ids[order], all_rows[order])

    def scan(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-k ids and cosine similarities per query, best first.

        A first pass scores every row with SimSIMD's float16 kernel (the
        CPU's half-precision instructions: half the bytes of float32, read
        once), which is within `_APPROX_ERROR` of the true score. The best
        candidates are then scored again in float32, and the pass is widened
        until no row left out could have beaten the k-th.
        """
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        k = min(k, len(self.ids))
        ids = np.zeros((len(queries), k), dtype=np.int64)
        sims = np.zeros((len(queries), k), dtype=np.float32)
        if k == 0:
            return ids, sims
        approx = self._approximate_scores(queries)
        for row, query in enumerate(queries):
            ids[row], sims[row] = self._rerank(query, approx[row], k)
        return ids, sims

    def _approximate_scores(self, queries: np.ndarray) -> np.ndarray:
        halves = queries.astype(np.float16)
        scores = np.empty((len(queries), len(self.ids)), dtype=np.float32)
        for start in range(0, len(self.ids), _SCAN_BLOCK):
            block = self.rows[start : start + _SCAN_BLOCK]
            found = half_dot(halves, block)
            if found is None:  # SimSIMD unusable in this process: numpy, slower
                found = queries @ np.asarray(block, dtype=np.float32).T
            scores[:, start : start + len(block)] = found
        return scores

    def _rerank(
        self, query: np.ndarray, approx: np.ndarray, k: int
    ) -> tuple[np.ndarray, np.ndarray]:
        wanted = min(len(approx), max(4 * k, k + 64))
        while True:
            if wanted < len(approx):
                split = np.argpartition(-approx, wanted)
                picked, best_left_out = np.sort(split[:wanted]), approx[split[wanted]]
            else:
                picked, best_left_out = np.arange(len(approx)), -np.inf
            exact = self.rows[picked].astype(np.float32) @ query
            # Ties broken by id, so that equal vectors come back in a stable order.
            order = np.lexsort((picked, -exact))[:k]
            if best_left_out < exact[order[-1]] - 2 * _APPROX_ERROR:
                return self.ids[picked[order]], exact[order]
            wanted = min(len(approx), wanted * 4)
