"""Errors a user can act on.

Every exception planche raises on purpose derives from `PlancheError` and carries
a message written for the person at the keyboard: it names the file, project or
parameter and says what is wrong. Front ends print the message, never a traceback.
"""

from __future__ import annotations

from pathlib import Path


class PlancheError(Exception):
    """Base of every error meant to be shown to the user as it is."""

    exit_code = 2


class ProjectNotFound(PlancheError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no project at {path}: create one with `planche import FOLDER --project {path}`"
        )
        self.path = path


class ProjectInvalid(PlancheError):
    """The file exists but is not a planche project we can use."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path} is not a usable planche project: {why}")
        self.path = path


class ProjectLocked(PlancheError):
    """Another process has the project open; DuckDB allows one writer per file."""

    exit_code = 3

    def __init__(self, path: Path, holder: str, waited_s: float) -> None:
        super().__init__(
            f"project {path} is in use by another process ({holder}); waited {waited_s:.0f} s. "
            "Try again when it has finished, or close it."
        )
        self.path = path
        self.holder = holder


class ProjectReadOnly(PlancheError):
    """A command that changes the project met a file it may not write."""

    def __init__(self, path: Path, why: str = "its file has no write permission") -> None:
        super().__init__(
            f"project {path} is read-only ({why}): reading commands (info, search, clusters, "
            f"tags, history) work; to change it, make it writable (chmod u+w {path}) or "
            "work on a copy"
        )
        self.path = path


class ProjectDamaged(PlancheError):
    """The file is a planche project whose bytes are not all there or not all sound."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(
            f"project {path} is damaged ({why}); nothing was written to it. Restore it from a "
            "backup, or import the folder again into a new project"
        )
        self.path = path


class DiskFull(PlancheError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"no space left on the device holding {path}: free some space and run the same "
            "command again; everything committed before is kept"
        )
        self.path = path


class WeightsUnavailable(PlancheError):
    """Model weights are neither given, nor cached, nor downloadable now."""


class BadParameter(PlancheError):
    def __init__(self, name: str, value: object, allowed: str) -> None:
        shown = str(value) if isinstance(value, Path) else value
        super().__init__(f"{name}={shown!r} is not allowed: expected {allowed}")
        self.name = name


class Cancelled(PlancheError):
    """The user asked long work to stop; what was finished is kept."""

    exit_code = 130
