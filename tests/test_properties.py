"""Typed properties, the filter language, sort and group, CSV out and back in.

One small folder is imported once (pixels); each test works on its own copy of
the project. Expected answers are worked out from the files themselves, not
from planche."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import photo_like, run_main, tag_path_rows
from planche.core import commands, read
from planche.core.errors import BadParameter

# (relative path, size in pixels, format)
FILES = [
    ("holidays/beach.jpg", (320, 200), "JPEG"),
    ("holidays/sea.png", (64, 64), "PNG"),
    ("holidays/2023/hill.jpg", (200, 300), "JPEG"),
    ("work/desk.jpg", (160, 120), "JPEG"),
    ("work/deep/board.webp", (120, 80), "WEBP"),
    ("work/Holidays copy/beach again.jpg", None, "JPEG"),  # a byte copy of the beach
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("props")
    folder = root / "photos"
    for seed, (rel, size, fmt) in enumerate(FILES):
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if size is None:
            shutil.copy(folder / FILES[0][0], path)
        else:
            photo_like(seed, size).save(path, format=fmt)
    project = root / "project.duckdb"
    done = run_main("import", str(folder), "--project", str(project), "--embedder", "pixels")
    assert done.returncode == 0, done.stderr
    return project


@pytest.fixture
def project(imported, tmp_path) -> Path:
    copy = tmp_path / "project.duckdb"
    shutil.copy(imported, copy)
    return copy


def _ids(project: Path, where: str = "", sort: str = "") -> list[int]:
    return read.list_images(project, where, sort).ids.tolist()


def _id_of(project: Path) -> dict[str, int]:
    """Image id by file name (the copy shares the beach's id)."""
    rows = read.list_images(project, columns=["path"])
    found = {}
    for image_id, path in zip(rows.ids.tolist(), rows.columns["path"], strict=True):
        found[os.path.basename(path)] = image_id
    for name in ("beach again.jpg",):
        found[name] = found["beach.jpg"]
    return found


def _names(project: Path, ids: list[int]) -> list[str]:
    by_id = {v: k for k, v in _id_of(project).items() if k != "beach again.jpg"}
    return [by_id[i] for i in ids]


def _cli(project: Path, *args: str) -> str:
    done = run_main(*args, "--project", str(project))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_typed_values_filter_sort_and_group_as_a_person_sets_them(project):
    ids = _id_of(project)
    _cli(project, "properties", "--add", "Rating:number", "--add", "Shot:date",
         "--add", "Keep:checkbox", "--add", "Note:text")  # fmt: skip
    _cli(project, "set", "Rating", "4", "--where", "folder:holidays")
    _cli(project, "set", "Rating", "2", "--images", str(ids["desk.jpg"]))
    _cli(project, "set", "Shot", "2024-03-05", "--where", "name:*.jpg")
    _cli(project, "set", "Shot", "2024-04-30 18:00", "--where", "format:webp")
    _cli(project, "set", "Keep", "yes", "--where", "width>=200")
    _cli(project, "set", "Note", "Golden light", "--where", "beach")

    # folder:holidays is the folder of that name anywhere, and what is below it
    assert set(_names(project, _ids(project, "Rating=4"))) == {"beach.jpg", "sea.png", "hill.jpg"}
    assert _names(project, _ids(project, "Rating>=2 -folder:2023", "-Rating,name")) == [
        "beach.jpg", "sea.png", "desk.jpg"]  # fmt: skip
    # a month holds its last evening; > a month is after it
    assert _names(project, _ids(project, "Shot:2024-04")) == ["board.webp"]
    assert _names(project, _ids(project, "Shot>2024-03", "name")) == ["board.webp"]
    assert set(_names(project, _ids(project, "Shot<=2024-03"))) == {
        "beach.jpg", "hill.jpg", "desk.jpg"}  # fmt: skip
    assert _names(project, _ids(project, "Keep:true", "-width")) == ["beach.jpg", "hill.jpg"]
    assert _names(project, _ids(project, "note:golden")) == ["beach.jpg"]  # any case
    assert _names(project, _ids(project, "-has:Rating")) == ["board.webp"]
    assert _names(project, _ids(project, "width>300 or format:png", "name")) == [
        "beach.jpg", "sea.png"]  # fmt: skip
    assert _names(project, _ids(project, "size>0.1KB height<100", "size")) == sorted(
        ["sea.png", "board.webp"], key=lambda n: _file_size(project, n))  # fmt: skip

    grouped = read.list_images(project, "", "name", "Rating")
    assert [(label, _names(project, members.tolist())) for label, members in grouped.groups] == [
        ("2.0", ["desk.jpg"]), ("4.0", ["beach.jpg", "hill.jpg", "sea.png"]),
        ("(none)", ["board.webp"])]  # fmt: skip
    listing = json.loads(_cli(project, "images", "--where", "Rating>3", "--sort=-width",
                              "--show", "Rating,Shot", "--json"))  # fmt: skip
    assert [os.path.basename(r["path"]) for r in listing["rows"]] == [
        "beach.jpg", "hill.jpg", "sea.png"]  # fmt: skip
    assert listing["rows"][0]["Rating"] == 4 and listing["rows"][0]["Shot"].startswith("2024-03-05")


def _file_size(project: Path, name: str) -> int:
    rows = read.list_images(project, columns=["path", "size"])
    return next(s for p, s in zip(rows.columns["path"], rows.columns["size"], strict=True)
                if os.path.basename(p) == name)  # fmt: skip


def test_tags_filter_with_their_children_and_group_an_image_under_each(project):
    ids = _id_of(project)
    commands.run(project, "tag", {"property": "Subject", "path": ["nature", "sea"],
                                  "images": [ids["beach.jpg"], ids["sea.png"]]})  # fmt: skip
    commands.run(project, "tag", {"property": "Subject", "path": ["nature", "hill"],
                                  "images": [ids["hill.jpg"], ids["beach.jpg"]]})  # fmt: skip
    commands.run(project, "tag", {"property": "Subject", "path": ["office"],
                                  "images": [ids["desk.jpg"]]})  # fmt: skip
    assert set(_ids(project, "tag:Subject/nature")) == {ids["beach.jpg"], ids["sea.png"],
                                                         ids["hill.jpg"]}  # fmt: skip
    assert set(_ids(project, "Subject:nature/hill")) == {ids["hill.jpg"], ids["beach.jpg"]}
    assert set(_ids(project, "-tag:Subject")) == {ids["board.webp"]}
    grouped = read.list_images(project, "tag:Subject/nature", "name", "Subject")
    sections = {label: set(m.tolist()) for label, m in grouped.groups}
    assert sections == {"nature/hill": {ids["beach.jpg"], ids["hill.jpg"]},
                        "nature/sea": {ids["beach.jpg"], ids["sea.png"]}}  # fmt: skip
    assert sorted(grouped.ids.tolist()) == sorted(
        {ids["beach.jpg"], ids["sea.png"], ids["hill.jpg"]})  # fmt: skip


def test_clusters_and_tags_list_their_members_with_paths_in_json(project):
    made = json.loads(_cli(project, "cluster", "--param", "k=2", "--param", "seed=1",
                           "--no-labels", "--json"))  # fmt: skip
    assert sum(len(c["members"]) for c in made["clusters"]) == made["images"]
    clusters = json.loads(_cli(project, "clusters", "--json"))
    listed = clusters[0]["clusters"][0]
    assert listed["members"] == made["clusters"][0]["members"], "the run and the list agree"
    cluster_id = listed["id"]
    members = json.loads(_cli(project, "clusters", str(cluster_id), "--members", "--json"))
    assert members["members"] == listed["members"]
    member_ids = {m["image_id"] for m in members["members"]}
    assert set(_ids(project, f"cluster:{cluster_id}")) == member_ids
    assert all(m["paths"] and Path(m["paths"][0]).is_file() for m in members["members"])

    ids = _id_of(project)
    commands.run(project, "tag", {"property": "Subject", "path": ["nature", "sea"],
                                  "images": [ids["sea.png"], ids["beach.jpg"]]})  # fmt: skip
    tags = json.loads(_cli(project, "tags", "--json"))
    by_name = {t["name"]: t for p in tags for t in p["tags"]}
    assert [os.path.basename(m["paths"][0]) for m in by_name["sea"]["members"]] == sorted(
        ["sea.png", "beach.jpg"], key=lambda n: ids[n]), "by image id"  # fmt: skip
    assert by_name["nature"]["members"] == [], "only the images tagged with the tag itself"


@pytest.mark.parametrize(
    ("where", "names"),
    [
        ("widht>3", ["'widht>3' (column 1)", "did you mean width"]),
        ("width>3 Rating>=abc", ["'Rating>=abc' (column 9)", "expected a number"]),
        ('"unclosed', ['closing " is missing']),
        ("tag:Subject/nope", ["tag:Subject/nope", "tag property"]),
        ("date>=2024-13", ["'date>=2024-13'", "expected a date"]),
        ("a or", ["after `or`"]),
        ("width>3 >=3", ["'>=3' (column 9)", "a property before the operator"]),
    ],
)
def test_a_filter_that_does_not_parse_names_the_term(project, where, names):
    commands.run(project, "add_property", {"name": "Rating", "type": "number"})
    done = run_main("images", "--where", where, "--project", str(project))
    assert done.returncode != 0
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    for part in names:
        assert part in message, message


def test_values_of_the_wrong_type_and_bad_names_are_refused_and_nothing_changes(project):
    commands.run(project, "add_property", {"name": "Rating", "type": "number"})
    before = read.properties(project)
    for params, named in [
        ({"property": "Rating", "value": "lots", "images": [1]}, "value='lots'"),
        ({"property": "Nope", "value": "1", "images": [1]}, "no such property"),
        ({"property": "Rating", "value": "1", "images": [999]}, "images=999"),
    ]:
        with pytest.raises(BadParameter, match=named):
            commands.run(project, "set_property", params)
    for name, named in [("width", "built-in"), ("a/b", "without"), ("rating", "new name")]:
        with pytest.raises(BadParameter, match=named):
            commands.run(project, "add_property", {"name": name, "type": "text"})
    with pytest.raises(BadParameter, match="holds number values"):
        commands.run(project, "tag", {"property": "Rating", "path": ["x"], "images": [1]})
    assert read.properties(project) == before


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _described(project: Path) -> dict:
    """Every image's typed values and tags, by path: what a round trip must keep."""
    table = project.parent / "described.csv"
    read.export_table(project, table)
    return {r["path"]: {k: v for k, v in r.items() if ":" in k} for r in _rows(table)}


def test_export_edit_and_import_round_trip_onto_a_fresh_import(project, imported, tmp_path):
    ids = _id_of(project)
    commands.run(project, "add_property", {"name": "Rating", "type": "number"})
    commands.run(project, "add_property", {"name": "Shot", "type": "date"})
    rated = [ids["beach.jpg"], ids["desk.jpg"]]
    commands.run(project, "set_property", {"property": "Rating", "value": "3", "images": rated})
    commands.run(project, "set_property", {"property": "Shot", "value": "2024-03-05 14:30",
                                           "images": [ids["hill.jpg"]]})  # fmt: skip
    commands.run(project, "tag", {"property": "Subject", "path": ["nature", "sea"],
                                  "images": [ids["beach.jpg"]]})  # fmt: skip
    out = tmp_path / "out.csv"
    report = json.loads(_cli(project, "export", str(out), "--json"))
    rows = _rows(out)
    assert report["rows"] == len(rows) == len(FILES)  # one row per file, copies included
    beach = next(r for r in rows if r["path"].endswith("holidays/beach.jpg"))
    shown = (beach["Rating:number"], beach["Subject:tag"], beach["width"])
    assert shown == ("3.0", "nature/sea", "320")

    # edited as a spreadsheet would be: a new text column, a changed rating, a new tag
    for row in rows:
        row["Note:text"] = "seen" if "work/d" in row["path"] else ""
        if row["path"].endswith("desk.jpg"):
            row["Rating:number"] = "5"
            row["Subject:tag"] = "office; nature/indoor plant"
    edited = tmp_path / "edited.csv"
    with edited.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    expected = {r["path"]: {k: v for k, v in r.items() if ":" in k} for r in rows}
    desk = next(p for p in expected if p.endswith("desk.jpg"))  # as the export spells them
    expected[desk].update({"Rating:number": "5.0", "Subject:tag": "nature/indoor plant; office"})

    fresh = tmp_path / "fresh.duckdb"
    shutil.copy(imported, fresh)  # a fresh import of the same folder
    untouched = fresh.read_bytes()
    dry = json.loads(_cli(fresh, "import-csv", str(edited), "--dry-run", "--json"))
    assert fresh.read_bytes() == untouched, "a dry run writes nothing"
    assert dry["matched"] == len(FILES) and not dry["applied"]
    assert {c["property"]: c["new"] for c in dry["columns"]} == {
        "Rating": True, "Shot": True, "Subject": True, "Note": True}  # fmt: skip
    _cli(fresh, "import-csv", str(edited))
    assert _described(fresh) == expected
    assert set(_ids(fresh, "Subject:nature")) == {ids["beach.jpg"], ids["desk.jpg"]}
    assert _ids(fresh, "Rating>4") == [ids["desk.jpg"]]
    # undo takes the whole import back; redo puts it back
    _cli(fresh, "undo")
    assert read.properties(fresh)["properties"] == []
    _cli(fresh, "redo")
    assert _described(fresh) == expected
    # importing onto the edited project again changes nothing
    _cli(fresh, "import-csv", str(edited))
    assert _described(fresh) == expected
    lines = tmp_path / "out.jsonl"
    _cli(project, "export", str(lines), "--where", "Rating>=3")
    records = [json.loads(line) for line in lines.read_text().splitlines()]
    assert {os.path.basename(r["path"]) for r in records} == {"beach.jpg", "beach again.jpg",
                                                               "desk.jpg"}  # fmt: skip


def _done(project: Path) -> list[dict]:
    """The journal's changes (a refused command is journaled too, as an error)."""
    return [entry for entry in read.journal(project) if entry["status"] != "error"]


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_a_bad_table_is_refused_whole_naming_line_and_column(project, tmp_path):
    commands.run(project, "add_property", {"name": "Rating", "type": "number"})
    paths = [r for r in read.list_images(project, columns=["path"]).columns["path"]]
    beach = next(p for p in paths if p.endswith("holidays/beach.jpg"))
    copy = str(Path(beach).parents[1] / "work" / "Holidays copy" / "beach again.jpg")
    desk = next(p for p in paths if p.endswith("desk.jpg"))
    cases = [
        (f"path,Rating\n{desk},3\n{beach},three\n", ["line 3", "'Rating'", "'three'", "number"]),
        (f"path,Rating\n{desk},3\n{beach},4\n{desk},5\n", ["lines 2, 4", "more than once"]),
        (f"path,Rating\n{beach},3\n{copy},4\n", ["lines 2 and 3", "copies of one image"]),
        (f"name,Rating\n{desk},3\n", ["no 'path' column"]),
        (f"path,Rating:text\n{desk},3\n", ["Rating is a number property"]),
        (f"path,Seen:date\n{desk},yesterday\n", ["line 2", "'Seen:date'", "a date"]),
        (f"path,a/b\n{desk},3\n", ["column 2", "not a property name"]),
        (f"path,Note\n{desk},caf\xe9\n".encode("latin-1"), ["not UTF-8"]),
    ]
    before = (_described(project), _done(project))
    for n, (text, named) in enumerate(cases):
        table = _write(tmp_path / f"bad{n}.csv", text)
        done = run_main("import-csv", str(table), "--project", str(project))
        message = done.stderr.strip().splitlines()[-1]
        assert done.returncode != 0 and "nothing was written" in message, done.stderr
        assert message.startswith(f"planche: bad{n}.csv"), message
        for part in named:
            assert part in message, (n, message)
    assert (_described(project), _done(project)) == before, "a refused table writes nothing"

    # rows that match nothing are listed by line, the rest applied
    table = _write(tmp_path / "partial.csv", f"path,Rating\n/gone.jpg,1\n{desk},2\n/x.jpg,3\n")
    report = json.loads(_cli(project, "import-csv", str(table), "--json"))
    assert (report["matched"], report["unmatched_lines"]) == (1, [2, 4])
    assert len(_ids(project, "Rating=2")) == 1


def test_suggestions_rank_untagged_images_by_likeness_and_forget_refused_ones(project):
    import numpy as np

    from planche.core.store import open_store

    ids = _id_of(project)
    members = [ids["beach.jpg"], ids["sea.png"]]
    commands.run(project, "tag", {"property": "Subject", "path": ["sea"], "images": members})
    tag_id = int(read.tag_id_for(project, "Subject/sea"))
    found = commands.run(project, "suggest_tag", {"tag_id": tag_id, "k": 10})
    with open_store(project, read_only=True) as store:
        model = store.models()[0]
        all_ids, vectors = store.read_embeddings(model)
    by_id = dict(zip(all_ids.tolist(), vectors, strict=True))
    centre = np.mean([by_id[i] for i in members], axis=0)
    centre /= np.linalg.norm(centre)
    expected = sorted((i for i in by_id if i not in members),
                      key=lambda i: -float(by_id[i] @ centre))  # fmt: skip
    assert [s["image_id"] for s in found["suggestions"]] == expected
    assert found["from_images"] == 2 and found["from_name"] is None  # pixels: no text tower

    refused = expected[:2]
    _cli(project, "suggest", "Subject/sea", "--refuse", ",".join(map(str, refused)))
    again = json.loads(_cli(project, "suggest", "Subject/sea", "--json"))
    assert [s["image_id"] for s in again["suggestions"]] == expected[2:]
    _cli(project, "suggest", "Subject/sea", "--accept", str(expected[2]))
    assert set(_ids(project, "tag:Subject/sea")) == {*members, expected[2]}
    _cli(project, "undo")  # the accept
    _cli(project, "undo")  # the refusal
    back = commands.run(project, "suggest_tag", {"tag_id": tag_id, "k": 10})
    assert [s["image_id"] for s in back["suggestions"]] == expected

    commands.run(project, "tag", {"property": "Subject", "path": ["empty"], "images": []})
    done = run_main("suggest", "Subject/empty", "--project", str(project))
    assert done.returncode != 0 and "tag a few images first" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def _tree(project: Path) -> dict[str, int]:
    """Each tag path (property first) with its images, from `planche tags --json`."""
    rows = tag_path_rows(json.loads(_cli(project, "tags", "--json")))
    return {"/".join([prop, *names]): images for prop, names, images in rows}


def test_tags_and_properties_rename_move_merge_and_delete_each_undone(project):
    ids = _id_of(project)
    commands.run(project, "tag", {"property": "Subject", "path": ["animal", "cat"],
                                  "images": [ids["beach.jpg"]]})  # fmt: skip
    commands.run(project, "tag", {"property": "Subject", "path": ["pets", "kitten"],
                                  "images": [ids["sea.png"], ids["beach.jpg"]]})  # fmt: skip
    start = _tree(project)
    steps = [
        (["--rename", "Subject/animal=Animals"], "Subject/Animals/cat", 1),
        (["--move", "Subject/pets/kitten", "Subject/animal"], "Subject/animal/kitten", 2),
        (["--merge", "Subject/pets/kitten", "Subject/animal/cat"], "Subject/animal/cat", 2),
        (["--rename", "Subject=Topic"], "Topic/animal/cat", 1),
        (["--delete", "Subject/animal"], None, None),
    ]
    for args, path, images in steps:
        _cli(project, "tags", *args)
        after = _tree(project)
        if path is not None:
            assert after.get(path) == images, (args, after)
        else:
            assert not any(p.startswith("Subject/animal") for p in after), after
        _cli(project, "undo")
        assert _tree(project) == start, f"undo of {args} puts the tags back"

    for args, named in [
        (["--move", "Subject/animal", "Subject/animal/cat"], "not the moved tag or below it"),
        (["--rename", "Subject/pets=animal"], "merge them"),
        (["--merge", "Subject/animal", "Subject/animal/cat"], "not below this one"),
        (["--delete", "Subject/nope"], "a tag of this project"),
    ]:
        done = run_main("tags", *args, "--project", str(project))
        assert done.returncode != 0 and named in done.stderr, (args, done.stderr)
    assert _tree(project) == start


def test_markup_like_names_and_control_characters_print_as_text(project):
    ids = _id_of(project)
    _cli(project, "properties", "--add", "[b]note:text")
    _cli(project, "set", "[b]note", "x\x1b[31mred [link=http://x]y", "--images",
         str(ids["desk.jpg"]))  # fmt: skip
    runs = [
        ["properties"],
        ["images", "--where", '"[b]note":red', "--show", "[b]note"],
        ["tags", "--add", "[i]Sub/[u]c"],
        ["suggest", "[i]Sub/[u]c", "--no-name"],
    ]
    for args in runs:
        done = run_main(*args, "--project", str(project))
        both = done.stdout + done.stderr
        assert "\x1b" not in both, (args, both)
    shown = _cli(project, "images", "--where", '"[b]note":red', "--show", "[b]note")
    assert "[b]note=x\\x1b[31mred [link=http://x]y" in shown
    assert "[i]Sub" in _cli(project, "tags")
