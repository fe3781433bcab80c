"""Finding the image files under a folder.

Symbolic links to folders are followed (photo libraries are often assembled
from links), but each real folder is visited once, so a link back to an
ancestor cannot loop. Hidden files and folders (names starting with a dot:
.git, .cache, editors' sidecars) are skipped.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from planche.core.decode import IMAGE_SUFFIXES
from planche.core.text import is_valid_utf8, printable


@dataclass(frozen=True)
class Candidate:
    path: str  # absolute, symbolic links in it kept as the user sees them
    size: int
    mtime: float


@dataclass(frozen=True)
class ScanProblem:
    path: str
    reason: str


def scan(root: Path) -> Iterator[Candidate | ScanProblem]:
    """Yield every file with an image suffix under `root`, or why it was passed over."""
    root = Path(os.path.abspath(root))
    try:
        root_stat = root.stat()
    except OSError as exc:
        yield ScanProblem(str(root), _os_reason(exc))
        return
    visited = {(root_stat.st_dev, root_stat.st_ino): str(root)}
    yield from _walk(str(root), visited, ancestors=(str(root),))


def _walk(
    folder: str, visited: dict[tuple[int, int], str], ancestors: tuple[str, ...]
) -> Iterator[Candidate | ScanProblem]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        yield ScanProblem(folder, f"cannot list folder: {_os_reason(exc)}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError as exc:
            yield ScanProblem(entry.path, _os_reason(exc))
            continue
        if is_dir:
            yield from _enter(entry, visited, ancestors)
            continue
        if os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES:
            continue
        if not is_valid_utf8(entry.path):
            # The project stores paths as UTF-8 text; such a name cannot be kept.
            yield ScanProblem(printable(entry.path), "file name is not valid UTF-8; rename it")
            continue
        try:
            info = entry.stat(follow_symlinks=True)
        except OSError as exc:
            yield ScanProblem(entry.path, _os_reason(exc))
            continue
        yield Candidate(entry.path, info.st_size, info.st_mtime)


def _enter(
    entry: os.DirEntry[str], visited: dict[tuple[int, int], str], ancestors: tuple[str, ...]
) -> Iterator[Candidate | ScanProblem]:
    try:
        info = entry.stat(follow_symlinks=True)
    except OSError as exc:
        yield ScanProblem(entry.path, _os_reason(exc))
        return
    key = (info.st_dev, info.st_ino)
    seen = visited.get(key)
    if seen is not None:
        if seen in ancestors:
            reason = f"symbolic link loop: points back to {seen}, which contains it; skipped"
        else:
            reason = f"symbolic link to a folder already scanned ({seen}); skipped"
        yield ScanProblem(entry.path, reason)
        return
    visited[key] = entry.path
    yield from _walk(entry.path, visited, (*ancestors, entry.path))


def _os_reason(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (too many levels of symbolic links)"
    if exc.errno == errno.ENOENT:
        return "broken symbolic link or vanished file (no such file)"
    if exc.errno == errno.EACCES:
        return "permission denied"
    return exc.strerror or str(exc)
