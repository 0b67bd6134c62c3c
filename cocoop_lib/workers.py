"""Workers that pull runs from a plan, claim each before training it, and keep going on failure.

A plan is a JSON file (``write_plan``) listing RunConfigs, most expensive first. Any number of
workers -- local processes, SLURM jobs, a notebook -- can work through one plan on one output dir
at the same time: each run is trained by whoever claims it first (:mod:`cocoop_lib.run_locks`), a
run with a live claim is skipped and come back to, and a failed run is recorded in
``<output_dir>/failed/<run>.json`` and not retried until ``retry_failed``.

    python -m cocoop_lib.workers PLAN.json --worker w0

A CPU run trains with :data:`run_config.CPU_THREADS` torch threads whatever the worker's count
(:func:`run_config.fixed_cpu_threads`: the same numbers from every entry point), so a worker
takes no thread count.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import time
import traceback
from pathlib import Path

from . import run_locks
from .records import write_json_atomic


def write_plan(configs, path: str | Path, use_shipped: bool = True) -> Path:
    """Save ``configs`` (RunConfig list, in order) as JSON; ``use_shipped=False``: the workers use
    no shipped record (``sweep.py --force`` trains every run here)."""
    path = Path(path)
    write_json_atomic(path, {"runs": [dataclasses.asdict(c) for c in configs],
                             "use_shipped": bool(use_shipped)})
    return path


def read_plan(path: str | Path) -> list:
    from .runs import RunConfig

    runs = json.loads(Path(path).read_text())["runs"]
    return [RunConfig(**{**r, "eval_on": tuple(r["eval_on"])}) for r in runs]


def plan_uses_shipped(path: str | Path) -> bool:
    return bool(json.loads(Path(path).read_text()).get("use_shipped", True))


def failed_path(config) -> Path:
    c = config.resolved()
    return Path(c.output_dir) / "failed" / f"{c.run_name()}.json"


def finished_record(config) -> dict | None:
    """The run's reusable record (:func:`runs.find_record`)."""
    from .runs import find_record

    return find_record(config)


def work(configs, *, retry_failed: bool = False, poll_s: float = 5.0, log=print,
         use_shipped: bool = True) -> dict:
    """:func:`_work`; ``use_shipped=False``: no shipped record is used (every run trains here)."""
    from .shipped import switched_off

    with contextlib.nullcontext() if use_shipped else switched_off():
        return _work(configs, retry_failed=retry_failed, poll_s=poll_s, log=log)


def _work(configs, *, retry_failed: bool = False, poll_s: float = 5.0, log=print) -> dict:
    """Work through ``configs`` (most expensive first) until each is done, failed or given up.

    Returns counts {"trained": ..., "reused": ..., "failed": ...}. A run with a live claim of
    another worker is skipped and come back to after the others (its holder may finish it, or
    die, and then its claim is taken over and the run resumed from its checkpoint).
    """
    from .runs import run

    worker = os.environ.get(run_locks.WORKER_ENV) or f"{platform.node()}:{os.getpid()}"
    pending = list(configs)
    counts = {"trained": 0, "reused": 0, "failed": 0}
    if retry_failed:
        for c in pending:
            failed_path(c).unlink(missing_ok=True)
    while pending:
        progressed = False
        for config in list(pending):
            name = config.resolved().run_name()
            fail = failed_path(config)
            if fail.exists():
                pending.remove(config)
                counts["failed"] += 1
                log(f"[{worker}] skipped {name}: it failed before ({fail}); once its cause is "
                    "fixed, run the sweep again with --retry-failed to try it again")
                continue
            try:
                if finished_record(config) is not None:
                    pending.remove(config)
                    counts["reused"] += 1
                    continue
                t = time.perf_counter()
                out = Path(config.resolved().output_dir)
                started = _started_here(out, name)
                record = run(config, progress=False, wait=False)
            except run_locks.RunClaimed:
                continue                                   # someone else trains it; come back
            except Exception as e:                          # noqa: BLE001 - recorded, not lost
                write_json_atomic(fail, {"run": name, "worker": worker, "error": f"{type(e).__name__}: {e}",
                                         "traceback": traceback.format_exc(),
                                         "utc": run_locks._now()})
                log(f"[{worker}] FAILED {name}: {type(e).__name__}: {e} (details: {fail}); once "
                    "fixed, run the sweep again with --retry-failed (failed runs are skipped "
                    "without it)")
                pending.remove(config)
                counts["failed"] += 1
                progressed = True
                break
            pending.remove(config)
            metrics = " ".join(f"{k}={v:.2f}" for k, v in record["metrics"].items())
            if _started_here(out, name) == started:     # another worker finished it meanwhile
                counts["reused"] += 1
                log(f"[{worker}] {name}: {metrics} (finished by another worker meanwhile)")
            else:
                counts["trained"] += 1
                log(f"[{worker}] {name}: {metrics} ({time.perf_counter() - t:.0f} s)")
            progressed = True
            break                                           # back to the most expensive left
        if pending and not progressed:
            time.sleep(poll_s)
    return counts


def _started_here(output_dir: Path, name: str) -> int:
    """How many times this process started training ``name`` (its "run" events in the claim log)."""
    pid, host = os.getpid(), platform.node()
    try:
        return sum(e.get("event") == "run" and e.get("run") == name and e.get("pid") == pid
                   and e.get("host") == host for e in run_locks.read_log(output_dir))
    except (OSError, ValueError):
        return -1                                           # unreadable log: count it as trained


def work_plan(plan_path: str, worker: str, retry_failed: bool = False, poll_s: float = 5.0) -> dict:
    """One worker on a plan file (the function local processes and SLURM jobs run)."""
    os.environ[run_locks.WORKER_ENV] = worker
    return work(read_plan(plan_path), retry_failed=retry_failed, poll_s=poll_s,
                log=lambda line: print(line, flush=True), use_shipped=plan_uses_shipped(plan_path))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("plan", help="plan JSON written by scripts/sweep.py")
    p.add_argument("--worker", default=None, help="this worker's name (shown in --status)")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between looks at claimed runs")
    args = p.parse_args(argv)
    counts = work_plan(args.plan, args.worker or f"{platform.node()}:{os.getpid()}", poll_s=args.poll)
    print(f"worker {args.worker}: {counts['trained']} trained, {counts['reused']} already done, "
          f"{counts['failed']} failed", flush=True)
    return 1 if counts["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
