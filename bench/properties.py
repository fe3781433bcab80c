"""Typed properties, the filter language and CSV in and out, on a generated project.

The project (default 1M images, one file each) is made straight in DuckDB SQL
on planche's own schema (`open_store` creates it), the properties by the
`add_property` command: Rating (number, ~60% of images), Note (text, ~20%),
Shot (date, ~30%) and Keywords (a tag property: 12 tags with 25 below each,
0-3 tags an image). No image file is read. Measured, in one run, against the
issue's goals:

  1. a filter on two properties and a sort, as the grid asks for it
     (`read.list_images(project, "width>1920 Rating>=3", "-size")`): the first
     call and the median of warm ones, against the naive way (the columns
     fetched into Python, filtered and sorted there). Extra rows: a tag filter
     and two group-bys. Every call opens the project, as the read side does.
  2. export to CSV (`read.export_table`, DuckDB COPY) against Python's csv
     module writing the same rows (the rows already in Python, and fetched
     then written);
  3. import of that CSV into a copy of the project
     (`commands.run(copy, "import_table", {"file": ...})`, whole: read,
     checks, apply, journal), beside Python's csv module only parsing it.

    python bench/properties.py [--images 1000000] [--runs 5]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb

from planche.core import commands, read
from planche.core.store import open_store

TOPS = ("animal", "city", "food", "people", "plant", "sea", "sky", "snow", "sport", "street",
        "travel", "water")  # fmt: skip
CHILDREN = 25
GOAL_FILTER_S = 0.200
GOAL_EXPORT_RATIO = 5.0
GOAL_IMPORT_S = 10.0


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the generated project ---------------------------------------------------


def h(args: str, m: int | str) -> str:
    """SQL of a pseudo-random integer in [0, m) from a hash of `args`."""
    return f"CAST(hash({args}) % {m} AS BIGINT)"


def generate(project: Path, n: int) -> dict[str, float]:
    """A project of n images with planche's schema and properties; seconds per part."""
    times = {}
    started = time.perf_counter()
    with open_store(project, create=True):
        pass
    con = duckdb.connect(str(project))
    con.execute("SET enable_progress_bar = false")
    form = h("r, 'f'", 20)
    taken = h("r, 'e'", 400_000_000)
    con.execute(
        "INSERT INTO images (id, sha256, width, height, format, mode, exif_date, thumbnail, "
        "imported_at) SELECT r + 1, sha256(CAST(r AS VARCHAR)), "
        f"[640, 1024, 1280, 1920, 2048, 3024, 4000, 6000][1 + {h("r, 'w'", 8)}], "
        f"[480, 768, 960, 1080, 1536, 2268, 3000, 4000][1 + {h("r, 'w'", 8)}], "
        f"CASE WHEN {form} < 16 THEN 'JPEG' WHEN {form} < 19 THEN 'PNG' ELSE 'WEBP' END, 'RGB', "
        f"CASE WHEN {h("r, 't'", 10)} < 3 THEN NULL "
        f"ELSE TIMESTAMP '2012-01-01' + to_seconds({taken}) END, "
        "'\\xFF\\xD8\\xFF\\xE0tiny-thumbnail\\xFF\\xD9'::BLOB, "
        "TIMESTAMP '2026-11-30 10:00:00' FROM range(?) t(r)",
        [n],
    )
    # The sequence goes past the ids given, as if the images had been imported.
    con.execute("SELECT max(nextval('image_ids')) FROM range(?)", [n])
    # Files: a few hundred folders of consecutive images, as cameras write them.
    per_folder = max(1, n // 300)
    con.execute(
        "INSERT INTO files (path, image_id, size, mtime, imported_at) SELECT "
        "format('/data/photos/{}/{:03d}-shoot/IMG_{:07d}.jpg', 2012 + (r // ?) % 14, r // ?, r), "
        f"r + 1, 150000 + {h("r, 's'", 12_000_000)}, 1.4e9 + r * 60.0, "
        "TIMESTAMP '2026-11-30 10:00:00' FROM range(?) t(r)",
        [per_folder, per_folder, n],
    )
    con.close()
    times["images and files"] = time.perf_counter() - started

    started = time.perf_counter()
    ids = {}
    for name, kind in (("Rating", "number"), ("Note", "text"), ("Shot", "date"),
                       ("Keywords", "tag")):  # fmt: skip
        made = commands.run(project, "add_property", {"name": name, "type": kind})
        ids[name] = made["property_id"]
    con = duckdb.connect(str(project))
    con.execute("SET enable_progress_bar = false")
    con.execute(
        f"INSERT INTO property_values (property_id, image_id, value_number) SELECT ?, r + 1, "
        f"1 + {h("r, 'rv'", 5)} FROM range(?) t(r) WHERE {h("r, 'r'", 100)} < 60",
        [ids["Rating"], n],
    )
    con.execute(
        "INSERT INTO property_values (property_id, image_id, value_text) SELECT ?, r + 1, "
        f"format('note {{}} about shoot {{}}', {h("r, 'nv'", 1000)}, r // 500) "
        f"FROM range(?) t(r) WHERE {h("r, 'n'", 100)} < 20",
        [ids["Note"], n],
    )
    con.execute(
        "INSERT INTO property_values (property_id, image_id, value_date) SELECT ?, r + 1, "
        f"DATE '2015-01-01' + CAST({h("r, 'dv'", 4000)} AS INTEGER) FROM range(?) t(r) "
        f"WHERE {h("r, 'd'", 100)} < 30",
        [ids["Shot"], n],
    )
    tops = len(TOPS)
    con.execute(
        "INSERT INTO tags (id, property_id, parent_id, name) SELECT k + 1, ?, NULL, "
        "CAST(? AS VARCHAR[])[k + 1] FROM range(?) t(k)",
        [ids["Keywords"], list(TOPS), tops],
    )
    con.execute(
        "INSERT INTO tags (id, property_id, parent_id, name) SELECT ? + k + 1, ?, 1 + k % ?, "
        "format('{}-{}', CAST(? AS VARCHAR[])[1 + k % ?], k // ?) FROM range(?) t(k)",
        [tops, ids["Keywords"], tops, list(TOPS), tops, tops, tops * CHILDREN],
    )
    con.execute("SELECT max(nextval('tag_ids')) FROM range(?)", [tops * (CHILDREN + 1)])
    # 0-3 tags an image (one in two of three draws), among the 300 below the tops.
    con.execute(
        f"INSERT INTO image_tags SELECT DISTINCT r + 1, ? + 1 + {h("r, j, 't'", '?')} "
        f"FROM range(?) t(r), range(3) u(j) WHERE {h('r, j', 100)} < 50",
        [tops, tops * CHILDREN, n],
    )
    con.execute("CHECKPOINT")
    con.close()
    times["properties and tags"] = time.perf_counter() - started
    return times


def check_project(project: Path, n: int) -> dict[str, Any]:
    info = read.project_info(project)
    assert info["images"] == n and info["files"] == n, info
    assert info["tags"] == len(TOPS) * (CHILDREN + 1), info
    counts = {name: read.list_images(project, f"has:{name}").ids.size
              for name in ("Rating", "Note", "Shot", "Keywords")}  # fmt: skip
    assert all(0 < c < n for c in counts.values()), counts
    return {**info, "with": counts}


# -- timing ------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def first_and_median(fn: Callable[[], Any], runs: int) -> tuple[float, float, Any]:
    first, result = timed(fn)
    warm = [timed(fn)[0] for _ in range(runs)]
    return first, statistics.median(warm), result


# -- 1. filters, sorts and groups --------------------------------------------


def naive_filter_sort(project: Path) -> list[int]:
    """width>1920 Rating>=3, sorted by -size: the columns into Python, then Python."""
    con = duckdb.connect(str(project), read_only=True)
    images = con.execute("SELECT id, width FROM images").fetchall()
    size = dict(con.execute("SELECT image_id, size FROM files").fetchall())
    rating = dict(con.execute(
        "SELECT v.image_id, v.value_number FROM property_values v JOIN properties p "
        "ON p.id = v.property_id WHERE p.name = 'Rating'").fetchall())  # fmt: skip
    con.close()
    ids = [i for i, w in images if w > 1920 and rating.get(i, 0) >= 3]
    ids.sort(key=lambda i: (-size[i], i))
    return ids


def naive_tag_filter(project: Path, top: str) -> list[int]:
    """tag:Keywords/TOP sorted by -taken, in Python."""
    con = duckdb.connect(str(project), read_only=True)
    tags = con.execute("SELECT id, parent_id, name FROM tags").fetchall()
    links = con.execute("SELECT image_id, tag_id FROM image_tags").fetchall()
    taken = dict(con.execute("SELECT id, exif_date FROM images").fetchall())
    con.close()
    top_id = next(t for t, p, name in tags if p is None and name == top)
    wanted = {t for t, p, _ in tags if t == top_id or p == top_id}
    ids = sorted({i for i, t in links if t in wanted})
    ids.sort(key=lambda i: (taken[i] is None, -(taken[i].timestamp() if taken[i] else 0)))
    return ids


def naive_group_rating(project: Path) -> dict[Any, list[int]]:
    """All images grouped by Rating, in Python."""
    con = duckdb.connect(str(project), read_only=True)
    images = con.execute("SELECT id FROM images ORDER BY id").fetchall()
    rating = dict(con.execute(
        "SELECT v.image_id, v.value_number FROM property_values v JOIN properties p "
        "ON p.id = v.property_id WHERE p.name = 'Rating'").fetchall())  # fmt: skip
    con.close()
    groups: dict[Any, list[int]] = {}
    for (i,) in images:
        groups.setdefault(rating.get(i), []).append(i)
    return groups


def naive_group_keywords(project: Path) -> dict[str, list[int]]:
    """width>1920 grouped by Keywords tag, in Python."""
    con = duckdb.connect(str(project), read_only=True)
    wide = [i for i, w in con.execute("SELECT id, width FROM images").fetchall() if w > 1920]
    tags = {t: (p, name) for t, p, name in con.execute("SELECT id, parent_id, name FROM tags")
            .fetchall()}  # fmt: skip
    links = con.execute("SELECT image_id, tag_id FROM image_tags").fetchall()
    con.close()
    label = {t: (tags[p][1] + "/" + name if p else name) for t, (p, name) in tags.items()}
    by_image: dict[int, list[str]] = {}
    for i, t in links:
        by_image.setdefault(i, []).append(label[t])
    groups: dict[str, list[int]] = {}
    for i in wide:
        for name in by_image.get(i, ["(none)"]):
            groups.setdefault(name, []).append(i)
    return dict(sorted(groups.items()))


def open_and_query_split(project: Path, where: str, sort: str) -> tuple[float, float]:
    """Seconds to open the project read-only, and of the listing with it open."""
    from planche.core.properties import filters

    started = time.perf_counter()
    with open_store(project, read_only=True) as store:
        opened = time.perf_counter()
        filters.list_images(store, where, sort)
        done = time.perf_counter()
    return opened - started, done - opened


# -- 2. export ---------------------------------------------------------------


def export_rows_sql() -> str:
    """The rows and columns `export_table` writes, for the naive writer."""
    return (
        "WITH names AS (SELECT t.id AS tag_id, CASE WHEN p.name IS NULL THEN t.name ELSE "
        "p.name || '/' || t.name END AS label FROM tags t LEFT JOIN tags p ON p.id = t.parent_id), "
        "kw AS (SELECT it.image_id, string_agg(n.label, '; ' ORDER BY n.label) AS tags "
        "FROM image_tags it JOIN names n ON n.tag_id = it.tag_id GROUP BY it.image_id), "
        "pv AS (SELECT v.*, p.name AS prop FROM property_values v JOIN properties p "
        "ON p.id = v.property_id) "
        "SELECT x.path, i.sha256, parse_dirpath(x.path), parse_filename(x.path), x.size, "
        "i.width, i.height, i.format, i.exif_date, "
        "make_timestamp(CAST(x.mtime * 1000000 AS BIGINT)), i.imported_at, kw.tags, "
        "n.value_text, r.value_number, s.value_date "
        "FROM files x JOIN images i ON i.id = x.image_id "
        "LEFT JOIN kw ON kw.image_id = i.id "
        "LEFT JOIN pv n ON n.image_id = i.id AND n.prop = 'Note' "
        "LEFT JOIN pv r ON r.image_id = i.id AND r.prop = 'Rating' "
        "LEFT JOIN pv s ON s.image_id = i.id AND s.prop = 'Shot' ORDER BY x.path"
    )


HEADER = ["path", "sha256", "folder", "name", "size", "width", "height", "format", "taken",
          "modified", "imported", "Keywords:tag", "Note:text", "Rating:number",
          "Shot:date"]  # fmt: skip


def naive_fetch(project: Path) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(project), read_only=True)
    rows = con.execute(export_rows_sql()).fetchall()
    con.close()
    return rows


def naive_write(rows: list[tuple[Any, ...]], out: Path) -> int:
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return len(rows)


def parse_only(file: Path) -> int:
    with open(file, newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


# -- the run -----------------------------------------------------------------


def fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def fmt_x(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio >= 1 else f"{ratio:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5, help="warm runs of each listing")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    n = args.images
    run_started = time.perf_counter()
    load_before = os.getloadavg()[0]
    folder = Path(tempfile.mkdtemp(prefix="planche-bench-properties-"))
    rows: list[tuple[str, str, str, str, str]] = []  # what, planche, naive, ratio, note
    notes: list[str] = []
    try:
        project = folder / "project.duckdb"
        log(f"generating {n:,} images in {folder}")
        gen = generate(project, n)
        info = check_project(project, n)
        size_mib = project.stat().st_size / 2**20
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in gen.items())
        log(f"generated in {sum(gen.values()):.1f} s ({parts}); {size_mib:.0f} MiB; "
            f"with a value: {info['with']}")  # fmt: skip

        # 1. listings
        listings = [
            ("filter on two properties + sort", "width>1920 Rating>=3", "-size", "",
             naive_filter_sort),
            ("tag filter + sort", "tag:Keywords/animal", "-taken", "",
             lambda p: naive_tag_filter(p, "animal")),
            ("group by Rating (all images)", "", "", "Rating", naive_group_rating),
            ("filter + group by a tag property", "width>1920", "", "Keywords",
             naive_group_keywords),
        ]  # fmt: skip
        goal_filter = None
        for what, where, sort, group, naive in listings:
            call = f"list_images({where!r}, {sort!r}, {group!r})"
            log(f"planche {call}")
            first, warm, listing = first_and_median(
                lambda w=where, s=sort, g=group: read.list_images(project, w, s, g), args.runs
            )
            log(f"naive {what}")
            naive_s, naive_result = timed(lambda nv=naive: nv(project))
            naive_s = min(naive_s, timed(lambda nv=naive: nv(project))[0])
            if group:
                assert listing.groups is not None
                found = sum(len(m) for _, m in listing.groups)
                expected = sum(len(m) for m in naive_result.values())
                assert found == expected, (what, found, expected)
                shown = f"{len(listing.groups)} groups, {found:,} rows"
            else:
                assert listing.ids.size == len(naive_result), (what, listing.ids.size)
                if not sort.endswith("taken"):
                    assert listing.ids.tolist() == naive_result, what
                shown = f"{listing.ids.size:,} images"
            asked = " ".join(f"{k} `{v}`" for k, v in (("where", where), ("sort", sort),
                                                        ("group", group)) if v)  # fmt: skip
            rows.append((f"{what}: {asked} ({shown})", f"{fmt_s(warm)} (first {fmt_s(first)})",
                         fmt_s(naive_s), fmt_x(naive_s / warm), ""))  # fmt: skip
            if goal_filter is None:
                goal_filter = (first, warm, naive_s)
                split = [open_and_query_split(project, where, sort) for _ in range(args.runs)]
                open_s, query_s = (statistics.median(s[k] for s in split) for k in range(2))
                notes.append(f"of the two-property filter's warm time, opening the project "
                             f"read-only takes {fmt_s(open_s)} and the listing "
                             f"{fmt_s(query_s)}")  # fmt: skip

        # 2. export
        out = folder / "export.csv"
        log("planche export_table")
        export_s, report = timed(lambda: read.export_table(project, out))
        export_s = min(export_s, timed(lambda: read.export_table(project, out))[0])
        assert report["rows"] == n, report
        export_mib = out.stat().st_size / 2**20
        log("naive: fetch the rows into Python")
        fetch_s, fetched = timed(lambda: naive_fetch(project))
        naive_out = folder / "naive.csv"
        log("naive: csv.writer")
        started = time.perf_counter()
        written = naive_write(fetched, naive_out)
        write_s = time.perf_counter() - started
        assert written == n
        fetched.clear()
        naive_mib = naive_out.stat().st_size / 2**20
        rows.append((f"export to CSV, {n:,} rows x {report['columns']} columns "
                     f"({export_mib:.0f} MiB)", fmt_s(export_s),
                     f"{fmt_s(write_s)} (csv.writer on rows in Python; {naive_mib:.0f} MiB)",
                     fmt_x(write_s / export_s), "goal: >= 5x"))  # fmt: skip
        rows.append(("export, naive including the fetch into Python", fmt_s(export_s),
                     f"{fmt_s(fetch_s + write_s)} (fetch {fmt_s(fetch_s)} + write)",
                     fmt_x((fetch_s + write_s) / export_s), ""))  # fmt: skip

        # 3. import into a copy
        copy = folder / "copy.duckdb"
        shutil.copyfile(project, copy)
        log("planche import_table into a copy")
        import_s, outcome = timed(lambda: commands.run(copy, "import_table", {"file": str(out)}))
        assert outcome["matched"] == n, outcome
        log("naive: csv.reader parsing the file")
        parse_s, parsed = timed(lambda: parse_only(out))
        assert parsed == n
        rows.append((f"import that CSV (`import_table`, whole; {outcome['matched']:,} matched)",
                     fmt_s(import_s), f"{fmt_s(parse_s)} (csv.reader parse only)",
                     fmt_x(parse_s / import_s), "goal: <= 10 s"))  # fmt: skip
        check = read.list_images(copy, "width>1920 Rating>=3", "-size").ids
        assert check.tolist() == goal_filter_ids(project), "the import changed the values"

        # 3b. the same CSV into a copy without those properties: every value is new
        bare = folder / "bare.duckdb"
        shutil.copyfile(project, bare)
        with duckdb.connect(str(bare)) as con:
            for table in ("property_values", "image_tags", "tags", "properties"):
                con.execute(f"DELETE FROM {table}")
        log("planche import_table into a copy without the properties")
        fresh_s, fresh = timed(lambda: commands.run(bare, "import_table", {"file": str(out)}))
        rows.append(("import that CSV into a copy without the properties (every value new)",
                     fmt_s(fresh_s), f"{fmt_s(parse_s)} (csv.reader parse only)",
                     fmt_x(parse_s / fresh_s), "goal: <= 10 s"))  # fmt: skip
        check = read.list_images(bare, "width>1920 Rating>=3", "-size").ids
        assert check.tolist() == goal_filter_ids(project), "the import set other values"

        # the table
        print()
        print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
              f"DuckDB {duckdb.__version__}; {n:,} images, project {size_mib:.0f} MiB, "
              f"generated in {sum(gen.values()):.0f} s; warm = median of {args.runs} runs"
              )  # fmt: skip
        print()
        print("| measured | planche | naive | naive / planche | |")
        print("|---|---:|---:|---:|---|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()
        assert goal_filter is not None
        first, warm, naive_s = goal_filter
        print(f"- goal 1, filter on two properties and a sort <= 200 ms: "
              f"{'met' if warm <= GOAL_FILTER_S else 'NOT met'} ({fmt_s(warm)} warm, "
              f"{fmt_s(first)} first; {warm / GOAL_FILTER_S:.2f}x the budget; "
              f"the naive way takes {fmt_x(naive_s / warm)} as long)")  # fmt: skip
        ratio = write_s / export_s
        print(f"- goal 2, export >= 5x faster than csv.writer: "
              f"{'met' if ratio >= GOAL_EXPORT_RATIO else 'NOT met'} ({ratio:.1f}x against "
              f"csv.writer alone, {(fetch_s + write_s) / export_s:.1f}x with the fetch)"
              )  # fmt: skip
        print(f"- goal 3, import of the same CSV <= 10 s: "
              f"{'met' if import_s <= GOAL_IMPORT_S else 'NOT met'} ({fmt_s(import_s)}, "
              f"{import_s / GOAL_IMPORT_S:.2f}x the budget; every value new: {fmt_s(fresh_s)}, "
              f"{fresh_s / GOAL_IMPORT_S:.2f}x)")  # fmt: skip
        notes.append(
            f"load average (1 min) {load_before:.1f} at the start and "
            f"{os.getloadavg()[0]:.1f} at the end, on {os.cpu_count()} cores"
        )
        for note in notes:
            print(f"- {note}")
        print(f"total run time: {time.perf_counter() - run_started:.0f} s")
    finally:
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def goal_filter_ids(project: Path) -> list[int]:
    return read.list_images(project, "width>1920 Rating>=3", "-size").ids.tolist()


if __name__ == "__main__":
    main()
