"""Text is text: names that look like Rich markup, emoji codes, hyperlinks or
terminal escapes print as they are spelt through every CLI command.

Each command runs three ways, as a user would: into a pipe (the names appear
literally, control characters escaped, no escape byte at all), as if on a
terminal (Rich's TTY_COMPATIBLE and FORCE_COLOR: colours, but never an OSC 8
hyperlink and never a markup error), and with --json (one JSON document).
The terminal runs in a process of its own, started with that environment; the
pipe and --json run in this process (`run_main`), whose consoles print as into
a pipe.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import jpeg_bytes, photo_like, run_main
from planche.tui.cli import output

WIDE = {"COLUMNS": "1000"}  # tables fold long paths at the console width
TERMINAL = {**WIDE, "TTY_COMPATIBLE": "1", "FORCE_COLOR": "1"}
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours Rich writes on a terminal
OSC8 = "\x1b]8;"  # a terminal hyperlink

# file name -> how the CLI prints it
IMPORTED = {
    "[draft] cover.jpg": "[draft] cover.jpg",
    "[link=http:x]click.png": "[link=http:x]click.png",
    ":smile: x.png": ":smile: x.png",
    "a\x1b[31mb.png": "a\\x1b[31mb.png",
    "new\nline.jpg": "new\\nline.jpg",
    "é" * 123 + ".jpg": "é" * 123 + ".jpg",  # 250 bytes, the most most file systems take
}
BROKEN = "[bold red]broken.jpg"
UNDECODABLE = b"bad\xff\xfe.jpg"  # not UTF-8: refused with a reason, shown escaped
UNDECODABLE_SHOWN = "bad\\xff\\xfe.jpg"
FOLDER_SHOWN = "mk[/]dir"


# Rich decides on colours when `planche` makes its consoles, at import, from the
# environment: the terminal's commands run in one process started with TERMINAL,
# one after another, each as `planche ARGS` would (a fresh process per command
# costs a second of imports, and this test runs about a dozen there).
DRIVER = """
import io, json, sys
from planche.tui.cli import main
real = sys.stdout
for line in sys.stdin:
    argv = json.loads(line)
    sys.stdout, sys.stderr = io.StringIO(), io.StringIO()
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    out, err = sys.stdout.getvalue(), sys.stderr.getvalue()
    sys.stdout, sys.stderr = real, sys.__stderr__
    real.write(json.dumps([code, out, err]) + "\\n")
    real.flush()
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Cli:
    """`planche` commands run in one long-lived process with the given environment."""

    def __init__(self, env: dict[str, str]) -> None:
        full_env = {**os.environ, **env}
        full_env.pop("PLANCHE_PROJECT", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", DRIVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=full_env,
        )  # fmt: skip

    def __call__(self, *args: str) -> Result:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(list(args)) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, "the CLI process died"
        return Result(*json.loads(line))

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(autouse=True, scope="module")
def _terminal():
    global TTY
    TTY = Cli(TERMINAL)
    yield
    TTY.close()


TTY: Cli


def in_pipe(*args: str) -> subprocess.CompletedProcess:
    """`planche ARGS` into a pipe: in this process, its consoles made for a pipe."""
    assert output.stdout.color_system is None and output.stderr.color_system is None, (
        "planche's consoles in this process print as on a terminal: run pytest capturing "
        "its output (not -s on a terminal) and without FORCE_COLOR or TTY_COMPATIBLE"
    )
    return run_main(*args, env=WIDE)


def _check(result, expect_rc: int = 0):
    both = result.stdout + result.stderr
    assert result.returncode == expect_rc, both
    assert "internal error" not in result.stderr and "Traceback" not in result.stderr, both
    assert "MarkupError" not in both
    assert OSC8 not in both, "no terminal hyperlink is ever emitted"
    return result


def piped(*args: str, shows: tuple[str, ...] = (), expect_rc: int = 0) -> str:
    result = _check(in_pipe(*args), expect_rc)
    assert "\x1b" not in result.stdout + result.stderr, "control characters are escaped"
    for name in shows:
        assert name in result.stdout, (name, result.stdout)
    return result.stdout


def on_terminal(*args: str, shows: tuple[str, ...] = (), expect_rc: int = 0) -> str:
    result = _check(TTY(*args), expect_rc)
    shown = SGR.sub("", result.stdout)
    for name in shows:
        assert name in shown, (name, shown)
    return shown


def as_json(*args: str) -> object:
    result = _check(in_pipe(*args, "--json"))
    assert "\x1b" not in result.stdout, "JSON escapes control characters"
    return json.loads(result.stdout)  # one document, nothing else on stdout


def three_ways(*args: str, shows: tuple[str, ...] = ()) -> object:
    piped(*args, shows=shows)
    on_terminal(*args, shows=shows)
    return as_json(*args)


@pytest.fixture
def hostile_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mk[" / "]dir"  # the path reads .../mk[/]dir
    folder.mkdir(parents=True)
    for seed, name in enumerate(IMPORTED):
        picture = photo_like(seed)
        if name.endswith(".png"):
            picture.save(folder / name, format="PNG")
        else:
            (folder / name).write_bytes(jpeg_bytes(picture))
    (folder / BROKEN).write_bytes(b"\xff\xd8 not really a jpeg")
    if sys.platform == "linux":
        with open(os.fsencode(folder) + b"/" + UNDECODABLE, "wb") as out:
            out.write(jpeg_bytes(photo_like(99)))
    return folder


def test_every_command_prints_hostile_names_as_text(tmp_path, hostile_folder):
    project = str(tmp_path / "[link=http:x]proj" / "project.duckdb")
    shown_project = "[link=http:x]proj"
    p = ("--project", project)
    names = tuple(IMPORTED.values())
    failed = (BROKEN, UNDECODABLE_SHOWN) if sys.platform == "linux" else (BROKEN,)

    # import: the folder and every file that failed, by name
    imported = as_json("import", str(hostile_folder), *p, "--embedder", "pixels")
    assert imported["new"] == len(IMPORTED)
    assert {Path(f["path"]).name for f in imported["failed"]} == set(failed)
    assert imported["embedded"] + imported["embedding"]["embedded"] == len(IMPORTED)
    for run in (piped, on_terminal):
        run("import", str(hostile_folder), *p, "--embedder", "pixels", shows=(FOLDER_SHOWN,))
    piped("embed", *p, "--embedder", "pixels")

    info = three_ways("info", *p, shows=(shown_project,))
    assert info["images"] == len(IMPORTED)
    errors = three_ways("errors", *p, shows=failed)
    assert {Path(e["path"]).name for e in errors} == set(failed)

    # search: every image but the one searched with is listed, by its name
    found = as_json("search", *p, "--image", "1", "-k", "50")
    assert len(found["results"]) == len(IMPORTED) - 1
    listed = piped("search", *p, "--image", "1", "-k", "50") + on_terminal(
        "search", *p, "--image", "2", "-k", "50"
    )
    for name in names:
        assert name in listed, name
    assert FOLDER_SHOWN in listed

    # clusterings 1, 2 and 3; each saved under a hostile property name
    as_json("cluster", *p, "--strategy", "kmeans", "--param", "k=2")
    piped("cluster", *p, "--strategy", "kmeans", "--param", "k=2")
    on_terminal("cluster", *p, "--strategy", "kmeans", "--param", "k=2")
    tree = three_ways("clusters", *p)
    assert [node["id"] for node in tree] == [1, 2, 3]
    piped("save-clustering", "1", *p, "--as", "[/x]", shows=("'[/x]'",))
    on_terminal("save-clustering", "2", *p, "--as", "[link=http:x]c", shows=("[link=http:x]c",))
    assert as_json("save-clustering", "3", *p, "--as", ":smile:")["property"] == ":smile:"

    # tags: added, refused (the message quotes the spec as typed), listed
    # "/" separates a tag from its parent: this is tag "a[" with a child "]b"
    piped("tags", *p, "--add", "Subj/a[/]b", "--add", "Subj/[dim]c", shows=("[dim]c",))
    listing = as_json("tags", *p, "--add", "[link=http:x]click/y")
    assert {"Subj", "[link=http:x]click", "[/x]", ":smile:"} <= {t["property"] for t in listing}
    result = _check(TTY("tags", *p, "--add", "[link=http://x]click/y"), 2)
    assert "'[link=http://x]click/y'" in SGR.sub("", result.stderr)
    three_ways("tags", *p, shows=("[/x]", "[link=http:x]click", ":smile:", "[dim]c", "Subj"))

    # the journal, undo and redo, and a replay on a fresh import
    entries = three_ways("history", *p, shows=('["a[", "]b"]', "[dim]c"))
    assert any(e["params"].get("name") == "[/x]" for e in entries)
    script = tmp_path / "[draft] session.jsonl"
    piped("history", *p, "--export", str(script), shows=("[draft] session.jsonl",))
    assert as_json("history", *p, "--export", str(script))["exported"] >= 6
    piped("undo", *p, shows=("Undid tag",))
    assert as_json("redo", *p)["redid"] is not None
    on_terminal("undo", *p, shows=("Undid tag",))
    piped("redo", *p, shows=("Redid tag",))

    fresh = tmp_path / "fresh.duckdb"
    piped("import", str(hostile_folder), "--project", str(fresh), "--embedder", "pixels")
    replayed = piped("replay", str(script), "--project", str(fresh), shows=("step   1  import",))
    assert re.search(r"step +\d+  cluster ", replayed)
    report = as_json("replay", str(script), "--project", str(tmp_path / "fresh2.duckdb"))
    assert {"import", "cluster", "save_clustering", "tag"} <= {s["command"] for s in report}
    replayed_tags = {t["property"] for t in as_json("tags", "--project", str(fresh))}
    assert {"Subj", "[/x]", ":smile:", "[link=http:x]click"} <= replayed_tags

    # (not on the terminal too: listing CLIP releases imports open_clip, seconds)
    piped("models", *p, shows=(shown_project,))
    models = as_json("models", *p)
    assert [m["embedder"] for m in models["project"]] == ["pixels"]

    piped("delete-clustering", "1", *p, shows=("Deleted clustering(s) 1",))
    on_terminal("delete-clustering", "2", *p)
    assert as_json("delete-clustering", "3", *p) == {"deleted": [3]}
