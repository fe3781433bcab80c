"""The map command: lay out a scope's images on a plane and store the map.

A map is kept per model, scope and method. Asked again, the command reuses the
stored map when it covers the same vectors with the same seed and sample;
when images were only added to the scope (at most as many as it holds), it
places the new ones on the stored map (PCA: with the stored mean and
components, exactly; neighbours: by their nearest stored points) and leaves
the others where they were; otherwise it computes the map afresh. The slow
part runs in `prepare` with the project open read-only; a bad scope, a
cancelled run or any error leaves the stored map as it was.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from planche.core import maps
from planche.core.commands.base import Command, Context, Field, RefKind, command
from planche.core.errors import BadParameter, PlancheError
from planche.core.progress import ProgressEvent
from planche.core.search import choose_model
from planche.core.store import NewMap, Store, open_store
from planche.core.text import count


class ScopeRef(Field):
    """The map's scope_ref: a text (a folder) or a whole number, a tag or cluster id
    as the scope says, which an exported script writes as `$tag` or `$cluster`."""

    def ref_for(self, params: Mapping[str, Any]) -> RefKind | None:
        scope = params.get("scope")
        return scope if scope in ("tag", "cluster") else None  # type: ignore[return-value]

    @property
    def may_refer(self) -> bool:
        return True

    def _check_one(self, value: Any, where: str) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return super()._check_one(value, where)

    def _what(self) -> str:
        return "text or whole number"


@dataclass
class PreparedMap:
    outcome: dict[str, Any]
    new_map: NewMap | None = None  # None: reuse the stored map
    started: float = 0.0
    notes: list[str] = field(default_factory=list)


@command
class Map(Command):
    name = "map"
    description = "lay out a scope's images on a plane (PCA or neighbour-preserving) and keep it"
    fields = (
        Field("scope", str, default="all", nullable=False,
              help="all, folder, tag, cluster or images"),
        ScopeRef("scope_ref", str, help="the folder, tag id or cluster id of the scope"),
        Field("image_ids", int, many=True, ref="image", help="the images of the scope images"),
        Field("method", str, default="pca", nullable=False, help="pca or neighbours"),
        Field("seed", int, default=0, nullable=False, help="random seed of the sample"),
        Field("sample", int, help="fit on at most this many images, place the rest "
              "(default: 20,000 for pca, 100,000 for neighbours)"),
        Field("recompute", bool, default=False, nullable=False,
              help="compute afresh even when a stored map fits"),
        Field("embedder", str, help="map the vectors of this kind of embedder"),
        Field("model_id", int, ref="model", help="map the vectors of this model"),
    )  # fmt: skip

    def check(self, params: dict[str, Any]) -> None:
        if params["scope"] not in maps.SCOPES:
            raise BadParameter("scope", params["scope"], "one of " + ", ".join(maps.SCOPES))
        if params["method"] not in maps.METHODS:
            raise BadParameter("method", params["method"], "one of " + ", ".join(maps.METHODS))
        if params["sample"] is None:  # the method's own; the journal keeps the number
            params["sample"] = maps.DEFAULT_SAMPLE[params["method"]]
        if not maps.MIN_SAMPLE <= params["sample"] <= maps.MAX_SAMPLE:
            raise BadParameter(
                "sample", params["sample"],
                f"a whole number from {maps.MIN_SAMPLE:,} to {maps.MAX_SAMPLE:,}",
            )  # fmt: skip
        if not 0 <= params["seed"] < 2**32:
            raise BadParameter("seed", params["seed"], "a whole number from 0 to 2**32 - 1")
        if params["image_ids"] is not None and params["scope"] != "images":
            raise BadParameter("image_ids", _short(params["image_ids"]),
                               "nothing unless the scope is images")  # fmt: skip
        if params["scope"] == "images" and params["scope_ref"] is not None:
            raise BadParameter("scope_ref", params["scope_ref"],
                               "nothing for the scope images (give image_ids)")  # fmt: skip
        ref = params["scope_ref"]
        if isinstance(ref, dict):  # a script's symbolic tag or cluster, resolved later
            wanted = {"tag": "$tag", "cluster": "$cluster"}.get(params["scope"])
            if wanted is None or list(ref) != [wanted]:
                raise BadParameter("scope_ref", _short(ref), f"a reference the scope "
                                   f"{params['scope']} takes")  # fmt: skip
            return
        # Checks the reference and says what is missing; the journal keeps the
        # folder as an absolute path and a tag or cluster as its id.
        key = maps.scope_ref(params["scope"], params["scope_ref"], params["image_ids"])
        if params["scope"] == "folder":
            params["scope_ref"] = key
        elif params["scope"] in ("tag", "cluster"):
            params["scope_ref"] = int(key)

    def prepare(self, project: Path, params: dict[str, Any], context: Context) -> PreparedMap:
        return prepare_map(project, params, context)

    def apply(
        self, store: Store, params: dict[str, Any], prepared: PreparedMap, context: Any
    ) -> Any:
        outcome = dict(prepared.outcome)
        if prepared.new_map is None:
            if store.map_row(outcome["map_id"]) is None:
                raise PlancheError("the map was replaced while it was read: run the map again")
        else:
            outcome["map_id"] = store.write_map(prepared.new_map)
        outcome["seconds"] = round(time.monotonic() - prepared.started, 3)
        return outcome, None

    def summary(self, outcome: dict[str, Any]) -> str:
        quality = outcome["quality"]
        shown = "" if quality is None else f", neighbour preservation {quality:.2f}"
        how = " (reused)" if outcome["reused"] else " (extended)" if outcome["extended"] else ""
        points = count(outcome["points"], "point")
        return f"map {outcome['map_id']}: {points}, {outcome['method']}{shown}{how}"


def _short(values: list[Any]) -> Any:
    return values if len(values) <= 5 else f"{len(values)} ids"


def prepare_map(project: Path, params: dict[str, Any], context: Context) -> PreparedMap:
    """Everything of the map command but storing: read, reuse, extend or compute."""
    started = time.monotonic()
    progress, cancel = context.progress, context.cancel
    method, seed, sample = params["method"], params["seed"], params["sample"]
    with open_store(project, read_only=True) as store:
        scope = maps.resolve_scope(store, params["scope"], params["scope_ref"],
                                   params["image_ids"])  # fmt: skip
        model_id = params["model_id"]
        if model_id is None and params["embedder"] is None:
            model_id = scope.cluster_model_id
        model = choose_model(store, embedder=params["embedder"], model_id=model_id)
        ids = maps.scope_vector_ids(store, scope, model)
        fingerprint = maps.fingerprint(ids)
        stored = store.latest_map(model.id, scope.kind, scope.ref, method)
        if stored is not None and (
            params["recompute"]
            or stored.params.get("seed") != seed
            or stored.params.get("sample") != sample
        ):
            stored = None
        outcome = {
            "map_id": None, "model": model.label, "model_id": model.id, "scope": scope.title,
            "scope_kind": scope.kind, "scope_ref": scope.ref, "method": method,
            "points": len(ids), "quality": None, "reused": False, "extended": False,
            "added": 0, "seconds": 0.0,
        }  # fmt: skip
        if stored is not None and stored.fingerprint == fingerprint:
            quality = None if stored.quality is None else round(stored.quality, 4)
            outcome.update(map_id=stored.id, quality=quality, reused=True,
                           params=stored.params)  # fmt: skip
            return PreparedMap(outcome, None, started)
        old_ids = old_xy = None
        if stored is not None:
            old_ids, old_xy = store.map_points(stored.id)
            added = np.setdiff1d(ids, old_ids, assume_unique=True)
            removed = len(np.setdiff1d(old_ids, ids, assume_unique=True))
            if removed or not 0 < len(added) <= len(old_ids):
                stored = None  # changed too much to extend: compute afresh
        progress(ProgressEvent("map", 0, None, f"reading {count(len(ids), 'vector')}"))
        vector_ids, vectors = store.read_embeddings(
            model, only=None if scope.image_ids is None else ids
        )
    if not np.array_equal(vector_ids, ids):
        raise PlancheError("the project changed while its vectors were read: map again")
    maps.check_cancelled(cancel)
    if stored is not None:
        assert old_ids is not None and old_xy is not None
        xy = _extend(stored, vectors, ids, old_ids, old_xy, seed, sample, context)
        details_params = stored.params
        mean, components = stored.pca_mean, stored.pca_components
        outcome.update(extended=True, added=len(ids) - len(old_ids))
    else:
        try:
            xy, details = maps.project_map(vectors, ids, method, seed, sample, progress, cancel)
        except maps.ZeroSpread:
            raise PlancheError(
                f"the {count(len(ids), 'image')} in {scope.title} all have the same "
                f"{model.label} vector: a map of them would be a single point"
            ) from None
        details_params, mean, components = details.params(), details.mean, details.components
    progress(ProgressEvent("map", 0, None, "measuring neighbour preservation"))
    quality = maps.neighbour_preservation(
        vectors, xy, seed=seed, universe=maps.QUALITY_UNIVERSE, cancel=cancel
    )
    maps.check_cancelled(cancel)
    params_stored = {**details_params, "seed": seed, "sample": sample,
                     "quality_k": maps.QUALITY_K}  # fmt: skip
    outcome.update(quality=round(quality, 4), params=params_stored)
    new_map = NewMap(
        model_id=model.id, scope_kind=scope.kind, scope_ref=scope.ref, scope_title=scope.title,
        method=method, params=params_stored, quality=quality, fingerprint=fingerprint,
        image_ids=ids, xy=xy, pca_mean=mean, pca_components=components,
    )  # fmt: skip
    return PreparedMap(outcome, new_map, started)


def _extend(
    stored: Any,
    vectors: np.ndarray,
    ids: np.ndarray,
    old_ids: np.ndarray,
    old_xy: np.ndarray,
    seed: int,
    sample: int,
    context: Context,
) -> np.ndarray:
    """The stored positions, and the images added since placed on them."""
    rows_old = np.searchsorted(ids, old_ids)
    is_new = np.ones(len(ids), bool)
    is_new[rows_old] = False
    new_rows = np.flatnonzero(is_new)
    context.progress(ProgressEvent("map", 0, None, f"placing {count(len(new_rows), 'new image')}"))
    xy = np.empty((len(ids), 2), np.float32)
    xy[rows_old] = old_xy
    if stored.method == "pca":
        xy[new_rows] = maps.pca_positions(
            vectors[new_rows], stored.pca_mean, stored.pca_components, context.cancel
        )
        return xy
    anchors = np.arange(len(old_ids))
    if len(old_ids) > sample:
        rng = np.random.default_rng(seed)
        anchors = np.sort(rng.choice(len(old_ids), sample, replace=False))
    xy[new_rows] = maps.place_by_neighbours(
        vectors, new_rows, vectors[rows_old[anchors]], old_xy[anchors], cancel=context.cancel,
        progress=context.progress,
    )  # fmt: skip
    return xy
