"""Typed properties in the project: their rows in `properties` and their values
in `property_values` (schema 4, core/store.py). Every write here runs inside the
caller's transaction (a command's apply, undo or redo)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from planche.core.errors import BadParameter
from planche.core.properties.kinds import VALUE_COLUMN, PropertyType
from planche.core.store import Store

_ARROW_TYPE = {"text": pa.string(), "url": pa.string(), "number": pa.float64(),
               "date": pa.timestamp("us"), "checkbox": pa.bool_()}  # fmt: skip


@dataclass(frozen=True)
class PropertyRow:
    id: int
    name: str
    type: PropertyType
    images: int  # images with a value (or, for a tag property, with one of its tags)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "type": self.type, "images": self.images}


def property_rows(store: Store) -> list[PropertyRow]:
    """Every property the user made, tag properties included, by name."""
    rows = store.con.execute(
        "SELECT p.id, p.name, p.type, CASE WHEN p.type = 'tag' THEN "
        "(SELECT count(DISTINCT it.image_id) FROM image_tags it JOIN tags t ON t.id = it.tag_id "
        " WHERE t.property_id = p.id) "
        "ELSE (SELECT count(*) FROM property_values v WHERE v.property_id = p.id) END "
        "FROM properties p ORDER BY lower(p.name), p.name"
    ).fetchall()
    return [PropertyRow(int(i), n, t, int(c)) for i, n, t, c in rows]


def property_kinds(store: Store) -> list[PropertyRow]:
    """Every property without counting its images (`images` is 0): what a listing,
    a filter or a table needs, at a fraction of `property_rows`' cost at 1M images."""
    rows = store.con.execute(
        "SELECT id, name, type FROM properties ORDER BY lower(name), name"
    ).fetchall()
    return [PropertyRow(int(i), n, t, 0) for i, n, t in rows]


def tag_paths(store: Store, property_id: int) -> list[tuple[int, tuple[str, ...]]]:
    """(tag id, names from the top) of every tag of a property, without counting
    their images (store.all_tag_paths counts them)."""
    rows = store.con.execute(
        "SELECT id, parent_id, name FROM tags WHERE property_id = ? ORDER BY id", [property_id]
    ).fetchall()
    by_id = {int(t): (parent, name) for t, parent, name in rows}
    paths = []
    for tag_id in by_id:
        names, current = [], tag_id
        while current is not None and len(names) <= len(by_id):
            parent, name = by_id[current]
            names.append(name)
            current = parent
        paths.append((tag_id, tuple(reversed(names))))
    return paths


def find_property(store: Store, name: str) -> PropertyRow | None:
    """The property of that name; a different case matches when it is the only one."""
    rows = property_kinds(store)
    exact = [r for r in rows if r.name == name]
    if exact:
        return exact[0]
    folded = [r for r in rows if r.name.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def value_property(store: Store, name: str, where: str = "property") -> PropertyRow:
    """A typed (not tag) property by name, or a message listing the ones there are."""
    row = find_property(store, name)
    if row is None or row.type == "tag":
        typed = [r.name for r in property_kinds(store) if r.type != "tag"]
        what = "a tag property; values are set on typed ones" if row else "no such property"
        raise BadParameter(where, name, f"a typed property ({what}; this project has: "
                           f"{', '.join(typed) or 'none yet'}; add one with "
                           "`planche properties --add NAME:TYPE`)")  # fmt: skip
    return row


def insert_property(
    store: Store, name: str, kind: PropertyType, property_id: int | None = None
) -> int:
    """Make a property (with `property_id`: again, as an undo's redo)."""
    if property_id is None:
        row = store.con.execute(
            "INSERT INTO properties (name, created_at, type) VALUES (?, now(), ?) RETURNING id",
            [name, kind],
        ).fetchone()
        assert row is not None
        return int(row[0])
    store.con.execute("INSERT INTO properties (id, name, created_at, type) VALUES (?, ?, now(), ?)",
                      [property_id, name, kind])  # fmt: skip
    return property_id


def drop_property(store: Store, property_id: int) -> None:
    store.con.execute("DELETE FROM property_values WHERE property_id = ?", [property_id])
    store.con.execute("DELETE FROM properties WHERE id = ?", [property_id])


def read_values(store: Store, prop: PropertyRow, image_ids: Sequence[int]) -> dict[int, Any]:
    """The values of these images that have one."""
    column = VALUE_COLUMN[prop.type]
    rows = store.con.execute(
        f"SELECT image_id, {column} FROM property_values WHERE property_id = ? "
        "AND image_id IN (SELECT unnest(?))",
        [prop.id, list(image_ids)],
    ).fetchall()
    return {int(i): v for i, v in rows}


def replace_values(store: Store, prop: PropertyRow, image_ids: Sequence[int],
                   values: Sequence[Any]) -> None:  # fmt: skip
    """Each image's value becomes the one beside it (None: no value)."""
    ids = pa.array(list(image_ids), pa.int32())
    table = pa.table({"image_id": ids, "value": pa.array(list(values), _ARROW_TYPE[prop.type])})
    replace_values_from(store, prop, table)


def replace_values_from(store: Store, prop: PropertyRow, table: pa.Table) -> None:
    """`replace_values` for an Arrow table of (image_id, value), in two statements."""
    column = VALUE_COLUMN[prop.type]
    store.con.register("planche_new_values", table)
    try:
        store.con.execute(
            "DELETE FROM property_values WHERE property_id = ? AND image_id IN "
            "(SELECT image_id FROM planche_new_values)",
            [prop.id],
        )
        store.con.execute(
            f"INSERT INTO property_values (property_id, image_id, {column}) "
            "SELECT DISTINCT ON (image_id) ?, image_id, value FROM planche_new_values "
            "WHERE value IS NOT NULL",
            [prop.id],
        )
    finally:
        store.con.unregister("planche_new_values")


def to_json(kind: PropertyType, value: Any) -> Any:
    """A stored value as the journal keeps it (for undo)."""
    return value.isoformat() if isinstance(value, datetime) else value


def from_json(kind: PropertyType, value: Any) -> Any:
    return datetime.fromisoformat(value) if kind == "date" and value is not None else value
