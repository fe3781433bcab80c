"""The map (issue 19): PCA of 100k vectors, storing and loading 1M points, the PNG.

Rows, each against the naive way where there is one:
- PCA map of 100k 512-d vectors (`planche.core.maps.project_map`: scikit-learn's
  PCA with the covariance solver fitted on a 20,000 sample under one BLAS
  thread, every vector projected in chunks) against scikit-learn's PCA with
  its defaults fitted on all 100k (`PCA(2).fit_transform`). Target: <= 2 s.
- the neighbour-preservation figure of that map as the command measures it
  (2,000 sampled points, 10-NN among a random 20,000; exact matrix product in
  chunks, kd-tree on the plane), against the same among all 100k;
- the `map` command on a project of 100k vectors: computed and stored, reused
  (nothing changed), extended (1,000 images added);
- storing 1M points (`Store.write_map`: one INSERT from an Arrow table)
  against `executemany` of Python tuples, measured on 20,000 rows and scaled
  (it would take a quarter of an hour at 1M);
- loading the 1M points of a stored map (`read.map_data`: open read-only,
  one query to Arrow, close) against `fetchall()` of tuples turned into numpy.
  Target: the map opens from its stored projection in under a second;
- drawing the 1M points into a 1600x1200 PNG (density shading) with Pillow.

Vectors come from bench/cluster.py's distribution (50 centres in 10 themes in a
24-d latent space mapped to 512-d, plus noise), which looks like a photo
collection's CLIP embeddings. Short rows are the best of 3 runs (2 shared,
noisy cores); the command rows are one run each.

    python bench/map.py [--quick]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from cluster import SEED, _sampler

from planche.core import commands, read
from planche.core.maps import QUALITY_UNIVERSE, neighbour_preservation, project_map
from planche.core.store import NewMap, open_store

N_VECTORS = 100_000
N_POINTS = 1_000_000
NAIVE_ROWS = 20_000
ADDED = 1_000


def best_of(fn: Callable[[], Any], repeats: int = 3) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - started)
    return best, result


def once(fn: Callable[[], Any]) -> tuple[float, Any]:
    return best_of(fn, 1)


def vector_project(path: Path, vectors: np.ndarray) -> None:
    with open_store(path, create=True) as store:
        model = store.register_model(
            embedder="pixels", name="bench", pretrained=None, weights_hash=None,
            dim=vectors.shape[1], precision="fp32",
        )  # fmt: skip
        for start in range(0, len(vectors), 50_000):
            ids = list(range(start + 1, min(start + 50_000, len(vectors)) + 1))
            store.write_embeddings(model, ids, vectors[start : start + len(ids)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10x smaller, to try the bench")
    args = parser.parse_args()
    n_vectors = N_VECTORS // 10 if args.quick else N_VECTORS
    n_points = N_POINTS // 10 if args.quick else N_POINTS
    rows: list[tuple[str, str, str, str]] = []

    def row(work: str, planche_s: float, naive: str = "-", note: str = "") -> None:
        rows.append((work, f"{planche_s:.3f}", naive, note))
        print(f"{work}: {planche_s:.3f} s  {naive}  {note}", flush=True)

    vectors, _ = _sampler(SEED)(np.random.default_rng(SEED), n_vectors + ADDED)
    ids = np.arange(1, n_vectors + 1)
    base = vectors[:n_vectors]

    from sklearn.decomposition import PCA

    seconds, (xy, _) = best_of(lambda: project_map(base, ids))
    naive_s, naive_xy = best_of(lambda: PCA(2).fit_transform(base))
    row(f"PCA map of {n_vectors:,} vectors (fit on 20,000, project all)", seconds,
        f"{naive_s:.3f} (scikit-learn PCA(2) on all)", f"{naive_s / seconds:.1f}x")  # fmt: skip
    seconds, quality = best_of(lambda: neighbour_preservation(base, xy, universe=QUALITY_UNIVERSE))
    all_s, among_all = best_of(lambda: neighbour_preservation(base, xy), 1)
    row(f"neighbour preservation of that map (2,000 sampled, 10-NN among "
        f"{min(QUALITY_UNIVERSE, n_vectors):,}, as the command measures it)", seconds,
        f"{all_s:.3f} (among all {n_vectors:,})",
        f"figure {quality:.3f} ({among_all:.3f} among all)")  # fmt: skip

    with tempfile.TemporaryDirectory() as folder:
        project = Path(folder) / "map.duckdb"
        vector_project(project, base)
        seconds, made = once(lambda: commands.run(project, "map", {}))
        row(f"`map` command, {n_vectors:,} vectors: compute and store", seconds,
            note=f"quality {made['quality']:.3f}")  # fmt: skip
        seconds, again = once(lambda: commands.run(project, "map", {}))
        assert again["reused"]
        row(f"`map` command, {n_vectors:,} vectors: reuse the stored map", seconds)
        with open_store(project) as store:
            model = store.models()[0]
            new_ids = list(range(n_vectors + 1, n_vectors + ADDED + 1))
            store.write_embeddings(model, new_ids, vectors[n_vectors:])
        seconds, grown = once(lambda: commands.run(project, "map", {}))
        assert grown["extended"]
        row(f"`map` command: {ADDED:,} images added, placed on the stored map", seconds)

        rng = np.random.default_rng(1)
        point_ids = np.arange(1, n_points + 1)
        point_xy = rng.normal(size=(n_points, 2)).astype(np.float32)
        new_map = NewMap(
            model_id=model.id, scope_kind="all", scope_ref="", scope_title="all images",
            method="neighbours", params={"seed": 0, "sample": 20_000}, quality=0.5,
            fingerprint="bench", image_ids=point_ids, xy=point_xy,
        )  # fmt: skip

        def write() -> int:
            with open_store(project) as store:
                return store.write_map(new_map)

        write_s, map_id = best_of(write)
        naive_write_s = naive_insert(Path(folder) / "naive.duckdb", point_xy[:NAIVE_ROWS])
        scaled = naive_write_s * n_points / NAIVE_ROWS
        row(f"store {n_points:,} points (Arrow, one INSERT)", write_s,
            f"~{scaled:,.0f} (executemany; {naive_write_s:.1f} s for {NAIVE_ROWS:,})",
            f"~{scaled / write_s:,.0f}x")  # fmt: skip
        load_s, data = best_of(lambda: read.map_data(project, map_id))
        assert len(data.image_ids) == n_points and np.array_equal(data.xy, point_xy)
        naive_load_s, _ = best_of(lambda: naive_load(project, map_id))
        row(f"open the stored map of {n_points:,} points (read.map_data)", load_s,
            f"{naive_load_s:.3f} (fetchall of tuples)",
            f"{naive_load_s / load_s:.1f}x")  # fmt: skip
        latest_s, latest = best_of(
            lambda: read.latest_map(project, model.id, "all", None, "neighbours")
        )
        assert latest is not None and latest.map_id == map_id
        row(f"find and open it (read.latest_map), {n_points:,} points", latest_s)

        from planche.tui.cli import map_png

        out = Path(folder) / "map.png"
        png_s, _ = best_of(
            lambda: map_png.render(out, data.xy, data.image_ids, (1600, 1200), "bench"), 1
        )
        row(f"draw {n_points:,} points into a 1600x1200 PNG (density)", png_s)

    print()
    print(
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, scikit-learn "
        f"{version('scikit-learn')}, numpy {np.__version__}, duckdb {version('duckdb')}, "
        f"pyarrow {version('pyarrow')}, Pillow {version('pillow')}"
    )
    print()
    print("| work | planche (s) | naive (s) | speed-up / note |")
    print("|---|---:|---:|---|")
    for work, planche_s, naive, note in rows:
        print(f"| {work} | {planche_s} | {naive} | {note} |")


def naive_insert(path: Path, xy: np.ndarray) -> float:
    """A Python loop's insert: executemany of (map_id, image_id, x, y) tuples."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        con.execute(
            "CREATE TABLE map_points (map_id INTEGER NOT NULL, image_id INTEGER NOT NULL, "
            "x FLOAT NOT NULL, y FLOAT NOT NULL)"
        )
        tuples = [(1, i + 1, float(x), float(y)) for i, (x, y) in enumerate(xy)]
        started = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        con.executemany("INSERT INTO map_points VALUES (?, ?, ?, ?)", tuples)
        con.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        con.close()


def naive_load(project: Path, map_id: int) -> tuple[np.ndarray, np.ndarray]:
    """The same points as Python tuples, then numpy arrays."""
    import duckdb

    con = duckdb.connect(str(project), read_only=True)
    try:
        rows = con.execute(
            "SELECT image_id, x, y FROM map_points WHERE map_id = ? ORDER BY image_id", [map_id]
        ).fetchall()
    finally:
        con.close()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    xy = np.array([(r[1], r[2]) for r in rows], dtype=np.float32)
    return ids, xy


if __name__ == "__main__":
    main()
