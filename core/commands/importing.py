"""Import, embed and ingest: images and vectors into a project.

Import and embed commit batch by batch (a killed import keeps what it
finished and the next run completes it), so their journal entry is written
when the work is done, in a transaction of its own. Ingest loads shards made
elsewhere in one transaction with its journal entry. None is undoable.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from planche.core.commands.base import Command, Context, Field, command
from planche.core.ingest import DEFAULT_MAX_PIXELS
from planche.core.models import DEFAULT_EMBEDDER
from planche.core.progress import ProgressEvent
from planche.core.store import Store, open_store
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


@command
class Ingest(Command):
    """Load shards written by `planche embed-shards` (on a Ray cluster) into the
    project: the whole load and its journal entry are one transaction."""

    name = "ingest"
    description = "load shards of images and vectors embedded elsewhere"
    creates_project = True
    fields = (Field("shards", str, required=True, help="a folder of shards"),)

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        from planche.core.shards.ingesting import check_model_matches, inspect_shards

        context.progress(ProgressEvent("check", 0, None, f"checking {params['shards']}"))
        shards = inspect_shards(params["shards"])
        if project.is_file():
            with open_store(project, read_only=True) as store:
                check_model_matches(shards.identity, store.models())
        context.progress(ProgressEvent(
            "ingest", 0, None, f"loading {shards.rows:,} rows ({shards.identity.label})"
        ))  # fmt: skip
        return shards

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        from planche.core.shards.ingesting import check_model_matches

        check_model_matches(prepared.identity, store.models())  # changed since prepare?
        model = store.register_model(**asdict(prepared.identity))
        counts = store.ingest_shards(prepared.files, model)
        outcome = {"shards": len(prepared.files), "model": model.label, "model_id": model.id,
                   **counts}  # fmt: skip
        return outcome, None

    def settle(self, project: Path, committed: bool) -> None:
        if not committed:
            return
        from planche.core.index import update_index_if_present

        with open_store(project, read_only=True) as store:
            for model in store.models():
                update_index_if_present(store, model)

    def summary(self, outcome: dict[str, Any]) -> str:
        return (
            f"{count(outcome['new_images'], 'new image')} from "
            f"{count(outcome['shards'], 'shard')}, {outcome['failed']} failed"
        )

    def folders_read(self, params: dict[str, Any]) -> list[str]:
        return [params["shards"]]
