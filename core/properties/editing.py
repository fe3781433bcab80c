"""Renaming, moving, merging and deleting tags and properties, each with what
its undo needs. Everything runs inside the caller's transaction (a command's
apply, undo or redo); a refusal names the tag or property and why."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from planche.core.errors import BadParameter
from planche.core.properties.kinds import check_property_name
from planche.core.properties.values import PropertyRow, find_property
from planche.core.store import Store


def _tag(store: Store, tag_id: int, what: str = "tag_id") -> tuple[int, int | None, str]:
    """(property id, parent id, name) of a tag."""
    rows = store.con.execute(
        "SELECT property_id, parent_id, name FROM tags WHERE id = ?", [tag_id]
    ).fetchall()
    if not rows:
        raise BadParameter(what, tag_id, "a tag of this project (`planche tags`)")
    property_id, parent, name = rows[0]
    return int(property_id), (int(parent) if parent is not None else None), name


def _sibling_named(store: Store, property_id: int, parent: int | None, name: str,
                   other_than: int) -> int | None:  # fmt: skip
    rows = store.con.execute(
        "SELECT id FROM tags WHERE property_id = ? AND parent_id IS NOT DISTINCT FROM ? "
        "AND name = ? AND id != ?",
        [property_id, parent, name, other_than],
    ).fetchall()
    return int(rows[0][0]) if rows else None


def _check_tag_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or "/" in name:
        raise BadParameter("name", name, "a tag name without /")
    return name.strip()


def rename_property(store: Store, name: str, new_name: str) -> dict[str, Any]:
    prop = find_property(store, name)
    if prop is None:
        raise BadParameter("property", name, "a property of this project (`planche properties`)")
    new_name = check_property_name(new_name)
    clash = find_property(store, new_name)
    if clash is not None and clash.id != prop.id:
        raise BadParameter("new_name", new_name, f"a name no other property has ({clash.name} "
                           f"is a {clash.type} property)")  # fmt: skip
    set_property_name(store, prop.id, new_name)
    return {"property_id": prop.id, "before": prop.name, "after": new_name}


def set_property_name(store: Store, property_id: int, name: str) -> None:
    store.con.execute("UPDATE properties SET name = ? WHERE id = ?", [name, property_id])


def rename_tag(store: Store, tag_id: int, new_name: str) -> dict[str, Any]:
    property_id, parent, name = _tag(store, tag_id)
    new_name = _check_tag_name(new_name)
    if _sibling_named(store, property_id, parent, new_name, tag_id) is not None:
        raise BadParameter("name", new_name, "a name its siblings do not have (to join two "
                           "tags into one, merge them: `planche tags --merge`)")  # fmt: skip
    set_tag_row(store, tag_id, parent, new_name)
    return {"tag_id": tag_id, "before": [parent, name], "after": [parent, new_name]}


def set_tag_row(store: Store, tag_id: int, parent: int | None, name: str) -> None:
    store.con.execute("UPDATE tags SET parent_id = ?, name = ? WHERE id = ?",
                      [parent, name, tag_id])  # fmt: skip


def _below(store: Store, tag_id: int) -> list[int]:
    """The tag and every tag below it."""
    rows = store.con.execute(
        "WITH RECURSIVE below(id) AS (SELECT ?::INTEGER UNION ALL "
        "SELECT t.id FROM tags t JOIN below b ON t.parent_id = b.id) SELECT id FROM below",
        [tag_id],
    ).fetchall()
    return [int(r[0]) for r in rows]


def move_tag(store: Store, tag_id: int, parent: int | None) -> dict[str, Any]:
    """Put a tag (with what is below it) under another tag of its property, or at the top."""
    property_id, old_parent, name = _tag(store, tag_id)
    if parent is not None:
        parent_property, _, _ = _tag(store, parent, "parent_id")
        if parent_property != property_id:
            raise BadParameter("parent_id", parent, "a tag of the same property")
        if parent in _below(store, tag_id):
            raise BadParameter("parent_id", parent, "a tag that is not the moved tag or below it")
    if _sibling_named(store, property_id, parent, name, tag_id) is not None:
        raise BadParameter("parent_id", parent, f"a place where no tag is already named {name!r} "
                           "(merge them instead)")  # fmt: skip
    set_tag_row(store, tag_id, parent, name)
    return {"tag_id": tag_id, "before": [old_parent, name], "after": [parent, name]}


def merge_tag(store: Store, tag_id: int, into: int) -> dict[str, Any]:
    """The tag's images get `into`, its children go under `into`, and it is removed."""
    property_id, parent, name = _tag(store, tag_id)
    into_property, _, _ = _tag(store, into, "into")
    if into_property != property_id or into in _below(store, tag_id):
        raise BadParameter("into", into, "another tag of the same property, not below this one")
    links = [int(r[0]) for r in store.con.execute(
        "SELECT image_id FROM image_tags WHERE tag_id = ?", [tag_id]).fetchall()]  # fmt: skip
    had = {int(r[0]) for r in store.con.execute(
        "SELECT image_id FROM image_tags WHERE tag_id = ?", [into]).fetchall()}  # fmt: skip
    children = [int(r[0]) for r in store.con.execute(
        "SELECT id FROM tags WHERE parent_id = ?", [tag_id]).fetchall()]  # fmt: skip
    for child in children:
        _, _, child_name = _tag(store, child)
        if _sibling_named(store, property_id, into, child_name, child) is not None:
            raise BadParameter("into", into, f"a tag without a child named {child_name!r} "
                               "(merge those two first)")  # fmt: skip
    added = [i for i in links if i not in had]
    store.con.execute("DELETE FROM image_tags WHERE tag_id = ?", [tag_id])
    if added:
        store.con.execute("INSERT INTO image_tags SELECT unnest(?), ?", [added, into])
    store.con.execute("UPDATE tags SET parent_id = ? WHERE parent_id = ?", [into, tag_id])
    store.con.execute("DELETE FROM tags WHERE id = ?", [tag_id])
    return {"tag": [tag_id, property_id, parent, name], "into": into, "images": links,
            "added": added, "children": children}  # fmt: skip


def unmerge_tag(store: Store, data: dict[str, Any]) -> None:
    tag_id, property_id, parent, name = data["tag"]
    store.con.execute("INSERT INTO tags (id, property_id, parent_id, name) VALUES (?, ?, ?, ?)",
                      [tag_id, property_id, parent, name])  # fmt: skip
    if data["children"]:
        store.con.execute("UPDATE tags SET parent_id = ? WHERE id IN (SELECT unnest(?))",
                          [tag_id, data["children"]])  # fmt: skip
    if data["added"]:
        store.con.execute("DELETE FROM image_tags WHERE tag_id = ? AND image_id IN "
                          "(SELECT unnest(?))", [data["into"], data["added"]])  # fmt: skip
    if data["images"]:
        store.con.execute("INSERT INTO image_tags SELECT unnest(?), ?", [data["images"], tag_id])


def delete_tag(store: Store, tag_id: int) -> dict[str, Any]:
    """The tag and every tag below it, with their links (kept for undo)."""
    _tag(store, tag_id)
    ids = _below(store, tag_id)
    tags = [[int(t), int(p), (int(pa) if pa is not None else None), n] for t, p, pa, n in
            store.con.execute("SELECT id, property_id, parent_id, name FROM tags WHERE id IN "
                              "(SELECT unnest(?)) ORDER BY id", [ids]).fetchall()]  # fmt: skip
    links = [[int(i), int(t)] for i, t in store.con.execute(
        "SELECT image_id, tag_id FROM image_tags WHERE tag_id IN (SELECT unnest(?))",
        [ids]).fetchall()]  # fmt: skip
    store.con.execute("DELETE FROM image_tags WHERE tag_id IN (SELECT unnest(?))", [ids])
    store.con.execute("DELETE FROM tags WHERE id IN (SELECT unnest(?))", [ids])
    return {"tags": tags, "links": links}


def restore_tags(store: Store, data: dict[str, Any]) -> None:
    """Put back what `delete_tag` (or `delete_property`) removed, with the same ids."""
    for tag_id, property_id, parent, name in data["tags"]:
        store.con.execute(
            "INSERT INTO tags (id, property_id, parent_id, name) VALUES (?, ?, ?, ?)",
            [tag_id, property_id, parent, name],
        )
    if data["links"]:
        store.con.execute(
            "INSERT INTO image_tags SELECT unnest(?), unnest(?)",
            [[link[0] for link in data["links"]], [link[1] for link in data["links"]]],
        )


def remove_property(store: Store, prop: PropertyRow) -> dict[str, Any]:
    """A property with its tags, links and values (kept for undo)."""
    roots = store.con.execute(
        "SELECT id FROM tags WHERE property_id = ? AND parent_id IS NULL", [prop.id]
    ).fetchall()
    removed: dict[str, Any] = {"tags": [], "links": []}
    for (root,) in roots:
        part = delete_tag(store, int(root))
        removed["tags"] += part["tags"]
        removed["links"] += part["links"]
    values = store.con.execute(
        "SELECT image_id, value_text, value_number, CAST(value_date AS VARCHAR), value_flag "
        "FROM property_values WHERE property_id = ?", [prop.id]).fetchall()  # fmt: skip
    created = store.con.execute("SELECT CAST(created_at AS VARCHAR) FROM properties WHERE id = ?",
                                [prop.id]).fetchall()  # fmt: skip
    store.con.execute("DELETE FROM property_values WHERE property_id = ?", [prop.id])
    store.con.execute("DELETE FROM properties WHERE id = ?", [prop.id])
    return {"property": [prop.id, prop.name, prop.type, created[0][0]], **removed,
            "values": [list(v) for v in values]}  # fmt: skip


def restore_property(store: Store, data: dict[str, Any]) -> None:
    property_id, name, kind, created = data["property"]
    store.con.execute("INSERT INTO properties (id, name, created_at, type) VALUES (?, ?, ?, ?)",
                      [property_id, name, datetime.fromisoformat(created), kind])  # fmt: skip
    restore_tags(store, data)
    if data["values"]:
        columns = list(zip(*data["values"], strict=True))
        store.con.execute(
            "INSERT INTO property_values (property_id, image_id, value_text, value_number, "
            "value_date, value_flag) SELECT ?, unnest(?), unnest(?), unnest(?), "
            "CAST(unnest(?) AS TIMESTAMP), unnest(?)",
            [property_id, *[list(c) for c in columns]],
        )
