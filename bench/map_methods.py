"""The map's projection: UMAP, openTSNE and PaCMAP against PCA at 100k (issue 19).

Which neighbour-preserving 2-D projection planche offers beside PCA. For
N = 100k 512-d unit vectors (bench/cluster.py's distribution: 50 centres of
unequal weight and spread in 10 themes, in a 24-d latent space mapped into
512-d, plus 512-d noise, normalised), each method is run
- on all N at once;
- on a random sample (10k and 20k), the other points then placed
  - by the method's own `transform` (UMAP, openTSNE, PaCMAP all have one), or
  - by a method-agnostic kNN extension: each other point at the
    similarity-weighted mean of the 2-D positions of its 10 nearest sampled
    points in the full space (cosine, exact: float32 matrix products in chunks);
and PCA (scikit-learn, 2 components) on all N, as the reference the map has now.

Settings (each library's defaults otherwise; the vectors are unit vectors, so
euclidean neighbours are cosine neighbours, and every method is asked for
euclidean, its fastest path):
- UMAP: `umap.UMAP(n_neighbors=15, min_dist=0.1, metric="euclidean",
  random_state=SEED)`; a seed makes UMAP run on one thread, so all-N is also run
  without one (`n_jobs=-1`), to show what the seed costs;
- openTSNE: `openTSNE.TSNE(perplexity=30, metric="euclidean",
  negative_gradient_method="fft", n_jobs=cores, random_state=SEED)`, its
  neighbours from its bundled Annoy; `embedding.transform(rest)` with its
  defaults (perplexity 5, median initialisation, 250 iterations);
- PaCMAP: `pacmap.PaCMAP(n_neighbors=10, random_state=SEED)` (it reduces to
  100-d with a TruncatedSVD first and finds neighbours with faiss HNSW, one
  thread when seeded); `transform(rest, basis=sample)`;
- PCA: `sklearn.decomposition.PCA(n_components=2, random_state=SEED)`;
- and planche's own `planche.core.maps.project_map(vectors, ids, method=...,
  seed=SEED)` for each of its methods, with their default samples, as they are
  (`neighbours`: PaCMAP on up to 100,000, the rest by the kNN extension). Their
  libraries are imported inside the timed call and nothing is warmed up, as
  the `map` command pays it.

The figure, "neighbours kept": for 2,000 random points, the mean fraction of
each one's 10 nearest neighbours in the 512-d space (cosine, itself excluded)
that are among its 10 nearest on the plane (euclidean, among all N mapped
points, itself excluded). 1.0 would be a perfect map; a random one keeps
about 10/N.

Each configuration runs in its own subprocess (this script, re-invoked with
`--config`): it imports its library (timed: "import"), loads the vectors; for
the numba methods (UMAP, PaCMAP) and PCA it then runs the same configuration on
5,000 other vectors (and extends 1,000 more) so that numba's just-in-time
compilation is paid before the clock starts ("warm-up": what the first map of
a session pays on top of the time; for all-N it runs twice, the second time
showing how much of the first was compilation); openTSNE (Cython) needs none. Then
it resets its resident peak (/proc/self/clear_refs) and runs once; "peak" is its
resident peak during that run (the 200 MB of vectors, the libraries and the
result included). The log line of each configuration also gives the CPU time of
that run (all its threads) and the load average as it ended: on a busy machine
the CPU time of a one-thread run says what it would take on a quiet one. A
configuration is stopped after TIMEOUT_S of its timed run (SIGALRM). The sample
fits run twice (once per extension, in different processes, from the same
seed): "same sample positions" says whether the two gave identical
coordinates, i.e. whether the method is deterministic with a seed across
processes.

`--vectors scenes` uses bench/density.py's vectors instead (4,000 scenes of
about 25 near-copies each, like a photo collection's bursts), where a point's
10 nearest neighbours are mostly its own scene rather than noise.

    python bench/map_methods.py [--configs pca,umap-all,...] [--vectors blobs|scenes]
                                [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import numpy as np
from cluster import DIM, SEED, log, write_kmeans_data
from measure import peak_rss_mib

N = 100_000
SAMPLES = (10_000, 20_000)
K = 10  # neighbours: of the figure, and of the kNN extension
QUERIES = 2_000
CHUNK = 1_024  # rest rows per matrix product in the kNN extension (at most ~250 MB at 20k)
WARMUP_FIT = 5_000  # above UMAP's 4,096, where it switches to NN-descent
WARMUP_EXTEND = 1_000
TIMEOUT_S = 300
METHODS = ("umap", "opentsne", "pacmap")
# Warmed up before the clock: numba compiles in each new process; PCA's first call loads
# parts of scipy. openTSNE (Cython) needs none, and a warm-up of it would cost a minute.
WARMUP_METHODS = ("pca", "umap", "pacmap")
EXTENSIONS = ("own", "knn")


def configs(samples: tuple[int, ...]) -> list[str]:
    """pca, then per method: all-N, and each sample size with each extension."""
    out = ["pca"]
    for method in METHODS:
        out.append(f"{method}-all")
        if method == "umap":
            out.append("umap-all-unseeded")
        out += [f"{method}-{size}-{ext}" for size in samples for ext in EXTENSIONS]
    return out + ["planche-pca", "planche-neighbours"]


def parse_config(config: str) -> tuple[str, int | None, str | None, bool]:
    """(method, sample size or None for all, extension or None, seeded)."""
    parts = config.split("-")
    if parts[0] == "planche":  # planche's own project_map, with its defaults
        return config, None, None, True
    if parts[0] == "pca" or parts[1] == "all":
        return parts[0], None, None, parts[-1] != "unseeded"
    return parts[0], int(parts[1]), parts[2], True


def sample_rows(n: int, size: int) -> np.ndarray:
    """The fitted sample: the same rows for every method and extension."""
    return np.sort(np.random.default_rng([SEED, 19]).choice(n, size, replace=False))


def query_rows(n: int) -> np.ndarray:
    return np.sort(np.random.default_rng([SEED, 20]).choice(n, QUERIES, replace=False))


# --- the methods (in the configuration's subprocess) --------------------------------------


def import_method(method: str) -> None:
    if method == "pca":
        import sklearn.decomposition  # noqa: F401
    elif method == "umap":
        import umap  # noqa: F401
    elif method == "opentsne":
        import openTSNE  # noqa: F401
    elif method == "pacmap":
        import pacmap  # noqa: F401
    elif method.startswith("planche"):
        import planche.core.maps  # noqa: F401 (its layouts import their libraries when called)


def make_fit(
    method: str, seeded: bool
) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """(fit: vectors -> positions, extend: (fitted vectors, rest) -> positions of rest).

    `extend` is the method's own transform of the model `fit` fitted last.
    """
    state: dict = {}

    if method == "pca":
        from sklearn.decomposition import PCA

        def fit(x: np.ndarray) -> np.ndarray:
            state["model"] = PCA(n_components=2, random_state=SEED)
            return state["model"].fit_transform(x)

        return fit, lambda _basis, rest: state["model"].transform(rest)

    if method == "umap":
        import umap

        def fit(x: np.ndarray) -> np.ndarray:
            seed = {"random_state": SEED} if seeded else {"n_jobs": -1}
            state["model"] = umap.UMAP(
                n_components=2, n_neighbors=15, min_dist=0.1, metric="euclidean", **seed
            )
            return state["model"].fit_transform(x)

        return fit, lambda _basis, rest: state["model"].transform(rest)

    if method == "opentsne":
        import openTSNE

        def fit(x: np.ndarray) -> np.ndarray:
            state["model"] = openTSNE.TSNE(
                n_components=2, perplexity=30, metric="euclidean",
                negative_gradient_method="fft", n_jobs=os.cpu_count() or 1, random_state=SEED,
            ).fit(x)  # fmt: skip
            return np.asarray(state["model"])

        return fit, lambda _basis, rest: np.asarray(state["model"].transform(rest))

    if method == "pacmap":
        import pacmap

        def fit(x: np.ndarray) -> np.ndarray:
            state["model"] = pacmap.PaCMAP(n_components=2, n_neighbors=10, random_state=SEED)
            return state["model"].fit_transform(x, init="pca")

        return fit, lambda basis, rest: state["model"].transform(rest, basis=basis)

    if method.startswith("planche-"):
        from planche.core.maps import project_map

        def fit(x: np.ndarray) -> np.ndarray:
            how = method.removeprefix("planche-")
            return project_map(x, np.arange(len(x)), method=how, seed=SEED)[0]

        return fit, lambda _basis, _rest: np.empty((0, 2))

    raise ValueError(method)


def knn_extend(sample: np.ndarray, positions: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Each rest row at the similarity-weighted mean of its K nearest sampled rows' positions."""
    out = np.empty((len(rest), positions.shape[1]), dtype=np.float64)
    positions = np.asarray(positions, dtype=np.float64)
    for start in range(0, len(rest), CHUNK):
        scores = rest[start : start + CHUNK] @ sample.T
        nearest = np.argpartition(scores, -K, axis=1)[:, -K:]
        weights = np.maximum(np.take_along_axis(scores, nearest, axis=1), 1e-6).astype(np.float64)
        out[start : start + CHUNK] = np.einsum("ij,ijd->id", weights, positions[nearest])
        out[start : start + CHUNK] /= weights.sum(axis=1, keepdims=True)
    return out


def run_config(
    vectors: np.ndarray, method: str, size: int | None, extension: str | None, seeded: bool
) -> tuple[np.ndarray, float, float]:
    """(positions of every row, fit seconds, extension seconds)."""
    fit, own = make_fit(method, seeded)
    started = time.perf_counter()
    if size is None:
        return fit(vectors), time.perf_counter() - started, 0.0
    rows = sample_rows(len(vectors), size)
    others = np.setdiff1d(np.arange(len(vectors)), rows)
    sample, rest = vectors[rows], vectors[others]
    positions = np.empty((len(vectors), 2), dtype=np.float64)
    positions[rows] = fit(sample)
    fitted = time.perf_counter()
    if extension == "own":
        positions[others] = own(sample, rest)
    else:
        positions[others] = knn_extend(sample, positions[rows], rest)
    return positions, fitted - started, time.perf_counter() - fitted


def child_main(args: argparse.Namespace) -> None:
    method, size, extension, seeded = parse_config(args.config)
    data = Path(args.data)
    started = time.perf_counter()
    import_method(method)
    imported = time.perf_counter() - started
    vectors = np.ascontiguousarray(np.load(data / "vectors.npy"))
    # Warm-up of the numba methods on other vectors (drawn after the N of the run): the
    # same path, smaller. For all-N configurations it runs twice: the second time shows
    # how much of the first was compilation.
    warm = np.load(data / "warmup.npy")
    timings: list[float] = []
    for _ in range(2 if size is None else 1):
        if method not in WARMUP_METHODS:
            break
        started = time.perf_counter()
        if size is None:
            run_config(warm[:WARMUP_FIT], method, None, None, seeded)
        else:
            run_config(warm, method, WARMUP_FIT, extension, seeded)
        timings.append(time.perf_counter() - started)
    print(json.dumps({"import_s": imported, "warmup_s": timings}), flush=True)
    with open("/proc/self/clear_refs", "w") as f:  # the resident peak starts again from here
        f.write("5")
    # The timed run may take TIMEOUT_S: then SIGALRM (default action) ends the process.
    signal.alarm(args.timeout)
    cpu = time.process_time()
    positions, fit_s, extend_s = run_config(vectors, method, size, extension, seeded)
    cpu_s = time.process_time() - cpu
    signal.alarm(0)
    np.save(data / f"positions-{args.config}.npy", positions)
    print(json.dumps({"fit_s": fit_s, "extend_s": extend_s, "cpu_s": cpu_s,
                      "peak_rss_mib": peak_rss_mib()}), flush=True)  # fmt: skip


# --- parent: data, subprocesses, the figure, the table ------------------------------------


def true_neighbours(vectors: np.ndarray, queries: np.ndarray) -> np.ndarray:
    """The K nearest rows of each query in the full space (cosine, itself excluded)."""
    out = np.empty((len(queries), K), dtype=np.int64)
    for start in range(0, len(queries), 500):
        part = queries[start : start + 500]
        scores = vectors[part] @ vectors.T
        scores[np.arange(len(part)), part] = -np.inf
        out[start : start + 500] = np.argpartition(-scores, K - 1, axis=1)[:, :K]
    return out


def neighbours_kept(positions: np.ndarray, queries: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of each query's K true neighbours among its K nearest on the plane."""
    from scipy.spatial import cKDTree

    tree = cKDTree(positions)
    _, found = tree.query(positions[queries], k=K + 1)
    kept = 0
    for query, row, true in zip(queries, found, truth, strict=True):
        plane = row[row != query][:K]
        kept += len(np.intersect1d(plane, true))
    return kept / (K * len(queries))


def run_child(config: str, data: Path, timeout: int) -> dict:
    command = [sys.executable, __file__, "--config", config, "--data", str(data),
               "--timeout", str(timeout)]  # fmt: skip
    started = time.perf_counter()
    # The child stops its own timed run; this outer limit only covers a hang elsewhere.
    result = subprocess.run(
        command, stdout=subprocess.PIPE, text=True, check=False, timeout=timeout + 600
    )
    row: dict = {"config": config}
    for line in result.stdout.splitlines():
        if line.startswith("{"):
            row |= json.loads(line)
    if result.returncode == -signal.SIGALRM:
        row["stopped"] = True
        log(f"{config}: stopped after {timeout} s of its run")
    elif result.returncode:
        raise SystemExit(f"{config} failed with exit code {result.returncode}")
    else:
        log(f"{config}: {row['fit_s'] + row['extend_s']:.1f} s timed ({row['cpu_s']:.1f} s of "
            f"CPU, all threads), {time.perf_counter() - started:.0f} s with import and "
            f"warm-up; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    return row


NAMES = {"pca": "PCA (scikit-learn)", "umap": "UMAP (umap-learn)",
         "opentsne": "openTSNE", "pacmap": "PaCMAP",
         "planche-pca": "planche `project_map(method=\"pca\")`",
         "planche-neighbours": "planche `project_map(method=\"neighbours\")`"}  # fmt: skip
HEADER = (
    "| method | fitted on | rest placed by | time (s) | fit + extend (s) | import (s) | "
    "warm-up (s) | peak RSS (MiB) | neighbours kept (10-NN) | same sample positions |\n"
    "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
)


def table_row(row: dict, n: int, kept: float | None, same: str) -> str:
    method, size, extension, seeded = parse_config(row["config"])
    fitted = f"all {n:,}" if size is None else f"{size:,}"
    if method != "pca" and size is None:
        fitted += "" if seeded else " (no seed, all cores)"
    placed = {None: "-", "own": "own transform", "knn": "10-NN extension"}[extension]
    if method.startswith("planche-"):
        fitted, placed = "its default sample", "its own way"
    head = (f"| {NAMES[method]} | {fitted} | {placed} |")  # fmt: skip
    warm = row["warmup_s"]
    warmup = "-" if not warm else f"{warm[0]:.1f}" + (f" ({warm[1]:.1f} again)" if warm[1:] else "")
    tail = f"{row['import_s']:.1f} | {warmup} |"
    if row.get("stopped"):
        return f"{head} > {row['timeout']} (stopped) | - | {tail} - | - | {same} |"
    total = row["fit_s"] + row["extend_s"]
    split = "-" if extension is None else f"{row['fit_s']:.1f} + {row['extend_s']:.1f}"
    return (
        f"{head} {total:.1f} | {split} | {tail} {row['peak_rss_mib']:,.0f} | {kept:.3f} | {same} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", help="comma-separated, e.g. pca,umap-all,umap-10000-knn")
    parser.add_argument(
        "--quick", action="store_true", help="N=20k, samples 5k and 10k: a smoke test"
    )
    parser.add_argument(
        "--vectors",
        choices=("blobs", "scenes"),
        default="blobs",
        help="blobs: bench/cluster.py's distribution; scenes: bench/density.py's (photo bursts)",
    )
    parser.add_argument("--timeout", type=int, default=TIMEOUT_S, help="seconds of a timed run")
    # Internal: one configuration in its own process.
    parser.add_argument("--config", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.config:
        child_main(args)
        return

    n = 20_000 if args.quick else N
    samples = (5_000, 10_000) if args.quick else SAMPLES
    chosen = args.configs.split(",") if args.configs else configs(samples)
    run_started = time.perf_counter()
    lines: list[str] = []
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="planche-bench-map-") as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        if args.vectors == "blobs":
            write_kmeans_data(data, n + WARMUP_FIT + WARMUP_EXTEND)  # draws are iid
        else:
            from density import write_data

            write_data(data / "kmeans.npy", n + WARMUP_FIT + WARMUP_EXTEND)
        everything = np.load(data / "kmeans.npy")
        vectors = np.ascontiguousarray(everything[:n])
        np.save(data / "vectors.npy", vectors)
        np.save(data / "warmup.npy", everything[n:])
        del everything
        (data / "kmeans.npy").unlink()
        queries = query_rows(n)
        truth = true_neighbours(vectors, queries)
        log(f"{n:,} vectors written, true neighbours of {QUERIES:,} found in "
            f"{time.perf_counter() - started:.0f} s")  # fmt: skip
        print(HEADER, flush=True)
        for config in chosen:
            row = results[config] = run_child(config, data, args.timeout) | {
                "timeout": args.timeout
            }
            path = data / f"positions-{config}.npy"
            kept = None
            if path.exists():
                positions = np.load(path)
                kept = neighbours_kept(positions, queries, truth)
                row["positions"] = path
            same = "-"
            method, size, extension, _ = parse_config(config)
            if size is not None:
                other = f"{method}-{size}-{'knn' if extension == 'own' else 'own'}"
                if "positions" in results.get(other, {}) and path.exists():
                    rows = sample_rows(n, size)
                    a = np.load(results[other]["positions"])[rows]
                    b = positions[rows]
                    same = "yes" if np.array_equal(a, b) else (
                        f"no (up to {np.abs(a - b).max():.2g} apart)")  # fmt: skip
                    lines[chosen.index(other)] = (
                        lines[chosen.index(other)].rsplit("|", 2)[0] + f"| {same} |"
                    )
            lines.append(table_row(row, n, kept, same))
            print(lines[-1], flush=True)

    versions = ", ".join(
        f"{name} {version(name)}"
        for name in (
            "umap-learn",
            "pynndescent",
            "numba",
            "openTSNE",
            "pacmap",
            "faiss-cpu",
            "scikit-learn",
            "numpy",
        )
    )
    print()
    print(f"{platform.machine()}, {os.cpu_count()} cores, {versions}")
    origin = {"blobs": "bench/cluster.py's", "scenes": "bench/density.py's scenes of"}
    print(f"N={n:,} {DIM}-d unit vectors ({origin[args.vectors]} distribution); figure on "
          f"{QUERIES:,} points, {K} neighbours")  # fmt: skip
    print(HEADER)
    print("\n".join(lines))
    print()
    for config, row in results.items():
        method, size, _, seeded = parse_config(config)
        if row.get("stopped"):
            continue
        total = row["fit_s"] + row["extend_s"]
        if method in ("pca", "planche-pca"):
            verdict = "met" if total <= 2 else "NOT MET"
            print(f"{config}: PCA of {n:,} <= 2 s: {verdict} ({total:.1f} s)")
        elif seeded:
            print(f"{config} on {n:,} <= 60 s: {'met' if total <= 60 else 'NOT MET'} "
                  f"({total:.1f} s)")  # fmt: skip
    print(f"total run time: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
