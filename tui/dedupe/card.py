"""`FileCard`: one file of a duplicate group, its picture over what a person needs
to choose the copy to keep.

The picture is the file itself, read at the card's size in a worker (the stored
thumbnail when the file is gone or unreadable), sharp through textual-image
where the terminal shows images, half-cells otherwise. Text is text: paths and
names come from users and are shown as rich `Text`, never parsed as markup.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

import numpy as np
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.strip import Strip
from textual.widgets import Static

from planche.core.text import file_size, printable
from planche.tui.dedupe.review import FileView
from planche.tui.map.panel import MapThumbnail

FATE_STYLE = {"keep": "bold green", "left": "yellow", "skipped": "yellow"}


def picture_strips(picture: Any, box: tuple[int, int], background: int) -> tuple[Strip, ...]:
    """A PIL picture as half-cell strips filling `box` (columns, lines), aspect kept."""
    from PIL import Image

    from planche.tui.grid import render_cell

    width, lines = box
    image = picture.convert("RGB")
    scale = min((width - 1) / image.width, 2 * lines / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    pixels = np.asarray(image.resize(size, Image.Resampling.LANCZOS), dtype=np.uint8)
    return render_cell(pixels, width, lines, background)


def _date(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value).strftime("%Y-%m-%d %H:%M")
    return str(value)[:16]


def card_text(view: FileView, rule: str, target: str | None = None) -> Text:
    """The card's lines: name, folder, size and resolution, dates, similarity, fate
    (with `target`, where a move would put it, as the review shows it)."""
    info = view.info
    path = str(info["path"])
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(printable(os.path.basename(path)) + "\n", style="bold")
    text.append(printable(os.path.dirname(path)) + "\n", style="dim")
    text.append(f"{file_size(int(info['size']))} · {info['width']}×{info['height']} · "
                f"{printable(str(info['format'] or '?'))}\n")  # fmt: skip
    text.append(f"taken {_date(info['taken'])}\n", style="dim" if not info["taken"] else "")
    text.append(f"modified {_date(info['modified'])}\n", style="dim")
    if view.role == "keeper":
        text.append("the keeper\n", style="dim")
    elif view.similarity is not None and view.transform:  # after the turn that matched them
        text.append(f"similarity {view.similarity:.3f} · {view.transform}\n")
    elif view.similarity is not None:
        text.append(f"similarity to the keeper {view.similarity:.3f}\n")
    else:
        text.append("\n")
    if view.role == "keeper":
        text.append(f"KEEP · {printable(rule)}", style=FATE_STYLE["keep"])
    elif view.role == "reference":
        text.append("KEEP · in a reference folder", style=FATE_STYLE["keep"])
    else:
        text.append(view.fate.upper() if view.fate.startswith("would") else view.fate,
                    style=FATE_STYLE.get(view.fate, "bold red"))  # fmt: skip
        if target:
            text.append(f" → {printable(target)}", style="bold")
        if view.note:
            text.append(f" · {printable(view.note)}", style="yellow")
    return text


class FileCard(Vertical):
    """One file: its picture, then its text."""

    DEFAULT_CSS = """
    FileCard {
        width: 1fr;
        min-width: 30;
        height: 100%;
        border: round $panel-lighten-2;
        padding: 0 1;
        & > .card-frame { height: 1fr; width: 100%; align: center middle; }
        & .card-picture { width: auto; height: auto; }
        & > MapThumbnail { height: 1fr; }
        /* One line each, cut at the end: a long name never pushes the fate out. */
        & > .card-text { height: 7; width: 100%; text-wrap: nowrap; text-overflow: ellipsis; }
        &.-keeper { border: round $success; }
        &.-current { border: heavy $accent; }
    }
    """

    def __init__(self, sharp_class: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sharp_class = sharp_class
        self.path: str | None = None

    def compose(self) -> ComposeResult:
        if self.sharp_class is not None:
            with Container(classes="card-frame"):
                yield self.sharp_class(None, classes="card-picture")
        else:
            yield MapThumbnail(classes="card-picture")
        yield Static("", classes="card-text", markup=False)

    def show_text(self, view: FileView, rule: str, target: str | None = None) -> None:
        self.path = str(view.info["path"])
        self.set_class(view.role == "keeper", "-keeper")
        self.query_one(".card-text", Static).update(card_text(view, rule, target))

    @property
    def picture_box(self) -> tuple[int, int]:
        """(columns, lines) the half-cell picture is drawn into."""
        if self.sharp_class is None:
            size = self.query_one(MapThumbnail).size
            return max(size.width, 2), max(size.height, 1)
        size = self.query_one(".card-frame").size
        return max(size.width, 2), max(size.height, 1)

    def show_picture(self, prepared: Any) -> None:
        """A PIL picture (sharp) or half-cell strips (`picture_strips`); None: empty."""
        if self.sharp_class is None:
            self.query_one(MapThumbnail).show(prepared or ())
        else:
            self.query_one(".card-picture").image = prepared  # type: ignore[attr-defined]
