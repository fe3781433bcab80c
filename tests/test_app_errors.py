"""Every worker of the app turns an unexpected error into a notification: the
app goes on, with no traceback on screen (each worker made to raise in turn)."""

from __future__ import annotations

import asyncio
import os

import pytest

from conftest import imported_once, project_copy, settle
from planche.core import read
from planche.tui.app import PlancheApp
from planche.tui.grid import ThumbnailGrid


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    return imported_once(tmp_path_factory, "errors", 4)


@pytest.fixture
def project(template, tmp_path):
    return project_copy(template, tmp_path)


def _boom(*_args, **_kwargs):
    raise RuntimeError("boom")


async def _open_folder(pilot):
    pilot.app._load_scope(lambda: _boom())


async def _touch(pilot):
    stamp = os.stat(pilot.app.project)
    os.utime(pilot.app.project, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 10**9))
    for _ in range(30):  # the watch looks about once a second
        await pilot.pause(0.05)
        if any("boom" in n.message for n in pilot.app._notifications):
            break


async def _preview(pilot):
    pilot.app.query_one(ThumbnailGrid).focus()
    await pilot.press("enter")


async def _view_words(pilot):
    await pilot.press("f")


async def _view(pilot):
    await pilot.press("f")
    await settle(pilot)
    await pilot.press("w", "enter")


# (the read function that fails, what the test does to reach it)
CASES = {
    "load": ("overview", None),
    "scope": ("all_images", _open_folder),
    "watch": ("journal_head", _touch),
    "preview": ("image_details", _preview),
    "view-words": ("filter_words", _view_words),
    "view": ("list_images", _view),
}


@pytest.mark.parametrize("worker", list(CASES))
def test_a_worker_that_raises_is_a_notification_not_a_crash(project, monkeypatch, worker):
    broken, reach = CASES[worker]
    if reach is None:
        monkeypatch.setattr(read, broken, _boom)

    async def main():
        async with PlancheApp(project).run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            if reach is not None:
                monkeypatch.setattr(read, broken, _boom)
                await reach(pilot)
            await settle(pilot)
            return [n.message for n in pilot.app._notifications], pilot.app.return_code

    messages, code = asyncio.run(main())
    assert code is None, "the app is still running"
    assert any("internal error: RuntimeError: boom" in m for m in messages), messages
