"""Which files a distributed run embeds, and which of them are already done.

A source is a folder (scanned as `planche import` scans one), a text file
with one path per line, or a Parquet or CSV listing with a `path` column.
Shards already in the output folder say which paths are done: a second run
over the same source embeds only what the first one did not write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from planche.core.errors import BadParameter
from planche.core.scan import Candidate, ScanProblem, scan
from planche.core.shards.schema import SHARD_SUFFIX

LISTING_SUFFIXES = (".parquet", ".csv")


@dataclass
class Listing:
    """The files of a source: those to stat-and-embed, and those that failed early."""

    candidates: list[Candidate] = field(default_factory=list)
    problems: list[ScanProblem] = field(default_factory=list)


def list_source(source: Path) -> Listing:
    """The files named by SOURCE (a folder, a list of paths, a Parquet or CSV listing)."""
    source = Path(source).expanduser()
    if source.is_dir():
        listing = Listing()
        for found in scan(source):
            target = listing.problems if isinstance(found, ScanProblem) else listing.candidates
            target.append(found)  # type: ignore[arg-type]
        return listing
    if not source.is_file():
        raise BadParameter(
            "SOURCE", str(source), "a folder, a text file of paths, or a Parquet/CSV listing"
        )
    paths = _listed_paths(source)
    base = source.absolute().parent
    listing = Listing()
    seen: set[str] = set()
    for raw in paths:
        path = os.path.normpath(base / raw) if not os.path.isabs(raw) else os.path.normpath(raw)
        if path in seen:
            continue
        seen.add(path)
        try:
            stat = os.stat(path)
        except OSError as exc:
            listing.problems.append(ScanProblem(path, f"cannot read: {exc.strerror or exc}"))
            continue
        listing.candidates.append(Candidate(path, stat.st_size, stat.st_mtime))
    return listing


def _listed_paths(source: Path) -> list[str]:
    if source.suffix.lower() not in LISTING_SUFFIXES:
        try:
            text = source.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise BadParameter(
                "SOURCE", str(source), f"a UTF-8 text file of paths (byte {exc.start} is not)"
            ) from None
        return [line.strip() for line in text.splitlines() if line.strip()]
    import duckdb

    reader = "read_parquet" if source.suffix.lower() == ".parquet" else "read_csv"
    con = duckdb.connect()
    try:
        columns = [row[0] for row in con.execute(
            f"DESCRIBE SELECT * FROM {reader}(?)", [str(source)]
        ).fetchall()]  # fmt: skip
        if "path" not in columns:
            raise BadParameter(
                "SOURCE", str(source),
                f"a listing with a 'path' column (its columns: {', '.join(columns) or 'none'})",
            )  # fmt: skip
        rows = con.execute(
            f"SELECT CAST(path AS VARCHAR) FROM {reader}(?) WHERE path IS NOT NULL", [str(source)]
        ).fetchall()
    except duckdb.Error as exc:
        first = (str(exc).splitlines() or ["unreadable"])[0]
        raise BadParameter("SOURCE", str(source), f"a readable listing ({first})") from None
    finally:
        con.close()
    return [row[0] for row in rows]


def shard_files(folder: Path) -> list[Path]:
    """The finished shards in `folder` (partial ones, left by a killed run, are not)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith(SHARD_SUFFIX) and p.is_file())


def paths_done(folder: Path) -> set[str]:
    """Paths that a shard in `folder` already holds (embedded or failed)."""
    files = shard_files(folder)
    if not files:
        return set()
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT DISTINCT path FROM read_parquet(?)", [[str(p) for p in files]]
        ).fetchall()
    except duckdb.Error as exc:
        first = (str(exc).splitlines() or ["unreadable"])[0]
        raise BadParameter("--out", str(folder), f"a folder of readable shards ({first})") from None
    finally:
        con.close()
    return {row[0] for row in rows}
