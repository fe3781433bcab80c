"""The preview from the grid: Enter opens the image under the cursor large (a
screen of its own), right and left step through the grid's images in place,
and a neighbour opens in the same screen. Everything is read in a worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Static

from planche.core import commands, read
from planche.core.errors import PlancheError
from planche.tui.grid import ThumbnailGrid
from planche.tui.screens import PreviewScreen
from planche.tui.workers import background

NEIGHBOURS = 8


class PreviewActions:
    """Mixed into PlancheApp: uses its grid, models, image mode and session."""

    project: Path
    models: list[dict[str, Any]]

    def on_thumbnail_grid_opened(self, event: ThumbnailGrid.Opened) -> None:
        self.open_preview(event.image_id)

    def open_preview(self, image_id: int) -> None:
        """Preview an image: a new screen, or in place when one is open."""
        self._open_preview(image_id)

    def step_preview(self, step: int) -> None:
        """The grid's next (1) or previous (-1) image, in the open preview."""
        grid = self.query_one("#grid", ThumbnailGrid)
        target = grid.cursor + step
        if 0 <= target < len(grid.image_ids):
            grid.cursor = target
            self._open_preview(grid.image_ids[target])

    @background("preview")
    def _open_preview(self, image_id: int) -> None:
        from planche.tui.images import decode_picture
        from planche.tui.screens import load_picture

        try:
            details = read.image_details(self.project, image_id)
        except PlancheError as exc:
            self.call_from_thread(self.notify, str(exc), severity="error")
            return
        if details is None:
            return
        picture, note = None, ""
        for path in details["paths"]:
            try:
                picture = load_picture(path)
                break
            except (OSError, PlancheError, Exception):  # noqa: BLE001 - show what we can
                continue
        if picture is None:  # every file gone or unreadable: the thumbnail stored at import
            stored = read.thumbnails(self.project, [image_id]).get(image_id)
            picture = decode_picture(stored) if stored else None
            note = "the file cannot be read: this is the thumbnail stored at import"
        neighbours: list[dict[str, Any]] = []
        if self.models:  # the nearest images, by the search command (the session's index)
            params = {"images": [str(image_id)], "k": NEIGHBOURS, "model_id": self.model_id}
            try:
                found = commands.run(self.project, "search", params, self._command_context())
            except PlancheError:
                found = {"results": []}  # the preview shows the image all the same
            neighbours = [h for h in found["results"] if h["image_id"] != image_id]
        self.call_from_thread(self._show_preview, details, picture, neighbours, note)

    def _show_preview(self, details: dict[str, Any], picture: Any,
                      neighbours: list[dict[str, Any]], note: str = "") -> None:  # fmt: skip
        widget = (
            self.image_mode.widget(picture)
            if picture is not None
            else Static("(the file cannot be read)", id="preview-image", markup=False)
        )
        if isinstance(self.screen, PreviewScreen):
            self.screen.show(details, widget, neighbours, note)
            return
        self.push_screen(PreviewScreen(details, widget, neighbours, note))
