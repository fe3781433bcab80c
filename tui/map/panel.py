"""The map screen's side panel: the nearest image's thumbnail and the legend.

Text is text: legend labels are names from users (tags, cluster labels), shown
as rich `Text` with control characters escaped, never parsed as markup.
"""

from __future__ import annotations

from typing import Any, Protocol

from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget

from planche.core.text import printable
from planche.tui.map.colouring import Colouring
from planche.tui.map.raster import NO_GROUP_RGB, rich_colour, slot_colour


class ThumbnailSource(Protocol):
    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]: ...


class MapThumbnail(Widget):
    """The nearest image's stored thumbnail, as half-cell blocks (like the grid's cells)."""

    DEFAULT_CSS = """
    MapThumbnail { height: 18; width: 100%; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._strips: tuple[Strip, ...] = ()

    def show(self, strips: tuple[Strip, ...]) -> None:
        self._strips = strips
        self.refresh()

    @property
    def box(self) -> tuple[int, int]:
        """(columns, lines) a thumbnail is drawn into."""
        return max(self.size.width, 2), max(self.size.height, 1)

    @property
    def background_rgb(self) -> int:
        r, g, b = self.background_colors[1].rgb
        return (r << 16) | (g << 8) | b

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if y < len(self._strips):
            return self._strips[y].adjust_cell_length(width, self.rich_style)
        return Strip.blank(width, self.rich_style)


def thumbnail_strips(
    source: ThumbnailSource, image_id: int, box: tuple[int, int], background: int
) -> tuple[Strip, ...]:
    """The stored thumbnail of `image_id` drawn into `box` (columns, lines) over
    `background` (0xRRGGBB); none (a blank panel) when it cannot be read or decoded."""
    try:
        data = source.thumbnails([image_id]).get(image_id)
    except Exception:  # noqa: BLE001 - no thumbnail is a blank panel, never a crash
        data = None
    return strips_of(data, box, background)


def strips_of(data: bytes | None, box: tuple[int, int], background: int) -> tuple[Strip, ...]:
    """A thumbnail's bytes as half-cell strips filling `box` (columns, lines), aspect
    kept, over `background`; none when there is nothing to decode."""
    from planche.tui.grid import decode_thumbnail, render_cell

    if not data:
        return ()
    width, lines = box
    pixels = decode_thumbnail(data, width - 1, 2 * lines)
    return () if isinstance(pixels, str) else render_cell(pixels, width, lines, background)


def legend_text(colouring: Colouring | None, one_line: bool = False) -> Text:
    """The colours' names as rich Text (never markup): cluster number and label, or tag."""
    text = Text(no_wrap=one_line, overflow="ellipsis" if one_line else "fold")
    if colouring is None:
        text.append("no colouring (c cycles clusterings and tags)", style="dim")
        return text
    text.append(printable(colouring.title), style="bold")
    text.append(": " if one_line else "\n")
    slot = 0
    for value, label, size in colouring.legend:
        if value >= 0:
            rgb, slot = slot_colour(slot), slot + 1
            name = printable(label or "")
            if colouring.numbered:
                name = f"{value} {name}".strip()
            name = name or f"group {value}"
        else:
            rgb = NO_GROUP_RGB
            name = printable(label or "") or "none"
        text.append("■ ", style=Style(color=rich_colour(rgb)))
        text.append(name)
        if one_line:
            text.append("  ")
        else:
            text.append(f"  {size:,}\n", style="dim")
    return text
