"""The left pane: folders, tag properties and the clustering tree.

Labels hold names from users (folders, properties, tags, cluster labels): they
are rich `Text`, never markup, with control characters escaped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.text import Text, TextType
from textual.binding import Binding
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from planche.core import read
from planche.core.text import printable


@dataclass(frozen=True)
class TreeContents:
    """What the tree shows, read from the project (in a worker, never on the UI thread)."""

    folders: list[tuple[str, int]]
    tags: list[dict[str, Any]]
    clusterings: list[dict[str, Any]]


def read_contents(project: Path) -> TreeContents:
    return TreeContents(read.folder_tree(project), read.tag_tree(project),
                        read.clustering_tree(project))  # fmt: skip


class ProjectTree(Tree[dict[str, Any]]):
    """Selecting a node shows its images; node data says which scope it is. Right
    (l) opens a node, then goes to its first child; left (h) closes it, then goes
    to its parent (Textual's tree scrolled sideways on them); j and k move."""

    BINDINGS = [
        Binding("right,l", "open_or_enter", "Open", show=False),
        Binding("left,h", "close_or_leave", "Close", show=False),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def action_open_or_enter(self) -> None:
        node = self.cursor_node
        if node is None or not node.allow_expand:
            return
        if not node.is_expanded:
            node.expand()
        elif node.children:
            self.move_cursor(node.children[0])

    def action_close_or_leave(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.allow_expand and node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)

    # "Property/parent/tag" of every tag shown: what the tag prompt completes.
    tag_paths: tuple[str, ...] = ()

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("project", data={"kind": "all"}, **kwargs)
        self.show_root = False
        self.guide_depth = 2

    def process_label(self, label: TextType) -> Text:
        """A label as plain text: Tree would parse a `str` as markup."""
        text = Text(printable(label)) if isinstance(label, str) else label
        return text.split()[0]

    def show(self, contents: TreeContents) -> None:
        """Rebuild from what `read_contents` read, keeping which nodes were open
        and the node under the cursor (by what it stands for)."""
        self.tag_paths = _tag_paths(contents.tags)
        expanded = {str(n.label) for n in self._all_nodes() if n.is_expanded}
        current = self.cursor_node.data if self.cursor_node is not None else None
        self.clear()
        root = self.root
        root.add_leaf(Text("All images", style="bold"), data={"kind": "all"})
        self._add_folders(root.add("Folders", data={"kind": "section"}), contents.folders)
        self._add_tags(root.add("Tags", data={"kind": "section"}), contents.tags)
        clusters = root.add("Clusterings", data={"kind": "section"})
        for node in contents.clusterings:
            self._add_clustering(clusters, node)
        for node in self._all_nodes():
            if str(node.label) in expanded or node.data.get("kind") == "section":
                node.expand()
        if clusters.children:  # the newest clustering open, to show what was just made
            clusters.children[-1].expand()
        if current and current.get("kind") != "section":
            self._put_cursor_on(current)

    def reveal_folder(self, folder: str) -> bool:
        """Put the cursor on a folder's node (its parents opened); False if absent."""
        return self._put_cursor_on({"kind": "folder", "ref": folder})

    def _put_cursor_on(self, data: dict[str, Any]) -> bool:
        wanted = (data.get("kind"), data.get("ref"), data.get("name"))
        for node in self._all_nodes():
            if node.data and (node.data.get("kind"), node.data.get("ref"),
                              node.data.get("name")) == wanted:  # fmt: skip
                parent = node.parent
                while parent is not None:
                    parent.expand()
                    parent = parent.parent
                self.call_after_refresh(self.move_cursor, node)
                return True
        return False

    def _all_nodes(self) -> list[TreeNode[dict[str, Any]]]:
        found, stack = [], [self.root]
        while stack:
            node = stack.pop()
            found.append(node)
            stack.extend(node.children)
        return found

    def _add_folders(self, section: TreeNode[dict[str, Any]],
                     folders: list[tuple[str, int]]) -> None:  # fmt: skip
        if not folders:
            return
        # Show paths below the deepest folder they all share (its parent when one).
        base = os.path.commonpath([f for f, _ in folders])
        if len(folders) == 1 or base in dict(folders):
            base = os.path.dirname(base)
        nodes: dict[str, TreeNode[dict[str, Any]]] = {base: section}
        counts = dict(folders)
        for folder, _ in folders:
            parts = os.path.relpath(folder, base).split(os.sep)
            current = base
            for part in parts:
                parent, current = nodes[current], os.path.join(current, part)
                if current not in nodes:
                    label = Text(printable(part))
                    if current in counts:
                        label.append(f"  {counts[current]}", style="dim")
                    nodes[current] = parent.add(label, data={"kind": "folder", "ref": current})
        for node in nodes.values():
            if not node.children and node is not section:
                node.allow_expand = False

    def _add_tags(self, section: TreeNode[dict[str, Any]], tags: list[dict[str, Any]]) -> None:
        for prop in tags:
            data = {"kind": "property", "name": prop["property"]}
            prop_node = section.add(Text(printable(prop["property"])), data=data)
            nodes: dict[int | None, TreeNode[dict[str, Any]]] = {None: prop_node}
            for tag in prop["tags"]:  # parents come before children (ids grow)
                parent = nodes.get(tag["parent"], prop_node)
                label = Text.assemble(printable(tag["name"]), (f"  {tag['images']}", "dim"))
                nodes[tag["id"]] = parent.add(
                    label, data={"kind": "tag", "ref": tag["id"], "name": tag["name"]}
                )
            for node in nodes.values():
                if not node.children and node is not prop_node:
                    node.allow_expand = False

    def _add_clustering(self, parent: TreeNode[dict[str, Any]], node: dict[str, Any]) -> None:
        changed = read.changed_params(node["strategy"], node["params"])
        label = Text.assemble(
            (f"#{node['id']} {printable(node['strategy'])}", "bold"),
            " " + printable(" ".join(f"{k}={v}" for k, v in changed.items())),
        )
        item = parent.add(label, data={"kind": "clustering", "ref": node["id"]})
        for c in node["clusters"]:
            score = "  -" if c["score"] is None else f"{c['score']:3.0f}"
            text = Text.assemble(
                (f"{c['idx']:>2} ", "bold"),
                f"{c['size']:>5} img ",
                (score, read.score_colour(c["score"])),
                f"  {printable(c['label'] or '')}",
            )
            child = item.add(
                text, data={"kind": "cluster", "ref": c["id"], "clustering": node["id"]}
            )
            for sub in c["children"]:
                self._add_clustering(child, sub)
            if not c["children"]:
                child.allow_expand = False


def _tag_paths(properties: list[dict[str, Any]]) -> tuple[str, ...]:
    """Every tag as "Property/parent/tag", from `read.tag_tree`'s rows (parents first)."""
    paths: list[str] = []
    for prop in properties:
        below: dict[int, str] = {}
        for tag in prop["tags"]:
            above = below.get(tag["parent"], prop["property"])
            below[tag["id"]] = f"{above}/{tag['name']}"
            paths.append(below[tag["id"]])
    return tuple(sorted(paths, key=str.lower))
