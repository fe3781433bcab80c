"""The map: every image of a scope as a point of a 2D projection, drawn in braille.

One module per concern:

- `raster`: the picture in numpy (points to braille cells, shades, the palette and
  the styles of cells); no Textual.
- `colouring`: a group per point and its legend, read from a clustering or a tag
  property; no Textual.
- `view`: `MapView`, the Line-API widget (zoom, pan, crosshair, rectangle).
- `panel`: the side panel's pieces (the nearest image's thumbnail, the legend).
- `atlas`: atlas mode, thumbnails laid on the map at their points without overlap.
- `screen`: `MapScreen`, which hosts them with a status line and reads in workers.

The public names are re-exported here, loaded on first use, so that importing
`raster` or `colouring` alone does not import Textual.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planche.tui.map.colouring import Colouring, colouring_options, load_colouring
    from planche.tui.map.panel import MapThumbnail, legend_text
    from planche.tui.map.raster import PALETTE, Raster, rasterise
    from planche.tui.map.screen import MapScreen, quality_text
    from planche.tui.map.view import MapView

_HOMES = {
    "PALETTE": "raster",
    "Raster": "raster",
    "rasterise": "raster",
    "Colouring": "colouring",
    "colouring_options": "colouring",
    "load_colouring": "colouring",
    "MapView": "view",
    "MapThumbnail": "panel",
    "legend_text": "panel",
    "MapScreen": "screen",
    "quality_text": "screen",
}

__all__ = [
    "PALETTE",
    "Colouring",
    "MapScreen",
    "MapThumbnail",
    "MapView",
    "Raster",
    "colouring_options",
    "legend_text",
    "load_colouring",
    "quality_text",
    "rasterise",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
