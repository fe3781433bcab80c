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
    """Cells of about 100 vectors, so a few thousand vectors are split into many
    (and not compared directly, as so few would be)."""
    monkeypatch.setattr(pairs, "CELL_SIZE", 100)
    monkeypatch.setattr(pairs, "DIRECT_UP_TO", 0)


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
    monkeypatch.setattr(pairs, "DIRECT_UP_TO", 0)
    vectors = make(3000, dim, 6)
    expected = all_pairs(vectors, 0.95)
    assert expected, "the data has pairs to find"
    assert found_pairs(vectors, 0.95) == expected


@pytest.mark.parametrize(("make", "dim", "threshold"), [(embedding_like, 512, 0.95),
                                                         (sphere, 16, 0.99)])  # fmt: skip
def test_few_vectors_compared_directly_give_the_same_pairs(make, dim, threshold):
    vectors = make(pairs.DIRECT_UP_TO, dim, 4)
    expected = all_pairs(vectors, threshold)
    assert expected, "the data has pairs to find"
    events = []
    assert found_pairs(vectors, threshold, progress=events.append) == expected
    assert events and events[-1].done == events[-1].total > 1
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        found_pairs(vectors, threshold, cancel=token)


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


# --- the bfloat16 screen ---------------------------------------------------------------------


@pytest.fixture
def bfloat16(monkeypatch):
    """The bound products in bfloat16 on any input and CPU (elsewhere torch emulates it:
    slower, the same numbers)."""
    pytest.importorskip("torch")
    monkeypatch.setattr(pairs, "BFLOAT16_FROM", 0)
    monkeypatch.setattr(pairs, "_fast_bfloat16", lambda: True)


@pytest.mark.parametrize(
    ("make", "dim", "threshold"),
    [
        (embedding_like, 512, 0.95),
        (embedding_like, 512, 0.6),
        (embedding_like, 24, 0.9),
        (sphere, 512, 0.95),
        (lambda n, dim, seed: unit(np.random.default_rng(seed).normal(size=(n, dim))), 128, 0.3),
    ],
)
def test_the_bfloat16_screen_finds_exactly_the_all_pairs_ones(
    small_cells, bfloat16, make, dim, threshold
):
    vectors = make(3000, dim, 1)
    expected = all_pairs(vectors, threshold)
    assert expected, "the data has pairs to find"
    assert found_pairs(vectors, threshold) == expected


def test_the_bfloat16_screen_in_cells_larger_than_a_block(monkeypatch, bfloat16):
    monkeypatch.setattr(pairs, "CELL_SIZE", 1_500)
    vectors = sphere(3000, 512, 6)
    assert found_pairs(vectors, 0.95) == all_pairs(vectors, 0.95)


def near_threshold_pairs(threshold: float, seed: int) -> np.ndarray:
    """400 pairs at cosine threshold to threshold + 3e-5 in a 40-d subspace of 512-d
    (the bound's axes hold all of it: the bound is the cosine), among 400 others."""
    rng = np.random.default_rng(seed)
    turn, _ = np.linalg.qr(rng.normal(size=(512, 40)))
    first = unit(rng.normal(size=(400, 40))).astype(np.float64)
    away = rng.normal(size=(400, 40))
    away -= np.einsum("ij,ij->i", away, first)[:, None] * first
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    cosine = threshold + rng.uniform(0, 3e-5, (400, 1))
    second = cosine * first + np.sqrt(1 - cosine**2) * away
    others = unit(rng.normal(size=(400, 40)))
    return unit(np.concatenate([first, second, others]) @ turn.T)


def test_the_bfloat16_screen_needs_its_allowance(monkeypatch, small_cells, bfloat16):
    # Pairs just over the threshold, whose bound is their cosine: bfloat16
    # rounding moves products by up to about 0.008, and the screen's rounding
    # columns and allowance are what keep them. Without them some are lost.
    vectors = near_threshold_pairs(0.95, 7)
    expected = all_pairs(vectors, 0.95)
    assert len(expected) > 300
    assert found_pairs(vectors, 0.95) == expected
    monkeypatch.setattr(pairs, "_bfloat16_allowance", lambda norm2, width: 0.0)
    monkeypatch.setattr(pairs, "_rounding_off", lambda rounded, vectors: np.zeros(len(vectors)))
    without = found_pairs(vectors, 0.95)
    assert without < expected, "rounding lost no pair: the data is not near enough"


def test_float32_finds_the_near_threshold_pairs(small_cells):
    vectors = near_threshold_pairs(0.95, 7)
    assert found_pairs(vectors, 0.95) == all_pairs(vectors, 0.95)


@pytest.mark.parametrize("value", [0.9459, 0.95, 1.0, 0.3, 1e-3, 0.0, -1e-3, -0.2, -0.9459])
def test_bfloat16_below_is_the_largest_bfloat16_at_most_the_value(value):
    torch = pytest.importorskip("torch")
    below = pairs._bfloat16_below(value)
    assert below <= value
    assert torch.tensor(below, dtype=torch.bfloat16).item() == below
    step_up = torch.nextafter(
        torch.tensor(below, dtype=torch.bfloat16), torch.tensor(2.0, dtype=torch.bfloat16)
    )
    assert step_up.item() > value


def test_bfloat16_above_is_the_smallest_bfloat16_at_least_the_values():
    torch = pytest.importorskip("torch")
    values = np.concatenate(
        [[0.0, 1.0, 1.0 + 2.0**-30, 0.0039, 1.0078125], np.geomspace(1e-6, 3, 999)]
    )
    above = pairs._bfloat16_above(values)
    assert (above >= values).all()
    as_bfloat16 = torch.from_numpy(above).bfloat16()
    assert (as_bfloat16.float().numpy() == above).all()
    step_down = torch.nextafter(as_bfloat16, torch.tensor(-1.0, dtype=torch.bfloat16))
    assert (step_down.double().numpy()[values > 0] < values[values > 0]).all()


def test_torch_rounds_float32_to_the_nearest_bfloat16():
    # The allowance counts each coordinate off by at most 2^-8 of itself (nearest,
    # not cut: cutting would be up to 2^-7), as the screen converts them.
    torch = pytest.importorskip("torch")
    values = np.random.default_rng(8).normal(size=(50_000, 164)).astype(np.float32)
    values *= np.exp2(np.random.default_rng(9).integers(-20, 2, values.shape)).astype(np.float32)
    block = torch.empty(values.shape, dtype=torch.bfloat16)
    block[:] = torch.from_numpy(values)
    error = np.abs(block.double().numpy() - values) / np.abs(values)
    assert error.max() <= 2.0**-8
    assert error.max() > 2.0**-8 * 0.99  # nearest: the largest errors are half a step


def screen_operands(rows: int, columns: int, width: int, torch):  # noqa: ANN001, ANN201
    """Bound-like bfloat16 rows and columns as the screen multiplies them (unit-scale
    coordinates, then the threshold's two columns: -high, -low against 1, 1), their
    sums within about 5e-4 of 0, and the exact sums and sums of magnitudes."""
    rng = np.random.default_rng(rows * columns + width)
    base = rng.normal(size=width - 2)
    left = unit(base + 0.02 * np.sqrt(width) * unit(rng.normal(size=(rows, width - 2))))
    right = unit(base + 0.02 * np.sqrt(width) * unit(rng.normal(size=(columns, width - 2))))
    a = torch.from_numpy(np.hstack([left, np.ones((rows, 2), np.float32)])).bfloat16()
    b = torch.from_numpy(np.hstack([right, np.ones((columns, 2), np.float32)])).bfloat16()
    middle = np.median(a.double().numpy() @ b.double().numpy().T - 2, axis=1)
    high = np.array([pairs._bfloat16_below(m) for m in middle])
    low = np.array([pairs._bfloat16_below(m - h) for m, h in zip(middle, high, strict=True)])
    a[:, -2], a[:, -1] = torch.from_numpy(-high).bfloat16(), torch.from_numpy(-low).bfloat16()
    exact = a.double().numpy() @ b.double().numpy().T
    magnitudes = np.abs(a.double().numpy()) @ np.abs(b.double().numpy()).T
    return a, b, exact, magnitudes


def signs_are_right(sums: np.ndarray, exact: np.ndarray, magnitudes: np.ndarray) -> bool:
    """Whether every sum farther from 0 than a float32 sum's error bound has its sign."""
    width_error = 200 * 2.0**-24 * magnitudes  # (width - 1) 2^-24, width <= 200
    return bool((sums[exact > width_error] >= 0).all() and (sums[exact < -width_error] <= 0).all())


@pytest.mark.parametrize("rows", [1, 64, 200, 256])
@pytest.mark.parametrize("columns", [1, 64, 1000, 1100, 3900])
@pytest.mark.parametrize("width", [27, 164])
def test_torch_sums_bfloat16_products_in_float32(rows, columns, width):
    # The screen's allowance counts float32 sums (`_bfloat16_allowance`): on every
    # shape the screen multiplies (padded or not), the signs of sums near 0 are right.
    torch = pytest.importorskip("torch")
    a, b, exact, magnitudes = screen_operands(rows, columns, width, torch)
    assert np.mean(np.abs(exact) < 2.0**-9) > 0.9
    a_padded = torch.zeros((pairs._padded(rows), width), dtype=torch.bfloat16)
    b_padded = torch.zeros((pairs._padded(columns), width), dtype=torch.bfloat16)
    a_padded[:rows], b_padded[:columns] = a, b
    for left, right in ((a, b), (a_padded, b_padded)):
        sums = torch.mm(left, right.T)[:rows, :columns].float().numpy()
        assert signs_are_right(sums, exact, magnitudes)


def test_bfloat16_sums_would_get_signs_wrong():
    # What the test above would catch: sums kept in bfloat16 as they are added.
    torch = pytest.importorskip("torch")
    a, b, exact, magnitudes = screen_operands(64, 200, 164, torch)
    sums = torch.zeros((64, 200), dtype=torch.bfloat16)
    for k in range(a.shape[1]):
        sums += a[:, k : k + 1] * b[:, k]
    assert not signs_are_right(sums.float().numpy(), exact, magnitudes)
