"""Acting on the image under the grid's cursor: copy its path (OSC 52, so it
reaches the local clipboard over SSH too), open it in the system's viewer where
there is a display (`$PLANCHE_OPENER` chooses another program), reveal its
folder in the tree; and choose what the captions say (name, size, resolution,
date, or the score of a search or suggestion)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from typing import Any

from planche.core import read
from planche.core.text import printable
from planche.tui.workers import background


def opener_command(path: str) -> list[str] | None:
    """The command that shows `path` in a viewer, or None where there is no
    display to show it on (a session over SSH)."""
    chosen = os.environ.get("PLANCHE_OPENER", "").strip()
    if chosen:
        return [*shlex.split(chosen), path]
    if sys.platform == "darwin":
        return ["open", path]
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        found = shutil.which("xdg-open")
        return [found, path] if found else None
    return None


class ImageActions:
    """Mixed into PlancheApp: uses its grid, tree, scope and notifications."""

    project: Any
    # What captions say; None: the scope's own (scores of a search, else names).
    caption_kind: str | None = None

    def _current_image(self) -> int | None:
        image_id = self.query_one("#grid").current_image_id
        if image_id is None:
            self.notify("No image under the cursor.")
        return image_id

    def action_copy_path(self) -> None:
        image_id = self._current_image()
        if image_id is not None:
            self._with_path(image_id, "copy")

    def action_open_image(self) -> None:
        image_id = self._current_image()
        if image_id is not None:
            self._with_path(image_id, "open")

    def action_reveal_folder(self) -> None:
        image_id = self._current_image()
        if image_id is not None:
            self._with_path(image_id, "reveal")

    @background("image-path")
    def _with_path(self, image_id: int, what: str) -> None:
        details = read.image_details(self.project, image_id)
        if details is None or not details["paths"]:
            self.call_from_thread(self.notify, f"Image {image_id} has no file.")
            return
        present = [f["path"] for f in details["files"] if f["present"]]
        path = (present or details["paths"])[0]
        self.call_from_thread(getattr(self, f"_{what}_path"), path)

    def _copy_path(self, path: str, why: str = "") -> None:
        self.copy_to_clipboard(path)
        self.notify(f"{why}Copied {path}")

    def _open_path(self, path: str) -> None:
        command = opener_command(path)
        if command is None:
            self._copy_path(path, "No display to open it on (set PLANCHE_OPENER to choose a "
                                  "viewer). ")  # fmt: skip
            return
        try:
            subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        except OSError as exc:
            self.notify(f"Cannot run {command[0]}: {exc.strerror or exc}", severity="error")
            return
        self.notify(f"Opened {path} with {os.path.basename(command[0])}")

    def _reveal_path(self, path: str) -> None:
        folder = os.path.dirname(path)
        if not self.query_one("#tree").reveal_folder(folder):
            self.notify(f"{folder} is not in the tree.")
            return
        self.query_one("#tree").focus()

    def action_cycle_captions(self) -> None:
        kinds = (["score"] if self._base_captions else []) + list(read.CAPTION_KINDS)
        current = kinds.index(self.caption_kind) if self.caption_kind in kinds else 0
        self.caption_kind = kinds[(current + 1) % len(kinds)]
        self.notify(f"Captions: {self.caption_kind}")
        given = list(self._base_captions) or None
        self.show_scope(self.base_scope, given, keep_place=True)

    def caption_texts(self, image_ids: list[int]) -> dict[int, str]:
        """Captions of the chosen kind (worker thread), as plain text."""
        kind = self.caption_kind if self.caption_kind in read.CAPTION_KINDS else "name"
        return {i: printable(text) for i, text in read.captions(self.project, image_ids,
                                                                 kind).items()}  # fmt: skip
