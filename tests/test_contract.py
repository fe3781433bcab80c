"""The core's contract, as a user meets it: two processes on one project, read-only
and damaged files, a full disk, scripts that are wrong, and kill -9 at commit points."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    command_child,
    kill_points,
    photo_like,
    run_cli,
    run_main,
    vector_project,
    write_good_images,
)
from planche.core import commands, read
from planche.core.dedupe.plan import dismissed_groups
from planche.core.errors import BadParameter, PlancheError
from planche.core.store import open_store


def _import(project: Path, folder: Path) -> dict:
    return commands.run(project, "import", {"folder": str(folder), "embedder": "pixels"})


@pytest.fixture(scope="module")
def _template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 photos and their project, imported once; `imported` copies them back each test
    (to the same place: the project holds the photos' paths)."""
    base = tmp_path_factory.mktemp("contract")
    work = base / "work"
    write_good_images(work / "photos", 12)
    _import(work / "project.duckdb", work / "photos")
    shutil.copytree(work, base / "pristine", copy_function=shutil.copy2)
    return base


@pytest.fixture
def imported(_template: Path) -> Path:
    """A project of 12 photos in work/photos: a fresh copy for each test."""
    work = _template / "work"
    if work.exists():
        os.chmod(work / "project.duckdb", 0o644)
        shutil.rmtree(work)
    shutil.copytree(_template / "pristine", work, copy_function=shutil.copy2)
    return work / "project.duckdb"


@pytest.fixture
def photos(imported: Path) -> Path:
    return imported.parent / "photos"


# -- two processes -------------------------------------------------------------


def test_two_imports_of_one_folder_take_turns_and_count_right(tmp_path, project):
    folder = tmp_path / "many"
    write_good_images(folder, 160)
    child = (
        "import json, sys\n"
        "from planche.core.ingest import import_folder\n"
        "s = import_folder(sys.argv[1], sys.argv[2], batch_size=8)\n"
        "print(json.dumps([s.new, s.duplicates, s.known, len(s.failed)]))\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", child, str(folder), str(project)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    results = []
    for run in runs:
        out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err
        results.append(json.loads(out))
    assert sum(r[0] for r in results) == 160, "each image is new to exactly one of them"
    for new, duplicates, known, failed in results:
        assert new + duplicates + known == 160 and failed == 0
    info = read.project_info(project)
    assert (info["images"], info["files"], info["errors"]) == (160, 160, 0)


# -- read-only, damaged, full -------------------------------------------------------


def test_a_read_only_project_can_be_searched_and_listed_but_not_changed(imported):
    before = imported.read_bytes()
    os.chmod(imported, 0o444)
    try:
        # In-process (saves a process start each); the refusal below runs for real.
        for args in (["info"], ["search", "--image", "1", "-k", "3"], ["clusters"], ["tags"],
                     ["history"], ["errors"]):  # fmt: skip
            result = run_main(*args, "--project", str(imported))
            assert result.returncode == 0, (args, result.stderr)
        found = run_main("search", "--image", "1", "-k", "3", "--project", str(imported), "--json")
        assert len(json.loads(found.stdout)["results"]) == 3
        refused = run_cli("tags", "--add", "Subject/cat", "--project", str(imported))
        assert refused.returncode == 2
        assert "is read-only" in refused.stderr and "chmod u+w" in refused.stderr
        assert "Traceback" not in refused.stderr and "internal error" not in refused.stderr
    finally:
        os.chmod(imported, 0o644)
    assert imported.read_bytes() == before, "nothing was written"


def test_a_project_cut_short_is_refused_in_one_line_and_left_as_it_is(imported, tmp_path):
    data = imported.read_bytes()
    cut = tmp_path / "cut.duckdb"
    cut.write_bytes(data[: len(data) // 2])
    for args in (["info"], ["tags", "--add", "S/x"], ["search", "--image", "1"],
                 ["cluster", "--param", "k=2"]):  # fmt: skip
        run = run_cli if args == ["info"] else run_main  # one real process is enough
        result = run(*args, "--project", str(cut))
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "is damaged" in lines[0] and str(cut) in lines[0]
    assert cut.read_bytes() == data[: len(data) // 2], "not one byte written to it"


def _unshare_prefix() -> list[str] | None:
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    for prefix in ([unshare, "--user", "--map-root-user", "--mount"], [unshare, "--mount"]):
        probe = subprocess.run([*prefix, "true"], capture_output=True)
        if probe.returncode == 0:
            return prefix
    return None


def test_a_full_disk_during_import_says_so_and_keeps_the_project_usable(tmp_path):
    prefix = _unshare_prefix()
    if prefix is None:
        pytest.skip("needs unshare to mount a small tmpfs (a disk that fills up)")
    folder = tmp_path / "many"
    write_good_images(folder, 300, size=(160, 120))
    small = tmp_path / "small"
    small.mkdir()
    script = (
        f"mount -t tmpfs -o size=1m tmpfs {small} && "
        f"{sys.executable} -m planche.tui.cli import {folder} --project {small}/p.duckdb "
        f"--embedder pixels; echo rc=$?; "
        f"{sys.executable} -m planche.tui.cli info --project {small}/p.duckdb --json"
    )
    result = subprocess.run([*prefix, "sh", "-c", script], capture_output=True, text=True,
                            timeout=240, env={**os.environ, "PLANCHE_PROJECT": ""})  # fmt: skip
    assert "rc=2" in result.stdout, result.stderr
    assert "no space left on the device holding" in result.stderr
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    info = json.loads(result.stdout.split("rc=2", 1)[1])
    assert info["images"] < 300, "the import stopped where the disk filled"


# -- scripts ------------------------------------------------------------------------


def _script(path: Path, *steps: dict) -> Path:
    commands.write_script(list(steps), path)
    return path


def _journal_length(project: Path) -> int:
    return len(read.journal(project))


def test_a_script_with_a_wrong_type_is_refused_whole_naming_the_step(imported, tmp_path):
    before = _journal_length(imported)
    bad = _script(
        tmp_path / "bad.jsonl",
        {"step": 1, "command": "tag", "params": {"property": "S", "path": ["a"], "images": [1]}},
        {"step": 2, "command": "cluster", "params": {"strategy": "kmeans", "within": "seven"}},
    )
    result = run_cli("replay", str(bad), "--project", str(imported))
    assert result.returncode == 2
    assert "step 2 (cluster): within='seven' is not allowed" in result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert _journal_length(imported) == before and read.tag_tree(imported) == []


def test_a_script_naming_images_the_project_lacks_changes_nothing(imported, tmp_path):
    steps = [
        {"step": 1, "command": "tag", "params": {"property": "S", "path": ["a"], "images": [1]}},
        {"step": 2, "command": "tag", "params": {"property": "S", "path": ["b"],
                                                 "images": [2, 99_999]}},
    ]  # fmt: skip
    with pytest.raises(commands.ReplayError, match="step 2 \\(tag\\): images: no image 99999"):
        commands.replay(imported, steps)
    assert read.tag_tree(imported) == [], "step 1 did not run either"
    with pytest.raises(commands.ReplayError, match="step 1 \\(tag\\): .*images"):
        commands.replay(imported, [{"step": 1, "command": "tag",
                                    "params": {"property": "S", "path": ["a"],
                                               "images": [1, "2", None]}}])  # fmt: skip


def test_dry_run_lists_every_step_and_the_folders_it_would_read(imported, photos, tmp_path):
    other = tmp_path / "elsewhere"
    script = _script(
        tmp_path / "s.jsonl",
        {"step": 1, "command": "import", "params": {"folder": str(other), "embedder": "pixels"}},
        {"step": 2, "command": "cluster", "params": {"params": {"k": 2}}},
        {"step": 3, "command": "save_clustering", "params": {"clustering_id": {"$clustering": 2}}},
    )
    before = imported.read_bytes()
    result = run_main("replay", str(script), "--project", str(imported), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert str(other) in result.stdout
    for name in ("import", "cluster", "save_clustering"):
        assert name in result.stdout
    assert imported.read_bytes() == before and not other.exists()
    listing = json.loads(
        run_main("replay", str(script), "--project", str(imported), "--dry-run", "--json").stdout
    )
    assert [s["reads"] for s in listing] == [[str(other)], [], []]


def test_a_huge_script_line_is_refused_quickly_by_its_size(imported, tmp_path):
    huge = tmp_path / "huge.jsonl"
    ids = ",".join(["1"] * 35_000_000)  # about 70 MB on one line
    huge.write_text('{"command": "tag", "params": {"property": "S", "path": ["a"], "images": ['
                    + ids + "]}}\n")  # fmt: skip
    too_long = "line 1: 67 MB in one step; a step may hold at most 64 MB"
    with pytest.raises(PlancheError, match=too_long):
        commands.read_script(huge)


def test_many_image_references_resolve_in_one_query(imported, tmp_path):
    with open_store(imported, read_only=True) as store:
        shas = list(store.sha256_of_images(list(range(1, 13))).values())
    refs = [{"$image": shas[i % len(shas)]} for i in range(200_000)]
    steps = [{"step": 1, "command": "tag",
              "params": {"property": "S", "path": ["all"], "images": refs}}]  # fmt: skip
    commands.replay(imported, steps)
    tagged = read.tag_tree(imported)[0]["tags"][0]["images"]
    assert tagged == 12


# -- kill -9 at commit points -------------------------------------------------------


def _done(project: Path, name: str) -> list[dict]:
    return [e for e in read.journal(project) if e["command"] == name and e["status"] == "done"]


def _properties(project: Path) -> set[str]:
    return {p["property"] for p in read.tag_tree(project)}


def _tagged(project: Path, prop: str) -> int:
    found = [p for p in read.tag_tree(project) if p["property"] == prop]
    return sum(t["images"] for t in found[0]["tags"]) if found else 0


def _visible_clusterings(project: Path) -> int:
    return len(read.clustering_tree(project))


@pytest.mark.parametrize("point", range(3), ids=["before-journal", "fdatasync-1", "fdatasync-2"])
def test_kill_9_while_saving_tagging_deleting_undoing_keeps_journal_and_data_in_step(
    point, imported, tmp_path
):
    points = kill_points()
    if point >= len(points):
        pytest.skip("strace is not installed: fault injection at fdatasync needs it")
    kill_at, prefix = points[point]
    made = commands.run(imported, "cluster", {"params": {"k": 2}})
    commands.run(imported, "save_clustering", {"clustering_id": made["clustering_id"],
                                               "name": "Older"})  # fmt: skip

    saving = {"clustering_id": made["clustering_id"], "name": "New"}
    command_child(imported, "save_clustering", saving, prefix, kill_at)
    saved = [e["params"]["name"] for e in _done(imported, "save_clustering")]
    assert ("New" in _properties(imported)) == ("New" in saved)
    undone = commands.undo(imported)
    assert undone is not None and undone["params"]["name"] == saved[-1]
    assert "Older" in _properties(imported) or saved[-1] == "Older"
    assert _properties(imported) == set(saved[:-1]), "undo took back the last save, only it"

    tagging = {"property": "Subject", "path": ["cat"], "images": [1, 2, 3]}
    command_child(imported, "tag", tagging, prefix, kill_at)
    assert (_tagged(imported, "Subject") == 3) == bool(_done(imported, "tag"))

    deleting = {"clustering_id": made["clustering_id"]}
    command_child(imported, "delete_clustering", deleting, prefix, kill_at)
    assert (_visible_clusterings(imported) == 0) == bool(_done(imported, "delete_clustering"))

    before = _properties(imported), _visible_clusterings(imported), _tagged(imported, "Subject")
    journal_before = len(read.journal(imported))
    command_child(imported, "undo", {}, prefix, kill_at)
    after = _properties(imported), _visible_clusterings(imported), _tagged(imported, "Subject")
    journal_after = read.journal(imported)
    if len(journal_after) == journal_before:
        assert after == before, "an undo that did not commit changed nothing"
    else:
        assert journal_after[-1]["command"] == "undo" and after != before

    command_child(imported, "redo", {}, prefix, kill_at)
    if read.journal(imported)[-1]["command"] == "redo":
        assert (_properties(imported), _visible_clusterings(imported),
                _tagged(imported, "Subject")) == before  # fmt: skip


# -- every declared command, run, undone and redone ---------------------------------


def _state(project: Path) -> tuple:
    with open_store(project, read_only=True) as store:
        tags = sorted(
            (prop, path, tuple(store.images_with_tag(tag_id).tolist()))
            for _, prop in store.properties()
            for tag_id, path in store.all_tag_paths(prop)
        )  # fmt: skip
        clusterings = [c["id"] for c in store.clusterings()]
        not_duplicates = sorted(tuple(sorted(group)) for group in dismissed_groups(store))
        typed = store.con.execute(
            "SELECT p.name, p.type, v.image_id, v.value_text, v.value_number, v.value_date, "
            "v.value_flag FROM properties p LEFT JOIN property_values v ON v.property_id = p.id "
            "ORDER BY ALL"
        ).fetchall()
        runs = [e for e in store.journal() if e["command"] in ("refuse_suggestions", "save_view")]
        refused = sorted(json.dumps(e["params"], sort_keys=True)
                         for e in runs if e["status"] == "done")  # fmt: skip
    return tags, clusterings, not_duplicates, typed, refused


def _example_params(project: Path) -> dict[str, dict]:
    """Non-default values for every undoable command, set up in `project`."""
    made = commands.run(project, "cluster", {"params": {"k": 3, "seed": 4}})
    commands.run(project, "tag", {"property": "[/x] Sujet", "path": ["a/b", "ç"],
                                  "images": [2, 5]})  # fmt: skip
    # A larger copy of one photo, for dedupe (whose tag action changes the project).
    photos = project.parent / "photos"
    photo_like(3, (192, 128)).save(photos / "img_0003 large.jpg", quality=95)
    _import(project, photos)
    with open_store(project, read_only=True) as store:
        tag_id = store.tag_id_for_path("[/x] Sujet", ["a/b", "ç"])
        top_id = store.tag_id_for_path("[/x] Sujet", ["a/b"])
        paths = store.image_paths([1, 2, 3])
    commands.run(project, "add_property", {"name": "Note [b]", "type": "text"})
    commands.run(project, "set_property", {"property": "Note [b]", "value": "old",
                                           "images": [1, 2]})  # fmt: skip
    table = project.parent / "table.csv"
    table.write_text("path,Note [b]:text,Rating:number,[/x] Sujet:tag,Seen:date\n"
                     + "".join(f'"{paths[i][0]}",new {i},{i}.5,a/b/x; ç,2024-0{i}-0{i}\n'
                               for i in (1, 2, 3)), encoding="utf-8")  # fmt: skip
    return {
        "tag": {"property": "[/x] Sujet", "path": ["a/b", "ç", "[link=x]deep"],
                "images": [1, 2, 3, 7]},
        "untag": {"tag_id": tag_id, "images": [5]},
        "save_clustering": {"clustering_id": made["clustering_id"], "name": "Saved [b]x[/b]"},
        "delete_clustering": {"clustering_id": made["clustering_id"]},
        "dedupe": {"action": "tag:Dup [b]x[/b]/copy", "keep": ["resolution"]},
        "not_duplicates": {"images": [2, 5]},
        "add_property": {"name": "Rating", "type": "number"},
        "set_property": {"property": "Note [b]", "value": "new", "images": [2, 3]},
        "import_table": {"file": str(table)},
        "refuse_suggestions": {"tag_id": tag_id, "images": [4, 6]},
        "rename_property": {"name": "Note [b]", "new_name": "Remark [i]"},
        "rename_tag": {"tag_id": tag_id, "name": "[b]renamed"},
        "move_tag": {"tag_id": tag_id, "parent_id": None},
        "merge_tag": {"tag_id": tag_id, "into": top_id},
        "delete_tag": {"tag_id": top_id},
        "delete_property": {"name": "Note [b]"},
        "save_view": {"name": "mine", "where": "width>10", "group": "[/x] Sujet"},
    }  # fmt: skip


def test_every_undoable_command_runs_undoes_and_redoes_exactly(imported):
    examples = _example_params(imported)
    undoable = sorted(name for name, spec in commands.COMMANDS.items() if spec.undoable)
    assert undoable == sorted(examples), "a new undoable command needs an example here"
    for name in undoable:
        before = _state(imported)
        commands.run(imported, name, examples[name])
        after = _state(imported)
        assert after != before, f"{name} changed something"
        assert commands.undo(imported)["command"] == name
        assert _state(imported) == before, f"undo of {name} restored the state before"
        assert commands.redo(imported)["command"] == name
        assert _state(imported) == after, f"redo of {name} restored the state after"
        commands.undo(imported)


def test_undo_of_a_saved_clustering_removes_that_property_only(imported):
    made = commands.run(imported, "cluster", {"params": {"k": 2}})
    commands.run(imported, "tag", {"property": "Keep", "path": ["x"], "images": [1]})
    commands.run(imported, "save_clustering", {"clustering_id": made["clustering_id"],
                                               "name": "Mine"})  # fmt: skip
    commands.undo(imported)
    assert _properties(imported) == {"Keep"}


def test_every_command_refuses_wrong_types_naming_the_parameter(imported):
    for name, spec in commands.COMMANDS.items():
        for field in spec.fields:
            wrong = 3.5 if field.type is not float else "many"
            with pytest.raises(BadParameter, match=f"^{field.name}="):
                commands.run(imported, name, {field.name: wrong})
        with pytest.raises(BadParameter, match="^nonsense="):
            commands.run(imported, name, {"nonsense": 1})


# -- mistakes the suite must catch --------------------------------------------------


def test_an_image_searched_for_is_never_among_its_own_results_even_through_hnsw(imported):
    for index in ("exact", "hnsw"):
        found = commands.run(imported, "search", {"images": ["5"], "k": 11, "index": index})
        ids = [hit["image_id"] for hit in found["results"]]
        assert found["index"] == index and 5 not in ids and len(ids) == 11


def test_each_cluster_face_is_the_member_nearest_its_centroid(imported):
    made = commands.run(imported, "cluster", {"params": {"k": 3}})
    with open_store(imported, read_only=True) as store:
        model = store.models()[0]
        for row in store.clusters(made["clustering_id"]):
            ids, vectors = store.read_embeddings(model, only=store.cluster_member_ids(row.id))
            nearest = int(ids[np.argmax(vectors @ vectors.mean(axis=0))])
            assert row.medoid == nearest


def test_a_pair_exactly_at_the_duplicates_threshold_is_grouped(project):
    rng = np.random.default_rng(3)
    others = rng.normal(size=(40, 64))
    first, second = np.zeros(64), np.zeros(64)
    first[0] = 1.0
    second[:2] = (0.5, np.sqrt(0.75))  # cosine with `first`: 0.5 exactly in float32
    vectors = np.vstack([first, second, others / np.linalg.norm(others, axis=1, keepdims=True)])
    vector_project(project, vectors.astype(np.float32))
    made = commands.run(project, "cluster", {"strategy": "duplicates",
                                             "params": {"threshold": 0.5}})  # fmt: skip
    groups = [{m["image_id"] for m in read.cluster_members(project, c["id"])} for c in
              read.clustering_tree(project)[0]["clusters"] if c["idx"] > 0]  # fmt: skip
    assert made["clusters"] and any({1, 2} <= group for group in groups)
