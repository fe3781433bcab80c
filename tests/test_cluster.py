"""Clustering: each strategy recovers known groups; nesting, saving and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import ImageEnhance
from sklearn.metrics import adjusted_rand_score

from conftest import run_cli, run_main, vector_project
from planche.core.cluster import get_strategy
from planche.core.clustering import (
    cluster,
    clustering_tree,
    delete_clustering,
    save_clustering,
    score,
)
from planche.core.embedders import load_embedder
from planche.core.errors import BadParameter, PlancheError
from planche.core.ingest import import_folder
from planche.core.store import open_store


def blobs(groups: int, per_group: int, dim: int = 64, spread: float = 0.25, seed: int = 0):
    """Unit vectors in well-separated groups, with the true group of each."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(groups, dim))
    truth = np.repeat(np.arange(groups), per_group)
    vectors = centres[truth] + spread * rng.normal(size=(len(truth), dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32), truth


def kmeans_project(project, groups: int, per_group: int, seed: int, k: int):
    """A vector project clustered by k-means: the summary and its first cluster."""
    vectors, _ = blobs(groups, per_group, seed=seed)
    vector_project(project, vectors)
    top = cluster(project, "kmeans", {"k": k})
    with open_store(project, read_only=True) as store:
        return top, store.clusters(top.clustering_id)[0]


def predicted(summary, n: int) -> np.ndarray:
    labels = np.full(n, -1)
    for c in summary.clusters:
        labels[np.asarray(c.members) - 1] = c.idx if c.idx else -1
    return labels


def test_kmeans_recovers_known_groups_and_is_reproducible(project):
    vectors, truth = blobs(6, 40)
    vector_project(project, vectors)
    first = cluster(project, "kmeans", {"k": 6, "seed": 3})
    again = cluster(project, "kmeans", {"k": "6", "seed": "3"})
    assert adjusted_rand_score(truth, predicted(first, len(truth))) >= 0.9
    assert [list(c.members) for c in first.clusters] == [list(c.members) for c in again.clusters]
    assert [len(c.members) for c in first.clusters] == sorted(
        [len(c.members) for c in first.clusters], reverse=True
    ), "numbered by decreasing size"


def test_kmeans_picks_the_number_of_clusters_when_asked(project):
    vectors, truth = blobs(5, 30, seed=1)
    vector_project(project, vectors)
    auto = cluster(project, "kmeans", {"k": -1})
    assert len(auto.clusters) == 5
    assert adjusted_rand_score(truth, predicted(auto, len(truth))) >= 0.9


def test_density_recovers_groups_and_leaves_outliers_unclustered(project):
    vectors, truth = blobs(4, 50, spread=0.15, seed=2)
    rng = np.random.default_rng(9)
    outliers = rng.normal(size=(6, vectors.shape[1])).astype(np.float32)
    outliers /= np.linalg.norm(outliers, axis=1, keepdims=True)
    vector_project(project, np.concatenate([vectors, outliers]))
    summary = cluster(project, "density", {"min_cluster_size": 10})
    labels = predicted(summary, len(truth) + 6)
    assert adjusted_rand_score(truth, labels[: len(truth)]) >= 0.9
    # Outliers are judged in the PCA space, where one may land near a cluster.
    assert np.sum(labels[len(truth) :] == -1) >= 5, "points that fit nowhere stay unclustered"
    leftover = [c for c in summary.clusters if c.idx == 0]
    assert leftover and leftover[0].label == "unclustered"


def test_density_fitted_on_a_sample_assigns_the_rest(project):
    vectors, truth = blobs(3, 200, spread=0.15, seed=4)
    vector_project(project, vectors)
    summary = cluster(project, "density", {"min_cluster_size": 10, "sample": 150})
    assert adjusted_rand_score(truth, predicted(summary, len(truth))) >= 0.9


def _variant_folder(tmp_path):
    from conftest import photo_like

    folder = tmp_path / "photos"
    folder.mkdir()
    families = {}
    for seed in range(8):
        original = photo_like(seed, (200, 150))
        original.save(folder / f"photo{seed}.jpg", quality=92)
        families[f"photo{seed}.jpg"] = seed
    for seed in (1, 4):
        original = photo_like(seed, (200, 150))
        original.resize((100, 75)).save(folder / f"small{seed}.png")
        ImageEnhance.Brightness(original).enhance(1.15).save(folder / f"bright{seed}.jpg")
        families[f"small{seed}.png"] = families[f"bright{seed}.jpg"] = seed
    (folder / "copy of photo6.jpg").write_bytes((folder / "photo6.jpg").read_bytes())
    return folder, families


def test_duplicates_finds_near_duplicate_images_with_the_pixels_embedder(tmp_path, project):
    folder, families = _variant_folder(tmp_path)
    import_folder(folder, project, embedder=load_embedder("pixels"))
    summary = cluster(project, "duplicates")
    with open_store(project, read_only=True) as store:
        names = {i: [p.rsplit("/", 1)[1] for p in ps]
                 for i, ps in store.image_paths(list(range(1, 100))).items()}  # fmt: skip
    groups = sorted(sorted(n for i in c.members for n in names[int(i)]) for c in summary.clusters)
    assert groups == [
        ["bright1.jpg", "photo1.jpg", "small1.png"],
        ["bright4.jpg", "photo4.jpg", "small4.png"],
        ["copy of photo6.jpg", "photo6.jpg"],  # the same bytes at two paths
    ]
    assert summary.params["threshold"] == 0.95, "the default used is stored"


def test_duplicates_groups_are_transitive_and_singletons_are_not_groups(project):
    rng = np.random.default_rng(0)
    angles = 0.3 * np.arange(4)  # a chain a-b-c-d: neighbours at cosine 0.955, ends at 0.62
    chain = np.zeros((4, 32))
    chain[:, 0], chain[:, 1] = np.cos(angles), np.sin(angles)
    others = rng.normal(size=(20, 32))
    vectors = np.concatenate([chain, others]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vector_project(project, vectors)
    assert vectors[0] @ vectors[3] < 0.95, "the ends of the chain are not directly similar"
    summary = cluster(project, "duplicates", {"threshold": 0.95})
    assert [sorted(c.members.tolist()) for c in summary.clusters] == [[1, 2, 3, 4]]
    # Sessions recorded when duplicates took `neighbours` still replay; it is ignored.
    again = cluster(project, "duplicates", {"threshold": 0.95, "neighbours": 3})
    assert [sorted(c.members.tolist()) for c in again.clusters] == [[1, 2, 3, 4]]
    assert any(note.startswith("neighbours is ignored") for note in again.notes)
    alone = cluster(project, "duplicates", {"threshold": 0.9999})
    assert alone.clusters == [] and "no clusters" in alone.notes[-1]
    with pytest.raises(BadParameter, match="a clustering that found clusters"):
        save_clustering(project, alone.clustering_id)


def _clip_vectors_and_tags(project, clip, vectors, tag_paths) -> None:
    """A project holding `vectors` (images 1..n) under the tiny CLIP model, and
    the property Subject with these tag paths."""
    identity = clip.identity
    with open_store(project, create=True) as store:
        model = store.register_model(
            embedder="clip", name=identity.name, pretrained=None,
            weights_hash=identity.weights_hash, dim=identity.dim, precision=identity.precision,
            preprocessing=identity.preprocessing,
        )  # fmt: skip
        store.write_embeddings(model, list(range(1, len(vectors) + 1)), vectors)
        for path in tag_paths:
            store.add_tag_path("Subject", path)


def test_by_tags_attaches_images_to_the_nearest_tag(project, tiny_clip):
    clip = load_embedder("clip", weights=tiny_clip)
    prompts = ["a photo of animal cat", "a photo of animal dog", "a photo of boat"]
    text = clip.embed_text(prompts)
    rng = np.random.default_rng(5)
    truth = np.repeat(np.arange(3), 10)
    vectors = text[truth] + 0.02 * rng.normal(size=(30, text.shape[1]))
    far = -text.mean(axis=0, keepdims=True)  # similar to no tag
    vectors = np.concatenate([vectors, far]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    _clip_vectors_and_tags(project, clip, vectors,
                           (["animal", "cat"], ["animal", "dog"], ["boat"]))  # fmt: skip

    summary = cluster(project, "by_tags", {"property": "Subject", "min_similarity": 0.5})

    by_label = {c.label: sorted(c.members.tolist()) for c in summary.clusters}
    assert by_label["animal cat"] == list(range(1, 11))
    assert by_label["animal dog"] == list(range(11, 21))
    assert by_label["boat"] == list(range(21, 31))
    assert by_label["unassigned"] == [31]
    with pytest.raises(BadParameter, match="property='Nope'"):
        cluster(project, "by_tags", {"property": "Nope"})
    with pytest.raises(BadParameter, match="prompt"):
        cluster(project, "by_tags", {"property": "Subject", "prompt": "no placeholder"})


def test_by_tags_needs_a_text_tower(project):
    vector_project(project, blobs(2, 5)[0])
    with open_store(project) as store:
        store.add_tag_path("Subject", ["cat"])
    with pytest.raises(PlancheError, match="text tower"):
        cluster(project, "by_tags", {"property": "Subject"})


def test_nesting_three_levels_round_trips_through_the_store(project):
    top, first = kmeans_project(project, 4, 40, seed=6, k=2)
    middle = cluster(project, "kmeans", {"k": 2}, within=first.id)
    with open_store(project, read_only=True) as store:
        second = store.clusters(middle.clustering_id)[0]
    bottom = cluster(project, "density", {"min_cluster_size": 3}, within=second.id)

    tree = clustering_tree(project)  # read back from the file, as after a restart
    assert [node["id"] for node in tree] == [top.clustering_id]
    level2 = tree[0]["clusters"][0]["children"]
    assert [n["id"] for n in level2] == [middle.clustering_id]
    level3 = level2[0]["clusters"][0]["children"]
    assert [n["id"] for n in level3] == [bottom.clustering_id]
    assert level3[0]["images"] == second.size
    assert sum(c["size"] for c in level3[0]["clusters"]) == second.size
    with open_store(project, read_only=True) as store:
        inner = set(store.cluster_member_ids(level3[0]["clusters"][0]["id"]).tolist())
        assert inner <= set(store.cluster_member_ids(second.id).tolist())

    assert sorted(delete_clustering(project, middle.clustering_id)) == sorted(
        [middle.clustering_id, bottom.clustering_id]
    )
    assert clustering_tree(project)[0]["clusters"][0]["children"] == []


def test_saved_tags_mirror_the_tree_and_can_be_undone(project):
    top, first = kmeans_project(project, 3, 20, seed=7, k=3)
    child = cluster(project, "kmeans", {"k": 2}, within=first.id)

    saved = save_clustering(project, top.clustering_id)

    assert saved == {"property": "Clustering", "tags": 5, "clustering_id": top.clustering_id}
    with open_store(project, read_only=True) as store:
        member = int(store.cluster_member_ids(store.clusters(child.clustering_id)[0].id)[0])
        assert store.image_tag_paths(member) == [
            ("Clustering", ("1",)),
            ("Clustering", ("1", "1")),
        ]
        leaves = {path for _, path in store.leaf_tag_paths("Clustering")}
    assert leaves == {("1", "1"), ("1", "2"), ("2",), ("3",)}
    with pytest.raises(BadParameter, match="not in use"):
        save_clustering(project, top.clustering_id)
    save_clustering(project, top.clustering_id, replace=True)
    result = run_cli("tags", "--project", str(project), "--delete-property", "Clustering",
                     "--json")  # fmt: skip
    assert result.returncode == 0 and json.loads(result.stdout) == []


def test_a_cluster_clustered_again_two_ways_keeps_the_ways_apart_when_saved(project):
    top, first = kmeans_project(project, 2, 20, seed=9, k=2)
    again = [cluster(project, "kmeans", {"k": 2, "seed": s}, within=first.id) for s in (1, 2)]

    saved = save_clustering(project, top.clustering_id)

    assert saved["tags"] == 8, "1, its two runs, their two clusters each, and 2"
    with open_store(project, read_only=True) as store:
        leaves = {path for _, path in store.leaf_tag_paths("Clustering")}
        for child in again:
            for c in store.clusters(child.clustering_id):
                way = f"kmeans #{child.clustering_id}"
                assert ("Clustering", ("1", way, str(c.idx))) in store.image_tag_paths(
                    int(store.cluster_member_ids(c.id)[0])
                )
    assert len(leaves) == 5, "two runs of two clusters each under cluster 1, and cluster 2"


def test_scores_and_medoids(project):
    assert score(np.tile(np.eye(1, 8, dtype=np.float32), (5, 1))) == 0.0
    assert score(np.eye(8, dtype=np.float32)) == pytest.approx(100 * (1 - 1 / 8))
    vectors, _ = blobs(2, 30, spread=0.1, seed=8)
    vector_project(project, vectors)
    summary = cluster(project, "kmeans", {"k": 2})
    for c in summary.clusters:
        assert c.medoid in c.members.tolist()
        assert 0 <= c.score < 21, "tight groups score as coherent"


def test_bad_parameters_name_the_parameter_and_what_is_allowed(project):
    vector_project(project, blobs(2, 4)[0])
    cases = [
        ("kmeans", {"k": 0}, "k=0.*from 2 to 1000 \\(or -1\\)"),
        ("kmeans", {"k": "ten"}, "k='ten'"),
        ("kmeans", {"k": 50}, "k=50.*at most the 8 images"),
        ("kmeans", {"clusters": 3}, "clusters=3.*parameter of the kmeans strategy: k, seed"),
        ("duplicates", {"threshold": 1.5}, "threshold=1.5.*from 0.5 to 1"),
        ("density", {"min_cluster_size": 1}, "min_cluster_size=1"),
        ("by_tags", {}, "property=None"),
        ("spectral", {}, "strategy='spectral'.*by_tags, density, duplicates, kmeans"),
    ]
    for strategy, params, message in cases:
        with pytest.raises(BadParameter, match=message):
            cluster(project, strategy, params)
    with pytest.raises(BadParameter, match="within=999"):
        cluster(project, "kmeans", {"k": 2}, within=999)
    result = run_cli("cluster", "--project", str(project), "--param", "k=0")
    assert result.returncode == 2 and "k='0'" in result.stderr and "Traceback" not in result.stderr
    twice = run_main("cluster", "--project", str(project), "--param", "k=2", "--param", "k=3")
    assert twice.returncode == 2 and "k is given twice" in twice.stderr


def test_every_strategy_declares_typed_parameters_with_help():
    for name in ("kmeans", "density", "duplicates", "by_tags"):
        strategy = get_strategy(name)
        assert strategy.description
        for param in strategy.params:
            assert param.help and param.type in (int, float, str, bool)
            if not param.required:
                assert param.parse(param.default) == param.default


def test_cli_cluster_and_tree(tmp_path, project):
    folder, _ = _variant_folder(tmp_path)
    import_folder(folder, project, embedder=load_embedder("pixels"))
    made = run_main("cluster", "--project", str(project), "--param", "k=3", "--json")
    assert made.returncode == 0, made.stderr
    report = json.loads(made.stdout)
    assert report["strategy"] == "kmeans" and len(report["clusters"]) == 3
    assert sum(c["size"] for c in report["clusters"]) == report["images"] == 12
    tree = run_cli("clusters", "--project", str(project))
    assert f"clustering {report['clustering_id']}: kmeans k=3" in tree.stdout
    helped = run_main("cluster", "--help")
    assert "min_cluster_size" in helped.stdout and "threshold" in helped.stdout


def test_clusters_get_zero_shot_labels_from_the_text_tower(tmp_path, project, tiny_clip):
    from conftest import write_good_images
    from planche.core.index import cache_dir
    from planche.core.labels import vocabulary

    write_good_images(tmp_path / "photos", 12)
    import_folder(tmp_path / "photos", project, embedder=load_embedder("clip", weights=tiny_clip))
    summary = cluster(project, "kmeans", {"k": 3})
    words = set(vocabulary())
    assert all(c.label in words for c in summary.clusters)
    assert (cache_dir(project) / "labels-model1.npy").exists(), "class names embedded once"
    unlabelled = cluster(project, "kmeans", {"k": 3}, labels=False)
    assert all(c.label is None for c in unlabelled.clusters)


def _density_input(vectors):
    from planche.core.cluster import ClusterInput

    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    return ClusterInput(ids=ids, vectors=vectors, model=None, project=None)


def _traced_peak_mib(work):
    """work()'s result and the peak of Python and numpy memory it allocated, in MiB."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = work()
        return result, tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_density_with_many_clusters_at_full_dims_assigns_the_rest_in_bounded_memory(monkeypatch):
    from planche.core.cluster import density

    vectors, _ = blobs(300, 12, dim=512, spread=0.25, seed=5)
    seen = {}
    original = density._assign_rest

    def spy(reduced, labels, fitted, rest):
        seen["args"] = (reduced.copy(), labels.copy(), fitted, rest)
        seen["assigned"], seen["peak"] = _traced_peak_mib(
            lambda: original(reduced, labels, fitted, rest)
        )
        return seen["assigned"]

    monkeypatch.setattr(density, "_assign_rest", spy)
    strategy = get_strategy("density")
    params = strategy.validate({"min_cluster_size": 2, "dims": 256, "sample": 1000})
    groups = strategy.run(_density_input(vectors), params)

    reduced, labels, fitted, rest = seen["args"]
    assert reduced.shape[1] == 256 and len(rest) == 2600
    clusters = np.unique(labels[fitted][labels[fitted] >= 0])
    assert len(clusters) >= 100, "many small clusters"
    # The rule, written plainly: nearest centre (mean of the fitted members),
    # joined only within that cluster's radius (its farthest fitted member).
    centres = np.stack([reduced[fitted][labels[fitted] == c].mean(axis=0) for c in clusters])
    radii = [
        np.linalg.norm(reduced[fitted][labels[fitted] == c] - centres[i], axis=1).max()
        for i, c in enumerate(clusters)
    ]
    expected = []
    for row in rest:
        distances = np.linalg.norm(reduced[row] - centres, axis=1)
        nearest = int(distances.argmin())
        expected.append(clusters[nearest] if distances[nearest] <= radii[nearest] else -1)
    np.testing.assert_array_equal(seen["assigned"], expected)
    assert 0 < np.sum(seen["assigned"] == -1) < len(rest), "some join, some stay unclustered"
    assert sum(len(g.members) for g in groups) == len(vectors)
    # Comparing every row with every centre at once took 2600 x clusters x 256
    # float32 twice over: above 1 GiB here.
    assert seen["peak"] < 200, f"assigning the rest took {seen['peak']:.0f} MiB"


@pytest.mark.parametrize(("min_cluster_size", "min_samples"), [(5, None), (30, 250)])
def test_density_fit_gives_scikit_learn_hdbscan_labels_with_neighbours_in_blocks(
    monkeypatch, min_cluster_size, min_samples
):
    from sklearn.cluster import HDBSCAN

    from planche.core.cluster import density

    rng = np.random.default_rng(11)
    points = np.concatenate(
        [rng.normal(rng.uniform(-4, 4, 6), 0.5, (300, 6)) for _ in range(5)]
        + [rng.uniform(-6, 6, (100, 6))]
    ).astype(np.float32)
    expected = HDBSCAN(
        min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True
    ).fit_predict(points)
    # Blocks of about 100 rows, so that the core distances come from many queries.
    monkeypatch.setattr(density, "BLOCK_BYTES", 32 * (min_samples or min_cluster_size) * 100)
    found = density._hdbscan(points, min_cluster_size, min_samples or min_cluster_size)
    assert expected.max() >= 2
    np.testing.assert_array_equal(found, expected)


def test_density_with_min_cluster_size_as_large_as_the_sample_runs_in_bounded_memory():
    vectors, _ = blobs(4, 1125, dim=32, spread=0.2, seed=6)
    strategy = get_strategy("density")
    params = strategy.validate({"min_cluster_size": 4000, "sample": 4000})
    groups, peak = _traced_peak_mib(lambda: strategy.run(_density_input(vectors), params))
    assert sum(len(g.members) for g in groups) == len(vectors)
    # scikit-learn's HDBSCAN listed all 4000 neighbours of each of the 4000
    # fitted images at once, 32 bytes each: about 490 MiB here, 12.8 GB for
    # min_cluster_size=20,000 at the default sample.
    assert peak < 200, f"the fit took {peak:.0f} MiB"
    too_many = strategy.validate({**params, "min_cluster_size": 4001})
    with pytest.raises(BadParameter, match="min_cluster_size=4001.*4000 images.*sample=4000"):
        strategy.run(_density_input(vectors), too_many)


def test_by_tags_multi_label_puts_an_image_under_every_tag_it_is_near(project, tiny_clip):
    clip = load_embedder("clip", weights=tiny_clip)
    text = clip.embed_text(["a photo of cat", "a photo of boat"])
    both = text.sum(axis=0, keepdims=True)  # a cat on a boat
    vectors = np.concatenate([text, both]).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    threshold = float(min(vectors[2] @ text[0], vectors[2] @ text[1])) - 1e-3
    _clip_vectors_and_tags(project, clip, vectors, (["animal", "cat"], ["boat"]))
    params = {"property": "Subject", "min_similarity": threshold, "with_parents": False}
    single = {
        c.label: sorted(c.members.tolist()) for c in cluster(project, "by_tags", params).clusters
    }
    multi = cluster(project, "by_tags", {**params, "multi_label": True}).clusters
    by_label = {c.label: sorted(c.members.tolist()) for c in multi}
    assert by_label == {"animal cat": [1, 3], "boat": [2, 3]}, "the cat on a boat is in both"
    assert sum(len(m) for m in single.values()) == 3, "without it, one tag each"
