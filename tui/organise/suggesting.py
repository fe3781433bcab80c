"""Tag suggestions in the app: `S` on an open tag (or the tag under the tree's
cursor) shows the images most like it, best first with their score; `y` tags
the selection (or the image under the cursor) and `n` refuses it for good;
either takes them out of the suggestions."""

from __future__ import annotations

import os
from typing import Any

from planche.core import commands, read
from planche.core.progress import CancelToken
from planche.core.text import count, printable

SUGGESTIONS = 100


class SuggestionActions:
    """The app's suggestion keys, mixed into PlancheApp: they use its scope, grid,
    job runner and notifications."""

    scope: read.Scope
    project: Any
    model_id: int | None

    def _tag_in_view(self) -> int | None:
        if self.scope.kind in ("tag", "suggest"):
            return int(self.scope.ref)
        node = self.query_one("#tree").cursor_node
        data = (node.data or {}) if node is not None else {}
        return int(data["ref"]) if data.get("kind") == "tag" else None

    def action_suggest(self) -> None:
        tag_id = self._tag_in_view()
        if tag_id is None:
            self.notify("Open a tag (or put the tree's cursor on one) first.")
            return
        project, model_id = self.project, self.model_id

        def job(cancel: CancelToken, progress: Any) -> Any:
            params = {"tag_id": tag_id, "k": SUGGESTIONS, "model_id": model_id}
            context = self._command_context(cancel, progress)
            return commands.run(project, "suggest_tag", params, context)

        self._run_job("finding suggestions…", job, self._show_suggestions)

    def _show_suggestions(self, found: dict[str, Any]) -> None:
        hits = found["suggestions"]
        ids = tuple(h["image_id"] for h in hits)
        captions = [f"{h['score']:.3f} "
                    + (printable(os.path.basename(h["paths"][0])) if h["paths"] else "")
                    for h in hits]  # fmt: skip
        title = f"suggestions for {found['tag']}"
        self.show_scope(read.Scope(title, ids, "suggest", found["tag_id"]), captions)
        if not hits:
            self.notify(f"Nothing left to suggest for {found['tag']}.")
        else:
            self.notify(f"{count(len(hits), 'suggestion')} for {found['tag']}: y tags, "
                        "n refuses (never suggested again)")  # fmt: skip
        self.query_one("#grid").focus()

    def action_accept_suggestion(self) -> None:
        self._answer(accept=True)

    def action_refuse_suggestion(self) -> None:
        self._answer(accept=False)

    def _answer(self, accept: bool) -> None:
        if self.scope.kind != "suggest":
            self.notify("Show a tag's suggestions first (S on a tag).")
            return
        targets = self._target_images()
        if not targets:
            return
        tag_id = int(self.scope.ref)

        def steps(context: Any) -> None:
            if accept:
                path = read.tag_path(self.project, tag_id)
                commands.run(self.project, "tag", {"property": path[0], "path": list(path[1:]),
                                                   "images": targets}, context)  # fmt: skip
            else:
                commands.run(self.project, "refuse_suggestions",
                             {"tag_id": tag_id, "images": targets}, context)  # fmt: skip

        self._run_write("tagging…" if accept else "refusing…", steps,
                        lambda _: self._answered(tag_id, targets, accept))  # fmt: skip

    def _answered(self, tag_id: int, targets: list[int], accept: bool) -> None:
        """The answered images leave the suggestions; the cursor stays in place."""
        grid = self.query_one("#grid")
        gone, cursor = set(targets), grid.cursor
        kept = [(i, c) for i, c in zip(grid.image_ids, grid.captions, strict=True)
                if i not in gone]  # fmt: skip
        scope = read.Scope(self.scope.title, tuple(i for i, _ in kept), "suggest", tag_id)
        self.show_scope(scope, [str(c) for _, c in kept])
        grid.cursor = min(cursor, max(len(kept) - 1, 0))
        verb = "tagged" if accept else "refused"
        self.notify(f"{count(len(targets), 'image')} {verb} (ctrl+z takes it back)")
