"""Renaming, moving, merging and deleting tags and properties, each undoable."""

from __future__ import annotations

from typing import Any

from planche.core.commands.base import Command, Field, command
from planche.core.errors import BadParameter
from planche.core.properties import editing
from planche.core.store import Store


@command
class RenameProperty(Command):
    name = "rename_property"
    description = "rename a property (tag or typed)"
    undoable = True
    fields = (Field("name", str, required=True), Field("new_name", str, required=True))

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        done = editing.rename_property(store, params["name"], params["new_name"])
        return done, done

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.set_property_name(store, data["property_id"], data["before"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.set_property_name(store, data["property_id"], data["after"])


class _TagRowChange(Command):
    """A command that changes one tag's row (name or parent): undo puts it back."""

    undoable = True

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.set_tag_row(store, data["tag_id"], *data["before"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.set_tag_row(store, data["tag_id"], *data["after"])


@command
class RenameTag(_TagRowChange):
    name = "rename_tag"
    description = "rename a tag (its images and the tags below it stay)"
    fields = (Field("tag_id", int, required=True, ref="tag"),
              Field("name", str, required=True))  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        done = editing.rename_tag(store, params["tag_id"], params["name"])
        return done, done


@command
class MoveTag(_TagRowChange):
    name = "move_tag"
    description = "put a tag, with the tags below it, under another tag of its property"
    fields = (Field("tag_id", int, required=True, ref="tag"),
              Field("parent_id", int, ref="tag", help="none: to the property's top"))  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        done = editing.move_tag(store, params["tag_id"], params["parent_id"])
        return done, done


@command
class MergeTag(Command):
    name = "merge_tag"
    description = "merge a tag into another: its images and children join that tag"
    undoable = True
    fields = (Field("tag_id", int, required=True, ref="tag"),
              Field("into", int, required=True, ref="tag"))  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        if params["tag_id"] == params["into"]:
            raise BadParameter("into", params["into"], "another tag than the one merged")
        done = editing.merge_tag(store, params["tag_id"], params["into"])
        return {"into": done["into"], "images": len(done["images"])}, done

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.unmerge_tag(store, data)

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.merge_tag(store, params["tag_id"], params["into"])


@command
class DeleteTag(Command):
    name = "delete_tag"
    description = "delete a tag and the tags below it (its images stay)"
    undoable = True
    fields = (Field("tag_id", int, required=True, ref="tag"),)

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        done = editing.delete_tag(store, params["tag_id"])
        return {"tags": len(done["tags"]), "links": len(done["links"])}, done

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.restore_tags(store, data)

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        editing.delete_tag(store, params["tag_id"])
