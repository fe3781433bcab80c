"""Search: exact and HNSW indexes, query composition, and clear refusals."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from conftest import (
    clustered_vectors,
    photo_like,
    run_cli,
    run_main,
    vector_project,
    write_good_images,
)
from planche.core.embed import embed_project
from planche.core.embedders import load_embedder
from planche.core.errors import BadParameter, PlancheError
from planche.core.index import ExactIndex, cache_dir, open_index, update_index_if_present
from planche.core.ingest import import_folder
from planche.core.search import Query, search
from planche.core.store import open_store


def test_hnsw_recall_at_10_against_exact(project):
    vectors = clustered_vectors(8000, 128, clusters=40)
    model = vector_project(project, vectors)
    queries = clustered_vectors(200, 128, clusters=40, seed=1)
    with open_store(project, read_only=True) as store:
        exact = open_index(store, model, "exact")
        hnsw = open_index(store, model, "hnsw")
    assert (exact.kind, hnsw.kind) == ("exact", "hnsw")
    truth, _ = exact.search(queries, 10)
    found, found_sims = hnsw.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.95
    assert np.all(np.diff(found_sims, axis=1) <= 1e-6), "best first"
    true_cosines = np.einsum("qd,qkd->qk", queries, vectors[found - 1])
    np.testing.assert_allclose(found_sims, true_cosines, atol=2e-3)  # f16 storage, same scale


def test_exact_index_is_exact():
    vectors = clustered_vectors(500, 32, clusters=5)
    index = ExactIndex(np.arange(100, 600), vectors)
    ids, sims = index.search(vectors[:3], 4)
    assert list(ids[:, 0]) == [100, 101, 102]
    # Scores come from the float16 rows kept in memory: within 1e-4 of float32's.
    np.testing.assert_allclose(sims[:, 0], 1.0, atol=1e-4)
    brute = np.sort(vectors @ vectors[0])[::-1][:4]
    np.testing.assert_allclose(sims[0], brute, atol=1e-4)


def test_hnsw_cache_is_built_once_updated_and_repaired(project):
    vectors = clustered_vectors(3000, 64, clusters=10)
    model = vector_project(project, vectors[:2000])
    index_file = cache_dir(project) / f"model{model.id}" / "level0.usearch"
    with open_store(project, read_only=True) as store:
        assert not update_index_if_present(store, model), "no index until first needed"
        assert len(open_index(store, model, "hnsw")) == 2000
    assert index_file.exists()

    with open_store(project) as store:  # an import adds vectors: the cache follows
        store.write_embeddings(model, list(range(2001, 3001)), vectors[2000:])
        assert update_index_if_present(store, model)
    with open_store(project, read_only=True) as store:
        index = open_index(store, model, "hnsw")
        assert len(index) == 3000
        ids, _ = index.search(vectors[2500:2501], 1)
        assert ids[0, 0] == 2501

    index_file.write_bytes(b"not an index at all")  # corrupt: rebuilt, not trusted
    with open_store(project, read_only=True) as store:
        index = open_index(store, model, "hnsw")
        assert len(index) == 3000
        assert index.search(vectors[:1], 1)[0][0, 0] == 1


def _near_duplicate_folder(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(10):
        photo_like(seed, (200, 150)).save(folder / f"photo{seed}.jpg", quality=92)
    original = photo_like(3, (200, 150))
    original.resize((100, 75)).save(folder / "small copy.jpg")
    ImageEnhance.Brightness(original).enhance(1.2).save(folder / "brighter.png")
    out = io.BytesIO()
    original.save(out, format="JPEG", quality=30)
    (folder / "recompressed.jpg").write_bytes(out.getvalue())
    return folder


def test_image_query_ranks_near_duplicates_first(tmp_path, project):
    folder = _near_duplicate_folder(tmp_path)
    import_folder(folder, project, embedder=load_embedder("pixels"))

    result = search(project, Query(images=(str(folder / "photo3.jpg"),)), k=5)

    names = [hit.paths[0].rsplit("/", 1)[1] for hit in result.hits]
    assert set(names[:3]) == {"small copy.jpg", "brighter.png", "recompressed.jpg"}
    assert "photo3.jpg" not in names, "the query image itself is left out"
    assert result.model.startswith("pixels:") and result.index == "exact"
    outside = tmp_path / "outside.jpg"  # an image that is not in the project
    photo_like(3, (200, 150)).crop((6, 5, 194, 145)).save(outside)
    again = search(project, Query(images=(str(outside),)), k=4)
    family = {"photo3.jpg", "small copy.jpg", "brighter.png", "recompressed.jpg"}
    assert {hit.paths[0].rsplit("/", 1)[1] for hit in again.hits} == family


def test_text_terms_add_and_subtract(tmp_path, project, tiny_clip):
    write_good_images(tmp_path / "photos", 12)
    clip = load_embedder("clip", weights=tiny_clip)
    import_folder(tmp_path / "photos", project, embedder=clip)
    with open_store(project, read_only=True) as store:
        (model,) = store.models()
        ids, vectors = store.read_embeddings(model)
    plus, minus = clip.embed_text(["a beach", "people"])
    expected = (plus - minus) / np.linalg.norm(plus - minus)

    result = search(project, Query(texts=("a beach",), minus_texts=("people",)), k=12)

    assert [h.image_id for h in result.hits] == list(ids[np.argsort(-(vectors @ expected))])
    np.testing.assert_allclose(
        [h.similarity for h in result.hits], np.sort(vectors @ expected)[::-1], atol=1e-4
    )

    cli = run_main("search", "--project", str(project), "--text", "a beach", "-k", "3", "--json")
    assert cli.returncode == 0, cli.stderr  # the model's weights are found where they were
    report = json.loads(cli.stdout)
    assert report["model"].startswith("clip:") and len(report["results"]) == 3
    assert report["results"][0]["image_id"] == result.hits[0].image_id


def test_bad_queries_are_refused_clearly(tmp_path, project):
    with pytest.raises(PlancheError, match="no project"):
        search(project, Query(texts=("cat",)))
    folder = _near_duplicate_folder(tmp_path)
    import_folder(folder, project)
    with pytest.raises(PlancheError, match="no vectors"):
        search(project, Query(images=("1",)))
    embed_project(project, load_embedder("pixels"))
    with pytest.raises(PlancheError, match="no text tower"):
        search(project, Query(texts=("a cat",)))
    with pytest.raises(BadParameter, match="at least one text or image"):
        search(project, Query())
    with pytest.raises(BadParameter, match="non-empty"):
        search(project, Query(texts=("  ",)))
    with pytest.raises(BadParameter, match="image id of this project"):
        search(project, Query(images=("9999",)))
    with pytest.raises(BadParameter, match="an image id, a file of the project"):
        search(project, Query(images=(str(tmp_path / "nowhere.jpg"),)))
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("hello")
    with pytest.raises(BadParameter, match="not an image"):
        search(project, Query(images=(str(not_image),)))
    with pytest.raises(BadParameter, match="k=0"):
        search(project, Query(images=("1",)), k=0)
    with pytest.raises(BadParameter, match="cancel"):
        search(project, Query(images=("1",), minus_images=("1",)))
    cli = run_cli("search", "--project", str(project), "--text", "a cat")
    assert cli.returncode == 2 and "no text tower" in cli.stderr
    assert "Traceback" not in cli.stderr


def test_image_files_are_decoded_safely_as_queries(tmp_path, project):
    folder = _near_duplicate_folder(tmp_path)
    import_folder(folder, project, embedder=load_embedder("pixels"))
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[274] = 6
    photo_like(5, (200, 150)).rotate(90, expand=True).save(rotated, exif=exif.tobytes())
    result = search(project, Query(images=(str(rotated),)), k=1)
    assert result.hits[0].paths[0].endswith("photo5.jpg"), "EXIF orientation applied"
