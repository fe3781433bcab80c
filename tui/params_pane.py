"""The right pane: text search, and a clustering form generated from the strategy's
declared parameters (the same declarations the CLI's help and validation use).

Labels and error messages are plain text: an error quotes what was typed."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from planche.core import read
from planche.core.errors import BadParameter
from planche.core.text import printable


class StrategySelect(Select[str], inherit_bindings=False):
    """The strategy list opens with Enter or space; up and down move between the
    form's fields, as everywhere in the form."""

    BINDINGS = [Binding("enter,space", "show_overlay", "Show menu", show=False)]


class ParamsPane(VerticalScroll):
    """Search and clustering; up and down move between its boxes (Tab moves
    between the app's panes)."""

    BINDINGS = [
        Binding("down", "field(1)", "Next field", show=False),
        Binding("up", "field(-1)", "Previous field", show=False),
    ]

    def action_field(self, step: int) -> None:
        fields = [w for w in self.query("Input, Select, Button") if w.focusable]
        if self.app.focused in fields:
            index = fields.index(self.app.focused) + step
            if 0 <= index < len(fields):
                fields[index].focus()
                fields[index].scroll_visible()

    class SearchRequested(Message):
        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class ClusterRequested(Message):
        def __init__(self, strategy: str, params: dict[str, Any]) -> None:
            super().__init__()
            self.strategy = strategy
            self.params = params

    built = False  # the form is built after the first grid (see PlancheApp.start_rest)

    async def build(self) -> None:
        """Put the form in the pane (once): its dozen widgets cost the first screen
        about a tenth of a second of styling, for a pane nobody reads before the grid."""
        if self.built:
            return
        self.built = True
        await self.mount_all(list(self._form()))
        await self._show_fields("kmeans")

    def _form(self) -> ComposeResult:
        yield Label("Search", classes="pane-title")
        yield Input(placeholder="text, e.g. a red boat", id="search-text")
        yield Static("Enter searches · s: images like the current one", classes="hint",
                     markup=False)  # fmt: skip
        yield Label("Cluster", classes="pane-title")
        yield StrategySelect(
            [
                (Text(f"{name}: {read.strategy(name).description}"), name)
                for name in sorted(read.STRATEGIES)
            ],
            value="kmeans",
            allow_blank=False,
            id="strategy",
        )
        yield Vertical(id="param-fields")
        yield Button("Run on the current scope (c)", id="run-cluster", variant="primary")

    _shown: str | None = None

    async def on_select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "strategy" and isinstance(event.value, str):
            await self._show_fields(event.value)

    async def _show_fields(self, strategy: str) -> None:
        if strategy == self._shown:
            return
        self._shown = strategy
        fields = self.query_one("#param-fields", Vertical)
        await fields.remove_children()
        widgets = []
        for param in read.strategy(strategy).params:
            widgets.append(Label(Text.assemble(f"{param.name}  ", (param.help, "dim"))))
            default = "" if param.required else str(param.default)
            widgets.append(
                Input(value=default, placeholder=param.allowed(), id=f"param-{param.name}")
            )
            widgets.append(Static("", id=f"error-{param.name}", classes="error", markup=False))
        await fields.mount_all(widgets)

    @property
    def strategy(self) -> str:
        value = self.query_one("#strategy", Select).value
        return value if isinstance(value, str) else "kmeans"

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id and event.input.id.startswith("param-"):
            self._check(event.input.id.removeprefix("param-"), event.value)

    def _check(self, name: str, raw: str) -> bool:
        param = next(p for p in read.strategy(self.strategy).params if p.name == name)
        error = self.query_one(f"#error-{name}", Static)
        try:
            _parse(param, raw)
        except BadParameter as exc:
            error.update(Text(printable(str(exc))))
            return False
        error.update("")
        return True

    def values(self) -> dict[str, Any] | None:
        """The form's values, or None (with the errors shown) when one is invalid."""
        raw = {}
        ok = True
        for param in read.strategy(self.strategy).params:
            text = self.query_one(f"#param-{param.name}", Input).value
            ok = self._check(param.name, text) and ok
            raw[param.name] = text if text.strip() else None
        return raw if ok else None

    def request_cluster(self) -> None:
        values = self.values()
        if values is not None:
            self.post_message(self.ClusterRequested(self.strategy, values))
            return
        # Said aloud too: below 120 columns the form (and its red lines) is hidden.
        for param in read.strategy(self.strategy).params:
            text = self.query_one(f"#param-{param.name}", Input).value
            try:
                _parse(param, text)
            except BadParameter as exc:
                self.notify(f"Not clustered: {printable(str(exc))}", severity="error",
                            markup=False)  # fmt: skip
                return

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run-cluster":
            self.request_cluster()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search-text" and event.value.strip():
            self.post_message(self.SearchRequested(event.value.strip()))
        elif event.input.id and event.input.id.startswith("param-"):
            self.request_cluster()


def _parse(param: Any, raw: str) -> Any:
    """`raw` checked against a strategy's declared parameter (`read.strategy(...).params`)."""
    if not raw.strip():
        if param.required:
            raise BadParameter(param.name, raw, param.allowed())
        return param.default
    return param.parse(raw)
