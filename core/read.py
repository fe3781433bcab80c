"""The read side: every query the CLI and the app show, in one place.

Front ends (tui/) read a project only through this module and change it only
through `planche.core.commands`; import-linter contracts in pyproject check
it. Each function opens the project read-only for one query and closes it,
so another process can use the project in between, and every one of them
works on a read-only project file.

A scope is an ordered list of image ids with a title: every image, a folder,
a tag, a cluster, search results.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.cluster import STRATEGIES, Strategy, get_strategy
from planche.core.clustering import clustering_tree as _clustering_tree
from planche.core.clustering import score_colour
from planche.core.decode import DEFAULT_MAX_PIXELS
from planche.core.errors import BadParameter, PlancheError, ProjectLocked
from planche.core.index import HNSW_THRESHOLD, INDEX_KINDS
from planche.core.maps import METHODS as MAP_METHODS
from planche.core.maps import SCOPES as MAP_SCOPES
from planche.core.maps import scope_ref as _map_scope_ref
from planche.core.models import EMBEDDER_KINDS, default_model, model_label
from planche.core.properties import filters as _filters
from planche.core.properties import members as _members
from planche.core.properties.filters import FilterError, Listing
from planche.core.properties.kinds import BUILTINS, PROPERTY_TYPES
from planche.core.properties.values import property_kinds, property_rows, tag_paths
from planche.core.search import choose_model
from planche.core.store import MapRow, Store, open_store
from planche.core.text import file_size

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "EMBEDDER_KINDS",
    "FILTER_HELP",
    "FilterError",
    "Listing",
    "PROPERTY_TYPES",
    "HNSW_THRESHOLD",
    "INDEX_KINDS",
    "MAP_METHODS",
    "MAP_SCOPES",
    "STRATEGIES",
    "MapData",
    "Scope",
    "StoreThumbnails",
    "all_images",
    "CAPTION_KINDS",
    "captions",
    "changed_params",
    "cluster_images",
    "cluster_members",
    "cluster_of_images",
    "clustering_legend",
    "clustering_tree",
    "export_table",
    "filtered_scope",
    "folder_images",
    "folder_tree",
    "image_details",
    "import_errors",
    "index_status",
    "journal",
    "journal_head",
    "embedder_for_new_images",
    "known_models",
    "latest_map",
    "list_images",
    "map_data",
    "model_label",
    "models",
    "overview",
    "picture",
    "plan_table",
    "project_info",
    "properties",
    "FilterWords",
    "Overview",
    "filter_words",
    "saved_views",
    "scope_again",
    "score_colour",
    "strategy",
    "tag_id_for",
    "tag_path",
    "tag_images",
    "tag_legend",
    "tag_of_images",
    "tag_tree",
    "thumbnails",
    "with_cluster_members",
]


@dataclass(frozen=True)
class Scope:
    title: str
    image_ids: tuple[int, ...]
    kind: str = "all"  # all, folder, tag, cluster, search
    ref: int | str | None = None  # the cluster id, tag id or folder of the scope


# -- the project as a whole ---------------------------------------------------


def project_info(project: Path | str) -> dict[str, Any]:
    """Counts and models of a project, as plain data (JSON-ready)."""
    with open_store(project, read_only=True) as store:
        return _project_info(store)


def _project_info(store: Any) -> dict[str, Any]:
    store.check_complete()
    return {
        "project": str(store.path),
        "schema_version": store.schema_version(),
        "size_bytes": store.path.stat().st_size,
        **store.counts(),
        "models": _model_rows(store),
    }


@dataclass(frozen=True)
class Overview:
    """What a window onto a project reads first, in one open of the project."""

    head: int  # the journal's last entry (see journal_head)
    info: dict[str, Any]  # project_info
    all_images: Scope | None  # when asked for


def overview(project: Path | str, with_all_images: bool = False) -> Overview:
    """The journal's head, the project's counts and models and, if asked, every
    image: one open where three or four would each cost a lock and a catalogue read."""
    with open_store(project, read_only=True) as store:
        info = _project_info(store)
        head = store.con.execute("SELECT max(seq) FROM journal").fetchall()[0][0]
        ids = store.all_image_ids() if with_all_images else None
    scope = Scope("all images", tuple(ids.tolist())) if ids is not None else None
    return Overview(int(head or 0), info, scope)


def models(project: Path | str) -> list[dict[str, Any]]:
    """The project's models with their labels, vector counts, what they can do,
    and which one searches and clusters by default."""
    with open_store(project, read_only=True) as store:
        return _model_rows(store)


def index_status(project: Path | str) -> list[dict[str, Any]]:
    """Per model: its vectors, whether search wants the graph, and the graph's state
    ("ready", "out of date" (brought up to date on the next search), "building …"
    (by whom, how far), "not built", or "not needed" below the threshold)."""
    from planche.core.index import graph_status

    with open_store(project, read_only=True) as store:
        rows = _model_rows(store)
        for row in rows:
            model = next(m for m in store.models() if m.id == row["id"])
            row["graph"] = graph_status(store, model)
    return rows


def _model_rows(store: Any) -> list[dict[str, Any]]:
    rows = store.models()
    counts = {m.id: store.embedding_count(m.id) for m in rows}
    chosen = default_model([m for m in rows if counts[m.id] > 0])
    return [
        {
            "id": m.id,
            "embedder": m.embedder,
            "name": m.name,
            "pretrained": m.pretrained,
            "weights_hash": m.weights_hash,
            "dim": m.dim,
            "precision": m.precision,
            "label": m.label,
            "text": m.kind.has_text_tower,
            "vectors": counts[m.id],
            "default": chosen is not None and m.id == chosen.id,
        }
        for m in rows
    ]


def import_errors(project: Path | str) -> list[dict[str, str]]:
    with open_store(project, read_only=True) as store:
        return [{"path": p, "reason": r} for p, r in store.import_errors()]


def journal(project: Path | str) -> list[dict[str, Any]]:
    """Every journal entry, oldest first."""
    with open_store(project, read_only=True) as store:
        return store.journal()


def embedder_for_new_images() -> dict[str, Any]:
    """What the app embeds a new project's images with: the default CLIP where
    its weights are on this machine (text search, labels), else the weight-free
    pixels embedder (similar images and copies, no text search). Slow the first
    time (it imports open_clip): call it from a worker."""
    from planche.core.embedders.clip import DEFAULT_MODEL, DEFAULT_PRETRAINED
    from planche.core.embedders.weights import cached_release

    try:
        found = cached_release(DEFAULT_MODEL, DEFAULT_PRETRAINED)
    except Exception:  # noqa: BLE001 - no usable cache is the same as no weights
        found = None
    if found is not None:
        return {"embedder": "clip", "model": DEFAULT_MODEL, "pretrained": DEFAULT_PRETRAINED,
                "label": f"CLIP {DEFAULT_MODEL} ({DEFAULT_PRETRAINED})",
                "note": "text search, similar images, labels"}  # fmt: skip
    return {"embedder": "pixels", "model": None, "pretrained": None,
            "label": "the pixels embedder",
            "note": "no CLIP weights on this machine: similar images and copies, "
                    "no text search"}  # fmt: skip


def known_models(every_release: bool = False) -> list[dict[str, Any]]:
    """The models this machine could embed with (for `planche models`)."""
    from planche.core.embedders.catalogue import known_models as catalogue

    return [m.as_dict() for m in catalogue(every_release=every_release)]


# -- strategies ---------------------------------------------------------------


def strategy(name: str) -> Strategy:
    """A strategy's declaration (name, description, parameters), for forms and help."""
    return get_strategy(name)


def changed_params(strategy_name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters that differ from the strategy's defaults."""
    try:
        defaults = {p.name: p.default for p in get_strategy(strategy_name).params}
    except BadParameter:  # a strategy removed since: show everything
        defaults = {}
    return {k: v for k, v in params.items() if defaults.get(k, object()) != v}


# -- tags and clusterings -----------------------------------------------------


def tag_tree(project: Path | str, members: bool = False) -> list[dict[str, Any]]:
    """Every tag property with its tags (id, parent, name, images), parents first;
    with `members`, each tag's own images and their paths too."""
    with open_store(project, read_only=True) as store:
        tagged = _members.tag_members(store) if members else {}
        tree = [
            {
                "property": name,
                "tags": [
                    {"id": t, "parent": parent, "name": tag, "images": n}
                    for t, parent, tag, n in store.tags(pid)
                ],
            }
            for pid, name in store.properties()
        ]
    if members:
        for prop in tree:
            for tag in prop["tags"]:
                tag["members"] = tagged.get(tag["id"], [])
    return tree


def clustering_tree(project: Path | str, members: bool = False) -> list[dict[str, Any]]:
    """Every clustering with its clusters, children nested under their cluster;
    with `members`, each cluster's images and their paths too."""
    tree = _clustering_tree(project)
    if members:
        found: list[tuple[int, list[dict[str, Any]]]] = []

        def walk(items: list[dict[str, Any]]) -> None:
            for item in items:
                found.append((item["id"], item["clusters"]))
                for cluster in item["clusters"]:
                    walk(cluster["children"])

        walk(tree)
        _with_members(project, found)
    return tree


def with_cluster_members(project: Path | str, clustering_id: int,
                         clusters: list[dict[str, Any]]) -> None:  # fmt: skip
    """Give each cluster of one clustering (dicts with its `idx`, as the `cluster`
    command's outcome lists them) its `id` and `members`: image ids and paths."""
    _with_members(project, [(clustering_id, clusters)])


def _with_members(project: Path | str,
                  clusterings: list[tuple[int, list[dict[str, Any]]]]) -> None:  # fmt: skip
    with open_store(project, read_only=True) as store:
        found = _members.cluster_members(store, [c for c, _ in clusterings])
    for clustering_id, clusters in clusterings:
        for cluster in clusters:
            cluster_id, members = found.get((clustering_id, cluster["idx"]), (None, []))
            cluster.setdefault("id", cluster_id)
            cluster["members"] = members


def cluster_members(project: Path | str, cluster_id: int) -> list[dict[str, Any]]:
    """The images of one cluster with their paths, by image id."""
    with open_store(project, read_only=True) as store:
        if store.cluster(cluster_id) is None:
            raise BadParameter("cluster", cluster_id, "a cluster id (`planche clusters`)")
        ids = store.cluster_member_ids(cluster_id).tolist()
        paths = store.image_paths(ids)
    return [{"image_id": i, "paths": paths.get(i, [])} for i in ids]


# -- scopes and images ----------------------------------------------------------


def all_images(project: Path | str) -> Scope:
    with open_store(project, read_only=True) as store:
        ids = store.all_image_ids()
    return Scope("all images", tuple(ids.tolist()))


def folder_images(project: Path | str, folder: str) -> Scope:
    with open_store(project, read_only=True) as store:
        ids = store.images_under(folder)
    return Scope(f"folder {os.path.basename(folder) or folder}", tuple(ids.tolist()), "folder",
                 folder)  # fmt: skip


def tag_images(project: Path | str, tag_id: int, name: str) -> Scope:
    with open_store(project, read_only=True) as store:
        ids = store.images_with_tag(tag_id)
    return Scope(f"tag {name}", tuple(ids.tolist()), "tag", tag_id)


def cluster_images(project: Path | str, cluster_id: int) -> Scope:
    with open_store(project, read_only=True) as store:
        row = store.cluster(cluster_id)
        ids = store.cluster_member_ids(cluster_id) if row else np.zeros(0, np.int64)
    title = f"cluster {row.idx} {row.label or ''}".strip() if row else "cluster"
    return Scope(f"{title} (id {cluster_id})", tuple(ids.tolist()), "cluster", cluster_id)


def scope_again(project: Path | str, scope: Scope) -> Scope:
    """The same scope read again after a change (maybe by another process): a
    folder, tag or cluster with the images it has now; a list (search results, a
    selection) keeps its order, without the images gone since."""
    with open_store(project, read_only=True) as store:
        if scope.kind == "all":
            ids = store.all_image_ids().tolist()
        elif scope.kind == "folder":
            ids = store.images_under(str(scope.ref)).tolist()
        elif scope.kind == "tag":
            ids = store.images_with_tag(int(scope.ref or 0)).tolist()
        elif scope.kind == "cluster":
            found = store.cluster(int(scope.ref or 0)) is not None
            ids = store.cluster_member_ids(int(scope.ref or 0)).tolist() if found else []
        else:
            there = set(store.image_paths(list(scope.image_ids)))
            ids = [i for i in scope.image_ids if i in there]
    return Scope(scope.title, tuple(ids), scope.kind, scope.ref)


def journal_head(project: Path | str) -> int | None:
    """The number of the project's last journal entry (every write adds one):
    whether it changed since last asked. None while another process holds it."""
    try:
        with open_store(project, read_only=True, wait_s=0.3) as store:
            entries = store.con.execute("SELECT max(seq) FROM journal").fetchall()
    except ProjectLocked:
        return None
    return int(entries[0][0] or 0)


def folder_tree(project: Path | str) -> list[tuple[str, int]]:
    """(folder, images directly in it), sorted, for a tree of folders."""
    with open_store(project, read_only=True) as store:
        return store.folder_counts()


def image_details(project: Path | str, image_id: int) -> dict[str, Any] | None:
    """An image's record, its tags, and each of its files as imported (path,
    size, modification time) with whether the file is still there."""
    with open_store(project, read_only=True) as store:
        record = store.image_record(image_id)
        if record is None:
            return None
        record["files"] = [
            {"path": f["path"], "size": f["size"], "mtime": f["mtime"],
             "present": os.path.isfile(f["path"])}
            for f in store.file_details([image_id])
        ]  # fmt: skip
    return record


CAPTION_KINDS = ("name", "size", "resolution", "date")


def captions(project: Path | str, image_ids: list[int], kind: str = "name") -> dict[int, str]:
    """What the grid writes under each image: its file name, file size,
    resolution, or date (taken, else the file's modification time, UTC); an
    image's first file by path stands for it."""
    if kind not in CAPTION_KINDS:
        raise BadParameter("captions", kind, " or ".join(CAPTION_KINDS))
    with open_store(project, read_only=True) as store:
        if kind == "name":
            return store.image_names(image_ids)
        rows = store.file_details(image_ids)
    found: dict[int, str] = {}
    for row in rows:  # by image, then path: the first row of an image stands for it
        if row["image_id"] in found:
            continue
        if kind == "size":
            text = file_size(row["size"])
        elif kind == "resolution":
            text = f"{row['width']}x{row['height']}"
        else:
            when = row["exif_date"] or datetime.fromtimestamp(row["mtime"], UTC)
            text = when.strftime("%Y-%m-%d %H:%M")
        found[row["image_id"]] = text
    return found


class StoreThumbnails:
    """Thumbnails straight from the project, a page per query."""

    def __init__(self, project: Path | str) -> None:
        self.project = project

    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]:
        with open_store(self.project, read_only=True) as store:
            return store.thumbnails(image_ids)


def picture(path: str, size: int = 2048) -> Any:
    """A PIL image of a file, decoded safely (EXIF orientation applied), for a preview."""
    from planche.core.decode import decode

    return decode(Path(path).read_bytes(), target_size=size).image


def thumbnails(project: Path | str, image_ids: Sequence[int]) -> dict[int, bytes]:
    """The stored thumbnails (encoded image bytes) of these images, by id (one query)."""
    with open_store(project, read_only=True) as store:
        return store.thumbnails([int(i) for i in image_ids])


# -- maps -----------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MapData:
    """A stored map: where each image of its scope lies on the plane.

    `image_ids` (int64) are sorted; `xy` (float32, one row per image) is in
    the map's own units (draw it with equal scales on both axes). `quality` is
    the neighbour preservation: the mean share of an image's 10 nearest
    neighbours in the model's space that are among its 10 nearest on the plane.
    """

    map_id: int
    model: str  # the model's label
    scope: str  # a title: "all images", "folder /x", "tag Subject/cat", "cluster 3 cat (id 12)"
    method: str  # pca or neighbours
    quality: float | None
    image_ids: np.ndarray = field(repr=False)
    xy: np.ndarray = field(repr=False)
    model_id: int = 0
    scope_kind: str = "all"  # all, folder, tag, cluster, images
    scope_ref: str = ""  # '', the folder, the tag or cluster id, a hash of the selection
    params: dict[str, Any] = field(default_factory=dict)  # seed, sample, fitted, quality_k, ...
    created_at: str = ""


def _map_data(store: Store, row: MapRow) -> MapData:
    ids, xy = store.map_points(row.id)
    labels = {m.id: m.label for m in store.models()}
    return MapData(
        map_id=row.id, model=labels.get(row.model_id, "?"), scope=row.scope_title,
        method=row.method, quality=row.quality, image_ids=ids, xy=xy, model_id=row.model_id,
        scope_kind=row.scope_kind, scope_ref=row.scope_ref, params=row.params,
        created_at=row.created_at.isoformat(),
    )  # fmt: skip


def map_data(project: Path | str, map_id: int) -> MapData:
    """A stored map with its points (1M points load in a few tens of milliseconds)."""
    with open_store(project, read_only=True) as store:
        row = store.map_row(map_id)
        if row is None:
            raise BadParameter("map", map_id, "the id of a stored map (`planche map`)")
        return _map_data(store, row)


def latest_map(
    project: Path | str,
    model_id: int | None = None,
    scope: str = "all",
    scope_ref: Any = None,
    method: str = "pca",
) -> MapData | None:
    """The stored map of a model, scope and method, or None when there is none
    (make one with the `map` command). `model_id` None: the model `map` would
    choose (for a cluster, its clustering's). `scope_ref`: the folder, the tag
    or cluster id, or for the scope images the image ids of the selection."""
    if method not in MAP_METHODS:
        raise BadParameter("method", method, "one of " + ", ".join(MAP_METHODS))
    images = scope_ref if scope == "images" and not isinstance(scope_ref, str) else None
    key = _map_scope_ref(scope, None if images is not None else scope_ref, images)
    with open_store(project, read_only=True) as store:
        if model_id is None:
            if scope == "cluster" and (row := store.cluster(int(key))) is not None:
                clustering = store.clustering(row.clustering_id)
                model_id = clustering["model_id"] if clustering else None
            if model_id is None:
                try:
                    model_id = choose_model(store).id
                except PlancheError:
                    return None
        found = store.latest_map(model_id, scope, key, method)
        return _map_data(store, found) if found is not None else None


def cluster_of_images(
    project: Path | str, clustering_id: int, image_ids: Sequence[int] | np.ndarray
) -> np.ndarray:
    """The number (idx) of each image's cluster in a clustering, -1 where the
    image is in none of its clusters; int32, in the order of `image_ids`."""
    with open_store(project, read_only=True) as store:
        if store.clustering(clustering_id) is None:
            raise BadParameter("clustering", clustering_id, "a clustering id (`planche clusters`)")
        return store.cluster_index_of(clustering_id, image_ids)


def clustering_legend(project: Path | str, clustering_id: int) -> list[tuple[int, str, int]]:
    """(cluster number, label or '', size) of each cluster of a clustering, in
    the order `planche clusters` shows them (0, the images no cluster took, last)."""
    with open_store(project, read_only=True) as store:
        if store.clustering(clustering_id) is None:
            raise BadParameter("clustering", clustering_id, "a clustering id (`planche clusters`)")
        return [(c.idx, c.label or "", c.size) for c in store.clusters(clustering_id)]


def _property_id(store: Store, tag_property: str | int) -> int:
    if isinstance(tag_property, int) and not isinstance(tag_property, bool):
        found = next((pid for pid, _ in store.properties() if pid == tag_property), None)
    else:
        found = store.property_id(str(tag_property))
    if found is None:
        names = ", ".join(repr(name) for _, name in store.properties()) or "none yet"
        raise BadParameter("property", tag_property, f"a tag property ({names})")
    return found


def tag_of_images(
    project: Path | str, tag_property: str | int, image_ids: Sequence[int] | np.ndarray
) -> np.ndarray:
    """The top-level tag (its id) of a tag property on each image, -1 for an
    image without one; an image under several gets the lowest id. int64, in the
    order of `image_ids`. The property is given by name, or by id as an int."""
    with open_store(project, read_only=True) as store:
        return store.tag_root_of(_property_id(store, tag_property), image_ids)


def tag_legend(project: Path | str, tag_property: str | int) -> list[tuple[int, str, int]]:
    """(tag id, name, images under it) of each top-level tag of a property,
    largest first (tags without images included, last)."""
    with open_store(project, read_only=True) as store:
        return store.tag_root_sizes(_property_id(store, tag_property))


# -- properties, filters, tables ----------------------------------------------

FILTER_HELP = _filters.__doc__ or ""


def properties(project: Path | str) -> dict[str, Any]:
    """The properties a user made (tag and typed, with how many images have
    one) and the built-in read-only ones."""
    with open_store(project, read_only=True) as store:
        made = [row.as_dict() for row in property_rows(store)]
    builtin = [{"name": b.name, "type": b.type, "help": b.help} for b in BUILTINS.values()]
    return {"properties": made, "builtin": builtin}


@dataclass(frozen=True)
class FilterWords:
    """What the filter box completes: every name the filter language knows,
    and the tags of each tag property as paths below it (`animal/cat`)."""

    names: tuple[str, ...] = ()
    tags: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Names whose usual operator is `:` (tag, has, cluster, text and tag properties):
    # a completion adds it, so the value typed next is not glued to the name.
    colon: frozenset[str] = frozenset()


def filter_words(project: Path | str) -> FilterWords:
    """The names and tag paths the filter language knows here, for completion."""
    with open_store(project, read_only=True) as store:
        made = property_kinds(store)
        tags = {row.name: tuple(sorted("/".join(names) for _, names in tag_paths(store, row.id)))
                for row in made if row.type == "tag"}  # fmt: skip
    colon = {*_filters.KEYWORDS, *(b.name for b in BUILTINS.values() if b.type == "text"),
             *(row.name for row in made if row.type in ("tag", "text"))}  # fmt: skip
    names = (*BUILTINS, *_filters.KEYWORDS, *(row.name for row in made))
    return FilterWords(names, tags, frozenset(colon))


def list_images(
    project: Path | str,
    where: str = "",
    sort: str = "",
    group: str = "",
    *,
    within: Sequence[int] | None = None,
    columns: Sequence[str] = (),
) -> Listing:
    """The images passing a filter, sorted and grouped (see FILTER_HELP)."""
    with open_store(project, read_only=True) as store:
        return _filters.list_images(store, where, sort, group, within=within, columns=columns)


def filtered_scope(project: Path | str, where: str, sort: str = "",
                   within: Scope | None = None) -> Scope:  # fmt: skip
    """A scope of the images passing a filter (inside another scope, in its order)."""
    listing = list_images(project, where, sort,
                          within=within.image_ids if within is not None else None)  # fmt: skip
    base = within.title if within is not None else "all images"
    return Scope(f"{base} where {where}".strip(), tuple(listing.ids.tolist()), "filter", where)


def export_table(project: Path | str, out: Path, file_format: str = "csv", where: str = "",
                 clusterings: Sequence[int] = ()) -> dict[str, Any]:  # fmt: skip
    """One row per file with every property, tag and chosen clustering (table_io)."""
    from planche.core.properties import table_io  # not at the app's start (0.02 s)

    return table_io.export_table(project, out, file_format, where, clusterings)


def plan_table(project: Path | str, file: Path, match: str = "path",
               types: dict[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """What importing a CSV would set, changing nothing (a dry run)."""
    from planche.core.properties import table_io

    return table_io.read_table(project, file, match, types).report(applied=False)


def tag_id_for(project: Path | str, spec: str) -> int:
    """A tag by its path from the property ("Subject/animal/cat") or by its id."""
    with open_store(project, read_only=True) as store:
        if spec.strip().isdigit():
            if not store.tag_exists(int(spec)):
                raise BadParameter("tag", spec, "a tag id of this project (`planche tags`)")
            return int(spec)
        prop, *path = [part.strip() for part in spec.split("/")]
        found = store.tag_id_for_path(prop, path) if path else None
        if found is None:
            raise BadParameter("tag", spec, "a tag of this project as PROPERTY/TAG[/TAG...] "
                               "or its id (`planche tags`)")  # fmt: skip
        return found


def tag_path(project: Path | str, tag_id: int) -> tuple[str, ...]:
    """(property, tag names from the top) of a tag."""
    with open_store(project, read_only=True) as store:
        found = store.tag_path_of(tag_id)
    if found is None:
        raise BadParameter("tag", tag_id, "a tag id of this project (`planche tags`)")
    return found


def saved_views(project: Path | str) -> dict[str, dict[str, str]]:
    """The saved filters (with their sort and grouping) by name."""
    with open_store(project, read_only=True) as store:
        return _filters.saved_views(store)
