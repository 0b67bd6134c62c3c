"""Run records as files: atomic JSON / torch writes (one JSON file per run), exclusive
creation (claims), leftover-temporary cleanup, and readers that name a damaged file. What a run
ran on (its "provenance") is :mod:`cocoop_lib.machine`'s.
"""
from __future__ import annotations

import errno
import glob
import json
import os
import platform
import re
import tempfile
import time
from pathlib import Path

import torch

from .errors import DiskFullError, RecordError


def _is_disk_full(err: BaseException) -> bool:
    """ENOSPC, or torch's zip writer failing mid-file ("enforce fail ... unexpected pos")."""
    if isinstance(err, OSError) and err.errno == errno.ENOSPC:
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("unexpected pos" in text or "No space left" in text)


def _umask() -> int:
    """This process's umask, read without changing it (Linux /proc; else set and restore)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def temp_name(path: Path) -> str:
    """The prefix of a temporary file next to ``path``: ``.<name>.<host>.<pid>.`` (a leftover of a
    killed writer is told apart from a live one's by its host and pid: :func:`remove_leftover_tmps`)."""
    return f".{path.name}.{platform.node()}.{os.getpid()}."


_TMP = re.compile(r"^\.(?P<target>.+?\.(?:json|pt))\.(?:(?P<host>.+)\.(?P<pid>\d+)\.)?[^.]+\.tmp$")


def _writer_may_be_alive(match, tmp: Path) -> bool:
    """Whether the process that wrote the temporary file ``tmp`` may still be writing it."""
    if match["pid"] is not None and match["host"] == platform.node():
        try:
            os.kill(int(match["pid"]), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:                              # another host (or a name without host and pid): by its age
        return time.time() - tmp.stat().st_mtime < 3600
    except OSError:
        return False


def remove_leftover_tmps(folder: str | Path, prefix: str) -> list[Path]:
    """Remove the hidden temporary files ``.<target>.<host>.<pid>.<random>.tmp`` whose target's
    name starts with ``prefix`` and whose writer was killed between writing and renaming (same
    host: its pid is gone; another host, or an older name without host and pid: older than an
    hour). A live writer's file is kept. Returns the removed paths."""
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for tmp in folder.glob(f".{glob.escape(prefix)}*.tmp"):
        match = _TMP.match(tmp.name)
        if match is None or _writer_may_be_alive(match, tmp):
            continue
        tmp.unlink(missing_ok=True)
        removed.append(tmp)
    return removed


def _disk_full_error(path: Path) -> DiskFullError:
    return DiskFullError(errno.ENOSPC, f"no space left on device while writing {path}; "
                         "free some space and run again (nothing finished is lost)")


def write_atomic(path: str | Path, write) -> None:
    """Write ``path`` through ``write(tmp_path)`` so that a reader sees the old file or the new one.

    The temporary file is unique per process (mkstemp in the target folder, named by
    :func:`temp_name`) and removed on any failure; a full disk raises :class:`DiskFullError` "no
    space left on device while writing <path>". The result has the permissions of any new file
    (0666 less the umask: 0644 under the usual 022, 0600 under 077).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _mkstemp_next_to(path)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        if _is_disk_full(err):
            raise _disk_full_error(path) from None
        raise


def _mkstemp_next_to(path: Path) -> str:
    """A new empty temporary file next to ``path`` (:func:`temp_name`); ENOSPC -> DiskFullError."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_name(path), suffix=".tmp")
    except OSError as err:
        if _is_disk_full(err):
            raise _disk_full_error(path) from None
        raise
    os.close(fd)
    return tmp


def create_json_exclusive(path: str | Path, data: dict) -> bool:
    """Create ``path`` holding ``data`` only if it does not exist (the O_EXCL of a claim), never
    leaving an empty or partial file: the JSON is written to a temporary file that is then
    hard-linked to ``path`` (atomic, fails if ``path`` exists; where the file system has no hard
    links, an O_EXCL create removed again on failure). False if ``path`` exists; a full disk
    raises :class:`DiskFullError` and leaves nothing behind."""
    path = Path(path)
    tmp = _mkstemp_next_to(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.chmod(tmp, 0o666 & ~_umask())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    except OSError as err:
        if _is_disk_full(err):
            raise _disk_full_error(path) from None
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    try:                                # no hard links here: O_EXCL, and no empty file on failure
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
    except OSError as err:
        path.unlink(missing_ok=True)
        if _is_disk_full(err):
            raise _disk_full_error(path) from None
        raise
    return True


def write_json_atomic(path: str | Path, data: dict) -> None:
    """Write JSON so that a reader sees the old file or the new one, never half of one."""
    def write(tmp):
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
    write_atomic(path, write)


def torch_save_atomic(obj, path: str | Path) -> None:
    """``torch.save`` through :func:`write_atomic`."""
    write_atomic(path, lambda tmp: torch.save(obj, tmp))


def read_record(path: str | Path) -> dict:
    """One run record; a damaged file raises :class:`RecordError` naming it and the fix."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise RecordError(f"run record {path} is damaged ({err}); delete it or run again with "
                          "--force (the CLI and scripts/sweep.py; force=True in Python) to "
                          "recompute it") from None
    return data


def read_records(folder: str | Path) -> list[dict]:
    """All run records (``*.json``) under ``folder``, sorted by file name."""
    return [read_record(p) for p in sorted(Path(folder).rglob("*.json"))]
