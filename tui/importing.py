"""Importing a folder from the app: which embedder is said before it starts
(CLIP where its weights are on this machine, else the pixels embedder, or the
project's own model), the grid fills as the import's batches are committed, and
Escape stops it after the batch in hand."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core import commands, read
from planche.core.progress import CancelToken
from planche.core.text import count, printable
from planche.tui.screens import ConfirmScreen, PromptScreen
from planche.tui.workers import background


class ImportActions:
    """Mixed into PlancheApp: uses its project, models, job runner and watch."""

    project: Path
    # While an import runs, the watch reads each committed batch into the grid.
    filling_grid = False

    def _import_choice(self) -> dict[str, Any]:
        """The embedder for the new images (worker thread): the current model's
        kind (a released CLIP by its name and release), else a new project's."""
        model = self._current_model()
        if model is not None:
            return {"embedder": model["embedder"], "label": printable(model["label"]),
                    "model": model["name"] if model["pretrained"] else None,
                    "pretrained": model["pretrained"] or None,
                    "note": "the project's model"}  # fmt: skip
        return read.embedder_for_new_images()

    def _looking_for_weights(self) -> None:
        # Finding out means importing open_clip: seconds on a slow disk, said meanwhile.
        self._status_note = "looking for CLIP weights on this machine…"
        self._update_status()

    def offer_import(self, folder: Path) -> None:
        """At start on a folder that is no project yet: ask, naming the embedder."""
        self._looking_for_weights()
        self._offer_import(folder)

    @background("import-offer")
    def _offer_import(self, folder: Path) -> None:
        choice = self._import_choice()
        self.call_from_thread(self._done_looking)
        embedded = f"embedded with {choice['label']} ({choice['note']})"
        existing = self.project.exists()
        if existing:  # `planche open FOLDER --project P` on a project P that has images
            question = (f"Import the images of {printable(str(folder))} into "
                        f"{printable(self.project.name)}, {embedded}?")  # fmt: skip
        elif self.project.parent == folder.absolute():
            question = (f"{printable(str(folder))} is not a planche project yet. Import its "
                        f"images into a new project ({printable(self.project.name)} inside "
                        f"it), {embedded}?")  # fmt: skip
        else:
            question = (f"Import the images of {printable(str(folder))} into a new project, "
                        f"{printable(str(self.project))}, {embedded}?")  # fmt: skip

        def answer(yes: bool | None) -> None:
            if yes:
                self._start_import(folder, choice)
            elif existing:
                self.refresh_project()  # the project as it is
            else:
                self.exit()

        self.call_from_thread(self.push_screen, ConfirmScreen(question), answer)

    def action_import_folder(self) -> None:
        self._looking_for_weights()
        self._ask_import_folder()

    def _done_looking(self) -> None:
        self._status_note = ""
        self._update_status()

    @background("import-offer")
    def _ask_import_folder(self) -> None:
        choice = self._import_choice()
        self.call_from_thread(self._done_looking)

        def start(folder: str | None) -> None:
            if folder and folder.strip():
                self._start_import(Path(folder.strip()).expanduser(), choice)

        prompt = f"Import the folder (embedded with {choice['label']}: {choice['note']}):"
        self.call_from_thread(self.push_screen,
                              PromptScreen(prompt, placeholder="~/Pictures"), start)  # fmt: skip

    def _start_import(self, folder: Path, choice: dict[str, Any]) -> None:
        params: dict[str, Any] = {"folder": str(folder.absolute()), "embedder": choice["embedder"]}
        if choice.get("pretrained"):
            params |= {"model": choice["model"], "pretrained": choice["pretrained"]}

        def job(cancel: CancelToken, progress: Any) -> Any:
            return commands.run(
                self.project, "import", params, self._command_context(cancel, progress)
            )

        def done(summary: dict[str, Any]) -> None:
            self.filling_grid = False
            stopped = " (stopped: Escape)" if summary.get("cancelled") else ""
            message = (
                f"Imported {count(summary['new'], 'new image')}{stopped} "
                f"({len(summary['failed']):,} failed, {count(summary['duplicates'], 'duplicate')})"
            )
            self.notify(message, severity="warning" if summary["failed"] else "information")
            self.refresh_project()

        self.filling_grid = True
        self._run_job(f"importing {folder} with {choice['label']}…", job, done)
        if self._cancel is None:  # refused: other work runs
            self.filling_grid = False
