"""Embedding beyond one machine: ingest of shards, and Ray's cost per image.

Part `ingest` writes N generated rows as shards (the real shard writer, 512-d
vectors, small thumbnails) and loads them three ways, in one run:
  - DuckDB alone: `INSERT INTO bare SELECT * FROM read_parquet(...)` into a
    table of the same columns keyed by path (the limit);
  - `planche ingest` (the command: checks, one transaction, journal; then the
    vector cache that every project of 100k images and more keeps);
  - rows inserted one by one from Python (timed on a sample, extrapolated).

Part `ray` embeds the same ImageNet-sized JPEGs with the same model (ViT-B-32,
random weights: the same arithmetic as real ones) by a local `planche import`
and by `planche embed-shards` on a local Ray with 1 and 2 workers, then
ingest. Ray is started once beforehand and its start-up reported apart.

    python bench/shards.py --part ingest --rows 1000000
    python bench/shards.py --part ray --images 300
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow.parquet as pq

from planche.core import commands
from planche.core.models import ModelIdentity
from planche.core.shards.schema import ShardRow, shard_table

DIM = 512
IDENTITY = ModelIdentity("clip", "ViT-B-32", "openai", None, DIM, "fp16")


def write_generated_shards(folder: Path, rows: int, per_shard: int = 100_000) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    thumbnail = bytes(rng.integers(0, 256, 256, dtype=np.uint8))
    files = []
    for start in range(0, rows, per_shard):
        n = min(per_shard, rows - start)
        shard_rows = [
            ShardRow(f"/data/images/{i // 1000:05d}/{i:09d}.jpg", 120_000 + i % 977, 1.7e9 + i,
                     f"{i:064x}", 500, 375, "JPEG", "RGB", None, thumbnail)
            for i in range(start, start + n)
        ]  # fmt: skip
        vectors = rng.standard_normal((n, DIM), dtype=np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        path = folder / f"shard-{start:09d}.parquet"
        pq.write_table(shard_table(shard_rows, vectors, IDENTITY), path, compression="zstd")
        files.append(path)
    return files


def duckdb_alone(files: list[Path], database: Path) -> float:
    con = duckdb.connect(str(database))
    con.execute(
        "CREATE TABLE bare (path VARCHAR PRIMARY KEY, size BIGINT, mtime DOUBLE, "
        "sha256 VARCHAR, width INTEGER, height INTEGER, format VARCHAR, mode VARCHAR, "
        "exif_date TIMESTAMP, thumbnail BLOB, vector FLOAT[512])"
    )
    started = time.perf_counter()
    con.execute(
        "INSERT INTO bare SELECT path, size, mtime, sha256, width, height, format, mode, "
        "exif_date, thumbnail, vector FROM read_parquet(?)", [[str(f) for f in files]],
    )  # fmt: skip
    con.close()
    return time.perf_counter() - started


def planche_ingest(folder: Path, project: Path) -> tuple[float, float]:
    """(seconds of the whole command, seconds of the same load without the vector cache)."""
    from planche.core.commands import importing

    started = time.perf_counter()
    commands.run(project, "ingest", {"shards": str(folder)})
    whole = time.perf_counter() - started
    bare = project.with_name("bare-" + project.name)
    settle = importing.Ingest.settle
    importing.Ingest.settle = lambda self, project, committed: None  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        commands.run(bare, "ingest", {"shards": str(folder)})
        load = time.perf_counter() - started
    finally:
        importing.Ingest.settle = settle  # type: ignore[method-assign]
    return whole, load


def python_rows(files: list[Path], database: Path, sample: int) -> float:
    """Seconds per row of inserting rows one by one from Python."""
    rows = pq.read_table(files[0]).slice(0, sample).to_pylist()
    con = duckdb.connect(str(database))
    con.execute(
        "CREATE TABLE bare (path VARCHAR PRIMARY KEY, sha256 VARCHAR, thumbnail BLOB, "
        "vector FLOAT[512])"
    )
    started = time.perf_counter()
    for row in rows:
        con.execute("INSERT INTO bare VALUES (?, ?, ?, ?)",
                    [row["path"], row["sha256"], row["thumbnail"], row["vector"]])  # fmt: skip
    con.close()
    return (time.perf_counter() - started) / len(rows)


def part_ingest(rows: int, tmp: Path) -> None:
    print(f"writing {rows:,} generated rows as shards ...", flush=True)
    started = time.perf_counter()
    files = write_generated_shards(tmp / "shards", rows)
    size = sum(f.stat().st_size for f in files) / 2**20
    print(f"  {len(files)} shards, {size:,.0f} MiB, in {time.perf_counter() - started:.0f} s")
    alone = duckdb_alone(files, tmp / "alone.duckdb")
    whole, load = planche_ingest(tmp / "shards", tmp / "project.duckdb")
    per_row = python_rows(files, tmp / "rows.duckdb", sample=3000)
    naive = per_row * rows
    print()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"{rows:,} rows of FLOAT[{DIM}]")  # fmt: skip
    print("| way | seconds | rows/s | vs DuckDB alone |\n|---|---:|---:|---:|")
    table = [
        ("DuckDB alone: INSERT ... SELECT FROM read_parquet (the limit)", alone),
        ("planche ingest: the load (one transaction with its journal entry)", load),
        ("planche ingest: the whole command (also writes the vector cache)", whole),
        (f"rows one by one from Python (timed on 3,000, x{rows // 3000})", naive),
    ]
    for way, seconds in table:
        print(f"| {way} | {seconds:.1f} | {rows / seconds:,.0f} | {seconds / alone:.2f}x |")


def part_ray(images: int, tmp: Path) -> None:
    import ray
    from embed import save_random_weights
    from PIL import Image

    from planche.core.demo import build_demo_folder
    from planche.core.embedders import load_embedder
    from planche.core.ingest import import_folder
    from planche.core.shards import EmbedderOptions, embed_to_shards

    demo = tmp / "demo"
    build_demo_folder(demo)
    sources = [p for p in sorted(demo.rglob("*.jpg")) if "incoming" not in p.parts]
    folder = tmp / "jpegs"
    folder.mkdir()
    for i in range(images):  # ImageNet-sized: 500x375
        with Image.open(sources[i % len(sources)]) as im:
            im.convert("RGB").resize((500, 375)).rotate(i % 7).save(folder / f"{i:05d}.jpg",
                                                                    quality=90)  # fmt: skip
    kwargs = save_random_weights(tmp, "vit")
    embedder = load_embedder("clip", **kwargs)
    rows = []
    started = time.perf_counter()
    import_folder(folder, tmp / "local.duckdb", embedder=embedder)
    local = time.perf_counter() - started
    rows.append(("planche import (local, one process)", local))
    started = time.perf_counter()
    ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray_start = time.perf_counter() - started
    options = EmbedderOptions("clip", model="ViT-B-32", weights=str(kwargs["weights"]))
    cores = os.cpu_count() or 2
    for workers in (1, 2):
        out = tmp / f"shards-{workers}"
        summary = embed_to_shards(folder, out, options, workers=workers,
                                  cpus_per_worker=max(1, cores // workers),
                                  shard_files=max(1, images // (2 * workers)))  # fmt: skip
        started = time.perf_counter()
        commands.run(tmp / f"ray-{workers}.duckdb", "ingest", {"shards": str(out)})
        ingest = time.perf_counter() - started
        rows.append((f"embed-shards, {workers} worker(s) x {max(1, cores // workers)} CPUs",
                     summary.seconds))  # fmt: skip
        rows.append((f"  + ingest ({workers} worker run)", summary.seconds + ingest))
        shutil.rmtree(out)
    ray.shutdown()
    print()
    cpu = platform.processor() or platform.machine()
    print(f"{cpu}, {cores} cores, {images} JPEGs 500x375, ViT-B-32 ({embedder.precision}); "
          f"Ray started once: {ray_start:.1f} s")  # fmt: skip
    print("| way | seconds | images/s | vs local import |\n|---|---:|---:|---:|")
    for way, seconds in rows:
        print(f"| {way} | {seconds:.1f} | {images / seconds:.1f} | {local / seconds:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("ingest", "ray"), default="ingest")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--tmp", type=Path, default=None, help="work folder (default: a temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="planche-bench-", dir=args.tmp) as tmp:
        if args.part == "ingest":
            part_ingest(args.rows, Path(tmp))
        else:
            part_ray(args.images, Path(tmp))


if __name__ == "__main__":
    main()
