"""Near-duplicate pairs: exactly the all-pairs answer, without comparing all pairs."""

from __future__ import annotations

import numpy as np
import pytest

from planche.core.cluster import duplicates, pairs
from planche.core.cluster.pairs import similar_pairs
from planche.core.errors import Cancelled
from planche.core.progress import CancelToken


def unit(vectors: np.ndarray) -> np.ndarray:
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def all_pairs(vectors: np.ndarray, threshold: float) -> set[tuple[int, int]]:
    scores = vectors @ vectors.T
    rows, cols = np.nonzero(np.triu(scores >= threshold, 1))
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def found_pairs(vectors: np.ndarray, threshold: float, **kwargs) -> set[tuple[int, int]]:
    found = set()
    for rows, cols in similar_pairs(vectors, threshold, **kwargs):
        for row, col in zip(rows.tolist(), cols.tolist(), strict=True):
            pair = (min(row, col), max(row, col))
            assert pair not in found, f"pair {pair} reported twice"
            found.add(pair)
    return found


def embedding_like(n: int, dim: int, seed: int) -> np.ndarray:
    """Themes in a low-dimensional latent space plus noise, with planted near-copies."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(12, 16))
    latent = centres[rng.integers(0, 12, n)] + 0.4 * rng.normal(size=(n, 16))
    vectors = latent @ rng.normal(size=(16, dim)) / np.sqrt(dim) + 0.08 * rng.normal(size=(n, dim))
    # Copies at cosine 0.92 to 0.99 of their original: many pairs close to the
    # thresholds, where a bound that is too tight would lose some.
    copies = rng.integers(0, n, n // 10)
    scale = rng.uniform(0.03, 0.08, (len(copies), 1))
    vectors[rng.integers(0, n, len(copies))] = vectors[copies] + scale * rng.normal(
        size=(len(copies), dim)
    )
    return unit(vectors)


def sphere(n: int, dim: int, seed: int) -> np.ndarray:
    """Points spread over a 3-d sphere turned into `dim` dimensions: every cell
    border has pairs at every distance across it."""
    rng = np.random.default_rng(seed)
    turn, _ = np.linalg.qr(rng.normal(size=(dim, 3)))
    return unit(unit(rng.normal(size=(n, 3))) @ turn.T)


@pytest.fixture
def small_cells(monkeypatch):
    """Cells of about 100 vectors, so a few thousand vectors are split into many."""
    monkeypatch.setattr(pairs, "CELL_SIZE", 100)


@pytest.mark.parametrize(
    ("make", "dim", "threshold"),
    [
        (embedding_like, 512, 0.95),  # bounded in 160 axes, many cells
        (embedding_like, 512, 0.6),  # a low threshold: most cells reach each other
        (embedding_like, 24, 0.9),  # too few dimensions to bound: scored whole
        (sphere, 512, 0.95),
        (sphere, 16, 0.99),
        (lambda n, dim, seed: unit(np.random.default_rng(seed).normal(size=(n, dim))), 128, 0.3),
    ],
)
def test_similar_pairs_are_exactly_the_all_pairs_ones(small_cells, make, dim, threshold):
    vectors = make(3000, dim, 1)
    expected = all_pairs(vectors, threshold)
    assert expected, "the data has pairs to find"
    assert found_pairs(vectors, threshold) == expected


@pytest.mark.parametrize(("make", "dim"), [(sphere, 512), (embedding_like, 512)])
def test_pairs_inside_cells_larger_than_a_block_are_all_found(monkeypatch, make, dim):
    # Two cells of about 1,500: each cell's members are sorted along their
    # widest direction and compared only within the radius along it.
    monkeypatch.setattr(pairs, "CELL_SIZE", 1_500)
    vectors = make(3000, dim, 6)
    expected = all_pairs(vectors, 0.95)
    assert expected, "the data has pairs to find"
    assert found_pairs(vectors, 0.95) == expected


def test_similar_pairs_normalises_vectors_that_are_not_unit(small_cells):
    vectors = embedding_like(2000, 512, 2)
    expected = all_pairs(vectors, 0.95)
    scaled = vectors * np.random.default_rng(0).uniform(0.5, 3.0, (len(vectors), 1))
    assert found_pairs(scaled.astype(np.float32), 0.95) == expected


def test_identical_vectors_pair_at_threshold_one(small_cells):
    vectors = unit(np.random.default_rng(5).normal(size=(400, 512)))
    copies = np.concatenate([vectors, vectors[:50]])
    found = found_pairs(copies, 1.0)
    assert found == {(i, 400 + i) for i in range(50)}


def test_similar_pairs_on_tiny_inputs():
    assert found_pairs(unit(np.ones((1, 8))), 0.9) == set()
    assert found_pairs(unit(np.ones((2, 8))), 0.9) == {(0, 1)}


def test_similar_pairs_reports_progress_and_can_be_cancelled(small_cells):
    vectors = embedding_like(2000, 64, 3)
    events = []
    found_pairs(vectors, 0.95, progress=events.append)
    assert events and events[-1].done == events[-1].total > 0
    assert [e.done for e in events] == sorted(e.done for e in events)

    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        found_pairs(vectors, 0.95, cancel=token)


def test_components_stay_right_when_pairs_are_folded_to_bound_memory(monkeypatch):
    # 300 copies of one picture (blank frames) make 44,850 pairs; held pairs
    # are folded into components long before that.
    monkeypatch.setattr(duplicates, "_MAX_HELD_PAIRS", 0)
    rng = np.random.default_rng(4)
    blank = np.repeat(unit(rng.normal(size=(1, 32))), 300, axis=0)
    others = unit(rng.normal(size=(200, 32)))
    pair_of = np.repeat(others[:1], 2, axis=0)
    vectors = np.concatenate([blank, others, pair_of])
    labels = duplicates.connected_labels(len(vectors), similar_pairs(vectors, 0.99))
    sizes = np.bincount(labels)
    assert sorted(sizes[sizes > 1].tolist()) == [3, 300]
    assert len(set(labels[:300].tolist())) == 1
    assert labels[300] == labels[-1] == labels[-2]
