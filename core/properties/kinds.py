"""What properties there are: the typed kinds a user can add, the built-in
read-only ones, and how a value written by a person becomes a stored one."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from planche.core.errors import BadParameter

PropertyType = Literal["tag", "text", "number", "date", "checkbox", "url"]
# The kinds of property a user adds; "tag" is the hierarchical tag property.
PROPERTY_TYPES: tuple[PropertyType, ...] = ("tag", "text", "number", "date", "checkbox", "url")

# The column of property_values that holds each type's value.
VALUE_COLUMN = {
    "text": "value_text",
    "url": "value_text",
    "number": "value_number",
    "date": "value_date",
    "checkbox": "value_flag",
}

TRUE_WORDS = frozenset({"true", "yes", "y", "1", "x", "on", "checked"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "off", "unchecked"})
MAX_NAME_CHARS = 200


@dataclass(frozen=True)
class Builtin:
    """A read-only property every image has, from the image or its files.

    `sql` is an expression over the listing's columns (see filters.py): `i` is
    the images row, `f` the image's first file (by path)."""

    name: str
    type: PropertyType
    sql: str
    help: str


BUILTINS: dict[str, Builtin] = {
    b.name: b
    for b in (
        Builtin("path", "text", "f.path", "the file's path (the first, for an image with copies)"),
        Builtin("folder", "text", "f.folder", "the folder the file is in"),
        Builtin("name", "text", "f.name", "the file's name"),
        Builtin("size", "number", "f.size", "the file's size in bytes (KB, MB, GB in filters)"),
        Builtin("width", "number", "i.width", "width in pixels"),
        Builtin("height", "number", "i.height", "height in pixels"),
        Builtin("format", "text", "i.format", "JPEG, PNG, WEBP, ..."),
        Builtin("taken", "date", "i.exif_date", "the date taken, from EXIF"),
        Builtin("modified", "date", "f.modified", "the file's modification time"),
        Builtin(
            "date",
            "date",
            "coalesce(i.exif_date, f.modified)",
            "the date taken, else the file's modification time",
        ),  # fmt: skip
        Builtin("imported", "date", "i.imported_at", "when the image was imported"),
        Builtin("id", "number", "i.id", "the image's id in this project"),
        Builtin("sha256", "text", "i.sha256", "the image's content hash"),
    )
}


def check_property_name(name: Any) -> str:
    """A name a user may give a property: not a built-in one, and without the
    characters the filter language and the CSV header give a meaning to."""
    if not isinstance(name, str) or not name.strip():
        raise BadParameter("property", name, "a name, e.g. Rating")
    name = name.strip()
    if name.lower() in BUILTINS or name.lower() in ("tag", "has", "cluster"):
        raise BadParameter("property", name, "a name that is not a built-in property's "
                           f"({', '.join(BUILTINS)}, tag, has, cluster)")  # fmt: skip
    bad = sorted({c for c in name if c in ':/"<>=!;' or not c.isprintable()})
    if bad or name.startswith("-") or len(name) > MAX_NAME_CHARS:
        raise BadParameter("property", name, "a name without : / \" < > = ! ; or control "
                           "characters, not starting with -, at most 200 characters")  # fmt: skip
    return name


def check_property_type(value: Any) -> PropertyType:
    if value not in PROPERTY_TYPES:
        raise BadParameter("type", value, "one of " + ", ".join(PROPERTY_TYPES))
    return value


_DATE_FORMATS = ("%Y-%m-%d", "%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                 "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%dT%H:%M:%S.%f")  # fmt: skip
_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2}))?(?:-(\d{1,2}))?$")


def parse_date(text: str) -> datetime | None:
    """A full date (and time) as people and our CSV export write it; None if it is not one."""
    text = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def date_span(text: str) -> tuple[datetime, datetime] | None:
    """The span a date in a filter means: `2024` a year, `2024-03` a month,
    `2024-03-05` a day, a date with a time that instant. None if not a date."""
    match = _PARTIAL_DATE.match(text.strip())
    if match:
        year, month, day = (int(g) if g else None for g in match.groups())
        try:
            if month is None:
                return datetime(year, 1, 1), datetime(year + 1, 1, 1)
            if day is None:
                start = datetime(year, month, 1)
                return start, datetime(year + month // 12, month % 12 + 1, 1)
            start = datetime(year, month, day)
        except ValueError:
            return None
        return start, start + timedelta(days=1)
    instant = parse_date(text)
    return (instant, instant + timedelta(microseconds=1)) if instant else None


_SIZE_UNITS = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9,
               "kib": 1024, "mib": 1024**2, "gib": 1024**3}  # fmt: skip
_NUMBER_WITH_UNIT = re.compile(r"^([-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?)\s*([a-z]*)$", re.I)


def parse_number(text: str, *, units: bool = False) -> float | None:
    """A number as written (`1920`, `2.5`, with `units` also `2MB`); None if it is not one."""
    match = _NUMBER_WITH_UNIT.match(text.strip())
    if not match:
        return None
    unit = match.group(2).lower()
    if unit and not units or unit not in _SIZE_UNITS:
        return None
    value = float(match.group(1)) * _SIZE_UNITS[unit]
    return value if math.isfinite(value) else None


def parse_flag(text: str) -> bool | None:
    word = text.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def parse_value(kind: PropertyType, raw: Any, where: str) -> Any:
    """The stored value of `raw` (text as typed, or a JSON value) for a property
    of this type. An empty text means no value (None). BadParameter names `where`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    text = raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) else str(raw)
    if kind in ("text", "url"):
        if kind == "url" and not re.match(r"^[a-z][a-z0-9+.-]*:\S+$", text.strip(), re.I):
            raise BadParameter(where, raw, "a URL such as https://example.org/page")
        return text
    if kind == "number":
        value = parse_number(text)
        if value is None:
            raise BadParameter(where, raw, "a number such as 3 or 2.5")
        return value
    if kind == "date":
        value = parse_date(text)
        if value is None:
            raise BadParameter(where, raw, "a date such as 2024-03-05 or 2024-03-05 14:30")
        return value
    if kind == "checkbox":
        value = parse_flag(text)
        if value is None:
            raise BadParameter(where, raw, "true or false (also yes/no, 1/0, x)")
        return value
    raise BadParameter(where, kind, "a property with values (tags are set with `planche tag`)")
