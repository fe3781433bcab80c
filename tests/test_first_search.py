"""The first similar search of a project nothing is cached for: the exact answer at
once, the vector cache and the graph left to the background, and the next process
served from the cache. (How long it takes: bench/startup.py, BENCHMARKS.md.)"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import clustered_vectors, vector_project
from planche.core import commands
from planche.core.index import ExactIndex, cache_dir
from planche.core.session import Session
from planche.core.store import FileRow, NewImage, open_store

COUNT = 3_000


def _image_project(project, vectors: np.ndarray):
    """Images 1..n with files and these vectors, written in shuffled order (so the
    rows are not stored in id order)."""
    n = len(vectors)
    with open_store(project, create=True) as store:
        images = [NewImage(f"{i:064x}", 64, 48, "JPEG", "RGB", None, b"") for i in range(n)]
        files = [FileRow(f"/photos/img_{i + 1}.jpg", f"{i:064x}", 1, 1.0) for i in range(n)]
        store.write_import_batch(images, files, [])
    model = vector_project(project, vectors[:1])
    order = np.random.default_rng(3).permutation(np.arange(1, n))
    with open_store(project) as store:
        for part in np.array_split(order, 7):
            store.write_embeddings(model, (part + 1).tolist(), vectors[part])
    return model


@pytest.fixture
def large_threshold(monkeypatch):
    """3,000 vectors count as a large project (the graph is wanted)."""
    import planche.core.index as index_module

    monkeypatch.setattr(index_module, "HNSW_THRESHOLD", 1_000)


def _expected(vectors: np.ndarray, image: int, k: int) -> list[tuple[int, float]]:
    """The exact answer, from vectors kept in memory from the start."""
    index = ExactIndex(np.arange(1, len(vectors) + 1), vectors)
    ids, sims = index.search(vectors[image - 1][None, :], k + 1)
    pairs = [(int(i), round(float(s), 5)) for i, s in zip(ids[0], sims[0], strict=True)]
    return [pair for pair in pairs if pair[0] != image][:k]


def _hits(result: dict) -> list[tuple[int, float]]:
    return [(hit["image_id"], hit["similarity"]) for hit in result["results"]]


def test_the_first_search_answers_exactly_and_the_next_process_uses_the_cache(
    project, large_threshold
):
    vectors = clustered_vectors(COUNT, 32, clusters=8)
    model = _image_project(project, vectors)
    vector_cache = cache_dir(project) / f"model{model.id}" / "vectors.json"
    assert not cache_dir(project).exists()

    session = Session(project)
    context = commands.Context(session=session)
    first = commands.run(project, "search", {"images": ["7"], "k": 50}, context)
    assert first["index"] == "exact", "answered exactly while the graph is wanted"
    assert first["graph"].startswith("building ("), "and says the graph is on its way"
    assert _hits(first) == _expected(vectors, 7, 50)
    best = first["results"][0]
    assert list(best["paths"]) == [f"/photos/img_{best['image_id']}.jpg"]
    session.wait_for_builds(120)
    assert vector_cache.exists(), "the vectors were kept beside the project"
    again = commands.run(project, "search", {"images": ["7"], "k": 50}, context)
    assert again["index"] == "hnsw", "the graph built in the background is used"

    # A new process: its first search reads the vectors from the cache, not the
    # project (reading all of them out of DuckDB is refused there).
    script = (
        "import json, sys\n"
        "from planche.core import commands\n"
        "from planche.core.session import Session\n"
        "from planche.core.store import Store\n"
        "read = Store.read_embeddings\n"
        "def only_some(self, model, only=None, **kw):\n"
        "    assert only is not None, 'all the vectors read out of the project'\n"
        "    return read(self, model, only, **kw)\n"
        "Store.read_embeddings = only_some\n"
        "context = commands.Context(session=Session(sys.argv[1]))\n"
        "found = commands.run(sys.argv[1], 'search', {'images': ['7'], 'k': 50,\n"
        "                     'index': 'exact'}, context)\n"
        "print(json.dumps(found))\n"
    )
    later = json.loads(_run_script(script, project).splitlines()[-1])
    assert _hits(later) == _hits(first), "the same images, in the same order"


def test_a_new_front_end_on_a_project_whose_cache_was_removed_gets_the_same_answer(
    project, large_threshold
):
    vectors = clustered_vectors(COUNT, 32, clusters=8, seed=1)
    _image_project(project, vectors)
    session = Session(project)
    context = commands.Context(session=session)
    first = commands.run(project, "search", {"images": ["11"], "k": 30}, context)
    session.wait_for_builds(120)
    import shutil

    shutil.rmtree(cache_dir(project))  # copied without it, or deleted
    fresh = Session(project, background_builds=False)  # a one-shot command: saves now
    second = commands.run(project, "search", {"images": ["11"], "k": 30},
                          commands.Context(session=fresh))  # fmt: skip
    assert second["index"] == "exact"
    assert second["graph"] == "not built"
    assert _hits(second) == _hits(first) == _expected(vectors, 11, 30)
    assert (cache_dir(project) / "model1" / "vectors.json").exists()


def test_reading_every_vector_gives_them_in_id_order_as_written(project):
    vectors = clustered_vectors(500, 24, clusters=4, seed=2)
    model = _image_project(project, vectors)
    with open_store(project, read_only=True) as store:
        ids, rows = store.read_embeddings(model)
        half_ids, halves = store.read_embeddings(model, dtype=np.float16)
        some_ids, some = store.read_embeddings(model, only=[400, 3, 77, 3000])
        none_ids, none = store.read_embeddings(model, only=[])
    assert ids.tolist() == half_ids.tolist() == list(range(1, 501))
    assert rows.dtype == np.float32 and np.array_equal(rows, vectors)
    assert halves.dtype == np.float16 and np.array_equal(halves, vectors.astype(np.float16))
    assert some_ids.tolist() == [3, 77, 400], "ids without a vector are left out"
    assert np.array_equal(some, vectors[[2, 76, 399]])
    assert len(none_ids) == 0 and none.shape == (0, 24)


def test_reading_vectors_does_not_load_pandas(project):
    """pandas (which Arrow's to_numpy imports) costs 0.25 s of a first search."""
    _image_project(project, clustered_vectors(200, 16, clusters=2))
    script = (
        "import sys\n"
        "from planche.core.search import Query, search\n"
        "found = search(sys.argv[1], Query(images=('5',)), k=3)\n"
        "assert len(found.hits) == 3\n"
        "print('pandas' in sys.modules)\n"
    )
    assert _run_script(script, project) == "False"


def _run_script(script: str, project) -> str:  # noqa: ANN001 - a Path
    """What `script` prints, run by a fresh Python on `project` (it must succeed)."""
    done = subprocess.run([sys.executable, "-c", script, str(project)], capture_output=True,
                          text=True, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()
