"""The search graph: every image findable, copies first, built without making anyone wait."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from conftest import clustered_vectors, run_main, vector_project
from planche.core import read
from planche.core.errors import Cancelled
from planche.core.index import IndexBusy, open_index, update_index_if_present
from planche.core.index import graph as graph_module
from planche.core.index.cache import model_dir
from planche.core.progress import CancelToken
from planche.core.session import Session
from planche.core.store import open_store


def copies_collection(seed: int = 0) -> tuple[np.ndarray, list[np.ndarray]]:
    """Vectors like a photo library full of copies: groups of identical vectors
    (one of 300: ties are what cut copies off a graph), groups of near-identical
    ones, and singles. Returns the vectors and the groups (row numbers)."""
    rng = np.random.default_rng(seed)
    base = clustered_vectors(2400, 64, clusters=12, seed=seed)
    rows, groups = [], []
    for i, vector in enumerate(base):
        if i == 0:
            size, noise = 300, 0.0
        elif i % 10 == 1:
            size, noise = int(rng.integers(2, 6)), 0.0
        elif i % 10 == 2:
            size, noise = int(rng.integers(2, 6)), 2e-3
        else:
            size, noise = 1, 0.0
        copies = vector + noise * rng.normal(size=(size, len(vector)))
        copies /= np.linalg.norm(copies, axis=1, keepdims=True)
        groups.append(np.arange(len(rows), len(rows) + size))
        rows.extend(copies.astype(np.float32))
    return np.array(rows), groups


def test_every_image_is_found_first_by_its_own_vector_with_its_copies_before_anything(project):
    vectors, groups = copies_collection()
    model = vector_project(project, vectors)  # image id = row + 1
    with open_store(project, read_only=True) as store:
        index = open_index(store, model, "hnsw")
        exact = open_index(store, model, "exact")
    assert index.kind == "hnsw"
    assert len(index.parts.twins) >= 299, "identical vectors share a node"
    for group in groups:
        members = set((group + 1).tolist())
        ids, sims = index.search(vectors[group[:1]], len(group) + 5)
        assert set(ids[0, : len(group)].tolist()) == members, f"copies of image {group[0] + 1}"
        if len(group) == 1:
            assert sims[0, 0] >= sims[0, 1]
            # the image itself, or one with a vector equal to float16 rounding
            assert ids[0, 0] == group[0] + 1 or sims[0, 0] - sims[0, 1] < 1e-4
    # and the graph agrees with exact search on ordinary queries
    queries = clustered_vectors(100, 64, clusters=12, seed=9)
    truth, _ = exact.search(queries, 10)
    found, _ = index.search(queries, 10)
    recall = np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)])
    assert recall >= 0.95


def test_copies_added_and_removed_later_keep_their_place(project):
    vectors, groups = copies_collection(seed=1)
    model = vector_project(project, vectors)
    with open_store(project, read_only=True) as store:
        open_index(store, model, "hnsw")
    single = next(g for g in groups if len(g) == 1)[0]
    first_id = int(single) + 1
    added = np.repeat(vectors[single : single + 1], 3, axis=0)
    new_ids = list(range(len(vectors) + 1, len(vectors) + 4))
    with open_store(project) as store:  # an import brings three copies of one image
        store.write_embeddings(model, new_ids, added)
        assert update_index_if_present(store, model)
        # the image they copy goes; one of its copies takes its node
        store._con.execute(f"DELETE FROM embeddings_{model.id} WHERE image_id = {first_id}")
        assert update_index_if_present(store, model)
    with open_store(project, read_only=True) as store:
        index = open_index(store, model, "hnsw")
    ids, sims = index.search(vectors[single : single + 1], 4)
    assert set(ids[0, :3].tolist()) == set(new_ids)
    assert first_id not in ids[0].tolist()
    np.testing.assert_allclose(sims[0, :3], 1.0, atol=1e-3)


def _image_project(project, vectors: np.ndarray):
    """A project whose images (ids 1..n, files /photos/img_N.jpg) have these vectors."""
    from planche.core.store import FileRow, NewImage

    n = len(vectors)
    with open_store(project, create=True) as store:
        images = [NewImage(f"{i:064x}", 64, 48, "JPEG", "RGB", None, b"") for i in range(n)]
        files = [FileRow(f"/photos/img_{i + 1}.jpg", f"{i:064x}", 1, 1.0) for i in range(n)]
        store.write_import_batch(images, files, [])
        assert sorted(store.all_image_ids().tolist()) == list(range(1, n + 1))
    return vector_project(project, vectors)


@pytest.fixture
def large_threshold(monkeypatch):
    """A project of 3,000 vectors counts as large (the graph is wanted)."""
    import planche.core.index as index_module

    monkeypatch.setattr(index_module, "HNSW_THRESHOLD", 1_000)


def test_a_search_answers_exactly_while_the_graph_builds_without_holding_the_project(
    project, large_threshold, monkeypatch
):
    vectors = clustered_vectors(3001, 64, clusters=10)
    model = vector_project(project, vectors[:3000])
    release = threading.Event()
    real_build = graph_module.build

    def slow_build(*args, **kwargs):
        release.wait(30)
        return real_build(*args, **kwargs)

    monkeypatch.setattr(graph_module, "build", slow_build)
    session = Session(project)
    with open_store(project, read_only=True) as store:
        first = session.index(store, model)
    assert first.kind == "exact"
    assert (session.building(model.id) or "").startswith("building (")
    # Meanwhile the project is free: an import adds a vector, and a second
    # front end sees the build rather than starting its own.
    with open_store(project, wait_s=0.5) as store:
        store.write_embeddings(model, [3001], vectors[3000:])
    assert f"PID {os.getpid()}" in read.index_status(project)[0]["graph"]
    other = Session(project)
    with open_store(project, read_only=True) as store:
        assert other.index(store, model).kind == "exact"
    assert not other._builds, "one builder at a time"
    with open_store(project, read_only=True) as store, pytest.raises(IndexBusy, match="PID"):
        open_index(store, model, "hnsw")  # asked for by name: told who builds it
    release.set()
    session.wait_for_builds(60)
    assert session.building(model.id) is None
    with open_store(project, read_only=True) as store:
        index = session.index(store, model)
        assert other.index(store, model).kind == "hnsw", "the other front end picks it up"
    assert index.kind == "hnsw"
    assert index.search(vectors[3000:], 1)[0][0, 0] == 3001, "the vector added meanwhile too"
    assert read.index_status(project)[0]["graph"] == "ready"


def test_a_cancelled_build_keeps_nothing(project, large_threshold):
    model = vector_project(project, clustered_vectors(3000, 64, clusters=10))
    from planche.core.index import build_graph

    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(Cancelled):
        build_graph(project, model, cancel=cancel)
    assert not (model_dir(project, model.id) / "graph.json").exists()
    assert read.index_status(project)[0]["graph"] == "not built"


def test_cli_search_starts_the_build_in_the_background_and_index_shows_it(project, large_threshold):
    _image_project(project, clustered_vectors(3000, 64, clusters=10))
    status = run_main("index", "--project", str(project))
    assert "graph: not built" in status.stdout
    found = run_main("search", "--image", "5", "-k", "3", "--project", str(project), "--json")
    assert found.returncode == 0
    assert '"index": "exact"' in found.stdout
    assert "built in the background by PID" in found.stderr
    deadline = time.monotonic() + 90
    while read.index_status(project)[0]["graph"] != "ready" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert read.index_status(project)[0]["graph"] == "ready"
    again = run_main("search", "--image", "5", "-k", "3", "--project", str(project), "--json")
    assert '"index": "hnsw"' in again.stdout
    assert again.stderr == ""


def test_cli_index_build_reports_what_it_made(project):
    vectors, _ = copies_collection()
    vector_project(project, vectors)
    built = run_main("index", "--build", "--project", str(project))
    assert built.returncode == 0, built.stderr
    assert "Built the graph" in built.stdout
    assert "299 images sharing a node" in built.stdout or "sharing a node" in built.stdout
    assert "graph: ready" in run_main("index", "--project", str(project)).stdout


def test_after_many_removals_and_additions_every_image_is_still_found(project):
    vectors, _ = copies_collection(seed=2)
    n = len(vectors)
    model = vector_project(project, vectors)
    with open_store(project, read_only=True) as store:
        open_index(store, model, "hnsw")
    rng = np.random.default_rng(3)
    gone = rng.choice(np.arange(1, n + 1), 300, replace=False).tolist() + [1, 2, 3]  # reps too
    extra = vectors[rng.choice(n, 40, replace=False)]  # copies of images, some of them gone
    with open_store(project) as store:
        store._con.execute(
            f"DELETE FROM embeddings_{model.id} WHERE image_id IN ({','.join(map(str, gone))})"
        )
        store.write_embeddings(model, list(range(n + 1, n + 41)), extra)
        assert update_index_if_present(store, model)
    with open_store(project, read_only=True) as store:
        index = open_index(store, model, "hnsw")
    everything = np.concatenate([vectors, extra])
    alive = sorted(set(range(1, n + 41)) - set(gone))
    assert len(index) == len(alive)
    indexed = np.concatenate([index.parts.rep_ids, index.parts.twins.members])
    assert sorted(indexed.tolist()) == alive
    for image_id in alive[::29] + [1, 2, 3, 4]:
        vector = everything[image_id - 1]
        same = [i for i in alive if np.array_equal(everything[i - 1], vector)]
        ids, _ = index.search(vector[None, :], len(same))
        assert sorted(ids[0].tolist()) == same, f"image {image_id} and its identical copies"
        assert not set(ids[0].tolist()) & set(gone)


def test_text_queries_scan_everything_image_queries_use_the_graph(
    tmp_path, project, tiny_clip, large_threshold, monkeypatch
):
    import planche.core.index as index_module
    from conftest import write_good_images
    from planche.core.embedders import load_embedder
    from planche.core.ingest import import_folder
    from planche.core.search import Query, search

    monkeypatch.setattr(index_module, "HNSW_THRESHOLD", 10)
    write_good_images(tmp_path / "photos", 24)
    import_folder(tmp_path / "photos", project, embedder=load_embedder("clip", weights=tiny_clip))
    run_main("index", "--build", "--project", str(project))
    session = Session(project)
    by_text = search(project, Query(texts=("a beach",)), k=5, session=session)
    by_image = search(project, Query(images=("3",)), k=5, session=session)
    # Text vectors lie outside the images' region, where a graph misses many.
    assert (by_text.index, by_image.index) == ("exact", "hnsw")
    assert by_text.graph is None, "exact by choice, not for want of a graph"


def test_a_build_killed_midway_leaves_nothing_that_blocks_the_next(project, large_threshold):
    model = vector_project(project, clustered_vectors(3000, 64, clusters=10))
    folder = model_dir(project, model.id)
    folder.mkdir(parents=True)
    # What a build killed with -9 leaves: its lock file (the kernel dropped the
    # lock itself), its progress, and a half-written part.
    (folder / "build.lock").write_text("")
    (folder / "build.json").write_text('{"pid": 999999, "phase": "adding images", "done": 5}')
    (folder / "level0.usearch.tmp").write_bytes(b"half a graph")
    assert read.index_status(project)[0]["graph"] == "not built"
    built = run_main("index", "--build", "--project", str(project), "--json")
    assert built.returncode == 0, built.stderr
    assert read.index_status(project)[0]["graph"] == "ready"


def test_where_the_cache_cannot_be_written_the_graph_is_built_once_and_kept(
    project, large_threshold, monkeypatch
):
    import errno

    from planche.core.index import cache as cache_module

    model = vector_project(project, clustered_vectors(3000, 64, clusters=10))

    def refuse(*_args, **_kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(cache_module, "save_graph", refuse)
    session = Session(project)
    with open_store(project, read_only=True) as store:
        assert session.index(store, model).kind == "exact"
    session.wait_for_builds(60)
    assert session.building(model.id) is None, "no error shown for a cache it could not save"
    with open_store(project, read_only=True) as store:
        assert session.index(store, model).kind == "hnsw"
    assert list(session._builds) == [model.id], "built once, served from memory"
