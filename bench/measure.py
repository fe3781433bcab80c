"""Measuring helpers shared by the benchmarks (run from bench/, so importable by name)."""

from __future__ import annotations

import resource


def peak_rss_mib() -> float:
    """This process's peak resident memory, in MiB."""
    # VmHWM, not getrusage's ru_maxrss: on Linux the latter carries the parent's
    # peak over fork and exec, so every child would report at least the parent's.
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
