"""Every user action as a declared command: run, journaled, undone, redone, replayed.

The CLI and the app never change a project except through `run`. Each
command is one class (base.py) with typed parameters, some of them references
to images, clusterings, clusters, tags and models; the journal, undo and redo
(journal.py), the symbolic references of scripts (refs.py) and replay
(scripts.py) are generic over those declarations. A new command is one new
class in one of the modules imported below.
"""

from __future__ import annotations

from planche.core.commands import (
    clusterings,
    dedupe,
    editing,
    importing,
    maps,
    properties,
    searching,
    tagging,
)
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

__all__ = [
    "APP_ONLY",
    "COMMANDS",
    "SCRIPT_HEADER",
    "Command",
    "Context",
    "Field",
    "ReplayError",
    "Replayer",
    "clusterings",
    "command",
    "dedupe",
    "editing",
    "export_script",
    "get_command",
    "history",
    "importing",
    "maps",
    "plan",
    "properties",
    "read_script",
    "redo",
    "replay",
    "run",
    "searching",
    "summary",
    "tagging",
    "undo",
    "validate",
    "write_script",
]
