"""Modal screens: image preview, help, a one-line prompt, a confirmation.

Questions and image details quote names from users: they are shown as plain
text (rich `Text` or `markup=False`), never parsed as markup, with control
characters escaped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.suggester import Suggester
from textual.widgets import Button, Footer, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from planche.core import read
from planche.core.text import file_size, printable


class PromptScreen(ModalScreen[str | None]):
    """Ask for one line of text; Escape gives None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "",
                 suggester: Suggester | None = None) -> None:  # fmt: skip
        super().__init__()
        self.question = question
        self.value = value
        self.placeholder = placeholder
        self.suggester = suggester

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(printable(self.question), markup=False, id="question")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt",
                        suggester=self.suggester)  # fmt: skip
            yield Static("Enter to confirm, Escape to cancel", classes="hint", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [Binding("escape", "no", "No"), Binding("y", "yes", "Yes"), Binding("n", "no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(printable(self.question), markup=False, id="question")
            with Horizontal():
                yield Button("Yes (y)", id="yes", variant="error")
                yield Button("No (n)", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_yes(self) -> None:
        self.dismiss(True)

    def action_no(self) -> None:
        self.dismiss(False)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, bindings: list[tuple[str, str]]) -> None:
        super().__init__()
        self.rows = bindings

    def compose(self) -> ComposeResult:
        # Two columns: a long description wraps in its own column, not under the keys.
        keys = Table.grid(padding=(0, 2))
        keys.add_column(justify="right", style="bold cyan", no_wrap=True)
        keys.add_column()
        for key, description in self.rows:
            keys.add_row(Text(printable(key)), Text(printable(description)))
        with VerticalScroll(id="dialog"):
            yield Static(Text("planche: keys\n", style="bold"))
            yield Static(keys)
            yield Static(Text("\nEvery action is also in the command palette (ctrl+p).",
                              style="dim"))  # fmt: skip

    def action_close(self) -> None:
        self.dismiss(None)


class PreviewScreen(Screen[None]):
    """One image, large, with its metadata, tags and nearest neighbours. Right and
    left (l, h) step to the grid's next and previous image in place; Enter on a
    neighbour opens it."""

    BINDINGS = [
        Binding("escape,q", "close", "Back"),
        Binding("right,l", "step(1)", "Next", key_display="→ l"),
        Binding("left,h", "step(-1)", "Previous", key_display="← h"),
        Binding("s", "similar", "Similar images"),
    ]

    def __init__(
        self, details: dict[str, Any], image_widget: Any, neighbours: list[dict[str, Any]],
        note: str = "",
    ) -> None:  # fmt: skip
        """`neighbours`: the search command's results ({"image_id", "similarity", "paths"});
        `note`: said above the picture (e.g. that the file is gone)."""
        super().__init__()
        self.details = details
        self.image_widget = image_widget
        self.neighbours = neighbours
        self.note = note

    def show(self, details: dict[str, Any], image_widget: Any,
             neighbours: list[dict[str, Any]], note: str = "") -> None:  # fmt: skip
        """Another image in the same screen (a step, a neighbour opened)."""
        self.details, self.image_widget, self.neighbours, self.note = (
            details, image_widget, neighbours, note)  # fmt: skip
        self.call_next(self._show_again)

    async def _show_again(self) -> None:
        await self.recompose()
        self._focus_neighbours()

    def compose(self) -> ComposeResult:
        d = self.details
        info = Text()
        info.append(f"image {d['id']}\n", style="bold")
        for f in d.get("files") or [{"path": p} for p in d["paths"]]:
            info.append(f"{printable(f['path'])}\n")
            if "size" in f:
                when = datetime.fromtimestamp(f["mtime"], UTC).strftime("%Y-%m-%d %H:%M")
                gone = "" if f["present"] else " · the file is gone"
                info.append(f"  {file_size(f['size'])} · modified {when} UTC{gone}\n",
                            style="dim")  # fmt: skip
        info.append(
            f"\n{d['width']} x {d['height']} {printable(str(d['format']))} "
            f"({printable(str(d['mode']))})\n"
        )
        if d.get("exif_date"):
            info.append(f"taken {printable(str(d['exif_date']))}\n")
        info.append(f"sha256 {d['sha256'][:16]}…\n", style="dim")
        if d["tags"]:
            info.append("\ntags\n", style="bold")
            for prop, path in d["tags"]:
                info.append(f"  {printable(prop)}: {printable(' / '.join(path))}\n")
        if self.note:
            info.append(f"\n{printable(self.note)}\n", style="bold yellow")
        with Horizontal():
            yield self.image_widget
            with VerticalScroll(id="preview-info"):
                yield Static(info)
                if self.neighbours:
                    yield Label("nearest (up, down; Enter opens one)", classes="pane-title")
                    yield OptionList(*(self._neighbour(hit) for hit in self.neighbours),
                                     id="neighbours")  # fmt: skip
        yield Footer()

    def on_mount(self) -> None:
        self._focus_neighbours()

    def _focus_neighbours(self) -> None:
        """Up, down and Enter act on the nearest images without a Tab first (left and
        right still step: the list has no use for them)."""
        for found in self.query("#neighbours"):
            found.focus()

    def on_screen_resume(self) -> None:
        self._focus_neighbours()

    @staticmethod
    def _neighbour(hit: dict[str, Any]) -> Option:
        # The folder too: copies in different folders often share a name.
        name = printable("/".join(hit["paths"][0].rsplit("/", 2)[-2:])) if hit["paths"] else "?"
        return Option(Text(f"{hit['similarity']:.3f}  {name}  (id {hit['image_id']})"),
                      id=str(hit["image_id"]))  # fmt: skip

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.app.open_preview(int(event.option.id))  # type: ignore[attr-defined]

    def action_step(self, step: int) -> None:
        self.app.step_preview(step)  # type: ignore[attr-defined]

    def action_close(self) -> None:
        self.dismiss(None)

    def action_similar(self) -> None:
        self.dismiss(None)
        self.app.call_later(self.app.action_similar)  # type: ignore[attr-defined]


def load_picture(path: str) -> Any:
    """A PIL image for the preview, decoded safely (EXIF orientation applied)."""
    return read.picture(path, size=2048)
