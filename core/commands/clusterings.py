"""Clustering commands: cluster a scope, save a clustering as tags, delete one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from planche.core import clustering
from planche.core.commands.base import Command, Context, Field, command
from planche.core.store import Store
from planche.core.text import count


@command
class Cluster(Command):
    name = "cluster"
    description = "cluster all images, a cluster's members or chosen images with a strategy"
    fields = (
        Field("strategy", str, default="kmeans"),
        Field("params", dict, default={}, help="the strategy's parameters"),
        Field("within", int, ref="cluster", help="cluster the members of this cluster again"),
        Field("image_ids", int, many=True, ref="image", help="cluster only these images"),
        Field("embedder", str, help="cluster the vectors of this kind of embedder"),
        Field("model_id", int, ref="model", help="cluster the vectors of this model"),
        Field("weights", str, help="the model's weights, if they have moved"),
        Field("labels", bool, default=True, help="name clusters with the text tower"),
    )

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> Any:
        return clustering.prepare_clustering(
            project, params["strategy"], params["params"], within=params["within"],
            image_ids=params["image_ids"], embedder=params["embedder"],
            model_id=params["model_id"],
            weights=Path(params["weights"]) if params["weights"] else None,
            labels=params["labels"], progress=context.progress, cancel=context.cancel,
            session=context.session,
        )  # fmt: skip

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        return clustering.store_clustering(store, prepared).as_dict(), None

    def summary(self, outcome: dict[str, Any]) -> str:
        """For example "clustering 4: 3 clusters over 120 images (14 unclustered)";
        cluster 0 holds what no cluster took (noise, unassigned) and is not counted."""
        found = [c for c in outcome["clusters"] if c["idx"] != 0]
        left = sum(c["size"] for c in outcome["clusters"] if c["idx"] == 0)
        images = count(outcome["images"], "image")
        text = f"{count(len(found), 'cluster')} over {images}"
        if not found:
            text = f"no cluster in {images}"
        if left:
            text += " (all unclustered)" if not found else f" ({left:,} unclustered)"
        return f"clustering {outcome['clustering_id']}: {text}"


@command
class DeleteClustering(Command):
    name = "delete_clustering"
    description = "delete a clustering and those nested in it (undo brings them back)"
    undoable = True
    fields = (Field("clustering_id", int, required=True, ref="clustering"),)

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        deleted = clustering.delete_clustering_in(store, params["clustering_id"])
        return {"deleted": deleted}, {"deleted": deleted}

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.restore_clusterings(data["deleted"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.hide_clusterings(data["deleted"])

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"deleted {count(len(outcome['deleted']), 'clustering')}"


@command
class SaveClustering(Command):
    name = "save_clustering"
    description = "save a clustering's tree as a tag property"
    undoable = True
    fields = (
        Field("clustering_id", int, required=True, ref="clustering"),
        Field("name", str, default="Clustering", nullable=False),
        Field("replace", bool, default=False),
    )

    def apply(self, store: Store, params: dict[str, Any], prepared: Any, context: Any) -> Any:
        saved = clustering.save_clustering_in(
            store, params["clustering_id"], params["name"], params["replace"]
        )
        return saved, {"property": saved["property"]}

    def undo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.delete_property(data["property"])

    def redo(self, store: Store, params: dict[str, Any], data: dict[str, Any]) -> None:
        store.save_clustering_as_tags(
            params["clustering_id"], data["property"],
            clustering.tag_paths_for(store, params["clustering_id"]),
        )  # fmt: skip

    def summary(self, outcome: dict[str, Any]) -> str:
        return f"{count(outcome['tags'], 'tag')} in {outcome['property']}"
