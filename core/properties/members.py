"""Who is in what, with their paths: the members of clusters and of tags, for
`--json` listings that scripts read (one query each, whatever the count)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from planche.core.store import Store


def _grouped(rows: list[tuple[Any, ...]]) -> dict[int, list[dict[str, Any]]]:
    members: dict[int, list[dict[str, Any]]] = {}
    for owner, image_id, paths in rows:
        members.setdefault(int(owner), []).append(
            {"image_id": int(image_id), "paths": [p for p in paths if p is not None]}
        )
    return members


def cluster_members(
    store: Store, clustering_ids: Sequence[int]
) -> dict[tuple[int, int], tuple[int, list[dict[str, Any]]]]:
    """{(clustering id, cluster idx): (cluster id, [{image_id, paths}])} for every
    cluster of these clusterings, members by image id, paths sorted."""
    rows = store.con.execute(
        "SELECT c.id, c.clustering_id, c.idx, m.image_id, list(x.path ORDER BY x.path) "
        "FROM clusters c JOIN cluster_members m ON m.cluster_id = c.id "
        "LEFT JOIN files x ON x.image_id = m.image_id "
        "WHERE c.clustering_id IN (SELECT unnest(?)) GROUP BY ALL ORDER BY 1, 4",
        [[int(c) for c in clustering_ids]],
    ).fetchall()
    keys = {int(row[0]): (int(row[1]), int(row[2])) for row in rows}
    grouped = _grouped([(row[0], *row[3:]) for row in rows])
    return {keys[c]: (c, members) for c, members in grouped.items()}


def tag_members(store: Store) -> dict[int, list[dict[str, Any]]]:
    """{tag id: [{image_id, paths}]}: the images tagged with each tag itself
    (not those only below it), by image id; paths sorted."""
    rows = store.con.execute(
        "SELECT it.tag_id, it.image_id, list(x.path ORDER BY x.path) FROM image_tags it "
        "LEFT JOIN files x ON x.image_id = it.image_id GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    return _grouped(rows)
