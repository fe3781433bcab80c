"""Keeper rules: which file of a duplicate group is kept.

Rules are ordered; each one breaks the ties the rules before it left:

- `shape`: a file of the shape most of its group has (width / height within
  1%): a stretched or cut copy has more pixels than the photo it was made
  from, and `resolution` alone kept a stretched upscale and trashed the
  original. A group with no majority shape (a pair of two shapes) leaves all;
- `resolution`: the most pixels (width x height of the image as imported);
- `size`: the largest file;
- `oldest` / `newest`: by date taken (EXIF), else by the file's modification
  time; between equal dates taken (byte copies share their EXIF), the earlier
  (later) modified file;
- `shortest-path`: the fewest characters in the whole path;
- `folder:DIR`: a file inside DIR (at any depth);
- `pattern:GLOB`: a path that matches GLOB (shell wildcards, `*` crosses `/`);
  a glob without `/` is matched against the file name alone.

When every rule leaves several files tied, the first by path is kept, so the
choice never depends on the order the project returns rows in. The keeper
carries the rule that decided it: the one that left it alone among the
candidates (None when the path order did).
"""

from __future__ import annotations

import fnmatch
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from planche.core.errors import BadParameter

NAMED_RULES = ("shape", "resolution", "size", "oldest", "newest", "shortest-path")
PREFIXED_RULES = ("folder:", "pattern:")
DEFAULT_RULES = ("shape", "resolution", "size", "oldest", "shortest-path")
# Shapes (width / height) this close count as one: rounding when resizing moves it.
_SAME_SHAPE = 0.01
ALLOWED = "rules among " + ", ".join(NAMED_RULES) + ", folder:DIR, pattern:GLOB"


@dataclass(frozen=True)
class Candidate:
    """One file of a group, as the project recorded it at import."""

    path: str
    image_id: int
    size: int
    mtime: float
    width: int
    height: int
    taken: datetime | None = None  # EXIF date, naive local time

    @property
    def date(self) -> tuple[float, float]:
        """(date taken, else modified; modified), as seconds since the epoch."""
        taken = self.taken.timestamp() if self.taken is not None else self.mtime
        return (taken, self.mtime)


@dataclass(frozen=True)
class Rule:
    name: str  # one of NAMED_RULES, or "folder" / "pattern"
    arg: str = ""

    @property
    def text(self) -> str:
        return f"{self.name}:{self.arg}" if self.arg else self.name

    def keys(self, pool: Sequence[Candidate]) -> list[Any]:
        """Each candidate's key (higher is better); `shape` looks at the whole pool."""
        if self.name != "shape":
            return [self.key(c) for c in pool]
        shapes = [math.log(max(c.width, 1) / max(c.height, 1)) for c in pool]
        near = [sum(abs(a - b) <= _SAME_SHAPE for b in shapes) for a in shapes]
        most = max(near)
        if near.count(most) == len(pool) or most * 2 <= len(pool):
            return [0] * len(pool)  # one shape, or none that most of the group has
        return [int(n == most) for n in near]

    def key(self, c: Candidate) -> Any:
        """Higher is better (every rule but `shape`, which needs the group)."""
        if self.name == "resolution":
            return c.width * c.height
        if self.name == "size":
            return c.size
        if self.name == "oldest":
            return tuple(-v for v in c.date)
        if self.name == "newest":
            return c.date
        if self.name == "shortest-path":
            return -len(c.path)
        if self.name == "folder":
            return inside(c.path, self.arg)
        return matches(c.path, self.arg)

    def describe(self, c: Candidate) -> str:
        """Why `c` won under this rule, in words."""
        if self.name == "shape":
            return f"the group's usual shape ({c.width}x{c.height}; others stretched or cut)"
        if self.name == "resolution":
            return f"highest resolution ({c.width}x{c.height})"
        if self.name == "size":
            return f"largest file ({c.size:,} bytes)"
        if self.name in ("oldest", "newest"):
            when = (
                f"taken {c.taken:%Y-%m-%d %H:%M:%S}"
                if c.taken is not None
                else f"modified {datetime.fromtimestamp(c.mtime):%Y-%m-%d %H:%M:%S}"
            )
            return f"{self.name} ({when})"
        if self.name == "shortest-path":
            return f"shortest path ({len(c.path)} characters)"
        if self.name == "folder":
            return f"inside the preferred folder {self.arg}"
        return f"path matches {self.arg}"


def inside(path: str, folder: str) -> bool:
    """Whether `path` lies in `folder` (at any depth); both absolute."""
    folder = folder.rstrip(os.sep) or os.sep
    return path.startswith(folder if folder == os.sep else folder + os.sep)


def matches(path: str, glob: str) -> bool:
    name = path if "/" in glob else os.path.basename(path)
    return fnmatch.fnmatchcase(name, glob)


def parse_rules(texts: Sequence[str]) -> list[Rule]:
    """Rules from `--keep` values: each is split at commas, except that a comma
    inside a `folder:` or `pattern:` rule stays when what follows is not a rule.
    A bad rule raises BadParameter naming it."""
    pieces: list[str] = []
    for text in texts:
        parts = text.split(",")
        pieces.append(parts[0])
        for part in parts[1:]:
            if pieces[-1].strip().startswith(PREFIXED_RULES) and not _starts_rule(part):
                pieces[-1] += "," + part
            else:
                pieces.append(part)
    rules = [_rule(piece) for piece in pieces]
    if not rules:
        raise BadParameter("keep", "", ALLOWED)
    return rules


def _starts_rule(part: str) -> bool:
    stripped = part.strip()
    return stripped in NAMED_RULES or stripped.startswith(PREFIXED_RULES)


def _rule(piece: str) -> Rule:
    text = piece.strip()
    if text in NAMED_RULES:
        return Rule(text)
    for prefix in PREFIXED_RULES:
        if text.startswith(prefix):
            arg = text[len(prefix) :]
            if not arg:
                raise BadParameter("keep", text, f"{prefix}{'DIR' if 'f' in prefix else 'GLOB'}")
            if prefix == "folder:":
                folder = os.path.abspath(os.path.expanduser(arg))
                if not os.path.isdir(folder):
                    raise BadParameter("keep", text, "folder:DIR with a folder that exists")
                arg = folder
            return Rule(prefix[:-1], arg)
    raise BadParameter("keep", text, ALLOWED)


@dataclass(frozen=True)
class Choice:
    keeper: Candidate
    rule: str | None  # the rule that left the keeper alone; None: path order
    reason: str


def choose_keeper(candidates: Sequence[Candidate], rules: Sequence[Rule]) -> Choice:
    """The file to keep among `candidates` (at least one), and why."""
    if not candidates:
        raise ValueError("no candidates")
    pool = sorted(candidates, key=lambda c: c.path)
    if len(pool) == 1:
        return Choice(pool[0], None, "the only file of its group still on disk")
    for rule in rules:
        keys = rule.keys(pool)
        best = max(keys)
        pool = [c for c, k in zip(pool, keys, strict=True) if k == best]
        if len(pool) == 1:
            return Choice(pool[0], rule.text, rule.describe(pool[0]))
    return Choice(pool[0], None, f"first by path ({len(pool)} files tied on every rule)")
