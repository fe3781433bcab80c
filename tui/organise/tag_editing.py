"""Editing tags and properties from the tree: `e` renames the tag or property
under the tree's cursor, `v` moves a tag (under another, or to the top) or
merges it into another, `x` deletes it (after a yes). Each is one undoable
command (ctrl+z)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from planche.core import commands, read
from planche.core.text import printable
from planche.tui.screens import ConfirmScreen, PromptScreen


class TagEditing:
    """Mixed into PlancheApp: uses its tree, notifications and project reload."""

    project: Any
    _run_write: Any

    def _tree_item(self) -> dict[str, Any]:
        node = self.query_one("#tree").cursor_node
        return dict(node.data or {}) if node is not None else {}

    def _run_edit(self, name: str, params: dict[str, Any] | Callable[[], dict[str, Any]],
                  done: str) -> None:  # fmt: skip
        """Run one edit in a worker; `params` may be a function, to look up tags
        there too (off the UI thread)."""

        def steps(context: Any) -> Any:
            given = params() if callable(params) else params
            return commands.run(self.project, name, given, context)

        def finished(_: Any) -> None:
            self.notify(f"{done} (ctrl+z takes it back)")
            self.refresh_project(keep_scope=True)

        self._run_write("editing…", steps, finished)

    def action_rename_in_tree(self) -> None:
        item = self._tree_item()
        if item.get("kind") not in ("tag", "property"):
            self.notify("Put the tree's cursor on a tag or a tag property first.")
            return
        old = item["name"]

        def rename(new: str | None) -> None:
            if not new or not new.strip() or new.strip() == old:
                return
            if item["kind"] == "tag":
                self._run_edit("rename_tag", {"tag_id": item["ref"], "name": new.strip()},
                               f"Renamed {old} to {new.strip()}")  # fmt: skip
            else:
                self._run_edit("rename_property", {"name": old, "new_name": new.strip()},
                               f"Renamed the property {old} to {new.strip()}")  # fmt: skip

        self.push_screen(PromptScreen(f"Rename {printable(old)} to:", value=old), rename)

    def action_move_tag(self) -> None:
        item = self._tree_item()
        if item.get("kind") != "tag":
            self.notify("Put the tree's cursor on a tag first.")
            return
        path = read.tag_path(self.project, item["ref"])

        def move(answer: str | None) -> None:
            if not answer or not answer.strip():
                return
            target = answer.strip()
            merge = target.startswith("=")
            target = target.lstrip("=").strip()
            if merge:
                into = lambda: {"tag_id": item["ref"],  # noqa: E731 - looked up in the worker
                                "into": read.tag_id_for(self.project, target)}  # fmt: skip
                self._run_edit("merge_tag", into, f"Merged {'/'.join(path)} into {target}")
                return
            if "/" not in target and target != path[0]:
                self.notify(f"Write {path[0]}/PARENT, or {path[0]} alone for the top.",
                            severity="error")  # fmt: skip
                return
            under = lambda: {"tag_id": item["ref"],  # noqa: E731 - looked up in the worker
                             "parent_id": read.tag_id_for(self.project, target)
                             if "/" in target else None}  # fmt: skip
            self._run_edit("move_tag", under, f"Moved {'/'.join(path)} under {target}")

        question = (
            f"Move {'/'.join(path)} under (Property/parent, or {path[0]} for the "
            "top), or merge it into another tag (=Property/tag):"
        )
        self.push_screen(PromptScreen(printable(question), placeholder=f"{path[0]}/..."), move)

    def delete_tag_or_property(self, item: dict[str, Any]) -> None:
        """`x` on a tag or a property in the tree."""
        if item["kind"] == "tag":
            what = "/".join(read.tag_path(self.project, item["ref"]))
            name, params = "delete_tag", {"tag_id": item["ref"]}
            question = f"Delete the tag {what} and the tags below it? (its images stay)"
        else:
            what = item["name"]
            name, params = "delete_property", {"name": what}
            question = f"Delete the property {what} with all its tags?"

        def delete(sure: bool | None) -> None:
            if sure:
                self._run_edit(name, params, f"Deleted {what}")

        self.push_screen(ConfirmScreen(printable(question)), delete)
