"""Embedding on Ray into shards, and ingesting shards into a project.

One test runs a real local Ray (two CPU workers, the tiny CLIP model); the
others write shards with the same worker class called directly, so the shard
format, the merge rules and every refusal are tested without Ray's start-up.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import command_child, kill_points, photo_like, run_main, write_good_images
from planche.core import commands, read
from planche.core.errors import PlancheError
from planche.core.shards import EmbedderOptions, embed_to_shards
from planche.core.shards.distributed import ShardWriter
from planche.core.shards.listing import shard_files
from planche.core.store import open_store

PIXELS = EmbedderOptions(embedder="pixels")


def _clip(tiny_clip: Path) -> EmbedderOptions:
    return EmbedderOptions(embedder="clip", weights=str(tiny_clip), precision="fp32")


def _photos(folder: Path, count: int = 12) -> list[Path]:
    paths = write_good_images(folder, count)
    (folder / "not-an-image.jpg").write_bytes(b"plain text, not a JPEG")
    (folder / "cut-short.jpg").write_bytes(paths[0].read_bytes()[:300])
    return paths


def _write_shards(folder: Path, out: Path, options: EmbedderOptions, per_shard: int = 5) -> None:
    """Shards as a Ray worker writes them, without Ray."""
    from planche.core.shards.listing import list_source

    out.mkdir(parents=True, exist_ok=True)
    writer = ShardWriter(options, str(out), threads=1, max_pixels=10_000_000)
    found = list_source(folder).candidates
    for start in range(0, len(found), per_shard):
        part = found[start : start + per_shard]
        writer(pa.table({"path": [c.path for c in part],
                         "size": pa.array([c.size for c in part], pa.int64()),
                         "mtime": [c.mtime for c in part]}))  # fmt: skip


def _vectors_by_sha(project: Path) -> dict[str, np.ndarray]:
    with open_store(project, read_only=True) as store:
        model = store.models()[0]
        ids, vectors = store.read_embeddings(model)
        shas = store.sha256_of_images(ids.tolist())
    return {shas[i]: v for i, v in zip(ids.tolist(), vectors, strict=True)}


def test_a_local_ray_run_embeds_like_planche_embed_and_a_second_run_writes_nothing(
    tmp_path, tiny_clip
):
    folder, out = tmp_path / "photos", tmp_path / "shards"
    _photos(folder)
    first = embed_to_shards(folder, out, _clip(tiny_clip), workers=2, shard_files=5)
    assert (first.embedded, len(first.failed), first.listed) == (12, 2, 14)
    assert {Path(p).name for p, _ in first.failed} == {"not-an-image.jpg", "cut-short.jpg"}
    written = shard_files(out)
    assert len(written) == first.shards == 3  # 14 files in shards of 5
    rows = [row for f in written for row in pq.read_table(f).to_pylist()]
    errors = {Path(r["path"]).name: r["error"] for r in rows if r["error"]}
    assert set(errors) == {"not-an-image.jpg", "cut-short.jpg"}
    assert all(r["vector"] is None for r in rows if r["error"])

    again = embed_to_shards(folder, out, _clip(tiny_clip), workers=2, shard_files=5)
    assert (again.embedded, again.shards, again.already) == (0, 0, 14)
    assert shard_files(out) == written

    ingested = tmp_path / "ingested.duckdb"
    outcome = commands.run(ingested, "ingest", {"shards": str(out)})
    assert (outcome["new_images"], outcome["vectors"], outcome["failed"]) == (12, 12, 2)
    local = tmp_path / "local.duckdb"
    result = run_main("import", str(folder), "--project", str(local), "--embedder", "clip",
                      "--weights", str(tiny_clip), "--precision", "fp32")  # fmt: skip
    assert result.returncode == 0, result.stderr
    remote, here = _vectors_by_sha(ingested), _vectors_by_sha(local)
    assert remote.keys() == here.keys() and len(remote) == 12
    cosines = [float(remote[sha] @ here[sha]) for sha in remote]
    assert min(cosines) >= 0.9999, cosines

    # The project behaves as a local import: search by text and image, cluster.
    found = run_main("search", "--text", "a photo", "--project", str(ingested), "--json")
    assert found.returncode == 0, found.stderr
    assert len(json.loads(found.stdout)["results"]) > 0
    answers = [
        json.loads(run_main("search", "--image", str(folder / "img_0003.jpg"), "-k", "5",
                            "--project", str(p), "--json").stdout)["results"]
        for p in (ingested, local)
    ]  # fmt: skip
    assert [r["paths"] for r in answers[0]] == [r["paths"] for r in answers[1]]
    clustered = run_main("cluster", "--project", str(ingested), "--param", "k=3", "--json")
    assert clustered.returncode == 0, clustered.stderr
    assert read.journal(ingested)[0]["command"] == "ingest"


def test_ingest_merges_with_what_the_project_has(tmp_path, project):
    folder, out = tmp_path / "photos", tmp_path / "shards"
    _photos(folder, 6)
    extra = tmp_path / "more"
    write_good_images(extra, 3, start_seed=100)
    (extra / "copy.jpg").write_bytes((folder / "img_0001.jpg").read_bytes())
    # The project has the first folder already (same model), not the second.
    assert run_main("import", str(folder), "--project", str(project),
                    "--embedder", "pixels").returncode == 0  # fmt: skip
    before = _vectors_by_sha(project)
    _write_shards(folder, out, PIXELS)
    _write_shards(extra, out, PIXELS)

    outcome = commands.run(project, "ingest", {"shards": str(out)})
    assert outcome["new_images"] == 3  # the copy's content was there
    assert outcome["unchanged_files"] == 6 and outcome["files"] == 4
    after = _vectors_by_sha(project)
    assert len(after) == 9 and all(np.array_equal(after[s], v) for s, v in before.items())
    info = read.project_info(project)
    assert (info["images"], info["files"]) == (9, 10)
    assert len(info["models"]) == 1, "the same model, not a second one"


def test_shards_of_another_model_of_the_same_name_are_refused(tmp_path, project, tiny_clip):
    folder, out = tmp_path / "photos", tmp_path / "shards"
    write_good_images(folder, 3)
    assert run_main("import", str(folder), "--project", str(project), "--embedder", "clip",
                    "--weights", str(tiny_clip), "--precision", "fp32").returncode == 0  # fmt: skip
    _write_shards(folder, out, dataclasses.replace(_clip(tiny_clip), precision="bf16"))
    before = _vectors_by_sha(project)
    result = run_main("ingest", str(out), "--project", str(project))
    assert result.returncode == 2
    message = result.stderr
    assert "(bf16)" in message and "(fp32)" in message and "Traceback" not in message
    assert len(read.project_info(project)["models"]) == 1
    after = _vectors_by_sha(project)
    assert after.keys() == before.keys()


def test_bad_shard_folders_get_one_line_naming_the_file(tmp_path, project, tiny_clip):
    folder, out = tmp_path / "photos", tmp_path / "shards"
    write_good_images(folder, 4)
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_main("ingest", str(empty), "--project", str(project))
    assert result.returncode == 2 and "holds none" in result.stderr

    _write_shards(folder, out, PIXELS, per_shard=2)
    first = shard_files(out)[0]
    stranger = out / "stranger.parquet"
    pq.write_table(pa.table({"path": ["x"], "n": [1]}), stranger)
    result = run_main("ingest", str(out), "--project", str(project))
    assert result.returncode == 2 and "stranger.parquet is not a planche shard" in result.stderr
    stranger.unlink()

    first.write_bytes(first.read_bytes()[: len(first.read_bytes()) // 2])
    result = run_main("ingest", str(out), "--project", str(project))
    assert result.returncode == 2 and first.name in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("planche:")]
    assert "Traceback" not in result.stderr and len(errors) == 1, result.stderr
    assert not project.exists() or read.project_info(project)["images"] == 0

    mixed = tmp_path / "mixed"
    _write_shards(folder, mixed, PIXELS)
    other = tmp_path / "other-folder"
    other.mkdir()
    photo_like(7).save(other / "b.png")
    _write_shards(other, mixed, _clip(tiny_clip))
    result = run_main("ingest", str(mixed), "--project", str(project))
    assert result.returncode == 2 and "made by 2 models" in result.stderr


@pytest.mark.parametrize("point", range(3), ids=["before-journal", "fdatasync-1", "fdatasync-2"])
def test_kill_9_during_an_ingest_leaves_all_or_nothing(point, tmp_path, project):
    points = kill_points()
    if point >= len(points):
        pytest.skip("strace is not installed: fault injection at fdatasync needs it")
    kill_at, prefix = points[point]
    folder, out = tmp_path / "photos", tmp_path / "shards"
    write_good_images(folder, 6)
    assert run_main("import", str(write_good_images(tmp_path / "first", 2, 50)[0].parent),
                    "--project", str(project), "--embedder", "pixels").returncode == 0  # fmt: skip
    _write_shards(folder, out, PIXELS)

    command_child(project, "ingest", {"shards": str(out)}, prefix, kill_at)
    info = read.project_info(project)
    ingested = [e for e in read.journal(project) if e["command"] == "ingest"]
    if ingested:
        assert (info["images"], info["files"]) == (8, 8)
    else:
        assert (info["images"], info["files"]) == (2, 2)
    outcome = commands.run(project, "ingest", {"shards": str(out)})
    assert read.project_info(project)["images"] == 8
    assert outcome["new_images"] == (0 if ingested else 6)


def test_without_ray_the_run_says_how_to_install_it(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ray(name, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        if name == "ray" or name.startswith("ray."):
            raise ImportError(name=name)
        return real_import(name, *args, **kwargs)

    folder = tmp_path / "photos"
    write_good_images(folder, 2)
    monkeypatch.setattr(builtins, "__import__", no_ray)
    with pytest.raises(PlancheError, match=r"planche\[cluster\]"):
        embed_to_shards(folder, tmp_path / "out", PIXELS)
