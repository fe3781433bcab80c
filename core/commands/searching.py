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
