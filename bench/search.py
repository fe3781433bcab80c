"""Nearest-neighbour search: planche's exact and graph indexes against numpy, DuckDB and Annoy.

Compared, at N = 100k and N = 1M 512-d unit vectors, top-10 by cosine:
- planche exact: `VectorTable.scan`, float16 rows scored with SimSIMD and the
  best re-scored in float32 (what `ExactIndex` does);
- numpy float32: the float32 matrix in memory, one product a query (planche
  before, and the naive way);
- planche HNSW: `graph.build` exactly as planche builds it (int8 codes, one
  node per identical vector, the reach check and its second level), queried
  through `HnswIndex` with re-ranking, one row per expansion_search (ef);
- DuckDB brute force (`--engines ...,duckdb`): `array_cosine_similarity`;
- Annoy (angular), the seed engine's peer, one row per search_k.

Two kinds of query, each with its own exact ground truth: "image" queries,
fresh draws from the base distribution, and "text" queries, out of it, as
CLIP's text vectors are (a shared offset direction plus a faint image-like
part: cosines to the base of 0.1-0.4, as CLIP text-to-image cosines are).

Also measured:
- own-first: the share of 2,000 base vectors that a search for their own
  vector returns first (or level with a vector equal to float16 rounding);
- with a project (`--first-answer`, default at 1M): from process start to the
  first answer of a fresh session on a real planche project, with no cache,
  with the vectors cached, and with the graph built;
- `--part copies`: a 100k collection in groups of identical and
  near-identical vectors; the share of 256 "images like this one" queries
  whose copies all come before anything else, for planche's graph, the plain
  float16 usearch graph planche used before, and exact search.

The synthetic vectors are clustered like image embeddings: 200 clusters of
unequal size and spread in a 24-d latent space, mapped linearly into 512-d,
plus a little 512-d noise, normalised. Latencies are single queries, one after
another, through each engine's Python API. Each engine runs in its own
subprocess, so its peak RSS is its own.

    python bench/search.py [--sizes 100000,1000000] [--queries 1000] [--quick]
    python bench/search.py --part copies
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
from measure import peak_rss_mib

DIM = 512
K = 10
LATENT_DIM = 24
CLUSTERS = 200
SEED = 20261125
READ_CHUNK = 50_000  # what planche's _add_in_chunks feeds usearch at a time
HNSW_EFS = (32, 64, 96, 128, 256)
ENGINES = ("exact", "numpy", "hnsw", "duckdb", "annoy")
DEFAULT_ENGINES = ("exact", "numpy", "hnsw", "annoy")
QUERY_KINDS = ("image", "text")
OWN_SAMPLE = 2_000
WARMUP = 10
RECALL_TARGET = 0.95


# --- data ---------------------------------------------------------------------------------


def _sampler(seed: int) -> Callable[[np.random.Generator, int], np.ndarray]:
    """A function drawing unit vectors from one fixed clustered distribution."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, LATENT_DIM))
    # Unequal clusters, as in a real collection (a few big events, many small ones).
    weights = rng.lognormal(0.0, 1.0, CLUSTERS)
    weights /= weights.sum()
    spread = rng.uniform(0.25, 0.6, CLUSTERS)
    mixing = rng.standard_normal((LATENT_DIM, DIM)) / np.sqrt(DIM)
    # 512-d noise about a quarter of a cluster's latent radius: the data is
    # nearly, not exactly, 24-dimensional.
    noise = 0.25 * np.sqrt(LATENT_DIM) * spread.mean() / np.sqrt(DIM)

    def sample(gen: np.random.Generator, count: int) -> np.ndarray:
        labels = gen.choice(CLUSTERS, size=count, p=weights)
        latent = centres[labels] + gen.standard_normal((count, LATENT_DIM)) * spread[labels, None]
        vectors = latent @ mixing + noise * gen.standard_normal((count, DIM))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32)

    return sample


def write_data(folder: Path, n: int, n_queries: int) -> tuple[Path, Path]:
    """Base vectors and queries as .npy files, written in chunks to bound memory."""
    sample = _sampler(SEED)
    base_path, query_path = folder / f"base-{n}.npy", folder / f"queries-image-{n}.npy"
    base = np.lib.format.open_memmap(base_path, mode="w+", dtype=np.float32, shape=(n, DIM))
    # Separate streams: the queries are fresh draws, never copies of base rows.
    base_rng = np.random.default_rng([SEED, 1])
    for start in range(0, n, 100_000):
        stop = min(start + 100_000, n)
        base[start:stop] = sample(base_rng, stop - start)
    base.flush()
    del base
    np.save(query_path, sample(np.random.default_rng([SEED, 2]), n_queries))
    np.save(folder / f"queries-text-{n}.npy", text_like(sample, n_queries))
    return base_path, query_path


def text_like(sample: Callable[[np.random.Generator, int], np.ndarray], count: int) -> np.ndarray:
    """Queries out of the base distribution, as CLIP text vectors are: a shared
    offset (the "modality gap") plus a faint image-like part and noise."""
    rng = np.random.default_rng([SEED, 3])
    gap = rng.standard_normal(DIM)
    gap /= np.linalg.norm(gap)
    noise = rng.standard_normal((count, DIM)) / np.sqrt(DIM)
    vectors = 0.3 * sample(rng, count) + 0.9 * gap + 0.25 * noise
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def read_chunks(path: Path, chunk: int = READ_CHUNK) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, rows) of a 2-d float32 .npy file, read rather than memory-mapped.

    Pages of a memory map stay in the reader's RSS, which would charge the
    input file to every engine's peak memory.
    """
    with open(path, "rb") as f:
        major, _ = np.lib.format.read_magic(f)
        read_header = (
            np.lib.format.read_array_header_1_0
            if major == 1
            else np.lib.format.read_array_header_2_0
        )
        (rows, dim), _, dtype = read_header(f)
        assert dtype == np.float32 and dim == DIM
        for start in range(0, rows, chunk):
            count = min(chunk, rows - start)
            yield start, np.fromfile(f, dtype=np.float32, count=count * dim).reshape(count, dim)


def ground_truth(base_path: Path, queries: np.ndarray) -> np.ndarray:
    """Exact top-K ids per query, by chunks of the base (bounded memory)."""
    best_ids = np.zeros((len(queries), 0), dtype=np.int64)
    best_scores = np.zeros((len(queries), 0), dtype=np.float32)
    for start, rows in read_chunks(base_path, 100_000):
        scores = queries @ rows.T
        top = np.argpartition(-scores, K - 1, axis=1)[:, :K]
        cand_scores = np.hstack([best_scores, np.take_along_axis(scores, top, axis=1)])
        cand_ids = np.hstack([best_ids, top + start])
        keep = np.argpartition(-cand_scores, K - 1, axis=1)[:, :K]
        best_scores = np.take_along_axis(cand_scores, keep, axis=1)
        best_ids = np.take_along_axis(cand_ids, keep, axis=1)
    order = np.argsort(-best_scores, axis=1)
    return np.take_along_axis(best_ids, order, axis=1)


# --- measuring (in the engine's subprocess) -------------------------------------------------


def time_queries(
    search: Callable[[np.ndarray], np.ndarray],
    queries: np.ndarray,
    budget_s: float,
    min_count: int,
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Latencies (ms) and found ids, one query at a time.

    Stops early, after at least `min_count` queries, once `budget_s` is spent:
    the slow settings would otherwise take most of the run.
    """
    for query in queries[:WARMUP]:
        search(query)
    latencies, found = [], []
    started = time.perf_counter()
    for i, query in enumerate(queries):
        t0 = time.perf_counter_ns()
        ids = search(query)
        latencies.append(time.perf_counter_ns() - t0)
        found.append(np.asarray(ids)[:K])
        if i + 1 >= min_count and time.perf_counter() - started > budget_s:
            break
    return np.array(latencies) / 1e6, found


def recall_at_k(found: list[np.ndarray], truth: np.ndarray) -> float:
    hits = [len(np.intersect1d(ids, truth[i])) for i, ids in enumerate(found)]
    return float(np.mean(hits)) / K


def emit(
    engine: str,
    n: int,
    settings: str,
    build_s: float,
    size_bytes: int,
    latencies: np.ndarray,
    found: list[np.ndarray],
    truth: np.ndarray,
    kind: str = "image",
    own_first: float | None = None,
) -> float:
    """Print one result row as a JSON line for the parent; returns its recall."""
    recall = recall_at_k(found, truth)
    if len(found) < len(truth):
        settings += f" (q={len(found)})"
    row = {
        "engine": engine,
        "n": n,
        "settings": settings,
        "queries": kind,
        "build_s": build_s,
        "size_mb": size_bytes / 2**20,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
        "qps": 1000.0 / float(latencies.mean()),
        "recall": recall,
        "own_first": own_first,
        "peak_rss_mib": peak_rss_mib(),
    }
    print(json.dumps(row), flush=True)
    return recall


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Job:
    """What an engine's subprocess measures."""

    base_path: Path
    n: int
    queries: dict[str, np.ndarray]  # by kind
    truth: dict[str, np.ndarray]
    work: Path  # scratch folder for the engine's files, removed afterwards
    annoy_trees: int
    project: Path | None  # where the graph is saved for the first-answer runs


def load_base(job: Job) -> np.ndarray:
    # Filled in place so that the peak is the matrix, not the matrix twice.
    vectors = np.empty((job.n, DIM), dtype=np.float32)
    for start, rows in read_chunks(job.base_path):
        vectors[start : start + len(rows)] = rows
    return vectors


def own_first_share(
    search: Callable[[np.ndarray], np.ndarray], base: np.ndarray, first_id: int = 0
) -> float:
    """Share of sampled base rows that a search for their own vector returns first
    (or returns an identical vector first: a tie no order can break)."""
    sample = np.random.default_rng(7).choice(len(base), min(OWN_SAMPLE, len(base)), replace=False)
    hits = 0
    for row in sample:
        first = int(search(base[row])[0]) - first_id
        hits += int(first == row or np.array_equal(base[first], base[row]))
    return hits / len(sample)


def run_exact(job: Job) -> None:
    from planche.core.index.vectors import VectorTable

    vectors = load_base(job)
    started = time.perf_counter()
    table = VectorTable.from_float32(np.arange(len(vectors)), vectors)
    build_s = time.perf_counter() - started
    del vectors
    for kind in QUERY_KINDS:
        latencies, found = time_queries(lambda q: table.scan(q, K)[0][0], job.queries[kind], 60, 50)
        emit("planche exact", job.n, "float16 rows, SimSIMD, re-scored in float32", build_s,
             table.rows.nbytes, latencies, found, job.truth[kind], kind)  # fmt: skip


def run_numpy(job: Job) -> None:
    vectors = load_base(job)

    def search(query: np.ndarray) -> np.ndarray:
        scores = vectors @ query
        top = np.argpartition(-scores, K - 1)[:K]
        return top[np.argsort(-scores[top])]

    latencies, found = time_queries(search, job.queries["image"], 60, 50)
    emit("numpy float32", job.n, "matrix product (planche before)", 0.0, vectors.nbytes,
         latencies, found, job.truth["image"])  # fmt: skip


def run_hnsw(job: Job) -> None:
    from planche.core.index import graph
    from planche.core.index.vectors import VectorTable

    vectors = load_base(job)
    ids = np.arange(1, job.n + 1)  # as in the project: image ids from 1
    table = VectorTable.from_float32(ids, vectors)
    phases: dict[str, float] = {}
    started = time.perf_counter()
    last = [0.0]

    def progress(event) -> None:
        phases[event.detail] = time.perf_counter() - started
        if time.perf_counter() - last[0] > 60 and event.total:
            last[0] = time.perf_counter()
            log(f"hnsw: {event.detail} {event.done:,}/{event.total:,}, "
                f"{time.perf_counter() - started:.0f} s")  # fmt: skip

    parts = graph.build(table, progress)
    build_s = time.perf_counter() - started
    log(f"hnsw: built in {build_s:.0f} s: levels {[len(lv) for lv in parts.levels]}, "
        f"exact list {len(parts.exact_ids)}, sharing a node {len(parts.twins)}; "
        f"graph done at {phases.get('adding images', 0):.0f} s")  # fmt: skip
    sizes = 0
    for number, level in enumerate(parts.levels):
        path = job.work / f"level{number}.usearch"
        level.save(str(path))
        sizes += path.stat().st_size
    label = f"M={graph.CONNECTIVITY}, ef_add={graph.EXPANSION_ADD}, int8 + re-rank"
    efs = list(HNSW_EFS)
    own = None
    for ef in efs:
        index = graph.HnswIndex(parts, table, expansion_search=ef)
        if ef == graph.EXPANSION_SEARCH:
            own = own_first_share(lambda q, i=index: i.search(q, 1)[0][0], vectors, first_id=1)
        for kind in QUERY_KINDS if ef == graph.EXPANSION_SEARCH else ("image",):
            latencies, found = time_queries(
                lambda q, i=index: i.search(q, K)[0][0] - 1, job.queries[kind], 30, 200
            )
            default = " (planche's default)" if ef == graph.EXPANSION_SEARCH else ""
            recall = emit("planche HNSW", job.n, f"{label}, ef={ef}{default}", build_s, sizes,
                          latencies, found, job.truth[kind], kind,
                          own if ef == graph.EXPANSION_SEARCH else None)  # fmt: skip
        # Keep going past the sweep until the goal's recall is reached (or ef is absurd).
        if ef == efs[-1] and recall < RECALL_TARGET and ef < 1024:
            efs.append(ef * 2)
    if job.project is not None:
        save_graph_for_project(job.project, parts)


def run_duckdb(job: Job) -> None:
    import duckdb
    import pyarrow as pa

    path = job.work / "vectors.duckdb"
    con = duckdb.connect(str(path))
    started = time.perf_counter()
    # planche's embeddings table layout (core/store.py).
    con.execute(f"CREATE TABLE t (id INTEGER PRIMARY KEY, vector FLOAT[{DIM}] NOT NULL)")
    for start, rows in read_chunks(job.base_path):
        column = pa.FixedSizeListArray.from_arrays(pa.array(rows.ravel()), DIM)
        ids = pa.array(np.arange(start, start + len(rows), dtype=np.int32))
        con.register("chunk", pa.table({"id": ids, "vector": column}))
        con.execute("INSERT INTO t SELECT id, vector FROM chunk")
        con.unregister("chunk")
    con.execute("CHECKPOINT")
    build_s = time.perf_counter() - started
    size = sum(p.stat().st_size for p in job.work.glob("vectors.duckdb*"))
    sql = (
        f"SELECT id FROM t ORDER BY array_cosine_similarity(vector, ?::FLOAT[{DIM}]) DESC LIMIT {K}"
    )

    def search(query: np.ndarray) -> np.ndarray:
        return np.array([row[0] for row in con.execute(sql, [query.tolist()]).fetchall()])

    latencies, found = time_queries(search, job.queries["image"], 30, 20)
    emit("DuckDB SQL", job.n, "array_cosine_similarity, full scan", build_s, size,
         latencies, found, job.truth["image"])  # fmt: skip
    con.close()


def default_annoy_trees(n: int) -> int:
    # More trees buy Annoy recall at a given search_k (for memory, not query
    # time): 100 at 1M gives it a fair chance and still builds in minutes here.
    return 50 if n <= 100_000 else 100


def run_annoy(job: Job) -> None:
    from annoy import AnnoyIndex

    n, trees = job.n, job.annoy_trees
    index = AnnoyIndex(DIM, "angular")
    started = time.perf_counter()
    for start, rows in read_chunks(job.base_path):
        for i, row in enumerate(rows):
            index.add_item(start + i, row)
    log(f"annoy: items added in {time.perf_counter() - started:.0f} s, building {trees} trees")
    index.build(trees, n_jobs=-1)
    build_s = time.perf_counter() - started
    path = job.work / "index.annoy"
    index.save(str(path))  # Annoy then serves queries from the saved file, memory-mapped
    size = path.stat().st_size
    # search_k is the number of candidates Annoy scores; its default is trees * k.
    chosen = None
    for factor in (1, 2, 5, 10, 20, 50, 100, 200, 500):
        search_k = trees * K * factor
        if search_k > n:
            break
        latencies, found = time_queries(
            lambda q, s=search_k: index.get_nns_by_vector(q, K, search_k=s),
            job.queries["image"],
            30,
            200,
        )
        recall = emit("Annoy", n, f"angular, {trees} trees, search_k={search_k}", build_s, size,
                      latencies, found, job.truth["image"])  # fmt: skip
        if recall >= RECALL_TARGET and chosen is None:
            chosen = search_k
        if recall >= 0.98:
            break
    chosen = chosen or search_k
    latencies, found = time_queries(
        lambda q: index.get_nns_by_vector(q, K, search_k=chosen), job.queries["text"], 30, 200
    )
    emit("Annoy", n, f"angular, {trees} trees, search_k={chosen}", build_s, size,
         latencies, found, job.truth["text"], "text")  # fmt: skip


RUNNERS: dict[str, Callable[[Job], None]] = {
    "exact": run_exact,
    "numpy": run_numpy,
    "hnsw": run_hnsw,
    "duckdb": run_duckdb,
    "annoy": run_annoy,
}


def child_main(args: argparse.Namespace) -> None:
    data = Path(args.data)
    work = Path(tempfile.mkdtemp(prefix=f"{args.engine}-", dir=data))
    job = Job(
        base_path=data / f"base-{args.n}.npy",
        n=args.n,
        queries={kind: np.load(data / f"queries-{kind}-{args.n}.npy") for kind in QUERY_KINDS},
        truth={kind: np.load(data / f"truth-{kind}-{args.n}.npy") for kind in QUERY_KINDS},
        work=work,
        annoy_trees=args.annoy_trees or default_annoy_trees(args.n),
        project=Path(args.project) if args.project else None,
    )
    try:
        RUNNERS[args.engine](job)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- a real project: the first answer of a fresh process ------------------------------------


def make_project(base_path: Path, project: Path) -> None:
    from planche.core.store import open_store

    with open_store(project, create=True) as store:
        model = store.register_model(embedder="pixels", name="bench", pretrained=None,
                                     weights_hash=None, dim=DIM, precision="fp32")  # fmt: skip
        for start, rows in read_chunks(base_path, 100_000):
            store.write_embeddings(model, list(range(start + 1, start + len(rows) + 1)), rows)


def save_graph_for_project(project: Path, parts: object) -> None:
    """The graph the HNSW engine built, saved as the project's cache (same vectors, same ids)."""
    from planche.core.index import cache, vector_fingerprint
    from planche.core.store import open_store

    with open_store(project, read_only=True) as store:
        model = store.models()[0]
        cache.save_graph(project, model, vector_fingerprint(store, model), parts)  # type: ignore[arg-type]


FIRST_ANSWER = """
import json, sys, time
import numpy as np
started = time.perf_counter()
from planche.core.session import Session
from planche.core.store import open_store
project = sys.argv[1]
session = Session(project, background_builds=False)
with open_store(project, read_only=True) as store:
    model = store.models()[0]
    index = session.index(store, model)
opened = time.perf_counter()
ids, sims = index.search(np.load(sys.argv[2])[:1], 10)
answered = time.perf_counter()
print(json.dumps({"kind": index.kind, "open_s": opened - started, "query_s": answered - opened}))
"""


def first_answer(project: Path, query_path: Path, case: str) -> dict:
    """From process start to the first answer, in a fresh Python process."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", FIRST_ANSWER, str(project), str(query_path)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    total = time.perf_counter() - started
    row = json.loads(done.stdout.strip().splitlines()[-1])
    row.update(case=case, total_s=total)
    log(f"first answer, {case}: {total:.2f} s ({row['kind']})")
    return row


def format_first(row: dict) -> str:
    return (f"| {row['case']} | {row['kind']} | {row['total_s']:.2f} | {row['open_s']:.2f} | "
            f"{row['query_s'] * 1000:.1f} |")  # fmt: skip


FIRST_HEADER = (
    "| fresh process, 1 query | index | process start to answer (s) | "
    "opening the index (s) | the query (ms) |\n|---|---|---:|---:|---:|"
)


# --- copies: groups of identical and near-identical vectors ------------------------------


def copies_data(n: int, seed: int = SEED) -> tuple[np.ndarray, list[np.ndarray]]:
    """A collection of `n` vectors where most images have copies: identical ones
    (byte copies) and near-identical ones (re-saves, cosine about 0.999)."""
    sample = _sampler(seed)
    rng = np.random.default_rng([seed, 5])
    rows, groups = [], []
    while len(rows) < n:
        original = sample(rng, 1)[0]
        size = 1 if rng.random() < 0.4 else int(rng.integers(2, 11))
        size = min(size, n - len(rows))
        copies = np.repeat(original[None, :], size, axis=0)
        near = rng.random(size) < 0.5
        near[0] = False
        copies[near] += 0.002 * rng.standard_normal((int(near.sum()), DIM))
        copies /= np.linalg.norm(copies, axis=1, keepdims=True)
        groups.append(np.arange(len(rows), len(rows) + size))
        rows.extend(copies.astype(np.float32))
    return np.array(rows), groups


def run_copies(n: int, n_queries: int = 256) -> list[dict]:
    from usearch.index import Index

    from planche.core.index import graph
    from planche.core.index.vectors import VectorTable

    vectors, groups = copies_data(n)
    with_copies = [g for g in groups if len(g) > 1]
    picked = np.random.default_rng(11).choice(len(with_copies), n_queries, replace=False)
    queries = [with_copies[i] for i in picked]
    ids = np.arange(n)
    table = VectorTable.from_float32(ids, vectors)
    results = []

    def measure(name: str, build_s: float, search: Callable[[np.ndarray, int], np.ndarray]) -> None:
        whole = 0
        for group in queries:
            found = search(vectors[group[0]], len(group))
            whole += int(set(np.asarray(found)[: len(group)].tolist()) == set(group.tolist()))
        own = own_first_share(lambda q: search(q, 1), vectors)
        row = {"engine": name, "build_s": build_s, "copies_first": whole / len(queries),
               "own_first": own}  # fmt: skip
        log(f"copies: {name}: {row}")
        results.append(row)

    measure("planche exact", 0.0, lambda q, k: table.scan(q, k)[0][0])
    started = time.perf_counter()
    parts = graph.build(table, lambda _e: None)
    index = graph.HnswIndex(parts, table)
    measure("planche HNSW", time.perf_counter() - started, lambda q, k: index.search(q, k)[0][0])
    old = Index(ndim=DIM, metric="cos", dtype="f16", connectivity=16, expansion_add=128,
                expansion_search=64)  # fmt: skip
    started = time.perf_counter()
    old.add(ids.astype(np.uint64), vectors, threads=os.cpu_count() or 1)
    measure("usearch f16 graph (planche before)", time.perf_counter() - started,
            lambda q, k: np.atleast_1d(old.search(q, k).keys).astype(np.int64))  # fmt: skip
    return results


# --- parent: data, subprocesses, table ----------------------------------------------------------


def run_engine(
    engine: str, n: int, data: Path, annoy_trees: int | None, project: Path | None
) -> list[dict]:
    command = [sys.executable, __file__, "--engine", engine, "--n", str(n), "--data", str(data)]
    if annoy_trees:
        command += ["--annoy-trees", str(annoy_trees)]
    if project is not None:
        command += ["--project", str(project)]
    started = time.perf_counter()
    # stderr passes through: the engines' progress lines show in the log.
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if result.returncode:
        log(f"{engine} at N={n} failed with exit code {result.returncode}")
    log(f"{engine} at N={n}: {time.perf_counter() - started:.0f} s")
    for row in rows:
        print(format_row(row), flush=True)
    return rows


def format_row(row: dict) -> str:
    own = "-" if row.get("own_first") is None else f"{row['own_first']:.4f}"
    return (
        f"| {row['engine']} | {row['n']:,} | {row['settings']} | {row['queries']} | "
        f"{row['build_s']:.1f} | {row['size_mb']:,.0f} | {row['p50_ms']:.2f} | "
        f"{row['p99_ms']:.2f} | {row['qps']:,.0f} | {row['recall']:.3f} | {own} | "
        f"{row['peak_rss_mib']:,.0f} |"
    )


HEADER = (
    "| engine | N | settings | queries | build (s) | index size (MiB) | p50 (ms) | p99 (ms) | "
    "QPS | recall@10 | own-first | peak RSS (MiB) |\n"
    "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def smallest_reaching(rows: list[dict], recall: float) -> dict | None:
    """The first row of a sweep (cheapest setting) reaching `recall`."""
    return next((row for row in rows if row["recall"] >= recall), None)


def summary(rows: list[dict]) -> list[str]:
    n = max(row["n"] for row in rows)
    at_n = [r for r in rows if r["n"] == n]
    hnsw = [r for r in at_n if r["engine"] == "planche HNSW" and r["queries"] == "image"]
    default = next((r for r in hnsw if "default" in r["settings"]), None)
    text = next((r for r in at_n if r["engine"] == "planche HNSW" and r["queries"] == "text"), None)
    annoy = [r for r in at_n if r["engine"] == "Annoy" and r["queries"] == "image"]
    exact = next((r for r in at_n if r["engine"] == "planche exact" and r["queries"] == "image"),
                 None)  # fmt: skip
    naive = next((r for r in at_n if r["engine"] == "numpy float32"), None)
    lines = []
    if default is not None:
        verdict = "met" if default["build_s"] <= 300 and default["recall"] >= 0.97 else "NOT MET"
        lines.append(f"(a) build <= 5 min with recall@10 >= 0.97 at the default ef (N={n:,}): "
                     f"{verdict}, {default['build_s']:.0f} s, recall {default['recall']:.3f} "
                     f"(text-like queries {text['recall'] if text else float('nan'):.3f}), "
                     f"p50 {default['p50_ms']:.2f} ms")  # fmt: skip
        lines.append(f"(b) own vector first (N={n:,}): {default['own_first']:.4f} of "
                     f"{OWN_SAMPLE:,} sampled images (goal 1.0)")  # fmt: skip
    if exact is not None:
        ratio = f", {naive['p50_ms'] / exact['p50_ms']:.1f}x numpy float32" if naive else ""
        lines.append(f"(c) exact search <= 100 ms (N={n:,}): "
                     f"{'met' if exact['p50_ms'] <= 100 else 'NOT MET'}, p50 "
                     f"{exact['p50_ms']:.1f} ms, recall {exact['recall']:.3f}{ratio}")  # fmt: skip
    if default is not None and annoy:
        a = smallest_reaching(annoy, default["recall"]) or annoy[-1]
        floor = smallest_reaching(annoy, RECALL_TARGET)
        if floor is not None:
            lines.append(f"(d) QPS against Annoy at recall >= {RECALL_TARGET} (N={n:,}): "
                         f"{default['qps'] / floor['qps']:.1f}x ({floor['settings']}, "
                         f"recall {floor['recall']:.3f})")  # fmt: skip
        ratio = default["qps"] / a["qps"]
        lines.append(f"(e) QPS against Annoy at equal recall (N={n:,}): {ratio:.1f}x, planche "
                     f"{default['qps']:,.0f} QPS at recall {default['recall']:.3f}, Annoy "
                     f"{a['settings']} {a['qps']:,.0f} QPS, recall {a['recall']:.3f}")  # fmt: skip
    return lines


def _version_or_absent(name: str) -> str:
    """A package's version, or "not installed" (annoy is only needed by its engine)."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("search", "copies"), default="search")
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="20k vectors only: a smoke test")
    parser.add_argument("--engines", default=",".join(DEFAULT_ENGINES))
    parser.add_argument("--annoy-trees", type=int, help="override the trees per size")
    parser.add_argument(
        "--first-answer",
        default="1000000",
        help="sizes at which a project is made for the first-answer runs",
    )
    # Internal: one engine in its own process, so that its peak RSS is its own.
    parser.add_argument("--engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child_main(args)
        return
    run_started = time.perf_counter()
    if args.part == "copies":
        n = 20_000 if args.quick else 100_000
        rows = run_copies(n)
        print(
            f"Copies at N={n:,}: 256 queries of images with copies; copies-first: all of its "
            "copies before anything else; own-first: 2,000 images searched by their vector"
        )
        print("| engine | build (s) | copies first | own-first |\n|---|---:|---:|---:|")
        for row in rows:
            print(f"| {row['engine']} | {row['build_s']:.1f} | {row['copies_first']:.3f} | "
                  f"{row['own_first']:.4f} |")  # fmt: skip
        print(f"total run time: {time.perf_counter() - run_started:.0f} s")
        return

    sizes = [20_000] if args.quick else [int(s) for s in args.sizes.split(",")]
    first_sizes = {20_000} if args.quick else {int(s) for s in args.first_answer.split(",") if s}
    engines = args.engines.split(",")
    rows: list[dict] = []
    firsts: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="planche-bench-search-") as tmp:
        data = Path(tmp)
        for n in sizes:
            started = time.perf_counter()
            base_path, query_path = write_data(data, n, args.queries)
            for kind in QUERY_KINDS:
                queries = np.load(data / f"queries-{kind}-{n}.npy")
                np.save(data / f"truth-{kind}-{n}.npy", ground_truth(base_path, queries))
            log(f"N={n}: data and ground truth in {time.perf_counter() - started:.0f} s")
            project = None
            if n in first_sizes:
                project = data / f"project-{n}.duckdb"
                started = time.perf_counter()
                make_project(base_path, project)
                log(f"N={n}: project written in {time.perf_counter() - started:.0f} s")
                query_file = data / f"queries-image-{n}.npy"
                firsts.append(first_answer(project, query_file, f"N={n:,}, nothing cached"))
                firsts.append(first_answer(project, query_file, f"N={n:,}, vectors cached"))
            print(HEADER, flush=True)
            for engine in engines:
                rows += run_engine(engine, n, data, args.annoy_trees,
                                   project if engine == "hnsw" else None)  # fmt: skip
            if project is not None and "hnsw" in engines:
                firsts.append(first_answer(project, data / f"queries-image-{n}.npy",
                                           f"N={n:,}, vectors and graph cached"))  # fmt: skip
            base_path.unlink()

    versions = ", ".join(
        f"{name} {_version_or_absent(name)}"
        for name in ("usearch", "simsimd", "annoy", "duckdb", "numpy")
    )
    print()
    print(f"{platform.machine()}, {os.cpu_count()} cores, {versions}; {args.queries} queries "
          f"of each kind, {DIM}-d, {CLUSTERS} clusters in a {LATENT_DIM}-d latent space, "
          f"top-{K}")  # fmt: skip
    print(HEADER)
    for row in rows:
        print(format_row(row))
    if firsts:
        print()
        print(FIRST_HEADER)
        for row in firsts:
            print(format_first(row))
    print()
    for line in summary(rows):
        print(line)
    print(f"total run time: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
