"""Attach each image to the nearest tag of a tag property, through the text tower.

Each leaf tag of the property is written into the prompt (a tag under a
parent is named with its parent: "animal cat"), embedded with the model's
text tower, and each image joins the tag it is most similar to, if that
similarity reaches `min_similarity`; the others stay unassigned. With
`multi_label` an image joins every tag it reaches `min_similarity` with, so
clusters may share images (Panoptic's multi-label mode). CLIP's
image-to-text cosines are small (about 0.2 to 0.35 for a good match), hence
the default of 0.2. Panoptic embeds the bare tag names; a prompt such as
"a photo of {}" is measurably better for CLIP.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planche.core.cluster.base import ClusterInput, Group, Strategy, register
from planche.core.cluster.params import Param
from planche.core.errors import BadParameter, PlancheError
from planche.core.store import open_store


@register
class ByTagsStrategy(Strategy):
    name = "by_tags"
    description = "each image to the nearest tag of a tag property (needs a text tower)"
    params = (
        Param("property", str, "", "the tag property whose tags are the groups", required=True),
        Param("prompt", str, "a photo of {}", "text around each tag name; {} is the name"),
        Param("min_similarity", float, 0.2, "below this an image stays unassigned", -1.0, 1.0),
        Param(
            "multi_label",
            bool,
            False,
            "each image joins every tag it reaches min_similarity with (Panoptic's multi-label "
            "mode), not only the nearest",
        ),
        Param(
            "with_parents",
            bool,
            True,
            "name a tag with its parents in the prompt (animal cat), else alone (cat)",
        ),
    )

    def validate(self, raw: Any) -> dict[str, Any]:
        values = super().validate(raw)
        if "{}" not in values["prompt"]:
            raise BadParameter("prompt", values["prompt"], "text containing {} for the tag name")
        return values

    def run(self, data: ClusterInput, params: dict[str, Any]) -> list[Group]:
        if not data.model.kind.has_text_tower or data.text_embedder is None:
            raise PlancheError(
                f"by_tags needs a text tower, which {data.model.label} does not have: "
                "cluster the CLIP vectors (--embedder clip)"
            )
        with open_store(data.project, read_only=True) as store:
            tags = store.leaf_tag_paths(params["property"])
        if not tags:
            raise BadParameter(
                "property", params["property"], "a tag property that has tags (`planche tags`)"
            )
        names = [" ".join(path) for _, path in tags]
        spoken = names if params["with_parents"] else [path[-1] for _, path in tags]
        prompts = [params["prompt"].format(name) for name in spoken]
        text = data.text_embedder().embed_text(prompts)
        similarity = data.vectors @ text.T
        if params["multi_label"]:
            reached = similarity >= params["min_similarity"]
            assigned = reached.any(axis=1)
            members = [reached[:, t] for t in range(len(tags))]
        else:
            best = similarity.argmax(axis=1)
            assigned = similarity[np.arange(len(data)), best] >= params["min_similarity"]
            members = [assigned & (best == t) for t in range(len(tags))]
        groups = [Group(data.ids[m], label=names[t]) for t, m in enumerate(members) if m.any()]
        if not assigned.all():
            groups.append(Group(data.ids[~assigned], label="unassigned", leftover=True))
        return groups
