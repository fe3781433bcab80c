"""Typed properties: add one, set its value on images, import values from a CSV."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core.commands.base import Command, Context, Field, RecordedChoice, command
from planche.core.errors import BadParameter
from planche.core.properties import table_io
from planche.core.properties.kinds import check_property_name, check_property_type, parse_value
from planche.core.properties.values import (
    drop_property,
    find_property,
    from_json,
    insert_property,
    read_values,
    replace_values,
    to_json,
    value_property,
)
from planche.core.store import Store
from planche.core.text import count


@command
class AddProperty(Command):
    name = "add_property"
    description = "add a property: tag (hierarchical tags), text, number, date, checkbox or url"
    undoable = True
    fields = (
        Field("name", str, required=True, help="the property's name, e.g. Rating"),
        Field("type", str, required=True, help="tag, text, number, date, checkbox or url"),
    )

    def check(self, params: dict[str, Any]) -> None:
        params["name"] = check_property_name(params["name"])
        check_property_type(params["type"])

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        existing = find_property(store, params["name"])
        if existing is not None and existing.name.lower() == params["name"].lower():
            why = f"a new name: {existing.name} is a {existing.type} property"
            raise BadParameter("property", params["name"], why)
        property_id = insert_property(store, params["name"], params["type"])
        return {"property_id": property_id}, {"property_id": property_id}

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        drop_property(store, data["property_id"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        insert_property(store, params["name"], params["type"], data["property_id"])

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"property {outcome['property_id']} added"


@command
class SetProperty(Command):
    name = "set_property"
    description = "set a typed property's value on images (an empty value removes it)"
    undoable = True
    fields = (
        Field("property", str, required=True, help="a typed property, e.g. Rating"),
        Field("value", str, help="the value as text (2024-03-05, 4.5, true, ...); none removes"),
        Field("images", int, required=True, many=True, ref="image"),
    )

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        prop = value_property(store, params["property"])
        value = parse_value(prop.type, params["value"], "value")
        images = sorted(set(params["images"]))
        missing = store.missing_images(images)
        if missing:
            raise BadParameter("images", missing[0], "an image id of this project")
        before = read_values(store, prop, images)
        replace_values(store, prop, images, [value] * len(images))
        undo_data = {
            "property_id": prop.id,
            "images": images,
            "before": [to_json(prop.type, before.get(i)) for i in images],
        }
        return {"property_id": prop.id, "set": len(images)}, undo_data

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        prop = value_property(store, params["property"])
        replace_values(
            store, prop, data["images"], [from_json(prop.type, v) for v in data["before"]]
        )

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        prop = value_property(store, params["property"])
        value = parse_value(prop.type, params["value"], "value")
        replace_values(store, prop, data["images"], [value] * len(data["images"]))

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(outcome['set'], 'image')} set"


@command
class ImportTable(Command):
    name = "import_table"
    description = "set properties and tags from a CSV matched by path or sha256"
    undoable = True
    fields = (
        Field("file", str, required=True, help="the CSV file"),
        Field("match", str, default="path", nullable=False, help="path or sha256"),
        Field(
            "types",
            dict,
            default={},
            nullable=False,
            help="the type of a column whose header does not say it, {name: type}",
        ),  # fmt: skip
    )

    def check(self, params: dict[str, Any]) -> None:
        if params["match"] not in ("path", "sha256"):
            raise BadParameter("match", params["match"], "path or sha256")
        for name, kind in params["types"].items():
            check_property_type(kind)
            check_property_name(name)

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        return table_io.read_table(project, Path(params["file"]), params["match"],
                                   params["types"], context.progress)  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        plan: table_io.TablePlan = prepared
        undo_data = table_io.apply_table(store, plan)
        return plan.report(applied=True), undo_data

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        table_io.undo_table(store, data)

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        table_io.redo_table(store, data)

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(outcome['matched'], 'row')} matched, {outcome['unmatched']} unmatched"

    def folders_read(self, params: dict[str, Any]) -> list[str]:
        return [str(Path(params["file"]).parent)]


@command
class SuggestForTag(Command):
    name = "suggest_tag"
    description = "the images without a tag most like those with it (and like its name)"
    writes = False
    fields = (
        Field("tag_id", int, required=True, ref="tag"),
        Field("k", int, default=50, nullable=False),
        Field("model_id", int, ref="model"),
        Field("use_name", bool, default=True, nullable=False,
              help="add the tag's name through the text tower, where the model has one"),
        Field("with_parents", bool, default=False, nullable=False,
              help="name the tag with its parents' names too (animal cat)"),
    )  # fmt: skip

    def read(self, project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
        from planche.core.properties.suggestions import suggest_for_tag

        return suggest_for_tag(project, params["tag_id"], k=params["k"],
                               model_id=params["model_id"], use_name=params["use_name"],
                               with_parents=params["with_parents"],
                               session=context.session)  # fmt: skip

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(len(outcome['suggestions']), 'suggestion')}"


@command
class RefuseSuggestions(RecordedChoice):
    name = "refuse_suggestions"
    description = "never suggest these images for this tag again"
    fields = (
        Field("tag_id", int, required=True, ref="tag"),
        Field("images", int, required=True, many=True, ref="image"),
    )

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        if not store.tag_exists(params["tag_id"]):
            raise BadParameter("tag_id", params["tag_id"], "a tag of this project (`planche tags`)")
        missing = store.missing_images(params["images"])
        if missing:
            raise BadParameter("images", missing[0], "an image of this project")
        return {"refused": len(params["images"])}, {"images": params["images"]}

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(outcome['refused'], 'image')} refused"


@command
class SaveView(RecordedChoice):
    name = "save_view"
    description = "save a filter, sort and grouping under a name (empty ones: forget it)"
    fields = (
        Field("name", str, required=True),
        Field("where", str, default="", nullable=False),
        Field("sort", str, default="", nullable=False),
        Field("group", str, default="", nullable=False),
    )

    def check(self, params: dict[str, Any]) -> None:
        if not params["name"].strip() or any(c.isspace() for c in params["name"].strip()):
            raise BadParameter("name", params["name"], "a name without spaces, e.g. holidays")
        params["name"] = params["name"].strip()

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        from planche.core.properties.filters import list_images

        list_images(store, params["where"], params["sort"], params["group"], within=[])
        return {"name": params["name"]}, {"name": params["name"]}
