"""One BLAS thread while planche's threads do numpy products, then the library's own setting."""

from __future__ import annotations

import pytest

from planche.core.blas import blas_controller, one_blas_thread
from planche.core.embedders import load_embedder
from planche.core.ingest import _reading_blas


def _blas_threads() -> list[int]:
    return [lib.num_threads for lib in blas_controller().select(user_api="blas").lib_controllers]


@pytest.fixture
def two_blas_threads():
    if not _blas_threads():
        pytest.skip("no BLAS library that threadpoolctl can set")
    with blas_controller().limit(limits=2, user_api="blas"):
        yield


def test_one_blas_thread_inside_then_the_setting_is_back(two_blas_threads):
    with one_blas_thread():
        assert set(_blas_threads()) == {1}
    assert set(_blas_threads()) == {2}


def test_an_import_holds_blas_at_one_thread_only_for_vectors_made_with_numpy(two_blas_threads):
    with _reading_blas(load_embedder("pixels")):
        assert set(_blas_threads()) == {1}
    with _reading_blas(None):
        assert set(_blas_threads()) == {2}
    assert set(_blas_threads()) == {2}
