"""File operations of `dedupe`: trash, move, hard and symbolic links; each one
checked first, done whole or not at all, and reversible.

An operation ("op") is a JSON-ready dict: the action, the file's path with its
size, modification time and content hash as imported, and, as the action
needs, the keeper (for links, with its own record) or the move target.

- trash: send2trash's freedesktop implementation (`send2trash.plat_other`,
  chosen over gio so that planche knows where the file went): the file is
  renamed into `$XDG_DATA_HOME/Trash` (default ~/.local/share/Trash) when it
  is on the home's device, else into the volume's `.Trash/$uid` or
  `.Trash-$uid`; a `.trashinfo` beside it records the original path and the
  deletion time. send2trash reads XDG_DATA_HOME once, when it is imported.
  Undo finds the file again by its .trashinfo (the original path, the newest
  deletion date first) and by its content hash, renames it back (or copies,
  checks and deletes across devices) and removes the .trashinfo. The place
  found right after trashing is kept as a hint, checked before any search.
- move: rename to the target, never over an existing file; across devices a
  copy to a hidden partial file beside the target, flushed and checked
  against the content hash, renamed into place, and only then the original
  deleted (if that fails, the copy goes and the original stays).
- hardlink / symlink: a link to the keeper is made under a hidden temporary
  name in the duplicate's folder, the duplicate goes to the trash (so undo
  can bring its own bytes back, and the space is freed when the trash is
  emptied), and the link is renamed into its place. A hard link between
  devices is refused for that file.

Each step that can fail comes before the one that cannot be taken back, and a
failure undoes the steps of that op before it is reported (`OpError`), so no
file is ever half-moved, and every reversal is idempotent: it looks at what
is on disk and does only what is missing.

A run, an undo and a redo first write a pending log beside the project
(`PROJECT.dedupe-pending`): the ops, then a line as each op starts and
finishes. After a kill, `recover` reads it and, from the journal, knows what
the files should be like: an entry for the run that is in effect means done,
anything else means as before; the ops that had started are brought there.
A log whose run, undo or redo the journal shows committed is only removed:
its ops were all finished, or failed whole, before that commit.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from planche.core.text import count

LINKS = ("hardlink", "symlink")
FILE_ACTIONS = ("trash", "move", *LINKS)
PENDING_SUFFIX = ".dedupe-pending"
_PARTIAL = ".planche-partial"
_LINK_TMP = ".planche-link"


class OpError(Exception):
    """One file could not be acted on; nothing of that op was left done."""


# -- checks -------------------------------------------------------------------------


def sha256_of(path: str) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def recheck(path: str, size: int, mtime: float, sha256: str, hash_it: bool = True) -> str | None:
    """Why the file at `path` is not the one imported, or None when it is."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        broken = os.path.lexists(path)
        return "is a broken link now" if broken else "is gone since it was imported"
    except OSError as exc:
        return f"cannot be read ({reason(exc)})"
    if not os.path.isfile(path):
        return "is not a file any more"
    if info.st_size != size:
        return f"changed since it was imported (now {info.st_size:,} bytes, was {size:,})"
    if info.st_mtime != mtime:
        return "was modified since it was imported (its modification time changed)"
    if hash_it:
        try:
            if sha256_of(path) != sha256:
                return "changed since it was imported (its content is different)"
        except OSError as exc:
            return f"cannot be read ({reason(exc)})"
    return None


def reason(exc: OSError) -> str:
    if exc.errno == errno.EACCES or exc.errno == errno.EPERM:
        return "permission denied"
    if exc.errno == errno.EROFS:
        return "read-only file system"
    if exc.errno == errno.ENOSPC:
        return "no space left on the device"
    return exc.strerror or str(exc)


def _matches(path: str, size: int, mtime: float) -> bool:
    try:
        info = os.stat(path)
    except OSError:
        return False
    return info.st_size == size and info.st_mtime == mtime


# -- the trash ------------------------------------------------------------------------


def _plat() -> Any:
    from send2trash import plat_other

    return plat_other


def home_trash() -> str:
    """The home trash send2trash uses in this process."""
    return os.fsdecode(_plat().HOMETRASH_B)


def _trash_dirs(path: str) -> list[tuple[str, str]]:
    """(trash folder, folder its .trashinfo paths are relative to) for `path`."""
    plat = _plat()
    dirs = [(home_trash(), os.fsdecode(plat.XDG_DATA_HOME))]
    try:
        mount = os.fsdecode(plat.find_mount_point(os.path.dirname(path) or "/"))
    except OSError:
        return dirs
    uid = str(os.getuid())
    for trash in (os.path.join(mount, ".Trash", uid), os.path.join(mount, f".Trash-{uid}")):
        if trash != dirs[0][0]:
            dirs.append((trash, mount))
    return dirs


def _read_info(info: str, topdir: str) -> tuple[str, str] | None:
    """(original path, deletion date) of a .trashinfo file."""
    try:
        with open(info, encoding="utf-8", errors="surrogateescape") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    fields = dict(line.split("=", 1) for line in lines if "=" in line)
    if "Path" not in fields:
        return None
    original = unquote(fields["Path"], errors="surrogateescape")
    if not os.path.isabs(original):
        original = os.path.join(topdir, original)
    return original, fields.get("DeletionDate", "")


def find_in_trash(
    path: str, size: int, mtime: float, sha256: str | None, hint: dict[str, Any] | None = None
) -> tuple[str, str, str] | None:
    """(trashed file, its .trashinfo, the folder its path is relative to) of the
    file trashed from `path` with this size, modification time and (when given)
    content hash: the hint first, then the newest deletion."""
    wanted = (size, mtime)
    found: list[tuple[str, str, str, str]] = []
    if hint and hint.get("trash"):
        file, info, topdir = hint["trash"]
        read = _read_info(info, topdir)
        if read and read[0] == path and os.path.lexists(file):
            found.append(("~", file, info, topdir))  # sorts after any date: tried first
    stem = os.path.splitext(os.path.basename(path))[0]
    for trash, topdir in _trash_dirs(path):
        info_dir = os.path.join(trash, "info")
        try:
            names = os.listdir(info_dir)
        except OSError:
            continue
        for name in names:
            if not (name.startswith(stem) and name.endswith(".trashinfo")):
                continue
            info = os.path.join(info_dir, name)
            read = _read_info(info, topdir)
            file = os.path.join(trash, "files", name[: -len(".trashinfo")])
            if read and read[0] == path and os.path.lexists(file):
                found.append((read[1], file, info, topdir))
    for _, file, info, topdir in sorted(found, reverse=True):
        if not _matches(file, *wanted):
            continue
        if sha256 is None or _hash_is(file, sha256):
            return file, info, topdir
    return None


def _hash_is(path: str, sha256: str) -> bool:
    try:
        return sha256_of(path) == sha256
    except OSError:
        return False


def _trash(op: dict[str, Any]) -> dict[str, Any]:
    """Send op's file to the trash; the hint of where it went."""
    path = op["path"]
    try:
        _plat().send2trash(path)
    except OSError as exc:
        raise OpError(f"cannot move it to the trash ({reason(exc)}); left as it is") from None
    found = find_in_trash(path, op["size"], op["mtime"], None)
    return {"trash": list(found)} if found else {}


def _restore(found: tuple[str, str, str], path: str, sha256: str) -> None:
    file, info, _ = found
    _move_no_clobber(file, path, sha256)
    with contextlib.suppress(OSError):  # a .trashinfo without its file is ignored
        os.unlink(info)


# -- moving ---------------------------------------------------------------------------


def _move_no_clobber(src: str, dst: str, sha256: str | None) -> None:
    """Rename `src` to `dst`, never over an existing file; across devices copy,
    check, then delete, so that a failure leaves `src` as it was."""
    if os.path.lexists(dst):
        raise OpError(f"{dst} exists already")
    os.makedirs(os.path.dirname(dst), exist_ok=True)  # a folder emptied and removed since
    try:
        os.rename(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    folder, name = os.path.split(dst)
    partial = os.path.join(folder, f".{name}{_PARTIAL}")
    try:
        shutil.copy2(src, partial, follow_symlinks=False)
        if not os.path.islink(partial):
            with open(partial, "rb") as handle:
                os.fsync(handle.fileno())
            if sha256 is not None and sha256_of(partial) != sha256:
                raise OpError("its copy did not match the original; nothing was moved")
        if os.path.lexists(dst):
            raise OpError(f"{dst} exists already")
        os.rename(partial, dst)
    except BaseException:
        _unlink_quietly(partial)
        raise
    try:
        os.unlink(src)
    except BaseException:
        _unlink_quietly(dst)  # nothing half-moved: the copy goes, the original stays
        raise


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _prune_empty(folder: str, stop: str) -> None:
    """Remove empty folders from `folder` up to, not including, `stop`."""
    stop = stop.rstrip(os.sep)
    while folder.startswith(stop + os.sep):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)


# -- links ----------------------------------------------------------------------------


def _link_tmp(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}{_LINK_TMP}")


def _is_our_link(op: dict[str, Any], path: str | None = None) -> bool:
    path = path or op["path"]
    keeper = op["keeper"]
    try:
        if op["action"] == "symlink":
            return os.path.islink(path) and os.readlink(path) == keeper
        return not os.path.islink(path) and os.path.samefile(path, keeper)
    except OSError:
        return False


def _make_link(op: dict[str, Any], at: str) -> None:
    if op["action"] == "symlink":
        os.symlink(op["keeper"], at)
    else:
        os.link(op["keeper"], at)


def _drop_stale_tmp(op: dict[str, Any]) -> None:
    tmp = _link_tmp(op["path"])
    if os.path.lexists(tmp) and _is_our_link(op, tmp):
        _unlink_quietly(tmp)


# -- acting and taking back -------------------------------------------------------------


def perform(op: dict[str, Any]) -> dict[str, Any]:
    """Do one op on a file already checked; its hint (where a trashed file went).
    Raises OpError with nothing of the op left done."""
    try:
        return _perform(op)
    except OSError as exc:
        doing = {"move": f"move it to {op.get('target')}", "trash": "move it to the trash"}
        what = doing.get(op["action"], f"replace it with a link to {op['keeper']}")
        raise OpError(f"cannot {what} ({reason(exc)}); left as it is") from None


def _perform(op: dict[str, Any]) -> dict[str, Any]:
    path, action = op["path"], op["action"]
    if action == "trash":
        return _trash(op)
    if action == "move":
        target = op["target"]
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            _move_no_clobber(path, target, op["sha256"])
        except BaseException:
            _prune_empty(os.path.dirname(target), op["root"])
            raise
        return {}
    if action == "hardlink" and os.stat(path).st_dev != os.stat(op["keeper"]).st_dev:
        raise OpError(f"it is on another device than its keeper {op['keeper']}: "
                      "no hard link is possible")  # fmt: skip
    _drop_stale_tmp(op)
    tmp = _link_tmp(path)
    _make_link(op, tmp)
    try:
        hint = _trash(op)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    try:
        os.rename(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        found = find_in_trash(path, op["size"], op["mtime"], op["sha256"], hint)
        if found is not None:
            _restore(found, path, op["sha256"])  # as it was: the original in its place
        raise
    return hint


def check(op: dict[str, Any], keepers: dict[str, str | None] | None = None) -> str | None:
    """Why op must not be done now (its file or its keeper changed), or None.
    `keepers` caches the keepers' checks (a keeper serves a whole group)."""
    why = recheck(op["path"], op["size"], op["mtime"], op["sha256"])
    if why is not None:
        return why
    keeper = op["keeper"]
    keepers = {} if keepers is None else keepers
    if keeper not in keepers:
        keepers[keeper] = recheck(
            keeper, op["keeper_size"], op["keeper_mtime"], op["keeper_sha256"]
        )
    if keepers[keeper] is not None:
        return f"not touched: its keeper {keeper} {keepers[keeper]}"
    if op["action"] == "move" and os.path.lexists(op["target"]):
        return f"not moved: {op['target']} exists already"
    return None


def is_done(op: dict[str, Any], hint: dict[str, Any] | None = None) -> bool:
    """Whether op's effect is what is on disk now."""
    path, action = op["path"], op["action"]
    if action == "move":
        return not os.path.lexists(path) and _matches(op["target"], op["size"], op["mtime"])
    if action in LINKS:
        return _is_our_link(op)
    if os.path.lexists(path):
        return False
    return find_in_trash(path, op["size"], op["mtime"], None, hint) is not None


def redo_op(op: dict[str, Any], hint: dict[str, Any] | None = None) -> tuple[str | None, dict]:
    """Bring one op to done: (a note when it could not be, the new hint)."""
    if is_done(op, hint):
        return None, hint or {}
    why = check(op)
    if why is not None:
        return f"{op['path']}: {why}", {}
    try:
        return None, perform(op)
    except OpError as exc:
        return f"{op['path']}: {exc}", {}


def undo_op(op: dict[str, Any], hint: dict[str, Any] | None = None) -> str | None:
    """Put one op's file back where it was, byte-identical; a note when it cannot be."""
    try:
        return _undo_op(op, hint or {})
    except (OSError, OpError) as exc:
        text = reason(exc) if isinstance(exc, OSError) else str(exc)
        return f"{op['path']}: not put back ({text})"


def _undo_op(op: dict[str, Any], hint: dict[str, Any]) -> str | None:
    path, action = op["path"], op["action"]
    occupied = f"{path}: not put back: another file is there now"
    if action == "move":
        target = op["target"]
        if os.path.lexists(path):
            return None if _matches(path, op["size"], op["mtime"]) else occupied
        if not _matches(target, op["size"], op["mtime"]):
            return f"{path}: not put back: it is no longer at {target} as it was moved"
        _move_no_clobber(target, path, op["sha256"])
        _prune_empty(os.path.dirname(target), op["root"])
        return None
    if action in LINKS:
        _drop_stale_tmp(op)
        if _is_our_link(op):
            found = find_in_trash(path, op["size"], op["mtime"], op["sha256"], hint)
            if found is None:
                return f"{path}: the link stays: its original is no longer in the trash"
            os.unlink(path)
            _restore(found, path, op["sha256"])
            return None
    if os.path.lexists(path):
        return None if _matches(path, op["size"], op["mtime"]) else occupied
    found = find_in_trash(path, op["size"], op["mtime"], op["sha256"], hint)
    if found is None:
        return f"{path}: not put back: it is no longer in the trash"
    _restore(found, path, op["sha256"])
    return None


# -- the pending log ---------------------------------------------------------------------


def pending_path(project: Path | str) -> Path:
    project = Path(project)
    return project.with_name(project.name + PENDING_SUFFIX)


# The token of the pending log each thread wrote last, by log path: after its
# transaction commits, a thread removes its own log and no other.
_written = threading.local()


class PendingLog:
    """What a run, undo or redo is doing to files, for `recover` after a kill."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def begin(
        cls, project: Path | str, run_id: str, direction: str, ops: list[dict[str, Any]]
    ) -> PendingLog:
        path = pending_path(project)
        token = uuid.uuid4().hex
        header = {"run_id": run_id, "direction": direction, "token": token, "ops": ops}
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (json.dumps(header) + "\n").encode())
        os.fsync(fd)
        _fsync_folder(path.parent)
        if not hasattr(_written, "tokens"):
            _written.tokens = {}
        _written.tokens[str(path.absolute())] = token
        return cls(path, fd)

    def started(self, index: int) -> None:
        # Written, not flushed to disk: a killed process loses nothing written.
        os.write(self._fd, (json.dumps({"started": index}) + "\n").encode())

    def finished(self, index: int, hint: dict[str, Any]) -> None:
        os.write(self._fd, (json.dumps({"finished": index, "hint": hint}) + "\n").encode())

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def read_pending(project: Path | str) -> dict[str, Any] | None:
    path = pending_path(project)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    try:
        header = json.loads(lines[0])
        started: dict[int, bool] = {}
        hints: dict[int, dict[str, Any]] = {}
        for line in lines[1:]:
            item = json.loads(line)
            if "started" in item:
                started.setdefault(item["started"], False)
            elif "finished" in item:
                started[item["finished"]] = True
                hints[item["finished"]] = item["hint"]
    except (ValueError, IndexError, KeyError, TypeError):
        return None  # cut short before its header was whole: nothing had started
    return {**header, "started": started, "hints": hints}


def forget_own_log(project: Path | str) -> bool:
    """After this thread's transaction committed: remove the pending log this
    thread wrote; False when the log there is not its own (or none is)."""
    path = pending_path(project)
    token = getattr(_written, "tokens", {}).pop(str(path.absolute()), None)
    pending = read_pending(project)
    if token is None or pending is None or pending.get("token") != token:
        return False
    path.unlink(missing_ok=True)
    return True


def recover(project: Path | str, in_effect: Callable[[str], bool]) -> list[str]:
    """Bring the files of an interrupted run, undo or redo to what the journal
    says (`in_effect(run_id)`: done, else as before); notes on what could not be."""
    pending = read_pending(project)
    if pending is None:
        pending_path(project).unlink(missing_ok=True)
        return []
    forward = in_effect(pending["run_id"])
    if (pending["direction"] == "forward") == forward:
        # Its transaction committed: every op it started was finished or failed
        # whole (OpError), as the journal entry says; only the log is left over
        # (the process was killed before it removed it, or another command of
        # this process came first).
        pending_path(project).unlink(missing_ok=True)
        return []
    notes = []
    brought = len(pending["started"])
    for index in sorted(pending["started"]):
        op = pending["ops"][index]
        hint = pending["hints"].get(index) or op.get("hint")
        note = redo_op(op, hint)[0] if forward else undo_op(op, hint)
        if note:
            notes.append(note)
    if brought:
        done = "done as the journal says" if forward else "put back"
        notes.insert(0, f"an interrupted dedupe was finished: {count(brought, 'file')} {done}")
    pending_path(project).unlink(missing_ok=True)
    return notes
