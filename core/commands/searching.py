"""Search: a reading command. It opens the project read-only and is not
journaled, so it works on a read-only project and while another process reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core.commands.base import Command, Context, Field, command


@command
class Search(Command):
    name = "search"
    description = "images nearest to text and image terms"
    writes = False
    fields = (
        Field("texts", str, default=[], many=True),
        Field("minus_texts", str, default=[], many=True),
        Field("images", str, default=[], many=True, ref="image_term",
              help="image ids, files of the project or any image file"),
        Field("minus_images", str, default=[], many=True, ref="image_term"),
        Field("k", int, default=20, nullable=False),
        Field("embedder", str), Field("model_id", int, ref="model"),
        Field("index", str, default="auto", nullable=False),
        Field("weights", str),
    )  # fmt: skip

    def read(self, project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
        from planche.core.search import Query, search

        query = Query(**{k: tuple(params[k]) for k in
                         ("texts", "minus_texts", "images", "minus_images")})  # fmt: skip
        return search(
            project, query, k=params["k"], embedder=params["embedder"],
            model_id=params["model_id"], index=params["index"],
            weights=Path(params["weights"]) if params["weights"] else None,
            progress=context.progress, session=context.session,
        ).as_dict()  # fmt: skip

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{len(outcome['results'])} results"


@command
class BuildIndex(Command):
    name = "build_index"
    description = "build the graph that makes search fast on a large project"
    writes = False  # a cache beside the project, rebuilt from its vectors at will
    fields = (Field("embedder", str), Field("model_id", int, ref="model"))

    def read(self, project: Path, params: dict[str, Any], context: Context) -> dict[str, Any]:
        import time

        from planche.core.index import build_graph
        from planche.core.search import choose_model
        from planche.core.store import open_store

        started = time.monotonic()
        with open_store(project, read_only=True) as store:
            model = choose_model(store, embedder=params["embedder"], model_id=params["model_id"])
        built = build_graph(project, model, context.progress, context.cancel)
        parts = built.parts
        return {
            "model": model.label,
            "model_id": model.id,
            "vectors": len(built),
            "graph_nodes": sum(len(level) for level in parts.levels),
            "levels": [len(level) for level in parts.levels],
            "exact_list": len(parts.exact_ids),
            "sharing_a_node": len(parts.twins),
            "seconds": round(time.monotonic() - started, 1),
        }

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"graph of {outcome['vectors']:,} vectors built in {outcome['seconds']} s"
