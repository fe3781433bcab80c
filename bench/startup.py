"""App start-up and scrolling on a 100k-image project: planche's virtual grid
against the naive way (load and decode every thumbnail before showing any).

The project is generated: 100,000 images whose thumbnails are real 128-pixel
JPEGs (a few hundred distinct ones, repeated), written straight into the
store. The in-process runs are headless (`App.run_test`, 160x48).

The pty part starts `planche open PROJECT --images halfcell` as a user would, in
a pseudo-terminal of 160x48 (TERM=xterm-256color), and plays the terminal: it
answers the primary device-attributes query (as xterm, no graphics) and reads
everything the app writes. The app is told (PLANCHE_FIRST_GRID_FILE, see
tui/grid.py) to write the wall clock when every visible tile first has its
thumbnail; the first full grid is the end of the frame that follows that
moment (the first burst of output after it, pieces less than 10 ms apart).
The floor is `python -c "import textual"`, started the same way.

    python bench/startup.py [--images 100000] [--runs 5] [--skip-naive]
    python bench/startup.py --skip-grid --skip-graph --before REV   # first search only
    python bench/startup.py --skip-naive --skip-search --grid-before REV   # start-up, interleaved
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import fcntl
import io
import json
import os
import platform
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

import numpy as np
from measure import tree_of
from PIL import Image

from planche.core.store import FileRow, NewImage, open_store


def make_project(path: Path, count: int) -> None:
    rng = np.random.default_rng(0)
    thumbs = []
    for _ in range(256):
        small = rng.integers(0, 255, size=(4, 6, 3), dtype=np.uint8)
        picture = Image.fromarray(small).resize((128, 96), Image.Resampling.BICUBIC)
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=82)
        thumbs.append(out.getvalue())
    with open_store(path, create=True) as store:
        for start in range(0, count, 10_000):
            ids = range(start, min(start + 10_000, count))
            images = [
                NewImage(f"{i:064x}", 1024, 768, "JPEG", "RGB", None, thumbs[i % 256]) for i in ids
            ]
            files = [FileRow(f"/photos/{i // 1000:03d}/img_{i:06d}.jpg", f"{i:064x}", 1, 1.0)
                     for i in ids]  # fmt: skip
            store.write_import_batch(images, files, [])


# Never needed for the first grid (the bench itself imports none of them).
HEAVY = ("torch", "open_clip", "sklearn", "scipy", "pandas", "usearch", "pacmap", "numba")


async def planche_grid(project: Path) -> dict[str, Any]:
    from planche.tui.app import PlancheApp
    from planche.tui.grid import ThumbnailGrid

    started = time.perf_counter()
    app = PlancheApp(project)
    async with app.run_test(size=(160, 48)) as pilot:
        grid = app.query_one(ThumbnailGrid)
        while len(grid.image_ids) == 0 or not _visible_loaded(grid):
            await pilot.pause(0.01)
        first = time.perf_counter() - started
        heavy = [m for m in HEAVY if m in sys.modules]
        pages = []
        for _ in range(10):
            t = time.perf_counter()
            await pilot.press("pagedown")
            while not _visible_loaded(grid):
                await pilot.pause(0.005)
            pages.append(time.perf_counter() - t)
        t = time.perf_counter()
        await pilot.press("end")
        while not _visible_loaded(grid):
            await pilot.pause(0.005)
        jump = time.perf_counter() - t
    return {"first grid": first, "page down (median)": float(np.median(pages)), "end": jump,
            "heavy": heavy}  # fmt: skip


def _visible_loaded(grid) -> bool:  # noqa: ANN001
    """True when every visible cell has its thumbnail decoded (reads grid internals)."""
    ids, cols = grid.image_ids, grid.columns
    visible = [i for row in grid._visible_rows() for i in range(row * cols, (row + 1) * cols)]
    return all(ids[i] in grid._pixels for i in visible if i < len(ids))


async def naive_grid(project: Path) -> dict[str, float]:
    """Load and decode every thumbnail first, then show the same grid."""
    from planche.tui.app import PlancheApp

    started = time.perf_counter()
    with open_store(project, read_only=True) as store:
        ids = store.all_image_ids().tolist()
        thumbs = store.thumbnails(ids)
    decoded = {i: Image.open(io.BytesIO(b)).convert("RGB") for i, b in thumbs.items()}
    loaded = time.perf_counter() - started
    app = PlancheApp(project)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause(0.01)
    del decoded
    return {"first grid": loaded + (time.perf_counter() - started - loaded)}


COLUMNS, LINES = 160, 48
PRIMARY_DA = b"\x1b[c"
XTERM_DA = b"\x1b[?64;1;2;6;9;15;18;21;22c"  # xterm's answer: no sixel (no 4)


def in_pty(command: list[str], env: dict[str, str], until: float = 20.0,
           marker: Path | None = None) -> dict[str, float]:  # fmt: skip
    """Run `command` in a 160x48 pty, answering the terminal probe, until it exits
    (or, with `marker`, until the marker is written and the output has settled;
    then it is sent `q`). Times are seconds from just before the spawn."""
    master, slave = os.openpty()
    pixels = struct.pack("HHHH", LINES, COLUMNS, COLUMNS * 10, LINES * 20)
    fcntl.ioctl(slave, termios.TIOCSWINSZ, pixels)
    env = {**os.environ, **env, "TERM": "xterm-256color", "COLUMNS": str(COLUMNS),
           "LINES": str(LINES)}  # fmt: skip
    env.pop("TMUX", None)
    started = time.time()
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                               start_new_session=True, close_fds=True)  # fmt: skip
    os.close(slave)
    chunks: list[tuple[float, int]] = []  # (arrival, bytes)
    tail = b""
    ready: float | None = None
    ended = float("nan")
    try:
        while time.time() - started < until:
            readable, _, _ = select.select([master], [], [], 0.005)
            if readable:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:  # the child closed the pty
                    break
                if not data:
                    break
                chunks.append((time.time(), len(data)))
                # Once per query, also when it straddles two reads: a second answer
                # would reach the app as keys (its "?" opened the help screen).
                window = tail + data
                found = window.find(PRIMARY_DA)
                while found >= 0:
                    if found + len(PRIMARY_DA) > len(tail):
                        os.write(master, XTERM_DA)
                    found = window.find(PRIMARY_DA, found + 1)
                tail = window[-(len(PRIMARY_DA) - 1) :]
            if marker is None:
                if process.poll() is not None and not readable:
                    ended = time.time()
                    break
                continue
            if ready is None and marker.exists() and marker.read_text().strip():
                ready = float(marker.read_text())
            if ready is not None and chunks and time.time() - chunks[-1][0] > 0.1 and (
                    chunks[-1][0] >= ready or time.time() - ready > 3):  # fmt: skip
                break
    finally:
        if process.poll() is None:
            os.write(master, b"q")
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        os.close(master)
    if marker is None and ended != ended:  # the pty closed first: wait for the exit
        process.wait()
        ended = time.time()
    if os.environ.get("BENCH_DEBUG"):
        print(
            ready and ready - started,
            [(round(t - started, 3), n) for t, n in chunks if ready is None or t >= ready - 0.05][
                :60
            ],
        )
    out = {"exit": ended - started, "bytes": float(sum(n for _, n in chunks))}
    if marker is not None:
        if ready is None:
            raise RuntimeError(f"no first grid within {until} s")
        # The frame that shows the thumbnails: the first burst of output (pieces less
        # than 10 ms apart) that starts after that moment.
        after = [t for t, _ in chunks if t >= ready]
        end = after[0] if after else ready
        for t in after[1:]:
            if t - end >= 0.01:
                break
            end = t
        out["ready"] = ready - started
        out["first grid"] = end - started
    return out


def pty_start(project: Path, runs: int, before: Path | None = None) -> dict[str, list[float]]:
    """Process start to the first full grid in a pty, `runs` times each way (with
    `before`, a tree from `tree_of` put first on the path, interleaved)."""
    planche = str(Path(sys.executable).with_name("planche"))
    # As a user's second start finds them (this machine sets PYTHONDONTWRITEBYTECODE,
    # which would compile every module on every start).
    root = Path(__file__).resolve().parent.parent
    for tree in (root / "core", root / "tui", *([before] if before else [])):
        compileall.compile_dir(tree, quiet=1)
    found: dict[str, list[float]] = {"floor": [], "ready": [], "first grid": []}
    if before is not None:
        found["first grid before"] = []
    for _ in range(runs):
        floor = in_pty([sys.executable, "-c", "import textual"], {})
        found["floor"].append(floor["exit"])
        for label, env in (("", {}), (" before", {"PYTHONPATH": str(before)})):
            if label and before is None:
                continue
            with tempfile.TemporaryDirectory(prefix="planche-pty-") as tmp:
                marker = Path(tmp) / "first-grid"
                timed = in_pty([planche, "open", str(project), "--images", "halfcell"],
                               {"PLANCHE_FIRST_GRID_FILE": str(marker), **env},
                               marker=marker)  # fmt: skip
            if not label:
                found["ready"].append(timed["ready"])
            found["first grid" + label].append(timed["first grid"])
    return found


# A fresh process's first "similar images", as the app runs it (commands.run "search"
# with a session that builds the graph in the background), then, with "wait", the
# graph finishing and one more search. Without "wait" the process ends at once after
# the answer (os._exit: the graph's thread is not waited for).
FIRST_SIMILAR = """
import json, os, sys, time
started = time.perf_counter()
from planche.core import commands
from planche.core.session import Session
imported = time.perf_counter()
project, wait = sys.argv[1], sys.argv[2] == "wait"
session = Session(project)
context = commands.Context(session=session)
result = commands.run(project, "search", {"images": ["1"], "k": 200}, context)
answered = time.perf_counter()
found = {"answer_s": answered - started, "search_s": answered - imported,
         "index": result["index"], "pandas": "pandas" in sys.modules,
         "results": [[r["image_id"], r["similarity"]] for r in result["results"]]}
if not wait:
    print(json.dumps(found), flush=True)
    os._exit(0)
model = result.get("model_id") or 1
while session.building(model) is not None:
    time.sleep(0.05)
built = time.perf_counter()
again = commands.run(project, "search", {"images": ["2"], "k": 200}, context)
print(json.dumps({**found, "graph_s": built - answered, "next_index": again["index"],
                  "next_s": time.perf_counter() - built}))
"""


def add_vectors(project: Path, count: int, dim: int = 512) -> None:
    """Unit vectors for every image under one model, as an import would write them
    (without the vector cache `planche import` writes beside large projects)."""
    from planche.core.store import open_store as store_of

    rng = np.random.default_rng(1)
    with store_of(project) as store:
        model = store.register_model(embedder="pixels", name="bench", pretrained=None,
                                     weights_hash=None, dim=dim, precision="fp32")  # fmt: skip
        ids = store.all_image_ids()
        for start in range(0, count, 20_000):
            part = ids[start : start + 20_000]
            rows = rng.standard_normal((len(part), dim)).astype(np.float32)
            rows /= np.linalg.norm(rows, axis=1, keepdims=True)
            store.write_embeddings(model, part.tolist(), rows)


def first_similar(project: Path, *, wait: bool = True, tree: Path | None = None) -> dict[str, Any]:
    """The first similar search of a fresh process on `project` (out of the app);
    `tree`, a folder holding another planche's `planche/core`, is put first on the
    path (to time the code before a change in the same run)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
    done = subprocess.run([sys.executable, "-c", FIRST_SIMILAR, str(project),
                           "wait" if wait else "answer"], capture_output=True, text=True,
                          check=True, env=env)  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def uncached(project: Path) -> Path:
    """`project` as if fresh: its cache folder (vectors, graph) removed."""
    shutil.rmtree(project.with_name(project.name + ".planche"), ignore_errors=True)
    return project


def search_runs(project: Path, runs: int, before: Path | None) -> dict[str, list[dict[str, Any]]]:
    """`runs` first searches of fresh processes on the uncached project, interleaved
    before/after; then the same with the vector cache there (as `planche import`
    leaves a project of 100k images or more), no graph."""
    from planche.core.index import load_vectors
    from planche.core.store import open_store as store_of

    trees = {"before": before, "after": None} if before is not None else {"after": None}
    found: dict[str, list[dict[str, Any]]] = {}
    for _ in range(runs):
        for label, tree in trees.items():
            found.setdefault(label, []).append(
                first_similar(uncached(project), wait=False, tree=tree)
            )
    with store_of(uncached(project), read_only=True) as store:
        load_vectors(store, store.models()[0])
    found["vectors cached"] = [first_similar(project, wait=False) for _ in range(runs)]
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5, help="pty starts of each kind")
    parser.add_argument("--skip-naive", action="store_true", help="(about a minute at 100k)")
    parser.add_argument("--project", type=Path, help="an existing generated project to reuse")
    parser.add_argument(
        "--skip-search",
        action="store_true",
        help="skip the first similar search (on a copy, with vectors)",
    )
    parser.add_argument(
        "--search-runs",
        type=int,
        default=3,
        help="fresh processes timed to the first similar answer, each way",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also time the first search with core/ as of git REV, interleaved",
    )
    parser.add_argument(
        "--skip-graph",
        action="store_true",
        help="do not wait for the background graph (minutes at 100k)",
    )
    parser.add_argument("--grid-before", metavar="REV",
                        help="also time the pty start with core/, tui/ as of git REV")  # fmt: skip
    parser.add_argument("--skip-grid", action="store_true",
                        help="skip the start-up and grid parts (the search part only)")  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="planche-startup-") as tmp:
        project = args.project or Path(tmp) / "big.duckdb"
        if args.project is None:
            t = time.perf_counter()
            make_project(project, args.images)
            print(f"made a {args.images:,}-image project in {time.perf_counter() - t:.0f} s "
                  f"({project.stat().st_size / 1e6:.0f} MB)")  # fmt: skip
        grid_before = (tree_of(args.grid_before, Path(tmp) / "grid-before", ("core", "tui"))
                       if args.grid_before else None)  # fmt: skip
        pty = None if args.skip_grid else pty_start(project, args.runs, grid_before)
        ours = None if args.skip_grid else asyncio.run(planche_grid(project))
        naive = None if args.skip_naive or args.skip_grid else asyncio.run(naive_grid(project))
        searches, timed = [], {}
        if not args.skip_search:
            searched = Path(tmp) / "searched.duckdb"  # fresh: no vector cache, no graph
            shutil.copyfile(project, searched)
            add_vectors(searched, args.images)
            before = tree_of(args.before, Path(tmp) / "before") if args.before else None
            timed = search_runs(searched, args.search_runs, before)
            if not args.skip_graph:
                searches = [first_similar(uncached(searched)), first_similar(searched)]
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, {args.images:,} images, "
          f"{COLUMNS}x{LINES}, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    if pty is not None and ours is not None:
        print_grid(pty, ours, naive, args.runs)
    if timed:
        print_search_runs(timed)
    if searches:
        print("\nFirst similar search, fresh process (imports included), 512-d vectors:")
        print(
            "| run | process start to answer (s) | the search alone (s) | index "
            "| graph finished after (s) | next search |\n|---|---:|---:|---|---:|---|"
        )
        for n, row in enumerate(searches, 1):
            print(f"| {'fresh project' if n == 1 else 'again, graph cached'} "
                  f"| {row['answer_s']:.2f} | {row['search_s']:.2f} | {row['index']} "
                  f"| {row['graph_s']:.1f} | {row['next_index']} "
                  f"({row['next_s'] * 1000:.0f} ms) |")  # fmt: skip


def print_grid(pty: dict[str, list[float]], ours: dict[str, Any], naive: dict[str, float] | None,
               runs: int) -> None:  # fmt: skip
    print(f"\nIn a pty, from process start (median of {runs}; min-max):")
    print("| start | time (s) |\n|---|---:|")
    for label, key in (
        ('`python -c "import textual"` (the floor)', "floor"),
        ("planche: every visible tile has its thumbnail (in the app)", "ready"),
        ("planche: the first full grid written to the terminal", "first grid"),
        ("the same, the code before (--grid-before)", "first grid before"),
    ):
        if key not in pty:
            continue
        values = pty[key]
        print(f"| {label} | {statistics.median(values):.2f} "
              f"({min(values):.2f}-{max(values):.2f}) |")  # fmt: skip
    print("\nIn process (`App.run_test`), from creating the app:")
    print("| way | first grid (s) | page down (s) | End (s) |\n|---|---:|---:|---:|")
    print(
        f"| planche: virtual grid, thumbnails fetched for the viewport | "
        f"{ours['first grid']:.2f} | {ours['page down (median)']:.3f} | {ours['end']:.3f} |"
    )
    if naive is not None:
        print(f"| naive: every thumbnail loaded and decoded first | {naive['first grid']:.2f} | "
              f"- | - |")  # fmt: skip
        print(f"\nplanche shows the first grid "
              f"{naive['first grid'] / ours['first grid']:.0f}x sooner")  # fmt: skip
    print(f"\nLoaded at the first grid: {', '.join(ours['heavy']) or 'none'} "
          f"(of {', '.join(HEAVY)})")  # fmt: skip


def print_search_runs(timed: dict[str, list[dict[str, Any]]]) -> None:
    runs = len(timed["after"])
    print(f"\nFirst similar search (image 1, k 200), fresh process, 512-d vectors, the "
          f"graph left to build in the background (median of {runs}; min-max):")  # fmt: skip
    print("| code | project | process start to answer (s) | the search alone (s) | index "
          "| pandas loaded |\n|---|---|---:|---:|---|---|")  # fmt: skip
    for label, rows in timed.items():
        cached = label == "vectors cached"
        cells = []
        for key in ("answer_s", "search_s"):
            values = [row[key] for row in rows]
            cells.append(f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})")
        pandas = "yes" if any(row["pandas"] for row in rows) else "no"
        print(f"| {'after' if cached else label} "
              f"| {'vector cache there' if cached else 'nothing cached'} | {' | '.join(cells)} "
              f"| {rows[0]['index']} | {pandas} |")  # fmt: skip
    answers = {json.dumps(row["results"]) for rows in timed.values() for row in rows}
    print(f"\nThe same {len(timed['after'][0]['results'])} results (ids and similarities) "
          f"in every run: {'yes' if len(answers) == 1 else 'NO'}")  # fmt: skip


if __name__ == "__main__":
    main()
