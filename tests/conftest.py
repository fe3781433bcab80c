"""Shared fixtures: image folders generated with fixed seeds, never downloaded."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Each xdist worker (`-n 2`) runs its BLAS and OpenMP work on one thread: two workers
# with a pool of a thread per core each took turns on two cores, their idle threads
# spinning (measured: the numeric test files took 10-20 % more CPU and wall time).
# Set before numpy is imported; planche's own thread settings (torch's, the
# threadpool limits of kmeans and the map) apply as they do anywhere.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _threads in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_threads, "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from planche.core.demo import decompression_bomb_png as bomb_png  # noqa: E402, F401


def photo_like(seed: int, size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A smooth, photo-like RGB picture unique to `seed` (noise would be too easy)."""
    rng = np.random.default_rng(seed)
    if max(size) > 256:  # smooth anyway: draw small, enlarge (much faster)
        small = photo_like(seed, (max(1, size[0] // 8), max(1, size[1] // 8)))
        return small.resize(size, Image.Resampling.BILINEAR)
    w, h = size
    y, x = np.mgrid[0:h, 0:w] / max(w, h)
    channels = [
        np.sin(x * rng.uniform(2, 9) + rng.uniform(0, 6)) * np.cos(y * rng.uniform(2, 9))
        for _ in range(3)
    ]
    pixels = ((np.stack(channels, axis=-1) + 1) * 127.5).astype(np.uint8)
    return Image.fromarray(pixels, "RGB")


def jpeg_bytes(img: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format="JPEG", quality=90, **options)
    return out.getvalue()


def write_good_images(
    folder: Path, count: int, start_seed: int = 0, size: tuple[int, int] = (96, 64)
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img_{start_seed + i:04d}.jpg"
        path.write_bytes(jpeg_bytes(photo_like(start_seed + i, size)))
        paths.append(path)
    return paths


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path / "project.duckdb"


def imported_once(tmp_path_factory: Any, name: str, count: int) -> Path:
    """A folder of `count` good images imported (pixels) into a project, made once
    for a test module: copy it for each test with `project_copy`."""
    from planche.core.embedders import load_embedder
    from planche.core.ingest import import_folder

    root = tmp_path_factory.mktemp(name)
    write_good_images(root / "photos", count)
    made = root / "project.duckdb"
    import_folder(root / "photos", made, embedder=load_embedder("pixels"))
    return made


def tag_path_rows(listing: list[dict[str, Any]]) -> list[tuple[str, tuple[str, ...], int]]:
    """(property, names from the top, images) of every tag in a `tags --json` /
    `read.tag_tree` listing."""
    rows = []
    for prop in listing:
        by_id = {t["id"]: t for t in prop["tags"]}
        for tag in prop["tags"]:
            names, current = [], tag
            while current is not None:
                names.insert(0, current["name"])
                current = by_id.get(current["parent"])
            rows.append((prop["property"], tuple(names), tag["images"]))
    return rows


def project_copy(template: Path, tmp_path: Path) -> Path:
    """A test's own copy of a module's project (the photos stay where they are)."""
    copy = tmp_path / "project.duckdb"
    shutil.copy(template, copy)
    return copy


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """Run the installed `planche` entry point as a user would, in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PLANCHE_PROJECT", None)
    return subprocess.run(
        [sys.executable, "-m", "planche.tui.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def run_main(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `planche ARGS` in this process: the same `main` the entry point calls, its
    return value as the exit code. For checks that are not about the process itself
    (exit status of a real process, tracebacks, signals, pipes): those use `run_cli`.
    Saves a process start-up and its imports (torch, open_clip: seconds)."""
    from planche.tui.cli import main

    saved = {k: os.environ.get(k) for k in [*(env or {}), "PLANCHE_PROJECT"]}
    os.environ.update(env or {})
    os.environ.pop("PLANCHE_PROJECT", None)
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exc:  # argparse: --help, usage errors
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


@pytest.fixture(autouse=True, scope="session")
def _no_network_and_an_empty_model_cache(tmp_path_factory):
    """No test reaches a model hub, and none sees weights cached on the machine."""
    saved = {k: os.environ.get(k) for k in ("HF_HUB_OFFLINE", "HF_HOME", "HOME")}
    home = tmp_path_factory.mktemp("home")
    os.environ.update({"HF_HUB_OFFLINE": "1", "HF_HOME": str(home / "hf"), "HOME": str(home)})
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    """A tiny open_clip model with random (seeded) weights, saved like a hub repository."""
    import json

    import open_clip
    import torch
    from safetensors.torch import save_file

    folder = tmp_path_factory.mktemp("tiny-clip")
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": {}})
    )
    torch.manual_seed(1234)
    model = open_clip.create_model(f"local-dir:{folder}", load_weights=False)
    save_file(model.state_dict(), str(folder / "open_clip_model.safetensors"))
    return folder


def tree_nodes(tree) -> list:  # noqa: ANN001 - a Textual Tree
    """Every node of a Textual tree, breadth first."""
    found, stack = [], [tree.root]
    while stack:
        node = stack.pop(0)
        found.append(node)
        stack.extend(node.children)
    return found


async def settle(pilot, rounds: int = 40) -> None:  # noqa: ANN001 - a Textual Pilot
    """Wait for the app's workers (loading, jobs) to finish and the screen to catch up.

    While work runs it looks every 50 ms; once none does, each look waits until the
    screen has handled its messages and the process is idle (Textual's `pause()`, 20 ms
    at least), and two such looks in a row settle it. After about `rounds` x 50 ms it
    waits for the workers."""
    app = pilot.app
    deadline = time.monotonic() + rounds * 0.05
    busy, quiet = False, 0
    while time.monotonic() < deadline:
        await pilot.pause(0.05 if busy else None)
        busy = not all(w.is_finished for w in app.workers) or (
            getattr(app, "_cancel", None) is not None
        )
        quiet = 0 if busy else quiet + 1
        if quiet == 2:
            return
    await app.workers.wait_for_complete()
    await pilot.pause()


async def type_text(pilot, text: str) -> None:  # noqa: ANN001 - a Textual Pilot
    """Type `text` into the text box that has the focus as its own key handler puts a
    typed character there (over the selection, else at the cursor); Enter is the
    caller's to press.

    For a dialog's box whose key-by-key completion is not what a test checks: each
    pressed key waits for the screen and redraws it, dimmed, behind the dialog
    (about 0.1 s a key on two busy cores)."""
    from textual.widgets import Input

    for _ in range(50):  # the dialog a key opened takes the focus
        if isinstance(pilot.app.focused, Input):
            break
        await pilot.pause()
    box = pilot.app.focused
    assert isinstance(box, Input), f"a text box has the focus, not {box!r}"
    if box.selection.is_empty:  # as Input._on_key: a selection is replaced by what is typed
        box.insert_text_at_cursor(text)
    else:
        box.replace(text, *box.selection)


def clustered_vectors(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    """Unit vectors like real embeddings: clustered, of low intrinsic dimension.

    The clusters (centres in a 16-d latent space, mapped linearly into `dim`)
    are the same for every seed; `seed` draws the members.
    """
    layout = np.random.default_rng(12345)
    centres = layout.normal(size=(clusters, 16))
    mapping = layout.normal(size=(16, dim))
    rng = np.random.default_rng(seed)
    latent = centres[rng.integers(0, clusters, n)] + 0.35 * rng.normal(size=(n, 16))
    vectors = latent @ mapping + 0.05 * rng.normal(size=(n, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def vector_project(
    project: Path, vectors: np.ndarray, embedder: str = "pixels", preprocessing: Any = None
) -> Any:
    """A project whose images are only vectors (ids 1..n) of one "synthetic" model."""
    from planche.core.store import open_store

    with open_store(project, create=True) as store:
        model = store.register_model(
            embedder=embedder, name="synthetic", pretrained=None, weights_hash=None,
            dim=vectors.shape[1], precision="fp32", preprocessing=preprocessing,
        )  # fmt: skip
        store.write_embeddings(model, list(range(1, len(vectors) + 1)), vectors)
    return model


# -- kill -9 at commit points -------------------------------------------------------

# The child runs one command; `KILL_AT` makes it die by SIGKILL at the named moment:
# "journal" just before its journal entry is written (its data already written in
# the same transaction), or under strace at the Nth fdatasync.
CHILD = """
import os, signal, sys, json
from planche.core import commands
from planche.core.store import Store
if os.environ.get("KILL_AT") == "journal":
    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    Store.append_journal = die
    Store.set_journal_status = die
name, params = sys.argv[2], json.loads(sys.argv[3])
if name in ("undo", "redo"):
    getattr(commands, name)(sys.argv[1])
else:
    commands.run(sys.argv[1], name, params)
"""


def command_child(project: Path, name: str, params: dict, prefix: list[str] | None = None,
                  kill_at: str = "") -> int:  # fmt: skip
    """Run one command in a child process that may be killed (see CHILD); its exit status."""
    return subprocess.run(
        [*(prefix or []), sys.executable, "-c", CHILD, str(project), name, json.dumps(params)],
        capture_output=True, env={**os.environ, "KILL_AT": kill_at}, timeout=120,
    ).returncode  # fmt: skip


def kill_points() -> list[tuple[str, list[str] | None]]:
    """Where a child command dies: before its journal entry, then at the 1st and 2nd
    fdatasync under strace's fault injection (when strace is installed)."""
    points: list[tuple[str, list[str] | None]] = [("journal", None)]
    strace = shutil.which("strace")
    if strace:
        for when in (1, 2):
            points.append(("", [strace, "-f", "-qq", "-o", os.devnull, "-e", "trace=fdatasync",
                                "-e", f"inject=fdatasync:signal=KILL:when={when}"]))  # fmt: skip
    return points


# -- the longest tests start first ---------------------------------------------------

# Measured on two cores (`-n 2`), longest first. Tests are handed out to the xdist
# workers a couple at a time (`--maxschedchunk 2` in pyproject.toml): with the long ones
# first, the two workers end together instead of one running a long test alone at the end.
STARTS_FIRST = (
    "test_shards.py::test_a_local_ray_run_embeds_like_planche_embed_and_a_second_run",
    "test_contract.py::test_every_undoable_command_runs_undoes_and_redoes_exactly",
    "test_hostile_names_cli.py::test_every_command_prints_hostile_names_as_text",
    "test_commands.py::test_a_session_recorded_in_the_app_replays_headless_on_a_fresh_import",
    "test_organise_app.py::test_tags_are_renamed_moved_merged_and_deleted_from_the_tree",
    "test_kill.py::test_kill_9_mid_import_then_rerun_reaches_the_exact_count",
    "test_contract.py::test_kill_9_while_saving_tagging_deleting_undoing_keeps_journal",
    "test_organise_app.py::test_set_a_property_on_the_selection_and_the_view_follows",
    "test_app.py::test_cluster_recluster_save_and_delete_from_the_keyboard",
    "test_map_view.py::test_the_lasso_stays_on_its_points_through_zoom_and_pan",
    "test_organise_app.py::test_a_view_saved_by_name_is_recalled_with_an_at_sign",
    "test_dedupe_review.py::test_cards_fit_the_terminal_and_a_gone_file_is_left_with_its",
    "test_contract.py::test_two_imports_of_one_folder_take_turns_and_count_right",
    "test_organise_app.py::test_a_tag_waits_for_a_locked_project_in_the_background",
    "test_app.py::test_tag_three_images_and_find_them_after_reopening",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the tests of STARTS_FIRST first, in its order; the others keep theirs."""

    def rank(item: pytest.Item) -> int:
        name = item.nodeid.rsplit("/", 1)[-1]
        return next(
            (i for i, p in enumerate(STARTS_FIRST) if name.startswith(p)), len(STARTS_FIRST)
        )

    items.sort(key=rank)
