"""The keyboard between the app's three panes: one key per pane (1 tree, 2 grid,
3 form), Tab and shift+Tab from pane to pane (not from widget to widget; inside
the form up and down move between its fields), and Escape in the order a person
expects: stop the running work, close the form, leave an input, and only then
(in the grid) clear the selection.

Below 120 columns the form has no room beside the grid: `3` (or `c`) opens it in
the grid's place, and running it, or Escape, closes it again.

Tab and Escape are priority keys (they must win over the focused widget's own):
on any other screen than the main one (a dialog, the map, the review) they step
aside, and that screen's keys apply.
"""

from __future__ import annotations

from typing import Any

from textual.actions import SkipAction
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input

PANES = ("tree", "grid", "params")


class PaneKeys:
    """Mixed into PlancheApp: uses its screen, focus, job token and notifications."""

    _cancel: Any
    with_form: Any  # PlancheApp.with_form: the form is built after the first grid

    def _on_main_screen(self) -> bool:
        return self.screen is self.screen_stack[0]

    def _pane_of(self, widget: Widget | None) -> str | None:
        while widget is not None:
            if widget.id in PANES:
                return widget.id
            widget = widget.parent
        return None

    @property
    def form_open(self) -> bool:
        """Below 120 columns, whether the form stands in the grid's place."""
        return self.screen.has_class("form-open")

    def _close_form(self) -> None:
        self.screen.remove_class("form-open")

    def action_focus_pane(self, pane: str) -> None:
        if not self._on_main_screen():
            raise SkipAction()
        narrow = self.screen.has_class("narrow")
        self.screen.set_class(narrow and pane == "params", "form-open")
        target = self.query_one(f"#{pane}")
        if pane == "params":
            if not self.with_form(lambda: self.action_focus_pane(pane)):
                return
            remembered = getattr(self, "_form_focus", None)
            inside = [w for w in target.query("Input, Select, Button") if w.focusable]
            widget = remembered if remembered in inside else (inside[0] if inside else None)
            if widget is None:
                return
            if widget is inside[0]:
                # The form from its top: the first box's title stays in view
                # (scrolling to the box alone hid it at 80x24).
                self.call_after_refresh(widget.focus, scroll_visible=False)
                self.call_after_refresh(target.scroll_home, animate=False)
            else:
                self.call_after_refresh(widget.focus)
            return
        target.focus()

    def _step_pane(self, step: int) -> None:
        if not self._on_main_screen():
            raise SkipAction()
        current = self._pane_of(self.focused) or "grid"
        if current == "params":
            self._form_focus = self.focused
        shown = [p for p in PANES if p != "params" or not self.screen.has_class("narrow")]
        if current not in shown:
            shown.append(current)
        self.action_focus_pane(shown[(shown.index(current) + step) % len(shown)])

    def action_next_pane(self) -> None:
        self._step_pane(1)

    def action_previous_pane(self) -> None:
        self._step_pane(-1)

    def action_escape(self) -> None:
        if isinstance(self.screen, ModalScreen):
            raise SkipAction()  # a dialog's Escape closes it, whatever runs behind
        if self._cancel is not None:
            self._cancel.cancel()
            self.notify("Stopping after the current step…")
            return
        if not self._on_main_screen():
            raise SkipAction()
        if self.form_open:
            self._close_form()
            self.query_one("#grid").focus()
            return
        if self._pane_of(self.focused) != "grid" or isinstance(self.focused, Input):
            self.query_one("#grid").focus()
            return
        raise SkipAction()  # the grid's own Escape: clear the selection
