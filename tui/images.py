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
        self.widget_class = {
            "auto": widget.Image,
            "sixel": widget.SixelImage,
            "tgp": widget.TGPImage,
            "halfcell": widget.HalfcellImage,
        }[mode]
        if os.environ.get("TMUX"):
            # The probe's kitty-graphics answer comes after tmux's own: not keys for the app.
            from planche.tui.kitty import settle_tmux_replies

            settle_tmux_replies()
        if os.environ.get("COLORTERM", "").lower() not in ("truecolor", "24bit"):
            self.note = "256 colours: COLORTERM=truecolor if the terminal has more"
        self.grid = "kitty" if self.widget_class is widget.TGPImage else "halfcell"
        if mode == "auto":
            self._choose_for_placeholders(widget)
        if (
            self.grid == "halfcell"
            and not os.environ.get("TMUX")
            and (
                self.widget_class is widget.SixelImage
                or (self.widget_class is widget.Image and _auto_is_sixel())
            )
        ):
            self.grid = "sixel"
        elif os.environ.get("TMUX") and self.widget_class is widget.SixelImage and not self.note:
            self.note = "tmux: the grid draws half-cells"
        try:
            from textual_image._terminal import get_cell_size

            size = get_cell_size()  # cached by the probe, which ran on import
            if size.width > 0 and size.height > 0:
                self.cell_pixels = (size.width, size.height)
        except Exception:  # noqa: BLE001 - a private helper of textual-image; keep the default
            pass

    def _choose_for_placeholders(self, widget: Any) -> None:
        """Auto mode: kitty graphics (grid and preview both draw Unicode placeholders)
        only where the terminal draws placeholders. The probe alone says too much and
        too little: kitty before 0.28, wezterm and Konsole answer its graphics query but
        show boxes, and tmux 3.4+ answers "sixel" for itself in front of a kitty that has
        no sixel."""
        from planche.tui import kitty

        probed_tgp = _auto_is_tgp()
        if not probed_tgp and not os.environ.get("TMUX"):
            return  # sixel or half-cells: no placeholders asked of the terminal
        name = kitty.terminal_name()
        if kitty.has_placeholders(name):
            self.widget_class, self.grid = widget.TGPImage, "kitty"
        elif probed_tgp:
            self.widget_class, self.grid = widget.HalfcellImage, "halfcell"
            self.note = f"half-cells: no kitty placeholders in {name or 'this terminal'}"

    @property
    def name(self) -> str:
        if self.widget_class is None:
            return "none" if self.requested == "none" else "halfcell (fallback)"
        named = self.widget_class.__name__.replace("Image", "").lower()
        if named != "auto":
            return named
        # textual-image's auto class: say the protocol its probe chose.
        return "sixel" if _auto_is_sixel() else "tgp" if _auto_is_tgp() else "halfcell"

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


def _auto_is_tgp() -> bool:
    """Whether textual-image's probe chose TGP (it prefers sixel when both answer)."""
    try:
        from textual_image.renderable import Image as Auto
        from textual_image.renderable.tgp import Image as TGP
    except Exception:  # noqa: BLE001 - see ImageMode
        return False
    return Auto is TGP


def _auto_is_sixel() -> bool:
    """Whether textual-image's probe chose sixel."""
    try:
        from textual_image.renderable import Image as Auto
        from textual_image.renderable.sixel import Image as Sixel
    except Exception:  # noqa: BLE001 - see ImageMode
        return False
    return Auto is Sixel


def decode_picture(data: bytes) -> Any:
    """A stored thumbnail as an RGB PIL image, or None when it cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as img:
            return img.convert("RGB")
    except Exception:  # noqa: BLE001 - a broken thumbnail is an empty tile, never a crash
        return None
