"""The `planche` command as a user runs it: help, import, info, errors, demo, failures."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import bomb_png, jpeg_bytes, photo_like, run_cli, run_main, write_good_images


def test_help_lists_the_commands_and_each_has_its_own_help():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("import", "info", "errors", "demo"):
        assert command in result.stdout
        sub = run_main(command, "--help")  # the parser in-process; --help above ran it for real
        assert sub.returncode == 0
        assert "--project" in sub.stdout and "--json" in sub.stdout


def test_import_then_info_as_json(tmp_path, project):
    folder = tmp_path / "photos"
    write_good_images(folder, 4)
    (folder / "notes.jpg").write_text("not a picture")
    (folder / "bomb.png").write_bytes(bomb_png())

    result = run_cli(
        "import", str(folder), "--project", str(project), "--embedder", "pixels", "--json"
    )

    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert summary["new"] == 4
    assert sorted(f["path"].rsplit("/", 1)[1] for f in summary["failed"]) == [
        "bomb.png",
        "notes.jpg",
    ]
    assert "import:" in result.stderr, "progress goes to stderr"

    info = run_main("info", "--project", str(project), "--json")  # the import ran for real
    assert info.returncode == 0
    data = json.loads(info.stdout)
    assert (data["images"], data["files"], data["errors"]) == (4, 4, 2)
    assert [(m["embedder"], m["vectors"]) for m in data["models"]] == [("pixels", 4)]


def test_import_summary_lists_each_bad_file_with_its_reason(tmp_path, project):
    folder = tmp_path / "photos"
    write_good_images(folder, 2)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "evil\x1b[31m.jpg").write_text("escape sequences in a name")

    result = run_cli("import", str(folder), "--project", str(project), "--embedder", "none")

    assert result.returncode == 0
    assert "2 new images" in result.stdout
    assert "empty.jpg" in result.stdout and "empty file" in result.stdout
    assert "\x1b[31m" not in result.stdout, "control characters never reach the terminal"
    assert "evil\\x1b[31m.jpg" in result.stdout
    errors = run_main("errors", "--project", str(project))  # the import above ran for real
    assert "empty.jpg" in errors.stdout and "not an image" in errors.stdout


def test_user_errors_are_one_line_without_traceback(tmp_path, project):
    missing = run_cli("info", "--project", str(project))
    assert missing.returncode == 2
    assert "no project at" in missing.stderr and "Traceback" not in missing.stderr

    not_a_folder = run_cli(
        "import", str(tmp_path / "nope"), "--project", str(project), "--embedder", "none"
    )
    assert not_a_folder.returncode == 2
    assert "FOLDER" in not_a_folder.stderr and "Traceback" not in not_a_folder.stderr

    text = tmp_path / "text.duckdb"
    text.write_text("hello")  # shorter than DuckDB's headers: waited for as for a lock first
    invalid = run_cli("info", "--project", str(text), env={"PLANCHE_LOCK_WAIT": "0.5"})
    assert invalid.returncode == 2
    assert "not a usable planche project" in invalid.stderr
    assert "Traceback" not in invalid.stderr


def test_a_new_project_behind_a_file_is_refused_in_one_line(tmp_path):
    # The project is created while the folder is read (core/ingest.py): its
    # failure must still end the import with one line, and nothing stored.
    write_good_images(tmp_path / "photos", 3)
    (tmp_path / "notes").write_text("a file, not a folder")
    project = tmp_path / "notes" / "p.duckdb"
    result = run_main("import", str(tmp_path / "photos"), "--project", str(project),
                      "--embedder", "pixels")  # fmt: skip
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert str(project) in last and "a file is in the way" in last
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr


def test_a_locked_project_names_the_holding_process(tmp_path, project):
    write_good_images(tmp_path / "photos", 1)
    imported = run_main(
        "import", str(tmp_path / "photos"), "--project", str(project), "--embedder", "none"
    )
    assert imported.returncode == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(30)", str(project)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        result = run_cli("info", "--project", str(project), env={"PLANCHE_LOCK_WAIT": "0.5"})
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 3
    assert f"PID {holder.pid}" in result.stderr and "Traceback" not in result.stderr


def test_demo_builds_imports_and_summarises(tmp_path):
    # In-process: what is checked is what the demo builds and reports, not the process
    # (the other tests here run `planche` for real); a process would cost seconds of imports.
    project = tmp_path / "demo" / "demo.duckdb"
    result = run_main("demo", "--project", str(project), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)  # stdout holds the JSON and nothing else
    assert report["project"]["images"] >= 60
    assert report["import"]["duplicates"] >= 1
    assert len(report["import"]["failed"]) >= 3
    again = run_main("demo", "--project", str(project), "--json")  # a rerun
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["import"]["new"] == 0


def _big_distinct_jpegs(folder, count: int, pictures: int = 20) -> None:
    """`count` 1600x1200 JPEGs, each its own image (bytes): `pictures` pictures encoded
    once, each file with a comment segment of its own after the start-of-image marker."""
    folder.mkdir(parents=True)
    encoded = [jpeg_bytes(photo_like(seed, (1600, 1200))) for seed in range(pictures)]
    for i in range(count):
        data = encoded[i % pictures]
        comment = f"copy {i}".encode()
        segment = b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment
        (folder / f"img_{i:04d}.jpg").write_bytes(data[:2] + segment + data[2:])


def test_ctrl_c_stops_an_import_cleanly_and_a_rerun_completes(tmp_path, project):
    import os
    import signal
    import time

    folder = tmp_path / "photos"
    _big_distinct_jpegs(folder, 200)  # slow enough to be stopped midway
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    child = subprocess.Popen(
        [sys.executable, "-m", "planche.tui.cli", "import", str(folder), "--project",
         str(project), "--embedder", "pixels", "--workers", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert child.stderr is not None
    first = child.stderr.readline() + child.stderr.readline()  # scanning, then "0/N files"
    assert "0/200" in first
    time.sleep(0.3)  # a few batches in: reading all 200 takes seconds
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "stopped early" in out
    assert "internal error" not in err and "Traceback" not in err
    # The rerun in-process: what is checked is the project it completes, not the process.
    rerun = run_main("import", str(folder), "--project", str(project), "--embedder", "pixels",
                     "--json")  # fmt: skip
    assert rerun.returncode == 0, rerun.stderr
    info = json.loads(run_main("info", "--project", str(project), "--json").stdout)
    assert (info["images"], info["files"], info["models"][0]["vectors"]) == (200, 200, 200)


def test_json_errors_and_closed_pipes(tmp_path, project):
    failed = run_cli("info", "--project", str(project), "--json")
    assert failed.returncode == 2
    assert json.loads(failed.stdout) == {"error": failed.stderr.strip()[len("planche: "):],
                                         "exit_code": 2}  # fmt: skip
    write_good_images(tmp_path / "photos", 3)
    run_main("import", str(tmp_path / "photos"), "--project", str(project), "--embedder", "none")
    piped = subprocess.run(
        f"{sys.executable} -m planche.tui.cli info --project '{project}' --json | head -1",
        shell=True, capture_output=True, text=True,
    )  # fmt: skip
    assert piped.stdout == "{\n" and "Error" not in piped.stderr


def test_pixels_refuses_options_it_cannot_honour(tmp_path, project):
    write_good_images(tmp_path / "photos", 1)
    for option in (["--device", "cuda"], ["--precision", "fp16"], ["--batch-size", "0"],
                   ["--model", "ViT-B-32"]):  # fmt: skip
        run = run_cli if option[0] == "--device" else run_main  # one real process is enough
        result = run("import", str(tmp_path / "photos"), "--project", str(project),
                         "--embedder", "pixels", *option)  # fmt: skip
        assert result.returncode == 2, option
        assert option[0].lstrip("-").replace("-", "_") in result.stderr
    assert not project.exists()


def test_files_gone_from_disk_are_counted_and_pruned_on_request(tmp_path, project):
    folder = tmp_path / "photos"
    paths = write_good_images(folder, 5)
    run_main("import", str(folder), "--project", str(project), "--embedder", "none")
    paths[0].unlink()
    kept = json.loads(run_main("import", str(folder), "--project", str(project), "--embedder",
                              "none", "--json").stdout)  # fmt: skip
    assert (kept["missing"], kept["pruned"]) == (1, 0)
    assert json.loads(run_main("info", "--project", str(project), "--json").stdout)["images"] == 5
    pruned = json.loads(run_main("import", str(folder), "--project", str(project), "--embedder",
                                "none", "--prune", "--json").stdout)  # fmt: skip
    assert pruned["pruned"] == 1
    info = json.loads(run_main("info", "--project", str(project), "--json").stdout)
    assert (info["images"], info["files"]) == (4, 4)
