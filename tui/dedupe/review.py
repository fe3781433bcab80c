"""What a duplicates review decides, over a dedupe plan (`dedupe_plan`'s outcome).

The plan comes from core with every group's files, the keeper the rules chose
and why, and each file's cosine similarity to every other (after the turn that
matches them best, named in `transforms`, when mirrored or turned copies were
looked for). A review changes the keeper of a group by hand, leaves a group
alone, or marks it as not duplicates; `Review` keeps those choices, says what
each file would become, and gives the `dedupe` parameters that do it
(`keepers`, `leave`), so that the command run afterwards makes the same plan
with the same choices.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

ACTIONS = ("trash", "tag", "hardlink", "symlink", "move")
# The verb of each action, as the status line and the confirmation say it.
VERBS = {"trash": "trash", "tag": "tag", "hardlink": "hard-link", "symlink": "symlink",
         "move": "move"}  # fmt: skip
WOULD = {action: f"would {verb}" for action, verb in VERBS.items()}


@dataclass
class FileView:
    """One file of a group as the review shows it."""

    index: int
    info: dict[str, Any]  # the plan's file entry
    role: str  # keeper, reference, duplicate, gone
    fate: str  # what happens to it: keep, would trash, left, skipped, ...
    similarity: float | None
    note: str = ""
    transform: str | None = None  # how it looks next to the keeper: mirrored, turned left...
    target: str | None = None  # move: where it would go


@dataclass
class Review:
    plan: dict[str, Any]
    params: dict[str, Any]  # the dedupe_plan parameters the plan was made with
    action: str = "trash"
    # move: the folder (absolute, checked by `dedupe_target`) and each file's target
    folder: str = ""
    targets: dict[str, str] = field(default_factory=dict)
    chosen: dict[int, int] = field(default_factory=dict)  # group number -> file index
    left: set[int] = field(default_factory=set)
    dismissed: set[int] = field(default_factory=set)

    @property
    def groups(self) -> list[dict[str, Any]]:
        return self.plan["groups"]

    def group(self, position: int) -> dict[str, Any]:
        return self.groups[position]

    def keeper_index(self, group: dict[str, Any]) -> int | None:
        if group["group"] in self.chosen:
            return self.chosen[group["group"]]
        for index, info in enumerate(group["files"]):
            if info["role"] == "keeper":
                return index
        return None

    def files(self, group: dict[str, Any]) -> list[FileView]:
        """Each file of `group` with its role and fate under the review's choices."""
        keeper = self.keeper_index(group)
        sims = group.get("similarities") or []
        turns = group.get("transforms") or []
        number = group["group"]
        views = []
        for index, info in enumerate(group["files"]):
            role = info["role"]
            if role == "keeper" and index != keeper:
                role = "duplicate"
            if index == keeper:
                role = "keeper"
            similarity = transform = None
            if keeper is not None and index < len(sims) and keeper < len(sims[index]):
                similarity = sims[index][keeper]
            if keeper is not None and index < len(turns) and keeper < len(turns[index]):
                transform = turns[index][keeper]
            fate, note = self._fate(number, role, info)
            target = self.targets.get(info["path"]) if fate == WOULD["move"] else None
            views.append(FileView(index, info, role, fate, similarity, note, transform, target))
        return views

    def _fate(self, number: int, role: str, info: dict[str, Any]) -> tuple[str, str]:
        if role in ("keeper", "reference"):
            return "keep", ""
        if role == "gone":
            return "left", info.get("message", "")
        if number in self.dismissed:
            return "left", "marked as not duplicates"
        if number in self.left:
            return "left", "group left alone"
        if info["status"] == "skipped" and info["message"]:
            return "skipped", info["message"]
        return WOULD[self.action], ""

    def rule_text(self, group: dict[str, Any]) -> str:
        """Why the keeper is the keeper."""
        if group["group"] in self.chosen:
            return "chosen by hand"
        return group["reason"]

    def choose(self, position: int, index: int) -> bool:
        """Keep file `index` of the group at `position`; False when it cannot be kept."""
        group = self.group(position)
        info = group["files"][index]
        if info["role"] == "gone":
            return False
        self.chosen[group["group"]] = index
        return True

    def toggle_left(self, position: int) -> bool:
        number = self.group(position)["group"]
        if number in self.left:
            self.left.discard(number)
            return False
        self.left.add(number)
        return True

    def next_action(self, after: str | None = None) -> str:
        """The action after this one (or `after`) in the cycle; it is not chosen
        yet (`choose_action`; `move` needs its folder first: `choose_move`)."""
        return ACTIONS[(ACTIONS.index(after or self.action) + 1) % len(ACTIONS)]

    def choose_action(self, action: str) -> None:
        self.action = action

    def choose_move(self, checked: dict[str, Any]) -> None:
        """Move into the folder `dedupe_target` checked (its outcome)."""
        self.action, self.folder, self.targets = "move", checked["folder"], checked["targets"]

    @property
    def action_text(self) -> str:
        """The action as `dedupe` takes it: trash, move:DIR, ..."""
        return f"move:{self.folder}" if self.action == "move" else self.action

    def paths(self) -> list[str]:
        return [str(info["path"]) for group in self.groups for info in group["files"]]

    def relative_target(self, target: str) -> str:
        """A move's target inside the folder, as the cards show it."""
        return os.path.relpath(target, self.folder) if self.folder else target

    def counts(self) -> dict[str, int]:
        """Files by fate over every group."""
        found: dict[str, int] = {}
        for group in self.groups:
            for view in self.files(group):
                found[view.fate] = found.get(view.fate, 0) + 1
        return found

    def dedupe_params(self) -> dict[str, Any]:
        """The `dedupe` command's parameters for what this review decided."""
        base = {k: v for k, v in self.params.items() if k != "action"}
        keepers = [self.group_by_number(n)["files"][i]["path"] for n, i in self.chosen.items()]
        leave = [self.group_by_number(n)["files"][0]["path"] for n in sorted(self.left)]
        return {**base, "action": self.action_text, "keepers": keepers, "leave": leave}

    def group_by_number(self, number: int) -> dict[str, Any]:
        return next(g for g in self.groups if g["group"] == number)
