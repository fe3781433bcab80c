"""Every user action as a declared command: run, journaled, undone, redone, replayed.

The CLI and the app never change a project except through `run`. Each
command is one class (base.py) with typed parameters, some of them references
to images, clusterings, clusters, tags and models; the journal, undo and redo
(journal.py), the symbolic references of scripts (refs.py) and replay
(scripts.py) are generic over those declarations. A new command is one new
class in one of the modules imported below.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from planche.core.commands.base import COMMANDS, Command, Context, Field, command, get_command
from planche.core.commands.journal import history, redo, run, undo
from planche.core.commands.scripts import (
    APP_ONLY,
    SCRIPT_HEADER,
    Replayer,
    ReplayError,
    export_script,
    plan,
    read_script,
    replay,
    summary,
    validate,
    write_script,
)

# The modules that declare commands. They load on the first look into COMMANDS (or by
# name, `commands.tagging`), not with this package: they bring clustering, import,
# maps and table reading, about 0.1 s that the app's first screen does not need.
COMMAND_MODULES = (
    "clusterings",
    "dedupe",
    "editing",
    "importing",
    "maps",
    "properties",
    "searching",
    "tagging",
)


def load_command_modules() -> None:
    """Import every module that declares commands (each registers its own)."""
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def __getattr__(name: str) -> ModuleType | Any:
    if name in COMMAND_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "APP_ONLY",
    "COMMANDS",
    "SCRIPT_HEADER",
    "Command",
    "Context",
    "Field",
    "ReplayError",
    "Replayer",
    "COMMAND_MODULES",
    "command",
    "export_script",
    "get_command",
    "history",
    "load_command_modules",
    "plan",
    "read_script",
    "redo",
    "replay",
    "run",
    "summary",
    "undo",
    "validate",
    "write_script",
]
