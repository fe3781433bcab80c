"""One BLAS thread while planche's threads do numpy products, then the library's own setting."""

from __future__ import annotations

import pytest

from planche.core import embed
from planche.core.blas import blas_controller, one_blas_thread, reading_blas
from planche.core.embedders import load_embedder


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
    with reading_blas(load_embedder("pixels")):
        assert set(_blas_threads()) == {1}
    with reading_blas(None):
        assert set(_blas_threads()) == {2}
    assert set(_blas_threads()) == {2}


def test_embedding_with_pixels_holds_blas_at_one_thread_too(two_blas_threads, tmp_path,
                                                             monkeypatch):  # fmt: skip
    # `planche embed --embedder pixels` runs its own pool (core/embed.py), not the import's.
    from conftest import write_good_images
    from planche.core.ingest import import_folder

    write_good_images(tmp_path / "photos", 3)
    project = tmp_path / "p.duckdb"
    import_folder(tmp_path / "photos", project)  # no vectors yet
    seen: list[set[int]] = []
    prepare = embed._prepare_one

    def watched(*args, **kwargs):
        seen.append(set(_blas_threads()))
        return prepare(*args, **kwargs)

    monkeypatch.setattr(embed, "_prepare_one", watched)
    embed.embed_project(project, load_embedder("pixels"))
    assert seen and all(threads == {1} for threads in seen), seen
    assert set(_blas_threads()) == {2}
