"""A kill -9 at any moment of an import leaves a consistent project that a re-run completes."""

from __future__ import annotations

import signal
import subprocess
import sys

from conftest import write_good_images
from planche.core.ingest import import_folder
from planche.core.store import open_store

# The child imports slowly on purpose (its progress callback sleeps), so that
# the parent can kill it between, and during, batch commits.
CHILD = """
import sys, time
from planche.core.ingest import import_folder
def slow(event):
    if event.phase == "import":
        print(event.done, flush=True)
        time.sleep(0.01)
import_folder(sys.argv[1], sys.argv[2], workers=2, batch_size=7, progress=slow)
"""


def _counts(project):
    with open_store(project, read_only=True) as store:
        counts = store.counts()
        rows = store.image_rows()
    return counts, rows


def test_kill_9_mid_import_then_rerun_reaches_the_exact_count(tmp_path, project):
    folder = tmp_path / "photos"
    paths = write_good_images(folder, 150)
    (folder / "again.jpg").write_bytes(paths[0].read_bytes())
    seen_partial = []
    for kill_after in (20, 61, 104):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(folder), str(project)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert child.stdout is not None
        for line in child.stdout:
            if int(line) >= kill_after:
                break
        child.send_signal(signal.SIGKILL)
        child.wait()
        counts, rows = _counts(project)
        seen_partial.append(counts["images"])
        # Consistent at every stop: each image has a file, each file an image.
        assert all(row["paths"] for row in rows)
        assert counts["files"] >= counts["images"]
    assert 0 < seen_partial[0] < 150, "the first kill landed mid-import"

    summary = import_folder(folder, project)

    counts, rows = _counts(project)
    assert (counts["images"], counts["files"], counts["errors"]) == (150, 151, 0)
    assert summary.new == 150 - seen_partial[-1]
    assert len({row["sha256"] for row in rows}) == 150
