"""What a browsing front end asks of a project: scopes of images and their details.

A scope is an ordered list of image ids with a title: every image, a folder,
a tag, a cluster, search results. Each function opens the project for one
query and closes it, so another process can use the project in between.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planche.core.store import open_store


@dataclass(frozen=True)
class Scope:
    title: str
    image_ids: tuple[int, ...]
    kind: str = "all"  # all, folder, tag, cluster, search
    ref: int | str | None = None  # the cluster id, tag id or folder of the scope


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


def folder_tree(project: Path | str) -> list[tuple[str, int]]:
    """(folder, images directly in it), sorted, for a tree of folders."""
    with open_store(project, read_only=True) as store:
        return store.folder_counts()


def tag_tree(project: Path | str) -> list[dict[str, Any]]:
    with open_store(project, read_only=True) as store:
        return [
            {
                "property": name,
                "tags": [
                    {"id": t, "parent": parent, "name": tag, "images": n}
                    for t, parent, tag, n in store.tags(pid)
                ],
            }
            for pid, name in store.properties()
        ]


def image_details(project: Path | str, image_id: int) -> dict[str, Any] | None:
    with open_store(project, read_only=True) as store:
        return store.image_record(image_id)


def captions(project: Path | str, image_ids: list[int]) -> dict[int, str]:
    """The file name of each image, for grid captions."""
    with open_store(project, read_only=True) as store:
        paths = store.image_paths(image_ids)
    return {i: os.path.basename(p[0]) for i, p in paths.items() if p}


class StoreThumbnails:
    """Thumbnails straight from the project, a page per query."""

    def __init__(self, project: Path | str) -> None:
        self.project = project

    def thumbnails(self, image_ids: list[int]) -> dict[int, bytes]:
        with open_store(self.project, read_only=True) as store:
            return store.thumbnails(image_ids)
