"""Kitty graphics with Unicode placeholders: sharp thumbnails in a Line-API view.

How it works (https://sw.kovidgoyal.net/kitty/graphics-protocol/#unicode-placeholders):
each picture is transmitted once to the terminal under an image id (an APC escape,
`a=t`, PNG data in base64 chunks of 4096 bytes) and given a *virtual placement* of
`columns` x `rows` cells (`a=p,U=1`). From then on the picture is drawn by plain text:
every cell of the rectangle is the placeholder character U+10EEEE followed by
combining diacritics for its row, its column and the id's most significant byte, in
a foreground colour that carries the id's low bits. The terminal fits the picture into
the rectangle (aspect kept, centred). Since it is text, tmux and SSH carry it and
scrolling redraws only text; tmux needs `allow-passthrough on` for the escapes, which
are wrapped in its DCS passthrough when $TMUX is set.

The id's colour: Textual converts 256-colour indices to RGB (its ANSI filter) and
Rich downgrades RGB to the nearest 256-colour index when the terminal has no
truecolor. So an id's colour is always the RGB of one of the 227 palette entries
that Rich maps back to its own index, and its number is `msb << 24 | rgb` when the
app writes truecolor, `msb << 24 | index` when it writes 256 colours: either way the
terminal reads back the id that was transmitted.

`SentImages` remembers which pictures the terminal holds (an LRU with a bound on
their number and pixels); a picture evicted from it is deleted from the terminal.
Nothing here touches Textual: output goes through a `write` callable.
"""

from __future__ import annotations

import base64
import os
import re
import select
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import lru_cache
from io import BytesIO
from typing import Final, NamedTuple

from PIL import Image
from rich.color import EIGHT_BIT_PALETTE, ColorSystem
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

__all__ = [
    "PLACEHOLDER",
    "ImageId",
    "Picture",
    "SentImages",
    "delete",
    "encode_picture",
    "image_id",
    "place",
    "placeholder_row",
    "has_placeholders",
    "settle_tmux_replies",
    "terminal_name",
    "tile_strips",
    "tmux_wrap",
    "transmit",
]

PLACEHOLDER: Final = "\U0010eeee"
# Row, column and id-byte numbers 0..296 (kitty's gen/rowcolumn-diacritics.txt).
DIACRITICS: Final = tuple(chr(c) for c in (
    0x0305, 0x030d, 0x030e, 0x0310, 0x0312, 0x033d, 0x033e, 0x033f, 0x0346, 0x034a, 0x034b,
    0x034c, 0x0350, 0x0351, 0x0352, 0x0357, 0x035b, 0x0363, 0x0364, 0x0365, 0x0366, 0x0367,
    0x0368, 0x0369, 0x036a, 0x036b, 0x036c, 0x036d, 0x036e, 0x036f, 0x0483, 0x0484, 0x0485,
    0x0486, 0x0487, 0x0592, 0x0593, 0x0594, 0x0595, 0x0597, 0x0598, 0x0599, 0x059c, 0x059d,
    0x059e, 0x059f, 0x05a0, 0x05a1, 0x05a8, 0x05a9, 0x05ab, 0x05ac, 0x05af, 0x05c4, 0x0610,
    0x0611, 0x0612, 0x0613, 0x0614, 0x0615, 0x0616, 0x0617, 0x0657, 0x0658, 0x0659, 0x065a,
    0x065b, 0x065d, 0x065e, 0x06d6, 0x06d7, 0x06d8, 0x06d9, 0x06da, 0x06db, 0x06dc, 0x06df,
    0x06e0, 0x06e1, 0x06e2, 0x06e4, 0x06e7, 0x06e8, 0x06eb, 0x06ec, 0x0730, 0x0732, 0x0733,
    0x0735, 0x0736, 0x073a, 0x073d, 0x073f, 0x0740, 0x0741, 0x0743, 0x0745, 0x0747, 0x0749,
    0x074a, 0x07eb, 0x07ec, 0x07ed, 0x07ee, 0x07ef, 0x07f0, 0x07f1, 0x07f3, 0x0816, 0x0817,
    0x0818, 0x0819, 0x081b, 0x081c, 0x081d, 0x081e, 0x081f, 0x0820, 0x0821, 0x0822, 0x0823,
    0x0825, 0x0826, 0x0827, 0x0829, 0x082a, 0x082b, 0x082c, 0x082d, 0x0951, 0x0953, 0x0954,
    0x0f82, 0x0f83, 0x0f86, 0x0f87, 0x135d, 0x135e, 0x135f, 0x17dd, 0x193a, 0x1a17, 0x1a75,
    0x1a76, 0x1a77, 0x1a78, 0x1a79, 0x1a7a, 0x1a7b, 0x1a7c, 0x1b6b, 0x1b6d, 0x1b6e, 0x1b6f,
    0x1b70, 0x1b71, 0x1b72, 0x1b73, 0x1cd0, 0x1cd1, 0x1cd2, 0x1cda, 0x1cdb, 0x1ce0, 0x1dc0,
    0x1dc1, 0x1dc3, 0x1dc4, 0x1dc5, 0x1dc6, 0x1dc7, 0x1dc8, 0x1dc9, 0x1dcb, 0x1dcc, 0x1dd1,
    0x1dd2, 0x1dd3, 0x1dd4, 0x1dd5, 0x1dd6, 0x1dd7, 0x1dd8, 0x1dd9, 0x1dda, 0x1ddb, 0x1ddc,
    0x1ddd, 0x1dde, 0x1ddf, 0x1de0, 0x1de1, 0x1de2, 0x1de3, 0x1de4, 0x1de5, 0x1de6, 0x1dfe,
    0x20d0, 0x20d1, 0x20d4, 0x20d5, 0x20d6, 0x20d7, 0x20db, 0x20dc, 0x20e1, 0x20e7, 0x20e9,
    0x20f0, 0x2cef, 0x2cf0, 0x2cf1, 0x2de0, 0x2de1, 0x2de2, 0x2de3, 0x2de4, 0x2de5, 0x2de6,
    0x2de7, 0x2de8, 0x2de9, 0x2dea, 0x2deb, 0x2dec, 0x2ded, 0x2dee, 0x2def, 0x2df0, 0x2df1,
    0x2df2, 0x2df3, 0x2df4, 0x2df5, 0x2df6, 0x2df7, 0x2df8, 0x2df9, 0x2dfa, 0x2dfb, 0x2dfc,
    0x2dfd, 0x2dfe, 0x2dff, 0xa66f, 0xa67c, 0xa67d, 0xa6f0, 0xa6f1, 0xa8e0, 0xa8e1, 0xa8e2,
    0xa8e3, 0xa8e4, 0xa8e5, 0xa8e6, 0xa8e7, 0xa8e8, 0xa8e9, 0xa8ea, 0xa8eb, 0xa8ec, 0xa8ed,
    0xa8ee, 0xa8ef, 0xa8f0, 0xa8f1, 0xaab0, 0xaab2, 0xaab3, 0xaab7, 0xaab8, 0xaabe, 0xaabf,
    0xaac1, 0xfe20, 0xfe21, 0xfe22, 0xfe23, 0xfe24, 0xfe25, 0xfe26, 0x10a0f, 0x10a38, 0x1d185,
    0x1d186, 0x1d187, 0x1d188, 0x1d189, 0x1d1aa, 0x1d1ab, 0x1d1ac, 0x1d1ad, 0x1d242, 0x1d243,
    0x1d244,
))  # fmt: skip
CHUNK: Final = 4096  # base64 bytes per escape (the protocol's limit)
_MAX_SOURCE_PIXELS = 4096 * 4096  # a "thumbnail" claiming more is corrupt or hostile


# ---------------------------------------------------------------------- escapes


def apc(control: str, payload: str = "") -> str:
    """One graphics command: ESC _ G control ; payload ESC \\."""
    return f"\x1b_G{control};{payload}\x1b\\" if payload else f"\x1b_G{control}\x1b\\"


def tmux_wrap(sequence: str) -> str:
    """`sequence` in tmux's DCS passthrough (every ESC inside doubled)."""
    return "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\"


def transmit(number: int, png_base64: str) -> list[str]:
    """The commands that store a PNG (base64) under id `number`, quietly (q=2: no reply
    that Textual's input reader would see as keys)."""
    chunks = [png_base64[i : i + CHUNK] for i in range(0, len(png_base64), CHUNK)] or [""]
    if len(chunks) == 1:
        return [apc(f"a=t,f=100,i={number},q=2", chunks[0])]
    out = [apc(f"a=t,f=100,i={number},q=2,m=1", chunks[0])]
    out += [apc("m=1,q=2", chunk) for chunk in chunks[1:-1]]
    out.append(apc("m=0,q=2", chunks[-1]))
    return out


def place(number: int, columns: int, rows: int) -> str:
    """A virtual placement of image `number` over `columns` x `rows` placeholder cells."""
    return apc(f"a=p,U=1,i={number},c={columns},r={rows},q=2")


def delete(number: int) -> str:
    """Delete image `number` and free its data (d=I)."""
    return apc(f"a=d,d=I,i={number},q=2")


# The id of settle_tmux_replies' own query ("PLN"); any id its reply can be told by.
SETTLE_ID: Final = 0x504C4E
_SETTLE_REPLY = re.compile(rb"\x1b_Gi=%d[,;][^\x1b]*\x1b\\" % SETTLE_ID)


def settle_tmux_replies(
    fd_in: int | None = None, fd_out: int | None = None, timeout: float = 0.3
) -> bytes:
    """Inside tmux: read away the terminal's late answer to the image probe, and return
    what was read.

    textual-image's probe (on import) asks for kitty graphics through tmux's passthrough
    and stops reading at the answer to its device-attributes query, which tmux gives
    itself at once: kitty's answer comes after, and the app would take it for keys
    (`i` opened the import dialog, `=` zoomed, digits moved the focus). This asks a
    query of its own, which the terminal answers after the probe's, and reads until
    that answer (or `timeout` seconds, where the terminal answers none). `fd_in` and
    `fd_out` default to the process's own terminal."""
    query = apc(f"i={SETTLE_ID},s=1,v=1,a=q,t=d,f=24", "AAAA")
    return _ask_terminal(tmux_wrap(query).encode(), _SETTLE_REPLY, fd_in, fd_out, timeout)


def _ask_terminal(query: bytes, answered: re.Pattern[bytes], fd_in: int | None,
                  fd_out: int | None, timeout: float) -> bytes:  # fmt: skip
    """Write `query` to the terminal and read its input (raw, no echo) until `answered`
    matches or `timeout` seconds pass; what was read (b"" without a terminal)."""
    import termios  # POSIX only

    try:
        fd_in = sys.__stdin__.fileno() if fd_in is None else fd_in  # type: ignore[union-attr]
        fd_out = sys.__stdout__.fileno() if fd_out is None else fd_out  # type: ignore[union-attr]
        saved = termios.tcgetattr(fd_in)
    except (AttributeError, ValueError, OSError, termios.error):
        return b""  # no terminal (closed, redirected): nothing to ask
    quiet = list(saved)
    quiet[3] &= ~(termios.ICANON | termios.ECHO)
    quiet[6] = list(saved[6])
    quiet[6][termios.VMIN], quiet[6][termios.VTIME] = 0, 0
    read = b""
    try:
        termios.tcsetattr(fd_in, termios.TCSANOW, quiet)
        os.write(fd_out, query)
        deadline = time.monotonic() + timeout
        while not answered.search(read):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd_in], [], [], left)[0]:
                break
            chunk = os.read(fd_in, 4096)
            if not chunk:
                break
            read += chunk
    except OSError:
        pass
    finally:
        termios.tcsetattr(fd_in, termios.TCSANOW, saved)
    return read


# Placeholders came with kitty 0.28 (Debian 12 ships 0.26, which answers the graphics
# query but draws every placeholder as a box); ghostty has them from its first release.
# wezterm and Konsole answer the graphics query too, without placeholders.
PLACEHOLDERS_SINCE: Final = (0, 28)
_XTVERSION = re.compile(rb"\x1bP>\|([^\x1b]*)\x1b\\")
_PRIMARY_DA = re.compile(rb"\x1b\[\?[0-9;]*c")


def has_placeholders(name: str) -> bool:
    """Whether the terminal named `name` (its XTVERSION answer, e.g. "kitty(0.41.1)",
    or tmux's client_termname, e.g. "xterm-kitty") draws Unicode placeholders."""
    name = name.lower()
    if "ghostty" in name:
        return True
    if "kitty" not in name:
        return False
    version = re.search(r"(\d+)\.(\d+)", name)
    # tmux names the terminal without a version: then a current kitty is assumed.
    return version is None or tuple(map(int, version.groups())) >= PLACEHOLDERS_SINCE


def terminal_name(fd_in: int | None = None, fd_out: int | None = None,
                  timeout: float = 0.3) -> str:  # fmt: skip
    """The terminal's name and version as it tells them (XTVERSION), or, inside tmux
    (which answers for itself), the outer terminal's name from tmux; "" if unknown.
    A device-attributes query follows XTVERSION: every terminal answers that one, so
    the wait ends at once where XTVERSION is not known."""
    if os.environ.get("TMUX"):
        import subprocess

        try:
            asked = ["tmux", "display-message", "-p", "#{client_termname}"]
            found = subprocess.run(asked, capture_output=True, text=True, timeout=1, check=False)
        except (OSError, subprocess.SubprocessError):
            return ""
        return found.stdout.strip()
    answer = _ask_terminal(b"\x1b[>0q\x1b[c", _PRIMARY_DA, fd_in, fd_out, timeout)
    named = _XTVERSION.search(answer)
    return named.group(1).decode("utf-8", "replace") if named else ""


# ---------------------------------------------------------------------- ids and text


def _round_trip_indices() -> tuple[int, ...]:
    # Not 0-15: themes redefine those. Of 16-255, the entries whose RGB Rich maps back
    # to the same index when it downgrades to 256 colours (227 of 240).
    out = []
    for index in range(16, 256):
        color = RichColor.from_triplet(EIGHT_BIT_PALETTE[index])
        if color.downgrade(ColorSystem.EIGHT_BIT).number == index:
            out.append(index)
    return tuple(out)


_INDICES: Final = _round_trip_indices()
SLOTS: Final = len(_INDICES) * 255  # distinct ids (msb 1..255 x colour)


class ImageId(NamedTuple):
    """An image's id as the terminal knows it (`number`) and as the text carries it."""

    number: int
    color: RichColor
    msb: int


def image_id(slot: int, truecolor: bool) -> ImageId:
    """The id of allocation `slot` (any int; it wraps after `SLOTS`)."""
    slot %= SLOTS
    index = _INDICES[slot % len(_INDICES)]
    msb = 1 + slot // len(_INDICES)
    r, g, b = EIGHT_BIT_PALETTE[index]
    low = (r << 16) | (g << 8) | b if truecolor else index
    return ImageId((msb << 24) | low, RichColor.from_triplet(EIGHT_BIT_PALETTE[index]), msb)


@lru_cache(maxsize=4096)
def placeholder_row(row: int, columns: int, msb: int) -> str:
    """Row `row` of a placement `columns` wide: every cell carries its row, its column
    and the id's high byte, so any part of it can be redrawn on its own."""
    tail = DIACRITICS[msb]
    r = PLACEHOLDER + DIACRITICS[row]
    return "".join(r + DIACRITICS[c] + tail for c in range(columns))


def tile_strips(
    ident: ImageId, columns: int, rows: int, width: int, background: Style
) -> tuple[Strip, ...]:
    """The `rows` lines of a cell `width` wide whose first `columns` show `ident`."""
    style = background + Style.from_color(ident.color)
    pad = [Segment(" " * (width - columns), background)] if width > columns else []
    return tuple(
        Strip([Segment(placeholder_row(row, columns, ident.msb), style), *pad], width)
        for row in range(rows)
    )


# ---------------------------------------------------------------------- pictures


@dataclass(frozen=True, slots=True)
class Picture:
    """A thumbnail ready to transmit: PNG in base64, and its size in pixels."""

    png_base64: str
    width: int
    height: int


def encode_picture(data: bytes, max_width: int, max_height: int) -> Picture | None:
    """`data` decoded and shrunk (never enlarged: the terminal scales it up) to fit
    `max_width` x `max_height` pixels, as PNG; None when it does not decode."""
    try:
        with Image.open(BytesIO(data)) as img:
            w, h = img.size
            if w <= 0 or h <= 0 or w * h > _MAX_SOURCE_PIXELS:
                return None
            scale = min(1.0, max_width / w, max_height / h)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img.draft("RGB", size)
            rgb = img.convert("RGB")
            if rgb.size != size:
                rgb = rgb.resize(size, Image.Resampling.LANCZOS)
            out = BytesIO()
            rgb.save(out, format="PNG", compress_level=3)
    except Exception:  # noqa: BLE001 - any broken file is a placeholder, never a crash
        return None
    return Picture(base64.standard_b64encode(out.getvalue()).decode("ascii"), *size)


# ---------------------------------------------------------------------- bookkeeping


class SentImages:
    """The pictures the terminal holds, by key (the grid's: image id and tile size).

    `send` transmits a picture and its placement and returns its id; `get` finds one
    sent before (and marks it recently used). Past `max_images` pictures or
    `max_pixels` pixels, the least recently used are deleted from the terminal
    (`on_evict` hears their keys). `transmissions` and `bytes_written` count output.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        *,
        truecolor: bool = True,
        tmux: bool = False,
        max_images: int = 600,
        max_pixels: int = 32_000_000,
        first_slot: int = 0,
        on_evict: Callable[[Hashable], None] | None = None,
    ) -> None:
        self._write = write
        self.truecolor = truecolor
        self.tmux = tmux
        self.max_images = max_images
        self.max_pixels = max_pixels
        self.on_evict = on_evict
        self._next_slot = first_slot
        self._sent: OrderedDict[Hashable, tuple[ImageId, int]] = OrderedDict()
        self._pixels = 0
        self.transmissions = 0
        self.bytes_written = 0

    def __len__(self) -> int:
        return len(self._sent)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._sent

    def keys(self) -> list[Hashable]:
        """The keys held, least recently used first."""
        return list(self._sent)

    def get(self, key: Hashable) -> ImageId | None:
        found = self._sent.get(key)
        if found is None:
            return None
        self._sent.move_to_end(key)
        return found[0]

    def send(self, key: Hashable, picture: Picture, columns: int, rows: int) -> ImageId:
        """Transmit `picture` for `key` with a `columns` x `rows` placement (once: a key
        already held is only marked used)."""
        held = self.get(key)
        if held is not None:
            return held
        ident = image_id(self._next_slot, self.truecolor)
        self._next_slot += 1
        self._output([*transmit(ident.number, picture.png_base64),
                      place(ident.number, columns, rows)])  # fmt: skip
        self.transmissions += 1
        pixels = picture.width * picture.height
        self._sent[key] = (ident, pixels)
        self._pixels += pixels
        self._evict(keep=key)
        return ident

    def _evict(self, keep: Hashable) -> None:
        gone: list[Hashable] = []
        deletes: list[str] = []
        while len(self._sent) > 1 and (
            len(self._sent) > self.max_images or self._pixels > self.max_pixels
        ):
            key, (ident, pixels) = next(iter(self._sent.items()))
            if key == keep:
                break
            del self._sent[key]
            self._pixels -= pixels
            deletes.append(delete(ident.number))
            gone.append(key)
        if deletes:
            self._output(deletes)
        if self.on_evict is not None:
            for key in gone:
                self.on_evict(key)

    def discard(self, keys: list[Hashable]) -> None:
        """Delete the pictures of `keys` (those held) from the terminal."""
        deletes = []
        for key in keys:
            found = self._sent.pop(key, None)
            if found is not None:
                self._pixels -= found[1]
                deletes.append(delete(found[0].number))
        if deletes:
            self._output(deletes)

    def clear(self) -> None:
        """Delete every picture held from the terminal."""
        deletes = [delete(ident.number) for ident, _ in self._sent.values()]
        self._sent.clear()
        self._pixels = 0
        if deletes:
            self._output(deletes)

    def _output(self, sequences: list[str]) -> None:
        if self.tmux:
            sequences = [tmux_wrap(s) for s in sequences]
        data = "".join(sequences)
        self.bytes_written += len(data.encode())
        self._write(data)
