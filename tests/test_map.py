"""The map: layouts that keep groups apart, stored and reused, extended when images
are added, every bad input refused in one line with the previous map kept, and
`planche map` (summary, --json, --png)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import silhouette_score
from test_cluster import blobs

from conftest import vector_project, write_good_images
from planche.core import commands, read
from planche.core.commands import Context
from planche.core.errors import BadParameter, Cancelled, PlancheError
from planche.core.maps import neighbour_preservation, pca_positions, project_map
from planche.core.progress import CancelToken
from planche.core.store import open_store
from planche.tui.cli import main


def _random_quality(vectors: np.ndarray) -> float:
    noise = np.random.default_rng(5).normal(size=(len(vectors), 2)).astype(np.float32)
    return neighbour_preservation(vectors, noise)


def _add_vectors(project: Path, vectors: np.ndarray, first_id: int) -> None:
    with open_store(project) as store:
        model = store.models()[0]
        store.write_embeddings(model, list(range(first_id, first_id + len(vectors))), vectors)


# -- layouts ----------------------------------------------------------------------


def test_a_pca_map_keeps_groups_apart_and_beats_a_random_layout(project):
    vectors, truth = blobs(5, 40, spread=0.3)
    vector_project(project, vectors)
    made = commands.run(project, "map", {})
    data = read.map_data(project, made["map_id"])
    assert data.xy.dtype == np.float32 and data.xy.shape == (200, 2)
    assert data.image_ids.dtype == np.int64 and list(data.image_ids) == list(range(1, 201))
    assert silhouette_score(data.xy, truth) > 0.5, "the groups lie apart on the plane"
    assert made["quality"] == pytest.approx(data.quality, abs=1e-4)
    assert made["quality"] > 3 * _random_quality(vectors)
    assert made["method"] == "pca" and made["points"] == 200 and not made["reused"]


def test_the_neighbours_method_keeps_neighbours_better_than_pca():
    # 320 points: the neighbours layouts keep 0.42 (all fitted) and 0.34 (200 fitted) of
    # the 10 nearest where PCA keeps 0.23 (at 600 points: 0.34 and 0.29 against 0.18)
    vectors, truth = blobs(8, 40, spread=0.6)
    ids = np.arange(1, len(vectors) + 1)
    pca_xy, _ = project_map(vectors, ids, "pca")
    whole_xy, whole = project_map(vectors, ids, "neighbours")
    near_xy, details = project_map(vectors, ids, "neighbours", sample=200)
    assert whole.fitted == 320, "every point fitted when there are no more than the sample"
    assert details.fitted == 200, "fitted on the sample, the rest placed by their neighbours"
    assert np.isfinite(near_xy).all() and np.isfinite(whole_xy).all()
    pca_kept = neighbour_preservation(vectors, pca_xy)
    assert neighbour_preservation(vectors, whole_xy) > pca_kept
    assert neighbour_preservation(vectors, near_xy) > pca_kept
    assert silhouette_score(whole_xy, truth) > 0.5, "the groups lie apart on the plane"


def test_the_neighbours_layout_is_repeatable_with_its_seed_and_leaves_the_process_as_it_was():
    from threadpoolctl import threadpool_info

    vectors, _ = blobs(4, 40, seed=6)
    ids = np.arange(1, len(vectors) + 1)
    first, _ = project_map(vectors, ids, "neighbours", seed=3)  # loads its libraries
    pools = [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()]
    np.random.seed(11)
    expected = np.random.random_sample()
    np.random.seed(11)
    again, _ = project_map(vectors, ids, "neighbours", seed=3)
    other, _ = project_map(vectors, ids, "neighbours", seed=4)
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert [(pool["filepath"], pool["num_threads"]) for pool in threadpool_info()] == pools, (
        "the threads of torch, BLAS and OpenMP are as they were"
    )
    assert np.random.random_sample() == expected, "numpy's global random state is untouched"


def test_a_handful_of_points_gets_a_neighbours_map_too():
    vectors, _ = blobs(2, 6, seed=8)
    for n in (3, 4, 9, 12):
        xy, details = project_map(vectors[:n], np.arange(n), "neighbours")
        assert xy.shape == (n, 2) and np.isfinite(xy).all() and details.fitted == n
        assert len(np.unique(xy.round(4), axis=0)) == n, "no two points on the same spot"


def test_neighbour_preservation_is_one_for_the_plane_itself_and_small_for_noise():
    rng = np.random.default_rng(2)
    plane = rng.normal(size=(300, 2)).astype(np.float32)
    vectors = np.hstack([plane, np.zeros((300, 6), np.float32)])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    angles = np.arctan2(plane[:, 1], plane[:, 0])
    circle = np.stack([np.cos(angles), np.sin(angles)], axis=1).astype(np.float32)
    assert neighbour_preservation(vectors, circle, sample=300) == pytest.approx(1.0, abs=0.02)
    assert _random_quality(vectors) < 0.15


# -- stored, reused, extended -----------------------------------------------------------


def test_a_map_is_stored_once_then_reused_and_recomputed_only_when_asked(project):
    vectors, _ = blobs(4, 30)
    vector_project(project, vectors)
    first = commands.run(project, "map", {})
    again = commands.run(project, "map", {})
    assert again["reused"] and again["map_id"] == first["map_id"]
    assert again["quality"] == first["quality"]
    fresh = commands.run(project, "map", {"recompute": True})
    assert not fresh["reused"] and fresh["map_id"] != first["map_id"]
    other_seed = commands.run(project, "map", {"seed": 1})
    assert not other_seed["reused"]
    with open_store(project, read_only=True) as store:
        assert len(store.maps()) == 1, "a map replaces the older one of its model and scope"
        ids, xy = store.map_points(other_seed["map_id"])
    latest = read.latest_map(project, None, "all", None, "pca")
    assert latest is not None and latest.map_id == other_seed["map_id"]
    assert np.array_equal(latest.image_ids, ids) and np.array_equal(latest.xy, xy)
    assert read.latest_map(project, None, "all", None, "neighbours") is None


def test_images_added_are_placed_on_the_stored_map_and_the_others_stay(project):
    vectors, _ = blobs(4, 50, seed=3)
    vector_project(project, vectors[:160])
    before = read.map_data(project, commands.run(project, "map", {})["map_id"])
    _add_vectors(project, vectors[160:], 161)
    grown = commands.run(project, "map", {})
    assert grown["extended"] and grown["added"] == 40 and grown["points"] == 200
    after = read.map_data(project, grown["map_id"])
    assert np.array_equal(after.xy[:160], before.xy), "the images mapped before did not move"
    with open_store(project, read_only=True) as store:
        row = store.map_row(grown["map_id"])
    assert row is not None and row.pca_components is not None and row.pca_mean is not None
    exact = pca_positions(vectors[160:], row.pca_mean, row.pca_components)
    assert np.allclose(after.xy[160:], exact, atol=1e-5), "placed by the stored projection"
    assert commands.run(project, "map", {})["reused"]


def test_the_neighbours_map_places_added_images_among_their_own_group(project):
    vectors, truth = blobs(3, 40, seed=4, spread=0.3)
    order = np.argsort(np.arange(120) % 40 >= 35, kind="stable")  # 5 of each group last
    vectors, truth = vectors[order], truth[order]
    vector_project(project, vectors[:105])
    before = read.map_data(
        project, commands.run(project, "map", {"method": "neighbours"})["map_id"]
    )
    _add_vectors(project, vectors[105:], 106)
    grown = commands.run(project, "map", {"method": "neighbours"})
    after = read.map_data(project, grown["map_id"])
    assert grown["extended"] and np.array_equal(after.xy[:105], before.xy)
    centres = np.stack([after.xy[:105][truth[:105] == g].mean(axis=0) for g in range(3)])
    nearest = np.argmin(((after.xy[105:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    assert (nearest == truth[105:]).mean() >= 0.9


# -- bad input: one line, and the previous map stays --------------------------------------


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def _stays(project: Path, made: dict) -> None:
    latest = read.latest_map(project, None, "all", None, "pca")
    assert latest is not None and latest.map_id == made["map_id"]


def test_fewer_than_three_images_or_identical_vectors_are_refused(project):
    vectors, _ = blobs(2, 10)
    vector_project(project, vectors)
    made = commands.run(project, "map", {})
    with pytest.raises(PlancheError) as few:
        commands.run(project, "map", {"scope": "images", "image_ids": [1, 2]})
    assert "at least 3" in _one_line(few) and "2 chosen images" in str(few.value)
    same = project.with_name("same.duckdb")
    vector_project(same, np.tile(vectors[:1], (6, 1)))
    with pytest.raises(PlancheError) as flat:
        commands.run(same, "map", {})
    assert "same" in _one_line(flat) and "single point" in str(flat.value)
    assert read.latest_map(same, None, "all", None, "pca") is None
    _stays(project, made)


def test_a_cancelled_map_stores_nothing_and_keeps_the_previous_one(project):
    vectors, _ = blobs(3, 30)
    vector_project(project, vectors)
    made = commands.run(project, "map", {})
    cancel = CancelToken()

    def progress(event) -> None:  # noqa: ANN001 - a ProgressEvent
        if "fitted" in event.detail:
            cancel.cancel()

    with pytest.raises(Cancelled) as stopped:
        commands.run(project, "map", {"recompute": True},
                     Context(progress=progress, cancel=cancel))  # fmt: skip
    assert "nothing was stored" in _one_line(stopped)
    _stays(project, made)
    with open_store(project, read_only=True) as store:
        assert len(store.maps()) == 1


def test_a_neighbours_map_cancelled_while_laid_out_stores_nothing(project):
    vectors, _ = blobs(3, 30)
    vector_project(project, vectors)
    made = commands.run(project, "map", {})
    cancel = CancelToken()

    def progress(event) -> None:  # noqa: ANN001 - a ProgressEvent
        if "laying out" in event.detail:
            cancel.cancel()

    with pytest.raises(Cancelled) as stopped:
        commands.run(project, "map", {"method": "neighbours"},
                     Context(progress=progress, cancel=cancel))  # fmt: skip
    assert "nothing was stored" in _one_line(stopped)
    _stays(project, made)
    assert read.latest_map(project, None, "all", None, "neighbours") is None


def test_bad_scopes_and_parameters_name_the_parameter(project):
    vectors, _ = blobs(2, 10)
    vector_project(project, vectors)
    cases = {
        "scope": {"scope": "everything"},
        "method": {"method": "umap"},
        "sample": {"sample": 5},
        "scope_ref": {"scope": "cluster", "scope_ref": 99},
        "image_ids": {"image_ids": [1, 2, 3]},
    }
    for name, params in cases.items():
        with pytest.raises(BadParameter, match=f"^{name}="):
            commands.run(project, "map", params)
    with pytest.raises(BadParameter, match="^scope_ref="):
        commands.run(project, "map", {"scope": "folder"})


@pytest.fixture
def photos_project(tmp_path: Path, project: Path) -> Path:
    write_good_images(tmp_path / "photos" / "a", 8)
    write_good_images(tmp_path / "photos" / "b", 8, start_seed=50)
    commands.run(project, "import", {"folder": str(tmp_path / "photos"), "embedder": "pixels"})
    return project


def test_images_without_a_vector_are_counted_and_embed_is_offered(tmp_path, photos_project):
    made = commands.run(photos_project, "map", {})
    write_good_images(tmp_path / "later", 3, start_seed=200)
    commands.run(photos_project, "import", {"folder": str(tmp_path / "later"), "embedder": "none"})
    with pytest.raises(PlancheError) as missing:
        commands.run(photos_project, "map", {})
    message = _one_line(missing)
    assert "3 images of the 19" in message and "planche embed" in message
    _stays(photos_project, made)
    folder = commands.run(
        photos_project, "map", {"scope": "folder", "scope_ref": str(tmp_path / "photos" / "a")}
    )
    assert folder["points"] == 8 and folder["scope_kind"] == "folder"


# -- colours, and the command line ----------------------------------------------------


def test_clusters_and_tags_of_the_images_on_a_map(photos_project):
    made = commands.run(photos_project, "cluster", {"params": {"k": 3}})
    commands.run(photos_project, "tag", {"property": "Subject", "path": ["cat", "tabby"],
                                         "images": [1, 2, 3]})  # fmt: skip
    commands.run(photos_project, "tag", {"property": "Subject", "path": ["dog"], "images": [3, 4]})
    data = read.map_data(photos_project, commands.run(photos_project, "map", {})["map_id"])
    clusters = read.cluster_of_images(photos_project, made["clustering_id"], data.image_ids)
    legend = read.clustering_legend(photos_project, made["clustering_id"])
    assert sorted(idx for idx, _, _ in legend) == [1, 2, 3]
    sizes = {idx: size for idx, _, size in legend}
    assert {i: int((clusters == i).sum()) for i in sizes} == sizes and (clusters >= 1).all()
    tags = read.tag_of_images(photos_project, "Subject", [4, 1, 3, 9])
    legend_tags = read.tag_legend(photos_project, "Subject")
    by_name = {name: tag_id for tag_id, name, _ in legend_tags}
    assert list(tags) == [by_name["dog"], by_name["cat"], min(by_name.values()), -1]
    assert [(name, size) for _, name, size in legend_tags] == [("cat", 3), ("dog", 2)]
    with pytest.raises(BadParameter, match="^property="):
        read.tag_of_images(photos_project, "Nope", [1])


def test_planche_map_prints_a_summary_and_draws_a_png(tmp_path, photos_project, capsys):
    commands.run(photos_project, "cluster", {"params": {"k": 3}})
    assert main(["map", "--project", str(photos_project)]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert "16 points, PCA, neighbour preservation" in line and "(10-NN kept on the plane)" in line
    out = tmp_path / "map.png"
    argv = ["map", "--project", str(photos_project), "--json", "--png", str(out),
            "--color-by", "clustering:1", "--size", "640x480"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["reused"] and result["drawing"]["png"] == str(out)
    with Image.open(out) as drawn:
        assert drawn.size == (640, 480) and drawn.format == "PNG"
        assert len(drawn.convert("RGB").getcolors(1 << 20)) > 3, "points in several colours"
    commands.run(photos_project, "tag", {"property": "[b]Sujet", "images": [1, 2],
                                         "path": ["\x1b]0;pwned\x07[/b]"]})  # fmt: skip
    atlas = tmp_path / "atlas.png"
    argv = ["map", "--project", str(photos_project), "--png", str(atlas), "--thumbnails",
            "--size", "400x300", "--json", "--color-by", "tag:[b]Sujet"]  # fmt: skip
    assert main(argv) == 0
    drawing = json.loads(capsys.readouterr().out)["drawing"]
    assert drawing["thumbnails"] >= 2 and drawing["colour_by"] == "tags of [b]Sujet"
    assert main(["map", "--project", str(photos_project), "--thumbnails"]) == 2
    assert "--png" in capsys.readouterr().err
