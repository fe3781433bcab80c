"""Choosing how the preview draws a picture: sixel, kitty graphics (TGP) or half-cells.

textual-image decides the terminal's protocol once, when it is first imported,
by probing the terminal: a terminal that never answers stalls that import for
about 2 s, and a pty that reports a 0x0 size makes it raise. So it is imported
once, before the app starts, inside a guard; a forced mode picks its widget
class directly.

The grid follows the same choice with its own code: kitty graphics with Unicode
placeholders (tui/kitty.py) where the mode is TGP (forced, or auto when the probe
found it), sixel tiles where the mode is sixel (forced, or auto when the probe found
it) outside tmux (which keeps only 10-20 sixels), half-cells otherwise.
"""

from __future__ import annotations

import os
from io import BytesIO
from typing import Any

MODES = ("auto", "sixel", "tgp", "halfcell", "none")


class ImageMode:
    def __init__(self, mode: str = "auto") -> None:
        self.requested = mode
        self.widget_class: Any = None
        self.protocol = ""  # "sixel", "tgp", "halfcell"; "" for none, or the probe's text
        self.note = ""
        # What the thumbnail grid draws: "kitty" (placeholders), "sixel" or "halfcell".
        self.grid = "halfcell"
        # A terminal cell in pixels (the probe's answer; VT340's 10x20 without one).
        self.cell_pixels = (10, 20)
        if mode == "none":
            return
        try:
            from textual_image import widget
        except Exception as exc:  # noqa: BLE001 - a terminal probe gone wrong must not stop us
            self.note = f"image protocol probe failed ({type(exc).__name__}); half-cells only"
            return
        if os.environ.get("TMUX"):
            # The probe's kitty-graphics answer comes after tmux's own: not keys for the app.
            from planche.tui.kitty import settle_tmux_replies

            settle_tmux_replies()
        if os.environ.get("COLORTERM", "").lower() not in ("truecolor", "24bit"):
            self.note = "256 colours: COLORTERM=truecolor if the terminal has more"
        # The protocol pictures are drawn with: the forced one, else the probe's, checked.
        probed = _probed() if mode == "auto" else None
        self.protocol = mode if probed is None else self._checked(probed)
        classes = {"sixel": widget.SixelImage, "tgp": widget.TGPImage,
                   "halfcell": widget.HalfcellImage}  # fmt: skip
        # Where the probe's choice stands, textual-image's own class (text without a tty).
        stands = probed is not None and self.protocol == probed
        self.widget_class = widget.Image if stands else classes[self.protocol]
        tmux = bool(os.environ.get("TMUX"))
        if self.protocol == "tgp":
            self.grid = "kitty"
        elif self.protocol == "sixel" and not tmux:
            self.grid = "sixel"
        elif self.protocol == "sixel" and not self.note:
            self.note = "tmux: the grid draws half-cells"
        try:
            from textual_image._terminal import get_cell_size

            size = get_cell_size()  # cached by the probe, which ran on import
            if size.width > 0 and size.height > 0:
                self.cell_pixels = (size.width, size.height)
        except Exception:  # noqa: BLE001 - a private helper of textual-image; keep the default
            pass

    def _checked(self, probed: str) -> str:
        """Auto mode: kitty graphics (grid and preview both draw Unicode placeholders)
        only where the terminal draws placeholders. The probe alone says too much and
        too little: kitty before 0.28, wezterm and Konsole answer its graphics query but
        show boxes, and tmux 3.4+ answers "sixel" for itself in front of a kitty that has
        no sixel."""
        from planche.tui import kitty

        if probed != "tgp" and not os.environ.get("TMUX"):
            return probed  # sixel or half-cells: no placeholders asked of the terminal
        name = kitty.terminal_name()
        if kitty.has_placeholders(name):
            return "tgp"
        if probed == "tgp":
            self.note = f"half-cells: no kitty placeholders in {name or 'this terminal'}"
            return "halfcell"
        return probed

    @property
    def name(self) -> str:
        if self.widget_class is None:
            return "none" if self.requested == "none" else "halfcell (fallback)"
        return self.protocol or "halfcell"

    def status(self, grid: str | None = None) -> str:
        """What the status line says: the grid's drawing (`grid`, default this mode's
        choice; the grid may fall back) and the preview's."""
        return f"grid {grid or self.grid} · preview {self.name}"

    def widget(self, picture: Any) -> Any:
        """A widget showing a PIL picture, or a line saying images are off."""
        from textual.widgets import Static

        if self.widget_class is None:
            return Static("(images are off: --images none)", id="preview-image", markup=False)
        return self.widget_class(picture, id="preview-image")


def _probed() -> str:
    """The protocol textual-image's probe chose on import: "sixel", "tgp", or "" (its
    half-cells, or text without a terminal). It prefers sixel when both answer."""
    try:
        from textual_image import renderable
    except Exception:  # noqa: BLE001 - see ImageMode
        return ""
    return {renderable.SixelImage: "sixel", renderable.TGPImage: "tgp"}.get(renderable.Image, "")


def decode_picture(data: bytes) -> Any:
    """A stored thumbnail as an RGB PIL image, or None when it cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as img:
            return img.convert("RGB")
    except Exception:  # noqa: BLE001 - a broken thumbnail is an empty tile, never a crash
        return None
