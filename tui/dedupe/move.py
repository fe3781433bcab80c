"""`MoveScreen`: the folder a review moves the copies into.

A small dialog: the folder is typed, then checked by the `dedupe_target`
command as `planche dedupe --action move:DIR` checks it (not a file, not in or
at a folder the files were imported from: moved there, they would be imported
again as duplicates). A refused folder is said in the dialog, which stays
open; a good one dismisses it with the command's outcome (the action as
`dedupe` takes it, the folder and each file's target). The check opens the
project, so it runs in a worker: another program holding the project makes
the dialog wait, never the screen.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from planche.core import commands
from planche.core.errors import PlancheError
from planche.core.text import printable

QUESTION = (
    "Move the copies into which folder? Each keeps its path below the folder it was "
    "imported from; the folder must lie outside it."
)


class MoveScreen(ModalScreen[dict[str, Any] | None]):
    """Ask for the move's folder; Escape gives None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    DEFAULT_CSS = """
    MoveScreen { align: center middle; }
    MoveScreen #move-message { height: auto; }
    """

    def __init__(self, project: Path, paths: list[str], value: str = "") -> None:
        super().__init__()
        self.project = project
        self.paths = paths
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(QUESTION, markup=False, id="question")
            yield Input(value=self.value, placeholder="a folder, e.g. ~/duplicates", id="prompt")
            yield Static("", id="move-message", classes="error", markup=False)
            yield Static("Enter to choose it, Escape to cancel", classes="hint", markup=False)

    @property
    def message(self) -> str:
        """What the dialog says about the folder typed (empty: nothing yet)."""
        return str(self.query_one("#move-message", Static).render())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            self._say("Type the folder to move the copies into.")
            return
        self._say("")
        self._check(event.value)

    @work(thread=True, exclusive=True, group="move-folder", exit_on_error=False)
    def _check(self, folder: str) -> None:
        params = {"folder": folder, "paths": self.paths}
        try:
            checked = commands.run(self.project, "dedupe_target", params)
        except PlancheError as exc:
            self.app.call_from_thread(self._say, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - said in the dialog, never a traceback
            self.app.call_from_thread(self._say, f"internal error: {type(exc).__name__}: {exc}")
            return
        self.app.call_from_thread(self._checked, checked)

    def _checked(self, checked: dict[str, Any]) -> None:
        if self.is_current:
            self.dismiss(checked)

    def _say(self, message: str) -> None:
        self.query_one("#move-message", Static).update(Text(printable(message)))

    def action_cancel(self) -> None:
        self.dismiss(None)
