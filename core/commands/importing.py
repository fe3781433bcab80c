"""Import and embed: the commands that read the file system and run models.

Their work commits batch by batch (a killed import keeps what it finished and
the next run completes it), so the journal entry is written when the work is
done, in a transaction of its own; neither is undoable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core.commands.base import Command, Context, Field, command
from planche.core.ingest import DEFAULT_MAX_PIXELS
from planche.core.models import DEFAULT_EMBEDDER
from planche.core.store import Store
from planche.core.text import count

EMBEDDER_FIELDS = (
    Field("embedder", str, default=DEFAULT_EMBEDDER, nullable=False,
          help="kind of embedder, or none"),
    Field("model", str), Field("pretrained", str), Field("weights", str),
    Field("device", str, default="auto", nullable=False),
    Field("precision", str, default="auto", nullable=False),
    Field("batch_size", int), Field("workers", int),
)  # fmt: skip


def _embedder(params: dict[str, Any], context: Context) -> Any:
    if params["embedder"] == "none":
        return None
    return context.session.embedder(
        params["embedder"], model=params["model"], pretrained=params["pretrained"],
        weights=params["weights"], device=params["device"], precision=params["precision"],
        batch_size=params["batch_size"],
    )  # fmt: skip


class _Recorded(Command):
    """The work is done in `prepare`; `apply` only journals its outcome."""

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        return prepared, None


@command
class Import(_Recorded):
    name = "import"
    description = "import a folder of images (and embed them)"
    creates_project = True
    fields = (
        Field("folder", str, required=True),
        *EMBEDDER_FIELDS,
        Field("max_pixels", int, default=DEFAULT_MAX_PIXELS, nullable=False),
        Field("prune", bool, default=False),
    )

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        from planche.core.embed import embed_project
        from planche.core.ingest import import_folder

        embedder = _embedder(params, context)
        summary = import_folder(
            params["folder"], project, workers=params["workers"],
            max_pixels=params["max_pixels"], progress=context.progress, cancel=context.cancel,
            embedder=embedder, prune=params["prune"],
        )  # fmt: skip
        outcome: dict[str, Any] = summary.as_dict()
        outcome["embedding"] = None
        if embedder is not None and not summary.cancelled:
            # Images imported earlier without this model get their vectors too.
            embedded = embed_project(project, embedder, progress=context.progress,
                                     cancel=context.cancel, workers=params["workers"])  # fmt: skip
            outcome["embedding"] = embedded.as_dict()
        return outcome

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(outcome['new'], 'new image')}, {len(outcome['failed'])} failed"

    def folders_read(self, params: dict[str, Any]) -> list[str]:
        return [params["folder"]]


@command
class Embed(_Recorded):
    name = "embed"
    description = "give every image a vector from a model"
    fields = EMBEDDER_FIELDS

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        from planche.core.embed import embed_project

        embedder = _embedder(params, context)
        if embedder is None:
            from planche.core.errors import BadParameter

            raise BadParameter("embedder", "none", "an embedder to embed with")
        summary = embed_project(
            project, embedder, progress=context.progress, cancel=context.cancel,
            workers=params["workers"],
        )  # fmt: skip
        return summary.as_dict()

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(outcome['embedded'], 'image')} embedded"
