"""Run locks (per-run claims): at most one process trains a run, across processes, workers and
machines. (The paper's claims are :func:`cocoop_lib.results.claim_check`.)

A claim is the file ``<output_dir>/claims/<run_name>.json``, created with O_EXCL (only one process
can create it) and holding::

    {"owner": unique token, "host", "pid", "pid_start", "worker", "started", "heartbeat",
     "epoch", "epochs"}

The holder refreshes ``heartbeat`` from a background thread (every ``HEARTBEAT_S`` seconds) and
once per epoch with the epoch reached. A claim is *stale* when its process is gone (same host: the
pid is dead or is another process now) or its heartbeat is older than ``stale_after`` seconds (other
hosts: SLURM nodes share the output dir but not their process tables). A stale claim is taken
over atomically: it is renamed away (only one renamer wins), then a new claim is created with
O_EXCL. The run itself resumes from its epoch checkpoint, so taking over loses at most one epoch.

    claim = try_claim("outputs", "MiniDigits-coop-base-seed1-1234abcd")
    if claim is None: ...                       # someone else is training it
    with claim:                                 # released on exit, also on an exception
        train(..., on_epoch=claim.heartbeat)

Over 300 lines on purpose: creation, heartbeat, staleness, takeover and the wait are one protocol
over one file format, and each step's reasoning about races reads best beside the others.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import threading
import time
import uuid
import sys
from datetime import datetime, timezone
from pathlib import Path

from .errors import DiskFullError
from .records import create_json_exclusive, write_json_atomic

HEARTBEAT_S = float(os.environ.get("COCOOP_CLAIM_HEARTBEAT_S", 30))
STALE_AFTER_S = float(os.environ.get("COCOOP_CLAIM_STALE_S", 600))
WORKER_ENV = "COCOOP_WORKER"          # a worker's name, written into its claims


class RunClaimed(RuntimeError):
    """The run is being trained by another live process (``holder``: its claim's content)."""

    def __init__(self, run_name: str, holder: dict):
        self.run_name, self.holder = run_name, holder
        super().__init__(f"run {run_name} is being trained by {describe(holder)}")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _age_s(stamp: str) -> float:
    try:
        return time.time() - datetime.fromisoformat(stamp).timestamp()
    except (TypeError, ValueError):
        return float("inf")


def _pid_start(pid: int) -> str | None:
    """Start time of ``pid`` in clock ticks since boot (Linux), to tell a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _pid_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True            # exists, owned by someone else
    if start is not None and _pid_start(pid) not in (None, start):
        return False           # the pid was reused by another process
    return True


def claim_path(output_dir: str | Path, run_name: str) -> Path:
    return Path(output_dir) / "claims" / f"{run_name}.json"


def read_claim(path: str | Path) -> dict | None:
    """A claim file's content; None if it does not exist or is not (yet) readable JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def is_stale(info: dict | None, stale_after: float | None = None) -> bool:
    """True when the claim's holder is gone: dead pid on this host, or no heartbeat for too long."""
    if not info:
        return True
    stale_after = STALE_AFTER_S if stale_after is None else stale_after
    if info.get("host") == platform.node() and isinstance(info.get("pid"), int):
        if not _pid_alive(info["pid"], info.get("pid_start")):
            return True
    return _age_s(info.get("heartbeat")) > stale_after


def describe(info: dict) -> str:
    """One line: who holds a claim, since when, and at which epoch."""
    who = info.get("worker") or "a process"
    epoch = f", epoch {info['epoch']}/{info['epochs']}" if info.get("epochs") else ""
    return (f"{who} (pid {info.get('pid')} on {info.get('host')}, since {info.get('started')}"
            f"{epoch}, heartbeat {_age_s(info.get('heartbeat')):.0f} s ago)")


class Claim:
    """A claim held by this process. ``heartbeat`` refreshes it; ``release`` removes it."""

    def __init__(self, path: Path, info: dict, heartbeat_s: float = HEARTBEAT_S):
        self.path, self.info = path, info
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None
        if heartbeat_s > 0:
            self._thread = threading.Thread(target=self._beat, args=(heartbeat_s,), daemon=True,
                                            name=f"claim-heartbeat {path.stem}")
            self._thread.start()

    def _beat(self, every: float) -> None:
        while not self._stop.wait(every):
            self.heartbeat()

    def held(self) -> bool:
        """True while the file on disk is still this claim (not taken over, not removed)."""
        current = read_claim(self.path)
        return bool(current) and current.get("owner") == self.info["owner"]

    def heartbeat(self, epoch: int | None = None, epochs: int | None = None) -> None:
        """Refresh the claim (and record the epoch reached); a claim lost to a takeover is left."""
        with self._lock:
            if self._stop.is_set() and epoch is None:
                return
            if epoch is not None:
                self.info.update(epoch=int(epoch), epochs=int(epochs) if epochs else None)
                log_event(self.path.parent.parent, "epoch", self.path.stem, epoch=int(epoch))
            self.info["heartbeat"] = _now()
            if not self.held():
                return
            try:
                write_json_atomic(self.path, self.info)
            except DiskFullError:
                if epoch is not None:
                    raise          # the training loop reports it (the background beat retries)

    def release(self) -> None:
        """Stop the heartbeat and remove the claim file if it is still ours."""
        self._stop.set()
        with self._lock:
            if self.held():
                self.path.unlink(missing_ok=True)

    def __enter__(self) -> "Claim":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def log_event(output_dir: str | Path, event: str, run_name: str, **extra) -> None:
    """Append one line to ``<output_dir>/claims/log.jsonl`` (who claimed, resumed, released what).

    Each line is one ``write`` on an O_APPEND file, so lines of concurrent processes never mix.
    """
    line = json.dumps({"event": event, "run": run_name, "pid": os.getpid(), "host": platform.node(),
                       "worker": os.environ.get(WORKER_ENV, ""), "utc": _now(), **extra}) + "\n"
    path = Path(output_dir) / "claims" / "log.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
    except OSError as err:
        if err.errno == errno.ENOSPC:
            raise DiskFullError(errno.ENOSPC, f"no space left on device while writing {path}; "
                                "free some space and run again (nothing finished is lost)") from None
        raise


def read_log(output_dir: str | Path) -> list[dict]:
    """The events of :func:`log_event`, oldest first."""
    path = Path(output_dir) / "claims" / "log.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _create(path: Path, worker: str | None, heartbeat_s: float) -> Claim | None:
    """Create the claim file with O_EXCL; None if it exists."""
    info = {"owner": uuid.uuid4().hex, "host": platform.node(), "pid": os.getpid(),
            "pid_start": _pid_start(os.getpid()),
            "worker": worker if worker is not None else os.environ.get(WORKER_ENV, ""),
            "started": _now(), "heartbeat": _now(), "epoch": 0, "epochs": None}
    # written in full to a temporary file, then linked to its name (fails if it exists): never an
    # empty claim; a full disk raises DiskFullError and leaves nothing behind
    if not create_json_exclusive(path, info):
        return None
    return Claim(path, info, heartbeat_s)


def try_claim(output_dir: str | Path, run_name: str, *, worker: str | None = None,
              stale_after: float | None = None, heartbeat_s: float = HEARTBEAT_S) -> Claim | None:
    """Claim ``run_name`` for this process, or return None if a live process holds it.

    A stale claim (see :func:`is_stale`) is taken over only under the directory's takeover lock,
    an ``flock`` on ``claims/.takeover.lock``: the holder checks the claim again, renames it away
    and creates a new claim with O_EXCL. Processes that do not get the lock never move a claim,
    so a live claim is never moved and at most one process holds a run. The kernel drops an
    ``flock`` when its holder dies, so a crash mid-takeover leaves no lock to clean up (an
    existence-based lock needs a staleness rule, and deleting a "stale" lock races with a new one).
    """
    path = claim_path(output_dir, run_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    claim = _create(path, worker, heartbeat_s)
    if claim is not None:
        return claim
    info = read_claim(path)
    if info is None and _age_s_file(path) < 5:
        return None                    # being written right now by its creator
    if not is_stale(info, stale_after):
        return None
    with _takeover_lock(path.parent):  # waits (milliseconds) while another process takes one over
        info = read_claim(path)
        if path.exists() and (info is not None or _age_s_file(path) >= 5) and is_stale(info, stale_after):
            moved = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:12]}")
            os.rename(path, moved)
            moved.unlink(missing_ok=True)
            log_event(output_dir, "takeover", run_name, previous=info)
        return _create(path, worker, heartbeat_s)


@contextlib.contextmanager
def _takeover_lock(claims_dir: Path):
    """Hold an exclusive ``flock`` on ``claims_dir/.takeover.lock`` (waiting for it if need be).

    Each call opens the file anew, so threads of one process exclude each other too (an flock
    belongs to an open file description, not to a process).
    """
    fd = os.open(claims_dir / ".takeover.lock", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                   # closing the last descriptor drops the lock


def _age_s_file(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def holder(output_dir: str | Path, run_name: str) -> dict | None:
    """The content of a *live* claim on ``run_name``, or None (no claim, or a stale one)."""
    info = read_claim(claim_path(output_dir, run_name))
    return None if is_stale(info) else info


def list_claims(output_dir: str | Path) -> dict[str, dict]:
    """Every claim file under ``output_dir`` by run name, each with a "stale" flag added."""
    out = {}
    for p in sorted((Path(output_dir) / "claims").glob("*.json")):
        info = read_claim(p)
        if info is not None:
            out[p.stem] = {**info, "stale": is_stale(info)}
    return out


def waiting_message(output_dir: str | Path, run_name: str, info: dict) -> str:
    """What a process waiting for another's claim says: who holds it, that it waits, for how long
    at most and how to stop waiting."""
    path = claim_path(output_dir, run_name)
    age = _age_s(info.get("heartbeat"))
    left = max(0.0, STALE_AFTER_S - age) if age != float("inf") else 0.0
    here = info.get("host") == platform.node()
    until = ("until it finishes or its process ends" if here else
             f"until it finishes, or until its heartbeat is {STALE_AFTER_S:.0f} s old "
             f"({left:.0f} s from now, {_ENV_STALE}) and the run is taken over")
    return (f"waiting for run {run_name}: it is being trained by {describe(info or {})}; this "
            f"process waits {until} and then returns its record. If that process is gone, delete "
            f"{path} to take the run over now (or interrupt this one with Ctrl-C)")


_ENV_STALE = "COCOOP_CLAIM_STALE_S"


def acquire(output_dir: str | Path, run_name: str, *, wait: bool = True, finished=None,
            poll_s: float = 2.0, log=None, remind_s: float = 60.0) -> Claim | dict:
    """Claim a run, or return its record once another process has finished it.

    ``finished()`` returns the run's usable record or None; it is checked after the claim is
    taken (another process may have just finished) and while waiting. With ``wait=False`` a live
    claim of another process raises :class:`RunClaimed`. While waiting, ``log`` (default: a line
    on stderr) says who holds the claim (:func:`waiting_message`), again when the holder changes
    and every ``remind_s`` seconds.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    said, said_at, t0 = None, 0.0, time.time()
    while True:
        claim = try_claim(output_dir, run_name)
        if claim is not None:
            record = finished() if finished else None
            if record is not None:
                claim.release()
                return record
            log_event(output_dir, "run", run_name)
            return claim
        if not wait:
            raise RunClaimed(run_name, read_claim(claim_path(output_dir, run_name)) or {})
        info = read_claim(claim_path(output_dir, run_name))
        if info and info.get("owner") != said:
            log(waiting_message(output_dir, run_name, info))
            said, said_at = info.get("owner"), time.time()
        elif info and time.time() - said_at >= remind_s:
            log(f"still waiting for run {run_name} ({time.time() - t0:.0f} s so far): "
                f"{describe(info)}")
            said_at = time.time()
        time.sleep(poll_s)
        record = finished() if finished else None
        if record is not None:
            return record
