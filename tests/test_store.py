"""The project file: schema, migrations, locking, embeddings, journal."""

from __future__ import annotations

import subprocess
import sys
import time

import duckdb
import numpy as np
import pytest

from planche.core import store as store_module
from planche.core.errors import ProjectInvalid, ProjectLocked, ProjectNotFound
from planche.core.store import SCHEMA_VERSION, FileRow, NewImage, open_store


def _image(n: int) -> NewImage:
    return NewImage(f"{n:064x}", 10, 20, "PNG", "RGB", None, b"thumb")


def test_a_new_project_has_the_current_schema_and_is_empty(project):
    with open_store(project, create=True) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.counts()["images"] == 0
    with open_store(project, read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_missing_project_is_not_created_by_reading(project):
    with pytest.raises(ProjectNotFound, match="planche import"):
        with open_store(project, read_only=True):
            pass
    assert not project.exists()


def test_files_that_are_not_projects_are_refused_clearly(tmp_path, monkeypatch):
    # A file shorter than DuckDB's headers may be one another process is creating: it
    # is waited for as for a lock, then refused. Half a second instead of the default 5.
    monkeypatch.setenv("PLANCHE_LOCK_WAIT", "0.5")
    text = tmp_path / "notes.duckdb"
    text.write_text("just some text\n" * 100)
    with pytest.raises(ProjectInvalid, match="notes.duckdb"), open_store(text):
        pass
    assert text.read_text().startswith("just some text"), "the file is left untouched"
    with pytest.raises(ProjectInvalid, match="folder"), open_store(tmp_path):
        pass


def test_a_project_from_a_newer_planche_is_refused(project):
    with open_store(project, create=True):
        pass
    # The newer planche is another process, which changes the file.
    newer = duckdb.connect(str(project))
    newer.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    newer.close()
    with pytest.raises(ProjectInvalid, match="newer planche"), open_store(project):
        pass


def test_migrations_bring_an_old_project_forward_even_for_a_reader(project, monkeypatch):
    with open_store(project, create=True):
        pass
    monkeypatch.setattr(
        store_module,
        "MIGRATIONS",
        [*store_module.MIGRATIONS, "ALTER TABLE images ADD COLUMN rating INTEGER"],
    )
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    # A reader (the app, `planche search`) upgrades it too, then reads.
    with open_store(project, read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION + 1
        columns = {r[0] for r in store._con.execute("DESCRIBE images").fetchall()}
    assert "rating" in columns


def test_a_second_process_gets_a_clear_refusal_naming_the_holder(project):
    with open_store(project, create=True):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); time.sleep(30)",
            str(project),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        started = time.monotonic()
        with pytest.raises(ProjectLocked, match=f"PID {holder.pid}"):
            with open_store(project, read_only=True, wait_s=0.5):
                pass
        assert time.monotonic() - started < 5
    finally:
        holder.kill()
        holder.wait()
    with open_store(project, read_only=True) as store:  # free again once it is gone
        assert store.counts()["images"] == 0


def test_a_command_waiting_for_a_held_project_stops_when_cancelled(project):
    import threading

    from planche.core import commands
    from planche.core.errors import Cancelled
    from planche.core.progress import CancelToken

    with open_store(project, create=True):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(30)", str(project)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    told = []
    cancel = CancelToken()
    context = commands.Context(progress=told.append, cancel=cancel)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        threading.Timer(0.5, cancel.cancel).start()
        with pytest.raises(Cancelled, match=f"held by PID {holder.pid}"):
            commands.run(project, "add_property", {"name": "Rating", "type": "number"}, context)
    finally:
        holder.kill()
        holder.wait()
    assert [e.phase for e in told] == ["wait"], "told once who holds it, then stopped"


def test_a_failed_write_leaves_the_project_as_it_was(project):
    with open_store(project, create=True) as store:
        store.write_import_batch([_image(1)], [FileRow("/a.png", f"{1:064x}", 1, 1.0)], [])
    with pytest.raises(Exception), open_store(project) as store:  # noqa: B017
        # The same image twice breaks the unique sha256: nothing of the batch stays.
        store.write_import_batch(
            [_image(2), _image(2)], [FileRow("/b.png", f"{2:064x}", 1, 1.0)], []
        )
    with open_store(project, read_only=True) as store:
        assert store.counts()["images"] == 1
        assert store.counts()["files"] == 1


def test_embeddings_round_trip_per_model_and_follow_image_removal(project):
    with open_store(project, create=True) as store:
        store.write_import_batch(
            [_image(1), _image(2)],
            [FileRow("/a.png", f"{1:064x}", 1, 1.0), FileRow("/b.png", f"{2:064x}", 1, 1.0)],
            [],
        )
        model = store.register_model(
            embedder="pixels", name="grid", pretrained=None, weights_hash=None, dim=4,
            precision="fp32",
        )  # fmt: skip
        again = store.register_model(
            embedder="pixels", name="grid", pretrained=None, weights_hash=None, dim=4,
            precision="fp32",
        )  # fmt: skip
        assert again.id == model.id
        ids = [row["id"] for row in store.image_rows()]
        vectors = np.eye(2, 4, dtype=np.float32)
        store.write_embeddings(model, ids, vectors)
        assert store.images_without_embedding(model.id) == []
        got_ids, got = store.read_embeddings(model)
        assert list(got_ids) == ids
        np.testing.assert_array_equal(got, vectors)
        with pytest.raises(ValueError, match="dim 4"):
            store.write_embeddings(model, ids, np.zeros((2, 3)))
        # The file of image 2 now holds the bytes of image 1: image 2 and its vector go.
        store.write_import_batch([], [FileRow("/b.png", f"{1:064x}", 2, 2.0)], [])
        assert store.counts()["images"] == 1
        assert store.embedding_count(model.id) == 1


def test_an_import_batch_keeps_vectors_another_import_stored_meanwhile(project):
    from planche.core.store import ImportVectors

    def unit(k: int) -> np.ndarray:
        return np.eye(4, dtype=np.float32)[k]

    with open_store(project, create=True) as store:
        model = store.register_model(
            embedder="pixels", name="grid", pretrained=None, weights_hash=None, dim=4,
            precision="fp32",
        )  # fmt: skip
        # The other import stored image 1 with its vector, and image 2 without one.
        store.write_import_batch(
            [_image(1)], [FileRow("/a.png", f"{1:064x}", 1, 1.0)], [],
            ImportVectors(model, [f"{1:064x}"], unit(0)[None]),
        )  # fmt: skip
        store.write_import_batch([_image(2)], [FileRow("/b.png", f"{2:064x}", 1, 1.0)], [])
        # This import read images 1, 2 and 3 at the same time.
        stored = store.write_import_batch(
            [_image(1), _image(2), _image(3)],
            [FileRow(f"/{c}.png", f"{n:064x}", 1, 1.0) for n, c in ((1, "a"), (2, "b"), (3, "c"))],
            [],
            ImportVectors(model, [f"{n:064x}" for n in (1, 2, 3)], np.stack([unit(1)] * 3)),
        )
        assert stored.images_present == {f"{1:064x}", f"{2:064x}"}
        ids, vectors = store.read_embeddings(model)
        by_sha = {row["id"]: row["sha256"] for row in store.image_rows()}
        got = {by_sha[i][-1]: v.argmax() for i, v in zip(ids, vectors, strict=True)}
    assert got == {"1": 0, "2": 1, "3": 1}, "the stored vector kept; the missing ones added"


def test_journal_keeps_commands_in_order(project):
    with open_store(project, create=True) as store:
        store.append_journal("import", {"folder": "/x"}, {"new": 3})
        store.append_journal("info", {}, None)
        entries = store.journal()
    assert [e["command"] for e in entries] == ["import", "info"]
    assert entries[0]["params"] == {"folder": "/x"} and entries[0]["outcome"] == {"new": 3}


def test_threads_of_one_process_take_turns(project):
    import threading

    with open_store(project, create=True):
        pass
    errors, done = [], []

    def reader():
        try:
            for _ in range(20):
                with open_store(project, read_only=True) as store:
                    store.counts()
            done.append("reader")
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    for n in range(20):
        with open_store(project) as store:
            store.append_journal("x", {"n": n}, None)
    thread.join()
    assert errors == [] and done == ["reader"]


def test_after_an_open_another_process_may_write_and_the_project_is_one_file(project):
    # Each open attaches the file to the process's own DuckDB database and detaches
    # it at the end: the lock must go with it, and what was written be in the file.
    with open_store(project, create=True) as store:
        store.write_import_batch([_image(1)], [FileRow("/a.png", f"{1:064x}", 1, 1.0)], [])
    assert not project.with_name(project.name + ".wal").exists()
    other = subprocess.run(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print(c.execute('SELECT count(*) FROM files').fetchall()[0][0]); "
         "c.execute(\"INSERT INTO journal (seq, ran_at, command, params) "
         "VALUES (99, now(), 'x', '{}')\")", str(project)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == "1"
    with open_store(project, read_only=True) as store:
        assert store.counts()["files"] == 1


def test_two_projects_open_at_once_each_see_their_own_tables(tmp_path):
    import threading

    first, second = tmp_path / "first.duckdb", tmp_path / "second.duckdb"
    with open_store(first, create=True) as store:
        store.write_import_batch([_image(1)], [FileRow("/a.png", f"{1:064x}", 1, 1.0)], [])
    inside, leave = threading.Event(), threading.Event()

    def hold_first() -> None:
        with open_store(first, read_only=True):
            inside.set()
            leave.wait(10)

    thread = threading.Thread(target=hold_first)
    thread.start()
    try:
        assert inside.wait(10)
        # Its schema check and completeness check must not see the other file's tables.
        with open_store(second, create=True) as store:
            assert store.counts()["images"] == 0
    finally:
        leave.set()
        thread.join()
    with open_store(second, read_only=True) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_a_transaction_left_open_by_an_error_is_rolled_back(project):
    with open_store(project, create=True):
        pass
    with pytest.raises(RuntimeError), open_store(project) as store:
        store.con.execute("BEGIN TRANSACTION")
        store.append_journal("x", {"n": 1}, None)
        raise RuntimeError("stopped halfway")
    with open_store(project) as store:
        assert store.counts()["images"] == 0
        assert store.journal() == []


def test_an_open_nested_in_an_open_of_the_same_project_shares_it(project):
    with open_store(project, create=True) as outer:
        with open_store(project) as inner:  # a helper that opens the project itself
            inner.append_journal("x", {"n": 1}, None)
        with open_store(project, read_only=True) as reader:
            assert len(reader.journal()) == 1
        outer.append_journal("x", {"n": 2}, None)
    other = subprocess.run(  # the outermost close released the file
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
         "print(c.execute('SELECT count(*) FROM journal').fetchall()[0][0])", str(project)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert other.returncode == 0 and other.stdout.strip() == "2", other.stderr
