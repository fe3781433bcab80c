"""What a command is: declared, typed parameters (some of them references to
images, clusterings, clusters, tags or models), how it runs, and how it is
undone and redone. The journal, script export, validation and replay are
generic over these declarations, so a new command is one new class.

A writing command runs in two parts. `prepare` does the slow work (reading
vectors, clustering, embedding) with the project open only for short reads;
`apply` makes the changes with the project open for writing, inside the
transaction that also appends the command's journal entry, so a process
killed at any instant leaves both or neither. A reading command (`writes =
False`) opens the project read-only, is not journaled, and so works on a
read-only project file.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from planche.core.errors import BadParameter
from planche.core.progress import CancelToken, ProgressCallback, ignore_progress
from planche.core.session import Session
from planche.core.store import Store

# What a parameter may refer to. In the journal a reference is an id of this
# project; in an exported script it is symbolic (see refs.py).
RefKind = Literal["image", "image_term", "clustering", "cluster", "tag", "model"]

# A script step or a journal entry may name at most this many items in one
# list parameter (a million images tagged at once is a lot; ten is absurd).
MAX_LIST_ITEMS = 10_000_000
MAX_TEXT_CHARS = 10_000


@dataclass
class Context:
    """What a front end lends a command: progress, cancellation, loaded models."""

    progress: ProgressCallback = ignore_progress
    cancel: CancelToken = field(default_factory=CancelToken)
    session: Session = field(default_factory=Session)


@dataclass(frozen=True)
class Field:
    """One declared parameter of a command.

    `type` is int, float, bool, str or dict; `many` makes it a list of them.
    `ref` says what the value (or each item) refers to.
    """

    name: str
    type: type
    default: Any = None
    required: bool = False
    many: bool = False
    ref: RefKind | None = None
    nullable: bool = True
    help: str = ""

    def ref_for(self, params: Mapping[str, Any]) -> RefKind | None:
        """What the value refers to, given the other parameters (a field whose
        meaning depends on another, like the map's scope_ref, overrides this)."""
        return self.ref

    @property
    def may_refer(self) -> bool:
        """Whether a symbolic reference is a possible value."""
        return self.ref is not None

    def check(self, value: Any, where: str) -> Any:
        """The value, checked against the declaration; BadParameter names it."""
        if value is None:
            if self.required or (not self.nullable and self.default is not None):
                raise BadParameter(f"{where}{self.name}", value, f"a {self._what()}")
            return None
        if self.many:
            if not isinstance(value, list | tuple):
                raise BadParameter(
                    f"{where}{self.name}", _short(value), f"a list of {self._what()}"
                )
            if len(value) > MAX_LIST_ITEMS:
                raise BadParameter(
                    f"{where}{self.name}", f"{len(value):,} items", f"at most {MAX_LIST_ITEMS:,}"
                )
            return [self._check_one(v, where) for v in value]
        return self._check_one(value, where)

    def _check_one(self, value: Any, where: str) -> Any:
        if _is_symbolic(value) and self.may_refer:
            return value  # a symbolic reference: checked when it is resolved
        expected = self.type
        if self.ref == "image_term" and isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        ok = isinstance(value, expected) and not (
            expected in (int, float) and isinstance(value, bool)
        )
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            raise BadParameter(f"{where}{self.name}", _short(value), f"a {self._what()}")
        if isinstance(value, dict):
            return dict(value)  # a default object is never shared between runs
        if isinstance(value, str) and len(value) > MAX_TEXT_CHARS:
            raise BadParameter(f"{where}{self.name}", _short(value), "a shorter text")
        return value

    def _what(self) -> str:
        names = {int: "whole number", float: "number", bool: "true or false", str: "text",
                 dict: "JSON object"}  # fmt: skip
        what = names.get(self.type, self.type.__name__)
        return f"{what} ({self.ref} reference)" if self.ref else what


def _is_symbolic(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and next(iter(value)).startswith("$")


def _short(value: Any) -> Any:
    text = repr(value)
    return value if len(text) <= 60 else text[:57] + "..."


class Command:
    """One user action. Subclasses declare `name`, `fields` and override the parts."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    fields: ClassVar[tuple[Field, ...]] = ()
    writes: ClassVar[bool] = True
    undoable: ClassVar[bool] = False
    creates_project: ClassVar[bool] = False
    # Field names that earlier planche versions wrote into scripts and that
    # mean nothing now: accepted and dropped, so old scripts still replay.
    retired: ClassVar[frozenset[str]] = frozenset()

    def validate(self, params: Mapping[str, Any], where: str = "") -> dict[str, Any]:
        """Params checked against the declaration, with defaults filled in."""
        if not isinstance(params, Mapping):
            raise BadParameter(f"{where}params", _short(params), "a JSON object")
        known = {f.name for f in self.fields}
        unknown = sorted(set(params) - known - self.retired)
        if unknown:
            raise BadParameter(
                f"{where}{unknown[0]}", params[unknown[0]],
                f"a parameter of {self.name} ({', '.join(sorted(known)) or 'none'})",
            )  # fmt: skip
        # Values given are checked first, so a wrong one is named before a missing one.
        checked = {f.name: f.check(params[f.name], where) for f in self.fields if f.name in params}
        for f in self.fields:
            if f.name not in checked:
                checked[f.name] = f.check(f.default, where)
        self.check(checked)
        return checked

    def check(self, params: dict[str, Any]) -> None:
        """Checks across parameters (after each was checked alone)."""

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        """The slow part, before the write transaction (reads only)."""
        return None

    def apply(
        self, store: Store, params: dict[str, Any], prepared: Any, context: Context
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Make the changes (inside the transaction); return (outcome, undo data)."""
        raise NotImplementedError

    def read(self, project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
        """A reading command's whole work."""
        raise NotImplementedError

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> list[str] | None:
        """Take the changes back (inside the transaction); notes on what could not be."""
        raise NotImplementedError

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> list[str] | None:
        raise NotImplementedError

    def settle(self, project: Path, committed: bool) -> None:
        """After the transaction of a run, undo or redo of this command ended,
        committed or not: for work outside the project (files), finish it or
        put it back to match the journal."""

    def summary(self, outcome: dict[str, Any]) -> str:
        """One line about an outcome, for replay reports."""
        return "done"

    def folders_read(self, params: dict[str, Any]) -> list[str]:
        """Folders of the file system this step would read (for --dry-run)."""
        return []


class RecordedChoice(Command):
    """A choice the user made (not duplicates, a refused suggestion, a saved view)
    whose journal entry is the record: what reads it takes the runs in effect, so
    undo and redo only flip the entry's status."""

    undoable = True

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        return None

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        return None


class _Registry(Mapping[str, Command]):
    """Every command by name. The modules declaring them are imported on the first
    look (see COMMAND_MODULES in __init__.py); registering (`add`) looks at nothing."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._loaded = False

    def add(self, spec: Command) -> None:
        self._commands[spec.name] = spec

    def _all(self) -> dict[str, Command]:
        if not self._loaded:
            self._loaded = True
            from planche.core.commands import load_command_modules

            load_command_modules()
        return self._commands

    def __getitem__(self, name: str) -> Command:
        return self._all()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())


_REGISTRY = _Registry()
COMMANDS: Mapping[str, Command] = _REGISTRY


def command(cls: type[Command]) -> type[Command]:
    """Register a command class under its name."""
    _REGISTRY.add(cls())
    return cls


def get_command(name: Any) -> Command:
    if not isinstance(name, str) or name not in COMMANDS:
        raise BadParameter("command", name, "one of " + ", ".join(sorted(COMMANDS)))
    return COMMANDS[name]


Undoer = Callable[[Store, dict[str, Any], dict[str, Any]], None]
