"""Opening a project for one short piece of work: planche's `open_store` (the file
attached to the process's in-memory DuckDB database, core/attach.py) against
the naive way (a DuckDB connection to the file for each piece of work), and
the same pieces of work that the app and the commands do many times a minute.

The project is a real one: the 446 photos of bench/duplicates_real.py imported
with the pixels embedder. Each row is the median of --runs rounds, each round
timing --repeat pieces of work one after the other, per piece:

    read    open read-only, count the images, close
    write   open for writing, add and remove a journal entry, close (a checkpoint)
    list    open read-only, read every image's id, size and first path, close

    python bench/opens.py [--runs 5] [--repeat 50]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

_WORK = {
    "read": ("SELECT count(*) FROM images", False),
    "write": (
        "INSERT INTO journal (seq, ran_at, command, params) VALUES (-1, now(), 'x', '{}'); "
        "DELETE FROM journal WHERE seq = -1",
        True,
    ),
    "list": (
        "SELECT i.id, i.width, i.height, min(f.path) FROM images i "
        "JOIN files f ON f.image_id = i.id GROUP BY ALL",
        False,
    ),
}


def planche_way(project: Path, sql: str, writes: bool) -> None:
    from planche.core.store import open_store

    with open_store(project, read_only=not writes) as store:
        store.con.execute(sql).fetchall()


def naive_way(project: Path, sql: str, writes: bool) -> None:
    con = duckdb.connect(str(project), read_only=not writes)
    try:
        con.execute(sql).fetchall()
    finally:
        con.close()


def _per_piece(way: Callable[[Path, str, bool], None], project: Path, work: str,
               repeat: int) -> float:  # fmt: skip
    sql, writes = _WORK[work]
    started = time.perf_counter()
    for _ in range(repeat):
        way(project, sql, writes)
    return (time.perf_counter() - started) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from duplicates_real import build_set

    from planche.core.embedders import load_embedder
    from planche.core.ingest import import_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        build_set(folder)
        project = Path(tmp) / "project.duckdb"
        import_folder(folder, project, embedder=load_embedder("pixels"))
        for way in (planche_way, naive_way):  # first uses out of the timing
            for work in _WORK:
                _per_piece(way, project, work, 2)
        rows = []
        for work in _WORK:
            times: dict[str, list[float]] = {"planche": [], "naive": []}
            for _ in range(args.runs):  # alternating, so both see the same load
                times["planche"].append(_per_piece(planche_way, project, work, args.repeat))
                times["naive"].append(_per_piece(naive_way, project, work, args.repeat))
            planche, naive = (statistics.median(times[k]) for k in ("planche", "naive"))
            rows.append((work, planche, naive))
    print(f"\n{platform.processor() or platform.machine()}, DuckDB {duckdb.__version__}, "
          f"median of {args.runs} rounds of {args.repeat}\n")  # fmt: skip
    print("| piece of work | planche (attach) | naive (connect) | naive / planche |")
    print("|---|---:|---:|---:|")
    for work, planche, naive in rows:
        print(
            f"| {work} | {planche * 1000:.1f} ms | {naive * 1000:.1f} ms | {naive / planche:.1f}x |"
        )


if __name__ == "__main__":
    main()
