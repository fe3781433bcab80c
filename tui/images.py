"""Choosing how the preview draws a picture: sixel, kitty graphics (TGP) or half-cells.

textual-image decides the terminal's protocol once, when it is first imported,
by probing the terminal: a terminal that never answers stalls that import for
about 2 s, and a pty that reports a 0x0 size makes it raise. So it is imported
once, before the app starts, inside a guard; a forced mode picks its widget
class directly. The grid never uses these protocols (tmux keeps only 10-20
sixel images): it draws its own half-cell thumbnails.
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
        if os.environ.get("COLORTERM", "").lower() not in ("truecolor", "24bit"):
            self.note = "no truecolor announced (COLORTERM): colours may look coarse"

    @property
    def name(self) -> str:
        if self.widget_class is None:
            return "none" if self.requested == "none" else "halfcell (fallback)"
        return self.widget_class.__name__.replace("Image", "").lower() or "auto"

    def widget(self, picture: Any) -> Any:
        """A widget showing a PIL picture, or a line saying images are off."""
        from textual.widgets import Static

        if self.widget_class is None:
            return Static("(images are off: --images none)", id="preview-image", markup=False)
        return self.widget_class(picture, id="preview-image")


def decode_picture(data: bytes) -> Any:
    """A stored thumbnail as an RGB PIL image, or None when it cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as img:
            return img.convert("RGB")
    except Exception:  # noqa: BLE001 - a broken thumbnail is an empty tile, never a crash
        return None
