"""Clustering: planche's k-means and duplicates strategies against the plain ways.

k-means (k = 10), at N = 100k and 1M 512-d unit vectors:
- planche kmeans: the strategy itself, `get_strategy("kmeans").run(...)` (it fits
  scikit-learn's KMeans on a sample of at most 100k, n_init=3, then assigns
  every vector to its nearest centre);
- planche cluster(): the whole `cluster(project, "kmeans", {"k": 10})` call at
  100k only, with the DuckDB read, scores, medoids and storage of the result;
- scikit-learn's default `KMeans(n_clusters=10)` (lloyd, n_init="auto", every
  point), what a user would write by hand, run under a timeout.
Quality: inertia per point (mean squared distance to the mean of the assigned
cluster, computed from the labels alone, so the same way for every engine), the
adjusted Rand index between planche and scikit-learn, and of each against the
truth.

The vectors look like image embeddings rather than uniform noise: 50 centres
of unequal weight and spread in a 24-d latent space, grouped in 10 themes (the
truth that k = 10 should find), mapped linearly into 512-d, plus 512-d noise,
normalised.

Duplicates, at N = 100k (and 1M) of the same distribution with 2,000 planted
groups of 2-5 near-copies per 100k (cosine >= 0.97 to each other), threshold
0.95:
- planche duplicates: the strategy itself (exact pairs through cells and a
  low-dimensional bound, then connected components), and the whole
  `cluster(project, "duplicates")` call at 100k (DuckDB read, byte copies,
  scores, medoids, storage);
- the naive way: float32 matrix products over all pairs by blocks (upper
  triangle), edges at cosine >= 0.95, connected components with scipy;
- the index way other tools take: a usearch HNSW graph (f16, M=16, what
  planche's search index uses), each vector's 10 nearest neighbours, edges at
  cosine >= 0.95 (re-scored in float32), connected components.
The all-pairs and index ways run at 100k only (all-pairs grows as N^2: at 1M
it would take about 100 times as long). The groups are compared as sets of sets
of members, with all-pairs and with the planted groups.

Each engine runs in its own subprocess (this script, re-invoked with
`--engine`), so that its peak RSS is its own; it reads the vectors from .npy
files the parent wrote once: k-means engines memory-map them (the pages they
touch count in their RSS, as an in-memory copy would), duplicates engines load
them whole before the clock starts. k-means engines run up to 3 times in their
process and report the median; the duplicates rows run once.

    python bench/cluster.py [--part all|kmeans|duplicates] [--sizes 100000,1000000]
                            [--dup-sizes 100000,1000000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
from measure import peak_rss_mib, tree_of

DIM = 512
LATENT_DIM = 24
THEMES = 10
CENTRES_PER_THEME = 5
K = 10
SEED = 20261125
THRESHOLD = 0.95
PLANTED_PER_100K = 2_000
PLANTED_SIZES = (2, 5)  # at most 11: a 10-nearest-neighbour graph can hold every member
KMEANS_ENGINES = ("planche-kmeans", "planche-cluster", "sklearn-kmeans")
DUPLICATE_ENGINES = ("allpairs", "knn-hnsw", "dup-strategy", "dup-cluster", "dup-before")
DUP_BASELINE_MAX_N = 100_000  # all-pairs and the index way run up to this size
KNN = 10
CHUNK = 100_000
# k-means timings swing by 2x from run to run here (shared cores, BLAS and
# OpenMP threads competing): each k-means engine runs up to this many times,
# stopping early once a process has spent REPEAT_BUDGET_S, and the median is kept.
REPEATS = 3
REPEAT_BUDGET_S = 150.0


# --- data ---------------------------------------------------------------------------------


def _sampler(seed: int) -> Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]:
    """A function drawing (unit vectors, theme of each) from one fixed distribution."""
    rng = np.random.default_rng(seed)
    centres_count = THEMES * CENTRES_PER_THEME
    themes = rng.standard_normal((THEMES, LATENT_DIM))
    theme_of = np.repeat(np.arange(THEMES), CENTRES_PER_THEME)
    # Centres of a theme overlap their neighbours a little, so k-means has
    # choices to get wrong (merging two themes, splitting one).
    centres = themes[theme_of] + 0.5 * rng.standard_normal((centres_count, LATENT_DIM))
    weights = rng.lognormal(0.0, 0.5, centres_count)
    weights /= weights.sum()
    spread = rng.uniform(0.3, 0.5, centres_count)
    mixing = rng.standard_normal((LATENT_DIM, DIM)) / np.sqrt(DIM)
    # 512-d noise of about 0.4 of a typical vector's norm: two different images
    # then stay below cosine 0.95 even with the same latent point, as distinct
    # photos do in CLIP space, so only the planted copies are duplicates.
    typical_norm = np.sqrt(LATENT_DIM * (1.0 + 0.25 + 0.16))
    noise = 0.4 * typical_norm / np.sqrt(DIM)

    def sample(gen: np.random.Generator, count: int) -> tuple[np.ndarray, np.ndarray]:
        labels = gen.choice(centres_count, size=count, p=weights)
        latent = centres[labels] + gen.standard_normal((count, LATENT_DIM)) * spread[labels, None]
        vectors = latent @ mixing + noise * gen.standard_normal((count, DIM))
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors.astype(np.float32), theme_of[labels]

    return sample


def write_kmeans_data(folder: Path, n: int) -> None:
    """n vectors and their themes; smaller sizes use the first rows (draws are iid)."""
    sample = _sampler(SEED)
    rng = np.random.default_rng([SEED, 1])
    vectors = np.lib.format.open_memmap(
        folder / "kmeans.npy", mode="w+", dtype=np.float32, shape=(n, DIM)
    )
    truth = np.empty(n, dtype=np.int64)
    for start in range(0, n, CHUNK):
        stop = min(start + CHUNK, n)
        vectors[start:stop], truth[start:stop] = sample(rng, stop - start)
    vectors.flush()
    del vectors
    np.save(folder / "kmeans-truth.npy", truth)


def write_duplicate_data(folder: Path, n: int) -> float:
    """n vectors with planted near-duplicate groups; returns the lowest cosine inside one.

    Written as dup-N.npy, with the planted group of each row (-1: none) in
    dup-N-truth.npy: each size has its own draw, so every size has the same
    density of planted groups.
    """
    sample = _sampler(SEED)
    rng = np.random.default_rng([SEED, 2])
    planted = max(1, PLANTED_PER_100K * n // 100_000)
    sizes = rng.integers(PLANTED_SIZES[0], PLANTED_SIZES[1] + 1, planted)
    distinct, _ = sample(rng, n - int(sizes.sum()))
    bases, _ = sample(rng, planted)
    # Copies of one picture: its vector plus a little 512-d noise, per group
    # between about cosine 0.998 and 0.98 to each other.
    scale = rng.uniform(0.002, 0.0065, planted)
    group = np.repeat(np.arange(planted), sizes)
    copies = bases[group] + scale[group, None] * rng.standard_normal((len(group), DIM))
    copies /= np.linalg.norm(copies, axis=1, keepdims=True)
    vectors = np.concatenate([distinct, copies.astype(np.float32)])
    membership = np.concatenate([np.full(len(distinct), -1), group])
    order = rng.permutation(n)
    vectors, membership = vectors[order], membership[order]
    np.save(folder / f"dup-{n}.npy", vectors)
    np.save(folder / f"dup-{n}-truth.npy", membership)
    return min(float((vectors[rows] @ vectors[rows].T).min()) for rows in rows_by_label(membership))


def rows_by_label(labels: np.ndarray) -> list[np.ndarray]:
    """The rows of each label 0, 1, 2, ... (rows labelled -1 belong to none)."""
    order = np.argsort(labels, kind="stable")
    starts = np.searchsorted(labels[order], np.arange(int(labels.max()) + 2))
    return [order[starts[g] : starts[g + 1]] for g in range(len(starts) - 1)]


def make_project(path: Path, vectors: np.ndarray | None) -> None:
    """A project whose images are only vectors (ids 1..n), as tests/test_cluster.py makes."""
    from planche.core.store import open_store

    with open_store(path, create=True) as store:
        # The pixels embedder has no text tower, so cluster() labels nothing
        # and loads no model: the timing is the clustering's.
        model = store.register_model(
            embedder="pixels", name="synthetic", pretrained=None, weights_hash=None,
            dim=DIM, precision="fp32",
        )  # fmt: skip
        if vectors is not None:
            for start in range(0, len(vectors), CHUNK):
                rows = np.ascontiguousarray(vectors[start : start + CHUNK])
                store.write_embeddings(model, list(range(start + 1, start + len(rows) + 1)), rows)


# --- measuring (in the engine's subprocess) -------------------------------------------------


def _model_and_input(data: Path, vectors: np.ndarray):  # noqa: ANN202
    from planche.core.cluster import ClusterInput
    from planche.core.store import open_store

    project = data / "empty.duckdb"
    with open_store(project, read_only=True) as store:
        model = store.models()[0]
    return ClusterInput(
        ids=np.arange(len(vectors), dtype=np.int64), vectors=vectors, model=model,
        project=project,
    )  # fmt: skip


def labels_from_groups(groups: list, n: int, offset: int = 0) -> np.ndarray:
    labels = np.full(n, -1, dtype=np.int64)
    for number, members in enumerate(groups):
        labels[np.asarray(members, dtype=np.int64) - offset] = number
    return labels


def run_planche_kmeans(data: Path, n: int) -> tuple[float, dict]:
    from planche.core.cluster import get_strategy

    vectors = np.load(data / "kmeans.npy", mmap_mode="r")[:n]
    scope = _model_and_input(data, vectors)
    strategy = get_strategy("kmeans")
    params = strategy.validate({"k": K})
    started = time.perf_counter()
    groups = strategy.run(scope, params)
    seconds = time.perf_counter() - started
    np.save(data / f"labels-planche-kmeans-{n}.npy",
            labels_from_groups([g.members for g in groups], n))  # fmt: skip
    return seconds, {"path": f"fit on {min(n, params['sample']):,}, n_init={params['n_init']}"}


def run_planche_cluster(data: Path, n: int) -> tuple[float, dict]:
    from planche.core.clustering import cluster

    started = time.perf_counter()
    summary = cluster(data / f"project-{n}.duckdb", "kmeans", {"k": K})
    seconds = time.perf_counter() - started
    # Image ids are 1..n in the project.
    labels = labels_from_groups([c.members for c in summary.clusters], n, offset=1)
    np.save(data / f"labels-planche-cluster-{n}.npy", labels)
    return seconds, {"path": "DuckDB read + strategy + scores, medoids + store"}


def run_sklearn_kmeans(data: Path, n: int) -> tuple[float, dict]:
    from sklearn.cluster import KMeans

    vectors = np.load(data / "kmeans.npy", mmap_mode="r")[:n]
    started = time.perf_counter()
    model = KMeans(n_clusters=K, random_state=0).fit(vectors)
    seconds = time.perf_counter() - started
    np.save(data / f"labels-sklearn-kmeans-{n}.npy", model.labels_.astype(np.int64))
    return seconds, {"path": f"lloyd, n_init=auto, {model.n_iter_} iterations"}


def _save_groups(data: Path, engine: str, labels: np.ndarray) -> int:
    groups = [rows.tolist() for rows in rows_by_label(labels) if len(rows) >= 2]
    (data / f"groups-{engine}.json").write_text(json.dumps(groups))
    return len(groups)


def _components(n: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def run_dup_strategy(data: Path, n: int, engine: str = "dup-strategy") -> tuple[float, dict]:
    from planche.core.cluster import get_strategy

    vectors = np.ascontiguousarray(np.load(data / f"dup-{n}.npy"))
    scope = _model_and_input(data, vectors)
    strategy = get_strategy("duplicates")
    params = strategy.validate({"threshold": THRESHOLD})
    started = time.perf_counter()
    groups = strategy.run(scope, params)
    seconds = time.perf_counter() - started
    found = [sorted(g.members.tolist()) for g in groups]
    (data / f"groups-{engine}.json").write_text(json.dumps(found))
    return seconds, {"path": "exact pairs: cells + bound, then components"}


def run_dup_cluster(data: Path, n: int) -> tuple[float, dict]:
    from planche.core.clustering import cluster

    started = time.perf_counter()
    summary = cluster(data / f"dup-project-{n}.duckdb", "duplicates", {"threshold": THRESHOLD})
    seconds = time.perf_counter() - started
    found = [sorted((np.asarray(c.members) - 1).tolist()) for c in summary.clusters]
    (data / "groups-dup-cluster.json").write_text(json.dumps(found))
    return seconds, {"path": "DuckDB read + strategy + scores, medoids + store"}


def run_knn_hnsw(data: Path, n: int) -> tuple[float, dict]:
    from usearch.index import Index

    vectors = np.ascontiguousarray(np.load(data / f"dup-{n}.npy"))
    started = time.perf_counter()
    index = Index(ndim=DIM, metric="cos", dtype="f16", connectivity=16,
                  expansion_add=128, expansion_search=64)  # fmt: skip
    keys = np.arange(n, dtype=np.uint64)
    index.add(keys, vectors)
    built = time.perf_counter() - started
    found = index.search(vectors, KNN + 1)  # +1: each vector finds itself
    rows = np.repeat(np.arange(n), KNN + 1)
    cols = found.keys.astype(np.int64).ravel()
    real = (cols >= 0) & (cols < n) & (cols != rows)
    rows, cols = rows[real], cols[real]
    keep = np.concatenate([
        np.einsum("ij,ij->i", vectors[rows[i : i + CHUNK]], vectors[cols[i : i + CHUNK]])
        >= THRESHOLD
        for i in range(0, len(rows), CHUNK)
    ])  # fmt: skip
    labels = _components(n, rows[keep], cols[keep])
    seconds = time.perf_counter() - started
    _save_groups(data, "knn-hnsw", labels)
    return seconds, {"path": f"usearch f16 M=16, build {built:.1f} s + {KNN}-NN of each"}


def run_allpairs(data: Path, n: int, block: int = 2048) -> tuple[float, dict]:
    vectors = np.ascontiguousarray(np.load(data / f"dup-{n}.npy"))
    started = time.perf_counter()
    rows, cols = [], []
    for start in range(0, n, block):
        # Each pair once: this block against itself and every later row.
        scores = vectors[start : start + block] @ vectors[start:].T
        i, j = np.nonzero(scores >= THRESHOLD)
        keep = j > i
        rows.append(i[keep] + start)
        cols.append(j[keep] + start)
    row, col = np.concatenate(rows), np.concatenate(cols)
    labels = _components(n, row, col)
    seconds = time.perf_counter() - started
    _save_groups(data, "allpairs", labels)
    return seconds, {"path": f"blocks of {block} rows, upper triangle, {len(row):,} edges"}


def child_main(args: argparse.Namespace) -> None:
    data, n = Path(args.data), args.n
    runners: dict[str, Callable[[], tuple[float, dict]]] = {
        "planche-kmeans": lambda: run_planche_kmeans(data, n),
        "planche-cluster": lambda: run_planche_cluster(data, n),
        "sklearn-kmeans": lambda: run_sklearn_kmeans(data, n),
        "dup-strategy": lambda: run_dup_strategy(data, n),
        "dup-before": lambda: run_dup_strategy(
            data, n, "dup-before"
        ),  # an earlier core first on the path
        "dup-cluster": lambda: run_dup_cluster(data, n),
        "knn-hnsw": lambda: run_knn_hnsw(data, n),
        "allpairs": lambda: run_allpairs(data, n),
    }
    repeats = REPEATS if args.engine in KMEANS_ENGINES else 1
    started = time.perf_counter()
    for _ in range(repeats):
        seconds, extra = runners[args.engine]()
        row = {"engine": args.engine, "n": n, "seconds": seconds, "peak_rss_mib": peak_rss_mib()}
        # One line per run: a parent that stops us at its timeout keeps the runs done.
        print(json.dumps(row | extra), flush=True)
        if time.perf_counter() - started > REPEAT_BUDGET_S:
            break


# --- parent: data, subprocesses, tables -----------------------------------------------------


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run_engine(
    engine: str, n: int, data: Path, quick: bool, timeout: float | None, path: Path | None = None
) -> dict:
    """The engine's row (median time of its runs), or one saying it ran past `timeout`.

    `path`: a folder put first on the child's PYTHONPATH (planche as of --before).
    """
    command = [sys.executable, __file__, "--engine", engine, "--n", str(n), "--data", str(data)]
    if quick:
        command.append("--quick")
    env = None
    if path is not None:
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(path), os.environ.get("PYTHONPATH")]))
        }
    started = time.perf_counter()
    try:
        result = subprocess.run(
            command, stdout=subprocess.PIPE, text=True, check=False, timeout=timeout, env=env
        )
        output, failed = result.stdout, result.returncode
    except subprocess.TimeoutExpired as stopped:
        log(f"{engine} at N={n}: stopped after {timeout:.0f} s")
        output, failed = (stopped.stdout or b"").decode(), 0
    rows = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    if not rows:
        if failed:
            raise SystemExit(f"{engine} at N={n} failed with exit code {failed}")
        return {"engine": engine, "n": n, "timed_out": timeout}
    times = [row["seconds"] for row in rows]
    log(f"{engine} at N={n}: {', '.join(f'{t:.1f}' for t in times)} s timed, "
        f"{time.perf_counter() - started:.0f} s with start-up")  # fmt: skip
    return rows[-1] | {
        "seconds": float(np.median(times)),
        "runs": times,
        "peak_rss_mib": max(row["peak_rss_mib"] for row in rows),
    }


def format_time(row: dict) -> str:
    times = row["runs"]
    if len(times) == 1:
        return f"{times[0]:.1f}"
    return f"{row['seconds']:.1f} ({min(times):.1f}-{max(times):.1f}, {len(times)} runs)"


def inertia_per_point(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Mean squared distance to the mean of each point's cluster, from labels alone.

    sum ||x - m_c||^2 = sum ||x||^2 - sum_c n_c ||m_c||^2, accumulated by chunks
    in float64 so that 1M rows need neither a copy nor float32 cancellation.
    """
    count = int(labels.max()) + 1
    sums = np.zeros((count, vectors.shape[1]))
    squares = 0.0
    for start in range(0, len(vectors), CHUNK):
        rows = np.asarray(vectors[start : start + CHUNK], dtype=np.float64)
        part = labels[start : start + CHUNK]
        squares += float((rows**2).sum())
        sums += np.eye(count)[part].T @ rows
    sizes = np.bincount(labels, minlength=count)
    between = float(((sums**2).sum(axis=1) / np.maximum(sizes, 1)).sum())
    return (squares - between) / len(vectors)


ENGINE_NAMES = {
    "planche-kmeans": "planche kmeans strategy",
    "planche-cluster": "planche `cluster()` (DuckDB in and out)",
    "sklearn-kmeans": "scikit-learn `KMeans(n_clusters=10)`",
    "allpairs": "naive all-pairs + connected components",
    "knn-hnsw": "index way: HNSW 10-NN graph + components",
    "dup-strategy": "planche duplicates strategy",
    "dup-before": "planche duplicates strategy, before (--before)",
    "dup-cluster": "planche `cluster()` (DuckDB in and out)",
}
KMEANS_HEADER = (
    "| engine | N | how | time (s) | peak RSS (MiB) | inertia / point | ARI vs scikit-learn | "
    "ARI vs truth |\n|---|---:|---|---:|---:|---:|---:|---:|"
)
DUP_HEADER = (
    "| way | N | path | time (s) | vs all-pairs | peak RSS (MiB) | groups | "
    "same groups as all-pairs | planted groups found exactly |\n"
    "|---|---:|---|---:|---:|---:|---:|---|---:|"
)


def kmeans_rows(data: Path, sizes: list[int], quick: bool, timeout: float) -> list[str]:
    from sklearn.metrics import adjusted_rand_score

    vectors = np.load(data / "kmeans.npy", mmap_mode="r")
    truth = np.load(data / "kmeans-truth.npy")
    lines = []
    for n in sizes:
        engines = [e for e in KMEANS_ENGINES if e != "planche-cluster" or n == min(sizes)]
        if "planche-cluster" in engines:
            started = time.perf_counter()
            make_project(data / f"project-{n}.duckdb", vectors[:n])
            log(f"project of {n:,} vectors written in {time.perf_counter() - started:.0f} s")
        results = {e: run_engine(e, n, data, quick, timeout if "sklearn" in e else None)
                   for e in engines}  # fmt: skip
        labels = {
            e: np.load(data / f"labels-{e}-{n}.npy")
            for e, row in results.items()
            if "timed_out" not in row
        }
        reference = labels.get("sklearn-kmeans")
        for engine, row in results.items():
            name = ENGINE_NAMES[engine]
            if "timed_out" in row:
                lines.append(f"| {name} | {n:,} | default settings | > {row['timed_out']:.0f} | "
                             "not measured | not measured | - | not measured |")  # fmt: skip
                continue
            mine = labels[engine]
            versus = (
                f"{adjusted_rand_score(reference, mine):.3f}"
                if reference is not None and engine != "sklearn-kmeans"
                else "-"
            )
            lines.append(
                f"| {name} | {n:,} | {row['path']} | {format_time(row)} | "
                f"{row['peak_rss_mib']:,.0f} | {inertia_per_point(vectors[:n], mine):.5f} | "
                f"{versus} | {adjusted_rand_score(truth[:n], mine):.3f} |"
            )
            print(lines[-1], flush=True)
    return lines


def as_groups(path: Path) -> set[frozenset[int]]:
    return {frozenset(g) for g in json.loads(path.read_text())}


def duplicate_rows(
    data: Path, sizes: list[int], quick: bool, before: Path | None = None
) -> tuple[list[str], dict]:
    lines: list[str] = []
    facts: dict = {}
    for n in sizes:
        started = time.perf_counter()
        lowest = write_duplicate_data(data, n)
        log(f"{n:,} duplicate vectors written in {time.perf_counter() - started:.0f} s; "
            f"lowest cosine in a planted group {lowest:.4f}")  # fmt: skip
        vectors = np.load(data / f"dup-{n}.npy", mmap_mode="r")
        planted = _planted_groups(np.load(data / f"dup-{n}-truth.npy"))
        engines = [e for e in DUPLICATE_ENGINES
                   if (n <= DUP_BASELINE_MAX_N or e in ("dup-strategy", "dup-before"))
                   and (before is not None or e != "dup-before")]  # fmt: skip
        if "dup-cluster" in engines:
            started = time.perf_counter()
            make_project(data / f"dup-project-{n}.duckdb", vectors[:n])
            log(f"project of {n:,} vectors written in {time.perf_counter() - started:.0f} s")
        results = {e: run_engine(e, n, data, quick, None, before if e == "dup-before" else None)
                   for e in engines}  # fmt: skip
        found = {e: as_groups(data / f"groups-{e}.json") for e in engines}
        reference = found.get("allpairs")
        baseline = results["allpairs"]["seconds"] if reference is not None else None
        facts[n] = {"planted": len(planted), "lowest": lowest,
                    "allpairs_is_planted": "not run" if reference is None
                    else reference == planted}  # fmt: skip
        for engine, row in results.items():
            if reference is None and engine == "dup-before":
                differ = len(found[engine] ^ found["dup-strategy"])
                same = "same as now" if differ == 0 else f"{differ} groups differ from now"
                ratio = f"now {row['seconds'] / results['dup-strategy']['seconds']:.1f}x faster"
            elif reference is None:
                same, ratio = "all-pairs not run", "-"
            elif engine == "allpairs":
                same, ratio = "-", "1.0x"
            else:
                differ = len(found[engine] ^ reference)
                same = "SAME" if differ == 0 else f"differ: {differ} groups not in both"
                ratio = f"{baseline / row['seconds']:.1f}x"
                facts[n][engine] = {"ratio": baseline / row["seconds"], "differ": differ}
            lines.append(
                f"| {ENGINE_NAMES[engine]} | {n:,} | {row['path']} | {row['seconds']:.1f} | "
                f"{ratio} | {row['peak_rss_mib']:,.0f} | {len(found[engine]):,} | {same} | "
                f"{len(found[engine] & planted):,} / {len(planted):,} |"
            )
            print(lines[-1], flush=True)
        del vectors
        (data / f"dup-{n}.npy").unlink()
    return lines, facts


def _planted_groups(membership: np.ndarray) -> set[frozenset[int]]:
    return {frozenset(rows.tolist()) for rows in rows_by_label(membership)}


def verdicts(kmeans: list[str], facts: dict, sizes: list[int]) -> list[str]:
    out = []
    if kmeans:
        big = max(sizes)
        mine = next(line for line in kmeans if "kmeans strategy" in line and f"| {big:,} |" in line)
        seconds = float(mine.split("|")[4].split()[0])
        out.append(f"planche k-means at N={big:,} <= 20 s: "
                   f"{'met' if seconds <= 20 else 'NOT MET'} ({seconds:.1f} s)")  # fmt: skip
    for n, measured in facts.items():
        for engine in ("dup-strategy", "dup-cluster"):
            if engine not in measured:
                continue
            ratio, differ = measured[engine]["ratio"], measured[engine]["differ"]
            verdict = "met" if ratio >= 10 and not differ else "NOT MET"
            out.append(
                f"duplicates at N={n:,} ({ENGINE_NAMES[engine]}) >= 10x faster than all-pairs, "
                f"same groups: {verdict} ({ratio:.1f}x, {differ} groups differ)"
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("all", "kmeans", "duplicates"), default="all")
    parser.add_argument("--sizes", default="100000,1000000", help="k-means sizes")
    parser.add_argument("--dup-sizes", default="100000,1000000", help="duplicates sizes")
    parser.add_argument("--quick", action="store_true", help="20k vectors only: a smoke test")
    parser.add_argument(
        "--sklearn-timeout", type=float, default=360.0, help="seconds before giving up"
    )
    # Internal: one engine in its own process, so that its peak RSS is its own.
    parser.add_argument("--engine", choices=KMEANS_ENGINES + DUPLICATE_ENGINES,
                        help=argparse.SUPPRESS)  # fmt: skip
    parser.add_argument("--before", metavar="REV",
                        help="also run the duplicates strategy of git REV")  # fmt: skip
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child_main(args)
        return

    sizes = [20_000] if args.quick else sorted(int(s) for s in args.sizes.split(","))
    dup_sizes = [20_000] if args.quick else sorted(int(s) for s in args.dup_sizes.split(","))
    run_started = time.perf_counter()
    kmeans: list[str] = []
    dup: list[str] = []
    facts: dict = {}
    with tempfile.TemporaryDirectory(prefix="planche-bench-cluster-") as tmp:
        data = Path(tmp)
        make_project(data / "empty.duckdb", None)
        if args.part in ("all", "kmeans"):
            started = time.perf_counter()
            write_kmeans_data(data, max(sizes))
            log(f"{max(sizes):,} k-means vectors written in {time.perf_counter() - started:.0f} s")
            print(KMEANS_HEADER, flush=True)
            kmeans = kmeans_rows(data, sizes, args.quick, args.sklearn_timeout)
            (data / "kmeans.npy").unlink()
        if args.part in ("all", "duplicates"):
            print(DUP_HEADER, flush=True)
            before = tree_of(args.before, data / "before") if args.before else None
            dup, facts = duplicate_rows(data, dup_sizes, args.quick, before)

    versions = ", ".join(
        f"{name} {version(name)}" for name in ("scikit-learn", "scipy", "usearch", "numpy")
    )
    print()
    print(f"{platform.machine()}, {os.cpu_count()} cores, {versions}")
    if kmeans:
        print(f"k-means: k={K}, {DIM}-d, {THEMES * CENTRES_PER_THEME} centres in {THEMES} "
              f"themes (the truth) in a {LATENT_DIM}-d latent space")  # fmt: skip
        print(KMEANS_HEADER)
        print("\n".join(kmeans))
        print()
    if dup:
        print(f"duplicates: threshold {THRESHOLD}, groups of {PLANTED_SIZES[0]}-"
              f"{PLANTED_SIZES[1]} near-copies planted; "
              + "; ".join(f"N={n:,}: {f['planted']:,} planted (lowest cosine inside one "
                          f"{f['lowest']:.4f}), all-pairs groups == planted: "
                          f"{f['allpairs_is_planted']}" for n, f in facts.items()))  # fmt: skip
        print(DUP_HEADER)
        print("\n".join(dup))
        print()
    for line in verdicts(kmeans, facts, sizes):
        print(line)
    print(f"total run time: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
