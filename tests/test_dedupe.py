"""`dedupe`: keeper rules, reference folders, actions with dry run and undo, safety.

One folder of photo-like pictures with known copies is imported once per
module (pixels embedder); each test works on a fresh copy of it at the same
place (the project stores absolute paths), with its own trash.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from conftest import command_child, jpeg_bytes, photo_like, run_main, write_good_images
from planche.core import commands
from planche.core.commands import Context
from planche.core.dedupe import DEFAULT_RULES, Candidate, choose_keeper, parse_rules
from planche.core.dedupe.fileops import pending_path
from planche.core.errors import BadParameter
from planche.core.progress import ProgressEvent

# -- the folder -------------------------------------------------------------------

CLUSTERING = 1  # the duplicates clustering of the template project


def _make_folder(photos: Path) -> None:
    """Group A: a.jpg, a_big.jpg (the same picture, twice the resolution) and
    edits/a_copy.jpg (the bytes of a.jpg). Group B: b.jpg and b_small.jpg (the
    same picture at JPEG quality 40: smaller). Two pictures without copies."""
    photos.mkdir(parents=True)
    (photos / "edits").mkdir()
    a = photo_like(1)
    (photos / "a.jpg").write_bytes(jpeg_bytes(a))
    (photos / "a_big.jpg").write_bytes(jpeg_bytes(a.resize((192, 128))))
    shutil.copy2(photos / "a.jpg", photos / "edits" / "a_copy.jpg")
    b = photo_like(2)
    (photos / "b.jpg").write_bytes(jpeg_bytes(b))
    b.save(photos / "b_small.jpg", format="JPEG", quality=40)
    write_good_images(photos, 2, start_seed=3)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """The folder and its project, imported once; `work` copies it back each test."""
    base = tmp_path_factory.mktemp("dedupe")
    work = base / "work"
    _make_folder(work / "photos")
    commands.run(work / "p.duckdb", "import",
                 {"folder": str(work / "photos"), "embedder": "pixels"})  # fmt: skip
    # Most tests act on these groups, stored once (finding them takes a while).
    made = commands.run(work / "p.duckdb", "cluster", {"strategy": "duplicates"})
    assert made["clustering_id"] == CLUSTERING and len(made["clusters"]) == 2
    shutil.copytree(work, base / "pristine", copy_function=shutil.copy2)
    return base


@pytest.fixture
def work(template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the imported folder, and a trash of its own (never the real one)."""
    from send2trash import plat_other

    folder = template / "work"
    shutil.rmtree(folder)
    shutil.copytree(template / "pristine", folder, copy_function=shutil.copy2)
    xdg = tmp_path / "xdg"
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(xdg))
    # send2trash read XDG_DATA_HOME when it was imported: point it here too.
    monkeypatch.setattr(plat_other, "XDG_DATA_HOME", os.fsencode(xdg))
    monkeypatch.setattr(plat_other, "HOMETRASH_B", os.fsencode(xdg / "Trash"))
    monkeypatch.setattr(plat_other, "HOMETRASH", str(xdg / "Trash"))
    assert os.stat(folder).st_dev == os.stat(tmp_path).st_dev, "the trash must be ours"
    return folder


def _project(work: Path) -> Path:
    return work / "p.duckdb"


def snapshot(folder: Path) -> dict[str, tuple]:
    """Every path under `folder` with its bytes' hash, modification time and links."""
    found: dict[str, tuple] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = ("symlink", os.readlink(path))
        elif path.is_dir():
            found[name] = ("folder",)
        else:
            info = path.stat()
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[name] = (digest, info.st_mtime_ns, info.st_nlink)
    return found


def _files(outcome: dict) -> dict[str, dict]:
    return {Path(f["path"]).name: f for g in outcome["groups"] for f in g["files"]}


def _run(work: Path, name: str = "dedupe", **params) -> dict:
    return commands.run(_project(work), name, {"clustering_id": CLUSTERING, **params})


# -- keeper rules -------------------------------------------------------------------


def _candidate(path: str, **values) -> Candidate:
    record = {"image_id": 1, "size": 100, "mtime": 1000.0, "width": 10, "height": 10}
    return Candidate(path=path, **{**record, **values})


def test_each_keeper_rule_decides_as_documented(tmp_path):
    (tmp_path / "best").mkdir()
    small = _candidate("/p/a/small.jpg", width=10, height=10, size=900, mtime=3000.0,
                       taken=datetime(2020, 1, 1))  # fmt: skip
    large = _candidate("/p/large.jpg", width=40, height=30, size=100, mtime=1000.0,
                       taken=datetime(2021, 1, 1))  # fmt: skip
    preferred = _candidate(f"{tmp_path}/best/long/name.raw", mtime=2000.0)
    everyone = [small, large, preferred]
    expected = {
        "resolution": large, "size": small, "oldest": preferred, "newest": large,
        "shortest-path": large, f"folder:{tmp_path}/best": preferred,
        "pattern:*.raw": preferred, "pattern:/p/a/*": small,
    }  # fmt: skip
    for rule, keeper in expected.items():
        choice = choose_keeper(everyone, parse_rules([rule]))
        assert (choice.keeper, choice.rule) == (keeper, parse_rules([rule])[0].text), rule
    # The date taken counts before the modification time (`preferred` has none,
    # so its modification time, in 1970, is its date).
    assert choose_keeper([small, large], parse_rules(["oldest"])).keeper is small
    assert "40x30" in choose_keeper(everyone, parse_rules(["resolution"])).reason


def test_keeper_rules_break_ties_in_order_and_name_the_deciding_rule():
    one = _candidate("/p/one.jpg", width=20, height=10, size=500)
    two = _candidate("/p/two.jpg", width=10, height=20, size=700)
    three = _candidate("/p/three.jpg", width=5, height=5, size=900)
    trio = [one, two, three]
    first = choose_keeper(trio, parse_rules(["resolution,size"]))
    assert (first.keeper, first.rule) == (two, "size"), "resolution tied one and two"
    assert choose_keeper(trio, parse_rules(["size", "resolution"])).keeper is three
    tied = choose_keeper([one, _candidate("/p/aaa.jpg", width=20, height=10, size=500)],
                         parse_rules(["resolution,size"]))  # fmt: skip
    assert tied.keeper.path == "/p/aaa.jpg" and tied.rule is None
    assert "first by path" in tied.reason


def test_a_stretched_or_cut_copy_is_not_kept_over_the_photo_it_was_made_from():
    # Seen in a trial: `resolution` kept stretch.jpg (853x640, 4/3 as wide) over the
    # original 640x640, and every original of the set was to be trashed.
    original = _candidate("/p/originals/retina.jpg", width=640, height=640, size=90_000)
    group = [
        original,
        _candidate("/p/copies/q60.jpg", width=640, height=640, size=40_000),
        _candidate("/p/copies/half.jpg", width=320, height=320, size=20_000),
        _candidate("/p/copies/crop_5.jpg", width=608, height=608, size=80_000),
        _candidate("/p/copies/stretch.jpg", width=853, height=640, size=120_000),
        _candidate("/p/copies/aspect.jpg", width=480, height=640, size=70_000),
    ]
    default = choose_keeper(group, parse_rules(list(DEFAULT_RULES)))
    assert default.keeper is original and default.rule == "size"
    shaped = choose_keeper(group, parse_rules(["shape"]))
    assert shaped.rule is None, "four files share the usual shape: shape alone decides nothing"
    assert choose_keeper(group, parse_rules(["resolution"])).keeper.path.endswith("stretch.jpg")
    # Two files of two shapes: no usual shape, the next rule decides.
    pair = [original, group[4]]
    assert choose_keeper(pair, parse_rules(list(DEFAULT_RULES))).rule == "resolution"


def test_keep_rules_parse_with_commas_in_folders_and_name_a_bad_rule(tmp_path):
    odd = tmp_path / "a,b"
    odd.mkdir()
    rules = parse_rules([f"folder:{odd},size", "pattern:*.{jpg,png}"])
    assert [r.text for r in rules] == [f"folder:{odd}", "size", "pattern:*.{jpg,png}"]
    for bad, named in (("resolution,biggest", "biggest"), ("folder:/no/such/dir", "/no/such")):
        with pytest.raises(BadParameter, match=f"^keep=.*{named}"):
            parse_rules([bad])


# -- dry run, actions, undo ------------------------------------------------------------


def test_a_dry_run_lists_what_would_happen_and_changes_nothing(work):
    before = snapshot(work)
    outcome = commands.run(_project(work), "dedupe_plan", {"action": "trash"})
    assert snapshot(work) == before, "the folder and the project are byte for byte the same"
    files = _files(outcome)
    assert {g["keeper"].rsplit("/", 1)[1] for g in outcome["groups"]} == {"a_big.jpg", "b.jpg"}
    assert {n for n, f in files.items() if f["status"] == "would trash"} == {
        "a.jpg",
        "a_copy.jpg",
        "b_small.jpg",
    }
    rules = {g["keeper"].rsplit("/", 1)[1]: g["rule"] for g in outcome["groups"]}
    assert rules == {"a_big.jpg": "resolution", "b.jpg": "size"}
    assert files["a_big.jpg"]["similarity"] == 1.0 and files["a.jpg"]["similarity"] > 0.95


@pytest.mark.parametrize("action", ["trash", "move", "hardlink", "symlink"])
def test_an_action_and_its_undo_and_redo_restore_every_byte(work, action):
    photos = work / "photos"
    before = snapshot(photos)
    spelt = f"move:{work / 'moved'}" if action == "move" else action
    outcome = _run(work, action=spelt)
    acted = {n for n, f in _files(outcome).items() if f["status"] not in ("kept", "skipped")}
    assert acted == {"a.jpg", "a_copy.jpg", "b_small.jpg"}, _files(outcome)
    copy = photos / "edits" / "a_copy.jpg"
    trashed = Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "files"
    if action == "trash":
        assert not copy.exists() and (trashed / "a_copy.jpg").is_file()
    if action == "move":
        assert (work / "moved" / "edits" / "a_copy.jpg").is_file(), "relative paths are kept"
        assert not copy.exists()
    if action == "hardlink":
        assert os.path.samefile(copy, photos / "a_big.jpg") and (trashed / "a_copy.jpg").is_file()
    if action == "symlink":
        assert os.readlink(copy) == str(photos / "a_big.jpg")
    after = snapshot(photos)
    assert after != before
    assert commands.undo(_project(work))["notes"] == []
    assert snapshot(photos) == before
    assert commands.redo(_project(work))["notes"] == []
    assert snapshot(photos) == after
    commands.undo(_project(work))
    assert snapshot(photos) == before
    assert not pending_path(_project(work)).exists()
    if action == "move":
        assert list((work / "moved").iterdir()) == [], "the folders it made are gone"


def test_reference_files_are_kept_and_never_touched(work):
    photos = work / "photos"
    reference = snapshot(photos / "edits")
    outcome = _run(work, action="trash", reference=[str(photos / "edits")])
    group = next(g for g in outcome["groups"] if g["keeper"].endswith("a_copy.jpg"))
    assert group["rule"].startswith("reference") and "reference" in group["reason"]
    assert snapshot(photos / "edits") == reference
    assert not (photos / "a.jpg").exists() and not (photos / "a_big.jpg").exists()


def test_a_file_changed_since_import_is_never_touched_and_is_listed(work):
    photos = work / "photos"
    # Same size and modification time, other bytes: only the content hash tells.
    changed = photos / "a.jpg"
    info = changed.stat()
    data = bytearray(changed.read_bytes())
    data[-3] ^= 0xFF
    changed.write_bytes(bytes(data))
    os.utime(changed, ns=(info.st_atime_ns, info.st_mtime_ns))
    touched = photos / "b_small.jpg"
    os.utime(touched, (1_000_000, 1_000_000))
    before = snapshot(photos)
    for name in ("dedupe_plan", "dedupe"):
        outcome = _run(work, name, action="trash")
        files = _files(outcome)
        assert files["a.jpg"]["status"] == "skipped"
        assert "content is different" in files["a.jpg"]["message"]
        assert files["b_small.jpg"]["status"] == "skipped"
        assert "modified since it was imported" in files["b_small.jpg"]["message"]
        problems = {p["path"] for p in outcome["problems"]}
        assert {str(changed), str(touched)} <= problems
    assert snapshot(photos)["a.jpg"] == before["a.jpg"]
    assert snapshot(photos)["b_small.jpg"] == before["b_small.jpg"]
    assert files["a_copy.jpg"]["status"] == "trashed", "the rest of the run went on"


def test_a_changed_keeper_keeps_its_whole_group_untouched(work):
    keeper = work / "photos" / "a_big.jpg"
    keeper.write_bytes(keeper.read_bytes() + b"\0")
    files = _files(_run(work, action="symlink"))
    assert files["a.jpg"]["status"] == files["a_copy.jpg"]["status"] == "skipped"
    assert "its keeper" in files["a.jpg"]["message"]
    assert files["b_small.jpg"]["status"] == "symlinked"


def test_a_file_gone_is_named_and_the_others_are_still_done(work):
    photos = work / "photos"
    (photos / "b_small.jpg").unlink()  # gone before the run
    vanishing = photos / "edits" / "a_copy.jpg"

    def delete_when_acting_begins(event: ProgressEvent) -> None:
        if event.phase == "dedupe" and event.done == 0 and vanishing.exists():
            vanishing.unlink()  # gone between the plan and the act

    context = Context(progress=delete_when_acting_begins)
    params = {"action": "trash", "clustering_id": CLUSTERING}
    outcome = commands.run(_project(work), "dedupe", params, context)
    files = _files(outcome)
    assert files["b_small.jpg"]["status"] == "left"
    assert "gone" in files["b_small.jpg"]["message"]
    assert files["a_copy.jpg"]["status"] == "skipped" and "gone" in files["a_copy.jpg"]["message"]
    assert files["a.jpg"]["status"] == "trashed"
    assert commands.undo(_project(work))["notes"] == []
    assert (photos / "a.jpg").exists() and not vanishing.exists()


def test_a_file_that_cannot_be_trashed_is_named_and_left_whole(work, monkeypatch):
    # Root may write anything, so "no permission" is what send2trash's own check says.
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        return b"b_small" not in os.fsencode(path) and real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    before = snapshot(work / "photos")["b_small.jpg"]
    files = _files(_run(work, action="trash"))
    assert files["b_small.jpg"]["status"] == "skipped"
    assert "cannot move it to the trash (permission denied)" in files["b_small.jpg"]["message"]
    assert snapshot(work / "photos")["b_small.jpg"] == before
    assert files["a.jpg"]["status"] == files["a_copy.jpg"]["status"] == "trashed"


def test_a_hard_link_across_devices_is_refused_for_that_file(work):
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == os.stat(work).st_dev:
        pytest.skip("no second file system here")
    photos = work / "photos"
    outside = Path(os.path.realpath(other)) / f"planche-test-{os.getpid()}"
    outside.mkdir()
    try:
        # The keeper (the largest file) moves to the other device, linked back.
        shutil.move(photos / "b.jpg", outside / "b.jpg")
        (photos / "b.jpg").symlink_to(outside / "b.jpg")
        files = _files(_run(work, action="hardlink"))
        assert files["b_small.jpg"]["status"] == "skipped"
        assert "another device" in files["b_small.jpg"]["message"]
        assert files["a.jpg"]["status"] == "hard-linked"
    finally:
        shutil.rmtree(outside)


def test_the_tag_action_tags_only_the_copies_and_undo_takes_the_tags_back(work):
    from planche.core import read

    outcome = _run(work, action="tag")
    files = _files(outcome)
    assert files["b_small.jpg"]["status"] == "tagged" and files["a.jpg"]["status"] == "tagged"
    assert files["a_copy.jpg"]["status"] == "tagged", "a.jpg's image is not kept"
    tree = read.tag_tree(_project(work))
    assert [(p["property"], [t["name"] for t in p["tags"]]) for p in tree] == [
        ("Duplicates", ["copy"])
    ]
    assert tree[0]["tags"][0]["images"] == 2
    commands.undo(_project(work))
    assert read.tag_tree(_project(work)) == []


def test_an_interrupted_run_is_put_back_by_the_next_one(work):
    """Killed between two files (after the first was trashed, before the journal
    entry): the next dedupe finds the pending log and puts that file back."""
    photos = work / "photos"
    before = snapshot(photos)
    child = (
        "import os, sys\n"
        "from planche.core import commands\n"
        "from planche.core.dedupe import fileops\n"
        "done = []\n"
        "real = fileops.perform\n"
        "def perform(op):\n"
        "    if done: os._exit(9)\n"
        "    done.append(real(op))\n"
        "    return done[-1]\n"
        "fileops.perform = perform\n"
        "import planche.core.commands.dedupe as d\n"
        "d.perform = perform\n"
        "commands.run(sys.argv[1], 'dedupe', {'action': 'trash', 'clustering_id': 1})\n"
    )
    killed = subprocess.run([sys.executable, "-c", child, str(_project(work))],
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert killed.returncode == 9, killed.stderr
    assert snapshot(photos) != before and pending_path(_project(work)).exists()
    assert [e["command"] for e in commands.history(_project(work))] == ["import", "cluster"]
    listed = _run(work, "dedupe_plan")
    assert any("interrupted" in note for note in listed["notes"])
    outcome = _run(work, action="tag")
    assert any("put back" in note for note in outcome["notes"]), outcome["notes"]
    assert snapshot(photos) == before
    assert not pending_path(_project(work)).exists()


@pytest.mark.parametrize("after", ["tags", "undo"])
def test_after_a_killed_run_any_change_to_the_project_puts_the_files_back_first(work, after):
    """Killed by SIGKILL inside its transaction (its files trashed, no journal
    entry): `planche tags --add` or an undo of something else, not only the next
    dedupe, finds the pending log and puts the files back before anything else."""
    from planche.core import read

    photos = work / "photos"
    project = str(_project(work))
    before = snapshot(photos)
    assert run_main("tags", "--project", project, "--add", "Subject/cat").returncode == 0
    trash = {"action": "trash", "clustering_id": CLUSTERING}
    killed = command_child(_project(work), "dedupe", trash, kill_at="journal")
    assert killed == -signal.SIGKILL
    assert snapshot(photos) != before and pending_path(project).exists()
    if after == "tags":
        result = run_main("tags", "--project", project, "--add", "Subject/dog")
    else:
        result = run_main("undo", "--project", project)
    assert result.returncode == 0, result.stderr
    assert snapshot(photos) == before, "every trashed file is back, byte for byte"
    assert not pending_path(project).exists()
    tags = [t["name"] for p in read.tag_tree(project) for t in p["tags"]]
    if after == "tags":
        assert tags == ["cat", "dog"]
    else:
        assert tags == [], "the undo undid the tag, the last change in the journal"
        assert "interrupted dedupe was finished: 3 files put back" in result.stdout


def test_a_log_left_after_its_run_committed_is_only_removed(work, monkeypatch):
    """A run that committed (one file could not be trashed) and died before it
    removed its log: the next command removes the log and leaves the files as
    the journal says; the file that failed is not tried again behind its back."""
    from planche.core.commands.dedupe import Dedupe

    photos = work / "photos"
    before = snapshot(photos)
    real_access = os.access

    def access(path, mode, *args, **kwargs):
        return b"b_small" not in os.fsencode(path) and real_access(path, mode, *args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(os, "access", access)
        patched.setattr(Dedupe, "settle", lambda self, project, committed: None)
        files = _files(_run(work, action="trash"))
    assert files["b_small.jpg"]["status"] == "skipped" and files["a.jpg"]["status"] == "trashed"
    assert pending_path(_project(work)).exists()
    commands.run(_project(work), "tag", {"property": "Subject", "path": ["cat"]})
    assert not pending_path(_project(work)).exists()
    assert (photos / "b_small.jpg").exists() and not (photos / "a.jpg").exists()
    commands.undo(_project(work))  # the tag
    assert commands.undo(_project(work))["command"] == "dedupe"
    assert snapshot(photos) == before


# -- the command line -------------------------------------------------------------------


def test_cli_dry_run_then_trash_then_undo(work):
    # In this process (`work` points send2trash at a trash of its own): what is checked is
    # what the commands print and do to the files, not the process.
    photos = work / "photos"
    project = str(_project(work))
    before = snapshot(photos)
    dry = run_main("dedupe", "--project", project, "--clustering", str(CLUSTERING),
                   "--action", "trash", "--dry-run")  # fmt: skip
    assert dry.returncode == 0, dry.stderr
    assert "would trash" in dry.stdout and "Dry run: nothing was changed" in dry.stdout
    assert "a_big.jpg: highest resolution (192x128) [resolution]" in dry.stdout
    assert snapshot(photos) == before
    done = run_main("dedupe", "--project", project, "--action", "trash", "--keep", "size",
                    "--clustering", str(CLUSTERING), "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["counts"]["trashed"] == 3 and outcome["keep"] == ["size"]
    info = Path(os.environ["XDG_DATA_HOME"]) / "Trash" / "info" / "b_small.jpg.trashinfo"
    assert info.is_file()
    undo = run_main("undo", "--project", project)
    assert undo.returncode == 0 and "Undid dedupe" in undo.stdout
    assert snapshot(photos) == before


def test_cli_bad_input_is_one_line_without_traceback(work):
    project = str(_project(work))
    inside = str(work / "photos" / "dupes")
    for args, says in (
        (["--keep", "resolution,biggest"], "keep='biggest'"),
        (["--action", "shred"], "action='shred'"),
        (["--action", f"move:{inside}"], "outside"),
    ):
        result = run_main("dedupe", "--project", project, "--clustering", str(CLUSTERING),
                          "--action", "trash", *args)  # fmt: skip
        assert result.returncode != 0, args
        lines = [line for line in result.stderr.splitlines() if line.startswith("planche:")]
        assert len(lines) == 1 and says in lines[0], result.stderr
        assert "Traceback" not in result.stderr
    assert not (work / "photos" / "dupes").exists()


# -- what a review decides ----------------------------------------------------------------


def test_a_keeper_chosen_by_hand_is_kept_and_its_copies_acted_on(work):
    photos = work / "photos"
    outcome = _run(work, action="trash", keepers=[str(photos / "a.jpg")])
    files = _files(outcome)
    group = next(g for g in outcome["groups"] if g["keeper"].endswith("/a.jpg"))
    assert group["rule"] == "chosen" and "by hand" in group["reason"]
    assert (photos / "a.jpg").exists() and not (photos / "a_big.jpg").exists()
    assert files["a_big.jpg"]["status"] == "trashed"
    # each file's similarity to every other, for a review that changes the keeper
    sims = group["similarities"]
    assert len(sims) == len(group["files"]) and all(sims[i][i] > 0.999 for i in range(len(sims)))


def test_a_group_left_alone_in_a_review_is_not_touched(work):
    photos = work / "photos"
    before = snapshot(photos)
    outcome = _run(work, action="trash", leave=[str(photos / "b_small.jpg")])
    files = _files(outcome)
    assert files["b_small.jpg"]["status"] == "left" and (photos / "b_small.jpg").exists()
    assert files["a.jpg"]["status"] == "trashed"
    commands.undo(_project(work))
    assert snapshot(photos) == before


def test_not_duplicates_is_remembered_until_undone(work):
    plan = _run(work, "dedupe_plan")
    group_b = next(g for g in plan["groups"] if g["keeper"].endswith("/b.jpg"))
    commands.run(_project(work), "not_duplicates", {"images": group_b["images"]})
    again = _run(work, "dedupe_plan")
    assert [g["keeper"] for g in again["groups"]] == [
        g["keeper"] for g in plan["groups"] if g is not group_b
    ], "the group is not shown again"
    # found afresh (not from the stored clustering) it stays hidden too
    fresh = commands.run(_project(work), "dedupe_plan", {})
    assert not any(set(g["images"]) <= set(group_b["images"]) for g in fresh["groups"])
    commands.undo(_project(work))
    assert len(_run(work, "dedupe_plan")["groups"]) == len(plan["groups"])
    with pytest.raises(BadParameter, match="at least two"):
        commands.run(_project(work), "not_duplicates", {"images": [1]})


def test_a_mirrored_copy_is_found_only_with_invariance(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    picture = photo_like(5, (192, 128))
    (folder / "p.jpg").write_bytes(jpeg_bytes(picture))
    (folder / "p_mirrored.jpg").write_bytes(jpeg_bytes(picture.transpose(0)))  # left-right
    write_good_images(folder, 2, start_seed=40)
    project = tmp_path / "p.duckdb"
    commands.run(project, "import", {"folder": str(folder), "embedder": "pixels"})

    def grouped(**params) -> bool:
        plan = commands.run(project, "dedupe_plan", params)
        return any({Path(f["path"]).name for f in g["files"]} == {"p.jpg", "p_mirrored.jpg"}
                   for g in plan["groups"])  # fmt: skip

    assert not grouped()
    assert grouped(invariance="mirror")
    result = run_main("dedupe", "--project", str(project), "--invariance", "mirror")
    assert result.returncode == 0 and "p_mirrored.jpg" in result.stdout
    with pytest.raises(BadParameter, match="invariance"):
        commands.run(project, "dedupe_plan", {"clustering_id": 1, "invariance": "mirror"})


def test_a_mirrored_or_turned_copy_shows_its_similarity_after_the_turn(tmp_path):
    """The similarity to the keeper is the one that matched them (the raw cosine of
    a mirror image is near 0 or below), and the CLI says which turn it took."""
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    p, q = photo_like(5, (192, 128)), photo_like(6, (192, 128))
    (folder / "p.jpg").write_bytes(jpeg_bytes(p))
    mirror = p.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (folder / "p_mirrored.jpg").write_bytes(jpeg_bytes(mirror))
    (folder / "q.jpg").write_bytes(jpeg_bytes(q))
    # twice the resolution, so the keeper, and turned a quarter to the left
    big = q.resize((384, 256)).transpose(Image.Transpose.ROTATE_90)
    (folder / "q_big_turned.jpg").write_bytes(jpeg_bytes(big))
    write_good_images(folder, 2, start_seed=40)
    project = str(tmp_path / "p.duckdb")
    commands.run(project, "import", {"folder": str(folder), "embedder": "pixels"})

    listed = run_main("dedupe", "--project", project, "--invariance", "all", "--json")
    assert listed.returncode == 0, listed.stderr
    copies = {Path(f["path"]).name: f for g in json.loads(listed.stdout)["groups"]
              for f in g["files"] if f["role"] == "duplicate"}  # fmt: skip
    mirrored = copies.get("p.jpg") or copies["p_mirrored.jpg"]
    assert mirrored["similarity"] > 0.95 and mirrored["transform"] == "mirrored"
    # q.jpg is its keeper (turned left) turned back to the right
    assert copies["q.jpg"]["similarity"] > 0.95 and copies["q.jpg"]["transform"] == "turned right"
    text = run_main("dedupe", "--project", project, "--invariance", "all")
    assert text.returncode == 0, text.stderr
    lines = {line.rsplit("/", 1)[-1]: line for line in text.stdout.splitlines() if "/" in line}
    name = Path(mirrored["path"]).name
    assert f"{mirrored['similarity']:.3f} mirrored" in lines[name]
    assert f"{copies['q.jpg']['similarity']:.3f} turned right" in lines["q.jpg"]
