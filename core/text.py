"""Making names from the outside world safe to show.

File names, EXIF fields and tag names can hold control characters and terminal
escape sequences (a file can be named "\\x1b]0;pwned\\x07.jpg"), and on Linux bytes
that are not UTF-8 at all. Everything shown to a terminal goes through
`printable` first.
"""

from __future__ import annotations

import unicodedata


def printable(text: str) -> str:
    """`text` with control characters and undecodable bytes spelt as escapes."""
    # Fast path (100k captions: 0.24 s -> 5 ms): str.isprintable() is False for
    # every character _is_unsafe names (Cc, Cs and the Cf bidi controls).
    if text.isprintable() or not any(_is_unsafe(ch) for ch in text):
        return text
    out = []
    for ch in text:
        if 0xDC80 <= ord(ch) <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{ord(ch) - 0xDC00:02x}")
        elif _is_unsafe(ch):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def is_valid_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in "\u202e\u202d\u2066\u2067\u2068"


def count(n: int, noun: str) -> str:
    """'1 image', '2 images': a number with its noun, for messages."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def file_size(n: int) -> str:
    """A byte count as people read it: '812 B', '14.2 kB', '3.1 MB' (powers of 1000)."""
    size = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
