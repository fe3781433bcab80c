"""Density clustering at 100k: planche's density strategy against its code before issue 15.

At N = 100k 512-d unit vectors, the strategy (`get_strategy("density").run(...)`)
with its default parameters, dims=48, dims=256 (its maximum),
min_cluster_size=2, min_cluster_size=20,000 (the most a 20,000 sample allows)
and sample=100,000 (its maximum: every image is fitted), against the same
strategy as it was before (`old_density` below):
- the fit was scikit-learn's `HDBSCAN` class, which lists the min_samples
  nearest neighbours of every fitted image at once (32 bytes each);
- the other images were compared with every centre by broadcasting
  (20,000 rows x clusters x dims float32, twice).
Now the core distances come a block at a time from the same kd-tree and the
nearest centre from a float64 matrix product a block at a time, for the same
labels.

The vectors look like a photo collection's CLIP embeddings: bench/cluster.py's
distribution (50 centres of unequal weight in 10 themes, in a 24-d latent space
mapped into 512-d, plus noise) gives 4,000 scenes, and each image is a scene
plus a little 512-d noise (cosine about 0.95 to it), scenes of unequal size
(about 25 images on average). HDBSCAN finds some 1,750 small clusters in the
default 20,000 sample, as a real collection's bursts of similar photos give.

Each (case, code) runs in its own subprocess (this script, re-invoked with
`--engine`), which loads the vectors, imports scikit-learn, and then notes its
resident memory; "peak" is its peak resident memory (VmHWM) above that. The old
code runs with its address space limited to OLD_LIMIT_GIB above that start, so
that its many-GiB temporaries fail with a MemoryError rather than press a
shared machine; the row then gives what it held plus what it asked for, a lower
bound of what it needed, and the old code runs again with its assignment cut
into blocks of CUT_BYTES (marked *) for its time and labels. The groups of old
and new are compared as sets of members. One run of each: timings on 2 shared
cores move by 10-20% from run to run.

    python bench/density.py [--cases default,dims=48,...] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from cluster import DIM, SEED, _sampler, log
from measure import peak_rss_mib

N = 100_000
SCENES = 4_000
SCENE_NOISE = 0.3  # norm of the 512-d noise around a scene's (unit) vector
CASES: dict[str, dict[str, Any]] = {
    "default": {},
    "dims=48": {"dims": 48},
    "dims=256": {"dims": 256},
    "min_cluster_size=2": {"min_cluster_size": 2},
    "min_cluster_size=20000": {"min_cluster_size": 20_000},
    "sample=100000": {"sample": 100_000},
}
ENGINES = ("old", "new")
OLD_LIMIT_GIB = 6
# Where the old code runs out of memory in its assignment, it runs again with
# blocks of rows cut to about this many bytes: each row's arithmetic is the
# same, so are its labels, which the new code's are compared with.
CUT_BYTES = 256 * 2**20
GOAL_MIB = 1.5e9 / 2**20  # 1.5 GB above the start, whatever the parameters


# --- data ---------------------------------------------------------------------------------


def write_data(path: Path, n: int) -> None:
    """n vectors in SCENES scenes of unequal size, drawn from bench/cluster.py's distribution."""
    sample = _sampler(SEED)
    rng = np.random.default_rng([SEED, 4])
    scenes = max(1, SCENES * n // N)
    bases, _ = sample(rng, scenes)
    weights = rng.lognormal(0.0, 0.7, scenes)
    scene = rng.choice(scenes, n, p=weights / weights.sum())
    noise = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors = bases[scene] + SCENE_NOISE / np.sqrt(DIM) * noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(path, vectors.astype(np.float32))


# --- the strategy before issue 15, for comparison ---------------------------------------------


def old_density(vectors: np.ndarray, params: dict[str, Any], cut: bool = False) -> np.ndarray:
    """The labels planche's density strategy gave before issue 15, as it computed them.

    cut: the assignment in blocks of about CUT_BYTES instead of 20,000 rows.
    """
    from sklearn.cluster import HDBSCAN
    from sklearn.decomposition import PCA

    n = len(vectors)
    rng = np.random.default_rng(params["seed"])
    fit_rows = (
        np.sort(rng.choice(n, params["sample"], replace=False))
        if n > params["sample"]
        else np.arange(n)
    )
    dims = min(params["dims"], vectors.shape[1], len(fit_rows))
    pca = PCA(n_components=dims, random_state=params["seed"]).fit(vectors[fit_rows])
    reduced = pca.transform(vectors).astype(np.float32)
    model = HDBSCAN(
        min_cluster_size=params["min_cluster_size"],
        min_samples=params["min_samples"] or None,
        copy=True,
    )
    labels = np.full(n, -1, dtype=np.int64)
    labels[fit_rows] = model.fit_predict(reduced[fit_rows])
    if len(fit_rows) < n:
        rest = np.setdiff1d(np.arange(n), fit_rows)
        labels[rest] = old_assign_rest(reduced, labels, fit_rows, rest, cut)
    return labels


def old_assign_rest(
    reduced: np.ndarray, labels: np.ndarray, fitted: np.ndarray, rest: np.ndarray, cut: bool
) -> np.ndarray:
    clusters = [c for c in np.unique(labels[fitted]) if c >= 0]
    if not clusters:
        return np.full(len(rest), -1)
    centres = np.stack([reduced[fitted][labels[fitted] == c].mean(axis=0) for c in clusters])
    radii = np.array(
        [
            np.linalg.norm(reduced[fitted][labels[fitted] == c] - centres[i], axis=1).max()
            for i, c in enumerate(clusters)
        ]
    )
    block = max(1, CUT_BYTES // (len(clusters) * reduced.shape[1] * 4)) if cut else 20_000
    assigned = np.empty(len(rest), dtype=np.int64)
    for start in range(0, len(rest), block):
        part = reduced[rest[start : start + block]]
        distances = np.linalg.norm(part[:, None, :] - centres[None, :, :], axis=2)
        nearest = distances.argmin(axis=1)
        inside = distances[np.arange(len(part)), nearest] <= radii[nearest]
        assigned[start : start + block] = np.where(inside, np.asarray(clusters)[nearest], -1)
    return assigned


# --- measuring (in the engine's subprocess) -------------------------------------------------


def _status_mib(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def child_main(args: argparse.Namespace) -> None:
    from sklearn.cluster import HDBSCAN  # noqa: F401 - imported before the baseline
    from sklearn.decomposition import PCA  # noqa: F401
    from sklearn.neighbors import KDTree  # noqa: F401

    from planche.core.cluster import ClusterInput, get_strategy

    data = Path(args.data)
    vectors = np.load(data / "vectors.npy")
    strategy = get_strategy("density")
    params = strategy.validate(CASES[args.case])
    start_mib = _status_mib("VmRSS")
    row: dict[str, Any] = {"case": args.case, "engine": args.engine}
    if args.engine != "new":
        limit = int(_status_mib("VmSize") * 2**20) + OLD_LIMIT_GIB * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.RLIM_INFINITY))
    started = time.perf_counter()
    try:
        if args.engine != "new":
            labels = old_density(vectors, params, cut=args.engine == "old-cut")
        else:
            ids = np.arange(len(vectors), dtype=np.int64)
            scope = ClusterInput(ids=ids, vectors=vectors, model=None, project=None)
            labels = np.full(len(vectors), -1, dtype=np.int64)
            for number, group in enumerate(strategy.run(scope, params)):
                if not group.leftover:
                    labels[group.members] = number
    except MemoryError as error:
        asked = re.search(r"allocate ([\d.]+) ([KMGT])iB", str(error))
        scale = {"K": 2**-10, "M": 1, "G": 2**10, "T": 2**20}
        row["asked_mib"] = float(asked.group(1)) * scale[asked.group(2)] if asked else 0.0
    else:
        row["seconds"] = time.perf_counter() - started
        np.save(data / f"labels-{args.engine}-{args.case}.npy", labels)
        row["clusters"] = len(np.unique(labels[labels >= 0]))
    row["peak_mib"] = peak_rss_mib() - start_mib
    print(json.dumps(row), flush=True)


# --- parent: data, subprocesses, table ----------------------------------------------------------


def run_engine(engine: str, case: str, data: Path) -> dict:
    command = [sys.executable, __file__, "--engine", engine, "--case", case, "--data", str(data)]
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    if not rows:
        raise SystemExit(f"{engine} {case} failed with exit code {result.returncode}")
    row = rows[-1]
    took = (f"{row['seconds']:.1f} s" if "seconds" in row
            else f"MemoryError asking for {row['asked_mib']:,.0f} MiB more")  # fmt: skip
    log(f"{engine} {case}: {took}, peak {row['peak_mib']:,.0f} MiB above start, "
        f"{time.perf_counter() - started:.0f} s with start-up")  # fmt: skip
    return row


def groups_of(labels: np.ndarray) -> set[frozenset[int]]:
    order = np.argsort(labels, kind="stable")
    cuts = np.flatnonzero(np.diff(labels[order])) + 1
    return {frozenset(rows.tolist()) for rows in np.split(order, cuts) if labels[rows[0]] >= 0}


HEADER = (
    "| case | clusters | old: time (s) | old: peak (MiB) | new: time (s) | new: peak (MiB) | "
    "time old/new | memory old/new | same groups as old |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|---|"
)


def table_row(case: str, rows: dict[str, dict], data: Path) -> str:
    """One case; where the old code ran out of memory its time is its cut run's (marked *)."""
    old, new = rows["old"], rows["new"]
    if "asked_mib" in old:
        # It held peak_mib and asked for asked_mib more: it needed at least the sum.
        needed = old["peak_mib"] + old["asked_mib"]
        old_peak, memory_ratio = (
            f"> {needed:,.0f} (MemoryError)",
            f"> {needed / new['peak_mib']:.0f}x",
        )
    else:
        old_peak, memory_ratio = (
            f"{old['peak_mib']:,.0f}",
            f"{old['peak_mib'] / new['peak_mib']:.1f}x",
        )
    ran = [engine for engine in ("old", "old-cut") if "seconds" in rows.get(engine, {})]
    timed = rows[ran[0]] | {"engine": ran[0]} if ran else None
    if timed is None:
        old_time, time_ratio, same = "-", "-", "old code cannot run"
    else:
        mark = "*" if timed["engine"] == "old-cut" else ""
        old_time = f"{timed['seconds']:.1f}{mark}"
        time_ratio = f"{timed['seconds'] / new['seconds']:.1f}x{mark}"
        mine = groups_of(np.load(data / f"labels-new-{case}.npy"))
        theirs = groups_of(np.load(data / f"labels-{timed['engine']}-{case}.npy"))
        differ = len(mine ^ theirs)
        same = ("SAME" if not differ else f"differ: {differ} groups not in both") + mark
    return (
        f"| {case} | {new['clusters']:,} | {old_time} | {old_peak} | {new['seconds']:.1f} | "
        f"{new['peak_mib']:,.0f} | {time_ratio} | {memory_ratio} | {same} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated, of (all by default): "
                        + ", ".join(CASES))  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="10k vectors: a smoke test")
    # Internal: one case and engine in its own process, so that its peak RSS is its own.
    parser.add_argument("--engine", choices=(*ENGINES, "old-cut"), help=argparse.SUPPRESS)
    parser.add_argument("--case", choices=tuple(CASES), help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child_main(args)
        return

    # At 10k a min_cluster_size of 20,000 is refused (more than the images).
    quick_cases = [c for c in CASES if c != "min_cluster_size=20000"]
    cases = args.cases.split(",") if args.cases else list(CASES if not args.quick else quick_cases)
    unknown = set(cases) - set(CASES)
    if unknown:
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    n = 10_000 if args.quick else N
    run_started = time.perf_counter()
    lines = []
    peaks = []
    with tempfile.TemporaryDirectory(prefix="planche-bench-density-") as tmp:
        data = Path(tmp)
        started = time.perf_counter()
        write_data(data / "vectors.npy", n)
        log(f"{n:,} vectors written in {time.perf_counter() - started:.0f} s")
        print(HEADER, flush=True)
        for case in cases:
            rows = {engine: run_engine(engine, case, data) for engine in ENGINES}
            if "asked_mib" in rows["new"]:
                raise SystemExit(f"new code ran out of memory on {case}: {rows['new']}")
            if "asked_mib" in rows["old"]:
                rows["old-cut"] = run_engine("old-cut", case, data)
            lines.append(table_row(case, rows, data))
            peaks.append((case, rows["new"]["peak_mib"]))
            print(lines[-1], flush=True)

    versions = ", ".join(f"{name} {version(name)}" for name in ("scikit-learn", "numpy"))
    print()
    print(f"{platform.machine()}, {os.cpu_count()} cores, {versions}")
    print(f"N={n:,} {DIM}-d vectors in {SCENES * n // N:,} scenes; old code limited to "
          f"{OLD_LIMIT_GIB} GiB of address space above its start")  # fmt: skip
    print(HEADER)
    print("\n".join(lines))
    if any("*" in line for line in lines):
        print(
            f"* the old code ran out of memory; timed and compared again with its "
            f"assignment in blocks of {CUT_BYTES // 2**20} MiB (the same arithmetic per row)"
        )
    print()
    worst_case, worst = max(peaks, key=lambda p: p[1])
    verdict = "met" if worst <= GOAL_MIB else "NOT MET"
    print(f"every case within 1.5 GB above the start: {verdict} "
          f"(most: {worst:,.0f} MiB, {worst_case})")  # fmt: skip
    print(f"total run time: {time.perf_counter() - run_started:.0f} s")


if __name__ == "__main__":
    main()
