"""The grid's view: a filter, a sort and a grouping over the scope shown, set in
one dialog (`f`). The dialog checks the view in a worker, against the project,
before it closes: a term that does not parse is named under the inputs and the
dialog stays, so it can be mended."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Input, Label, Static

from planche.core import commands, read
from planche.core.errors import PlancheError
from planche.core.text import printable
from planche.tui.workers import background


@dataclass(frozen=True)
class View:
    where: str = ""
    sort: str = ""
    group: str = ""

    @property
    def active(self) -> bool:
        return bool(self.where.strip() or self.sort.strip() or self.group.strip())

    def describe(self) -> str:
        parts = [f"where {self.where.strip()}" if self.where.strip() else "",
                 f"sorted by {self.sort.strip()}" if self.sort.strip() else "",
                 f"by {self.group.strip()}" if self.group.strip() else ""]  # fmt: skip
        return " · ".join(p for p in parts if p)


def last_term(value: str) -> tuple[int, str]:
    """Where the term being typed starts, and the term: after the last space or
    comma outside double quotes (sort keys are comma-separated)."""
    start, quoted = 0, False
    for at, char in enumerate(value):
        if char == '"':
            quoted = not quoted
        elif char in " ," and not quoted:
            start = at + 1
    return start, value[start:]


class TermSuggester(Suggester):
    """Completes the term being typed (the last one): a property's name, and
    after `tag:` or a tag property's `Name:` one of its tags. A name whose usual
    operator is `:` (folder, tag, a text property) comes with it; a number's or
    a date's (= > ...) is the user's to type."""

    def __init__(self, words: read.FilterWords | None = None, tags: bool = False) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.words = words or read.FilterWords()
        self.tags = tags

    async def get_suggestion(self, value: str) -> str | None:
        _, term = last_term(value)
        stem = term.lstrip("-")
        key, colon, typed = stem.partition(":")
        if colon and self.tags:
            return _completed(value, typed, self._tag_values(key))
        if not stem or any(c in stem for c in ':<>=!"'):
            return None
        completed = _completed(value, stem, self.words.names)
        name = None if completed is None else completed[len(value) - len(stem) :]
        if self.tags and name in self.words.colon:  # the filter box; sort and group keys: none
            completed = f"{completed}:"
        return completed

    def _tag_values(self, key: str) -> list[str]:
        """What may follow `key:`: every tag as Property/path after `tag:`, a
        tag property's own paths after its name."""
        if key.lower() == "tag":
            return [f"{name}/{path}" for name, paths in self.words.tags.items() for path in paths]
        for name, paths in self.words.tags.items():
            if name.lower() == key.lower():
                return list(paths)
        return []


def _completed(value: str, typed: str, candidates: Sequence[str]) -> str | None:
    """`value` with `typed` (its end) completed by the first candidate it begins,
    in any case. A candidate with a space needs the quote the user opened."""
    quoted = typed.startswith('"')
    stem = typed[1:] if quoted else typed
    for candidate in candidates:
        if not quoted and (" " in candidate or '"' in candidate):
            continue
        if candidate.lower().startswith(stem.lower()) and candidate.lower() != stem.lower():
            return value + candidate[len(stem) :] + ('"' if quoted else "")
    return None


class ViewScreen(ModalScreen[tuple[View, read.Listing] | None]):
    """Filter, sort and group the grid; gives the view and its listing, or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    # Four boxes, the error and the hint fit an 80x24 terminal: no margins there.
    DEFAULT_CSS = """
    ViewScreen { align: center middle; }
    #view-dialog {
        width: 100%; max-width: 80; height: auto; max-height: 100%;
        padding: 0 1; border: thick $accent; background: $surface;
    }
    #view-dialog Input { margin: 0; }
    """

    def __init__(self, project: Path, view: View, within: Sequence[int] | None,
                 scope_title: str) -> None:  # fmt: skip
        super().__init__()
        self.project = project
        self.view = view
        self.within = within
        self.scope_title = scope_title

    def compose(self) -> ComposeResult:
        with Vertical(id="view-dialog"):
            yield Label(printable(f"Filter, sort and group {self.scope_title}"), markup=False)
            yield Input(self.view.where, id="view-where", suggester=TermSuggester(tags=True),
                        placeholder="tag:Subject/animal width>1920 -folder:tmp")  # fmt: skip
            yield Input(self.view.sort, id="view-sort", placeholder="sort: -size,name",
                        suggester=TermSuggester())  # fmt: skip
            yield Input(self.view.group, id="view-group", placeholder="group by: folder",
                        suggester=TermSuggester())  # fmt: skip
            yield Input("", id="view-name", placeholder="save as: a name (optional)")
            yield Static("", id="view-error", classes="error", markup=False)
            yield Static("Enter applies (all empty: no view) · @name in the filter recalls a "
                         "saved view · Tab: next box, → takes a suggestion · Escape cancels",
                         classes="hint", markup=False)  # fmt: skip

    def on_mount(self) -> None:
        self.query_one("#view-where", Input).focus()
        self._load_words()

    @background("view-words")
    def _load_words(self) -> None:
        """The names to complete, read in a worker: the dialog opens at once, and
        a locked or damaged project only means no completion."""
        try:
            words = read.filter_words(self.project)
        except PlancheError:
            return
        self.app.call_from_thread(self._words_loaded, words)

    def _words_loaded(self, words: read.FilterWords) -> None:
        for box in self.query(Input):
            if isinstance(box.suggester, TermSuggester):
                box.suggester.words = words

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        view = View(
            *(self.query_one(f"#view-{n}", Input).value for n in ("where", "sort", "group"))
        )
        self.query_one("#view-error", Static).update("checking…")
        self._check(view, self.query_one("#view-name", Input).value.strip())

    @background("view")
    def _check(self, view: View, save_as: str) -> None:
        try:
            recalled = view.where.strip()
            if recalled.startswith("@") and " " not in recalled:
                saved = read.saved_views(self.project)
                if recalled[1:] not in saved:
                    known = ", ".join(f"@{name}" for name in saved) or "none saved yet"
                    raise PlancheError(f"no saved view {recalled} ({known})")
                view = View(**saved[recalled[1:]])
            listing = read.list_images(self.project, view.where, view.sort, view.group,
                                       within=self.within)  # fmt: skip
            if save_as:
                parts = {"where": view.where, "sort": view.sort, "group": view.group}
                commands.run(self.project, "save_view", {"name": save_as, **parts})
        except PlancheError as exc:
            self.app.call_from_thread(self._refused, str(exc))
            return
        self.app.call_from_thread(self.dismiss, (view, listing))

    def _refused(self, message: str) -> None:
        self.query_one("#view-error", Static).update(printable(message))

    def action_cancel(self) -> None:
        self.dismiss(None)
