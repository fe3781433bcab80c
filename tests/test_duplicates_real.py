"""Duplicates on real photos (the pictures scikit-image and scikit-learn ship):
the default finds the copies it claims, never groups other pictures of the
same photo, and finds mirrors and turns only when asked.

The set comes from bench/duplicates_real.py at small size. The per-edit
floors are the recalls measured there on the whole set (36 originals,
BENCHMARKS.md) with a margin; the photos chosen here are not the textures and
star fields where crops are still missed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from planche.core.clustering import cluster
from planche.core.embedders import load_embedder
from planche.core.errors import BadParameter
from planche.core.ingest import import_folder
from planche.core.store import open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import duplicates_real as real  # noqa: E402

pytest.importorskip("skimage")

ORIGINALS = ("astronaut", "chelsea", "coffee_l", "china_t0", "rocket_r", "flower_t1")
DISTRACTORS = ("astronaut_face", "chelsea_ear", "china_between", "rocket_between")
# Share of the originals whose copy by this edit joins the original's group.
FLOORS = {
    "copy": 1.0, "jpeg_q60": 1.0, "resize_50": 1.0, "bright_20": 1.0, "stretch": 1.0,
    "portrait": 1.0, "crop_5": 0.8, "crop_10": 0.6, "aspect_crop": 0.6,
}  # fmt: skip


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("real")
    truth = real.build_set(folder / "images", originals=ORIGINALS, distractors=DISTRACTORS)
    project = folder / "project.duckdb"
    import_folder(truth.folder, project, embedder=load_embedder("pixels"))
    return truth, project


def _groups(truth, project, **params) -> list[list[str]]:
    summary = cluster(project, "duplicates", params, labels=False)
    with open_store(project, read_only=True) as store:
        paths = store.image_paths([int(m) for c in summary.clusters for m in c.members])
    root = truth.folder.resolve()
    return [
        [str(Path(p).resolve().relative_to(root)) for m in c.members for p in paths[int(m)]]
        for c in summary.clusters
    ]


def _together(groups: list[list[str]], a: str, b: str) -> bool:
    return any(a in g and b in g for g in groups)


def test_the_default_finds_each_kind_of_copy_and_groups_no_other_picture(imported):
    truth, project = imported
    groups = _groups(truth, project)
    figures = real.score(truth, groups)
    for edit, floor in FLOORS.items():
        assert figures["per_edit_recall"][edit] >= floor, (edit, figures["per_edit_recall"])
    assert figures["distractors_grouped"] == 0
    assert figures["all"]["false_pairs"] == 0, "no two originals share a group"
    assert figures["all"]["f1"] >= 0.95
    for group in truth.groups.values():  # mirrors and turns are other pictures by default
        assert not _together(groups, group["original"], group["mirror"])
        assert not _together(groups, group["original"], group["rotate_90"])


def test_mirrors_are_found_with_invariance_mirror_and_turns_with_rotate(imported):
    truth, project = imported
    mirrored = _groups(truth, project, invariance="mirror")
    turned = _groups(truth, project, invariance="rotate")
    for name, group in truth.groups.items():
        assert _together(mirrored, group["original"], group["mirror"]), name
        assert _together(turned, group["original"], group["rotate_90"]), name
    for groups in (mirrored, turned):
        assert real.score(truth, groups, "all")["distractors_grouped"] == 0


def test_invariance_is_refused_for_vectors_that_are_not_grids(tmp_path):
    project = tmp_path / "clip.duckdb"
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(6, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with open_store(project, create=True) as store:
        model = store.register_model(
            embedder="clip", name="tiny", pretrained=None, weights_hash=None, dim=32,
            precision="fp32", preprocessing={},
        )  # fmt: skip
        store.write_embeddings(model, list(range(1, 7)), vectors)
    with pytest.raises(BadParameter, match="invariance"):
        cluster(project, "duplicates", {"invariance": "mirror"})
    with pytest.raises(BadParameter, match="invariance"):
        cluster(project, "duplicates", {"invariance": "sideways"})


def test_a_mirrored_or_turned_picture_has_the_permuted_vector():
    """Turns are permutations of a vector's grid cells, in every view: what
    `invariance` relies on to find them without embedding anything again."""
    from PIL import Image, ImageOps

    from planche.core.cluster.views import TURNS, GridLayout
    from planche.core.demo import _usable_sources

    embedder = load_embedder("pixels")
    layout = GridLayout.of(embedder.identity)
    path = _usable_sources()["chelsea.png"][1]
    with Image.open(path) as picture:
        photo = picture.convert("RGB").resize((160, 106))
    turned = {
        "mirror": ImageOps.mirror(photo), "flip": ImageOps.flip(photo),
        "rot90": photo.transpose(Image.Transpose.ROTATE_90),
        "rot270": photo.transpose(Image.Transpose.ROTATE_270),
    }  # fmt: skip
    vectors = embedder.embed_prepared([embedder.prepare(p) for p in (photo, *turned.values())])
    blocks = layout.blocks(vectors)
    for k, name in enumerate(turned, start=1):
        best = max(
            float(np.min(np.einsum("vi,vi->v", blocks[0][:, layout.permutation(t)], blocks[k])))
            for t in TURNS["all"]
        )
        assert best > 0.99, name
        assert float(np.min(np.einsum("vi,vi->v", blocks[0], blocks[k]))) < 0.9, name
