"""Measuring helpers shared by the benchmarks (run from bench/, so importable by name)."""

from __future__ import annotations

import resource
import subprocess
from pathlib import Path


def peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB."""
    # VmHWM, not getrusage's ru_maxrss: on Linux the latter carries the parent's
    # peak over fork and exec, so every child would report at least the parent's.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def tree_of(revision: str, into: Path, parts: tuple[str, ...] = ("core",)) -> Path:
    """planche's core (or `parts`) at `revision` (git archive), laid out to go first on
    the path."""
    root = Path(__file__).resolve().parent.parent
    (into / "planche").mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(root), "archive", revision, *parts],
                             capture_output=True, check=True).stdout  # fmt: skip
    subprocess.run(["tar", "-x", "-C", str(into / "planche")], input=archive, check=True)
    (into / "planche" / "__init__.py").write_text("")
    return into
