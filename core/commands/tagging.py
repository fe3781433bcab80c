"""Tagging commands: tag and untag images, delete a tag property."""

from __future__ import annotations

from typing import Any

from planche.core.commands.base import Command, Field, command
from planche.core.errors import BadParameter
from planche.core.properties import editing
from planche.core.properties.values import find_property
from planche.core.store import Store
from planche.core.text import count


@command
class Tag(Command):
    name = "tag"
    description = "tag images with a tag of a property, made (with its parents) if new"
    undoable = True
    fields = (
        Field("property", str, required=True, help="the tag property, e.g. Subject"),
        Field("path", str, required=True, many=True, help="the tag's names from the top"),
        Field("images", int, default=[], many=True, ref="image", help="images to tag"),
    )

    def check(self, params: dict[str, Any]) -> None:
        path = params["path"]
        if not params["property"].strip() or not path or not all(p.strip() for p in path):
            raise BadParameter(
                "tag", "/".join([params["property"], *path]),
                "a property and a tag path, e.g. Subject/animal/cat",
            )  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        tag_id, made = store.add_tag_path_recorded(params["property"], params["path"])
        added = store.tag_images(tag_id, params["images"])
        undo_data = {"tag_id": tag_id, "added": added, "made": made}
        return {"tag_id": tag_id, "added": added}, undo_data

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.untag_images(data["tag_id"], data["added"])
        if "made" in data:  # journals before undo removed new tags lack it
            store.remove_made_tags(data["made"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        if "made" in data:
            store.restore_made_tags(data["made"])
        store.tag_images(data["tag_id"], data["added"])

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(len(outcome['added']), 'image')} tagged"


@command
class Untag(Command):
    name = "untag"
    description = "remove a tag from images"
    undoable = True
    fields = (
        Field("tag_id", int, required=True, ref="tag"),
        Field("images", int, required=True, many=True, ref="image"),
    )

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        if not store.tag_exists(params["tag_id"]):
            raise BadParameter("tag_id", params["tag_id"], "a tag of this project (`planche tags`)")
        removed = store.untag_images(params["tag_id"], params["images"])
        return {"removed": removed}, {"tag_id": params["tag_id"], "removed": removed}

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.tag_images(data["tag_id"], data["removed"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.untag_images(data["tag_id"], data["removed"])

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(len(outcome['removed']), 'image')} untagged"


@command
class DeleteProperty(Command):
    name = "delete_property"
    description = "delete a property with its tags or values (undo brings them back)"
    undoable = True
    fields = (Field("name", str, required=True),)

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        prop = find_property(store, params["name"])
        if prop is None:
            raise BadParameter("property", params["name"], "the name of a property")
        return {"deleted": prop.name}, editing.remove_property(store, prop)

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.restore_property(store, data)

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        prop = find_property(store, data["property"][1])
        if prop is not None:
            editing.remove_property(store, prop)
