#!/usr/bin/env python
"""Run the book's whole experiment grid without notebooks (resumable), on one GPU, many, or SLURM.

    # the paper's setting: CLIP ViT-B/16, all 11 datasets + 4 ImageNet variants, seeds 1 2 3
    python scripts/sweep.py --setting paper --data-root /data --output-dir outputs/paper
    # one 8-GPU machine: 8 worker processes, one GPU each, longest runs first
    python scripts/sweep.py --setting paper --data-root /data --output-dir outputs/paper \\
        --executor local --workers 8
    # a SLURM cluster: 16 worker jobs of one GPU each (prints the job ids and returns)
    python scripts/sweep.py --setting paper --data-root /data --output-dir /shared/paper \\
        --executor slurm --workers 16 --partition gpu --gpus-per-task 1 --cpus-per-task 8 \\
        --mem 32G --time 24:00:00 --slurm-extra "--account=myproj"
    # progress of any of these (done / claimed / failed / to do, and an ETA)
    python scripts/sweep.py --setting paper --data-root /data --output-dir outputs/paper --status
    # the offline mini world (what the book's main job runs), or just list the runs
    python scripts/sweep.py --setting mini --dry-run

The runs are exactly the ones the book's chapters plan from the same parameters (base-to-new,
the parameter-count ablation, cross-dataset/domain transfer), so executing the book afterwards
with those parameters finds every record and trains nothing. Every run is claimed before it is
trained (``<output_dir>/claims/``), so sweeps, workers and notebooks on one output dir never train
one run twice; a run whose record exists is skipped; an interrupted run (or one whose worker
died) resumes from its last epoch checkpoint; a failed run is written to ``<output_dir>/failed/``
and the others go on (``--retry-failed`` tries them again).
"""
from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from cocoop_lib.experiments import BOOK_EXPERIMENTS, EXPERIMENTS  # noqa: E402  (needs the path above)


class SweepError(Exception):
    """A bad sweep argument; the message names it and the fix."""


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` -> (I, N), with 0 <= I < N."""
    try:
        index, count = (int(x) for x in text.split("/"))
    except ValueError:
        raise SweepError(f"--shard {text!r} is not I/N (two integers, e.g. --shard 0/4 runs every "
                         "4th run starting at the first)") from None
    if count < 1 or not 0 <= index < count:
        raise SweepError(f"--shard {text}: I must be in 0..N-1 (here 0..{max(count, 1) - 1}) and "
                         "N >= 1; e.g. --shard 0/4 ... --shard 3/4 for four processes")
    return index, count


def plan(args) -> list:
    """Every RunConfig of the requested experiments, without duplicates, most expensive first."""
    from cocoop_lib import experiments
    from cocoop_lib.parameters import ParameterError, check_parameters

    backbone = args.backbone or ("openai/clip-vit-base-patch16" if args.setting == "paper" else "mini")
    recipe = args.recipe or ("paper" if args.setting == "paper" else None)
    if args.setting == "paper" and not args.data_root:
        raise SweepError("--setting paper needs --data-root (the folder holding the paper's "
                         "datasets); for the offline mini world use --setting mini")
    try:
        P = check_parameters("results", datasets=args.datasets, methods=args.methods,
                             seeds=args.seeds, shots=args.shots, epochs=args.epochs,
                             n_ctx=args.n_ctx, recipe=recipe, backbone=backbone,
                             data_root=args.data_root, device=args.device,
                             precision=args.precision, output_dir=args.output_dir)
    except ParameterError as e:
        # the same checks as the notebooks, with the sweep's own advice
        msg = str(e).split(" (Fix the notebook's")[0].rstrip(".")
        flag = msg.split("`")[1].replace("_", "-") if "`" in msg else "the option"
        raise SweepError(f"{msg}. Fix the sweep's --{flag} option.") from None
    return experiments.plan(args.experiments, P)


def _done(configs) -> tuple[list, dict]:
    """Which runs are done; damaged records are reported by name (the others go ahead)."""
    from cocoop_lib.workers import finished_record

    from cocoop_lib.shipped import ShippedRecordError

    done, damaged = [], {}
    for c in configs:
        try:
            done.append(finished_record(c) is not None)
        except ShippedRecordError as e:     # names the shipped file and its fixes itself
            damaged[c.resolved().run_name()] = f"damaged shipped record: {e}; or run the sweep with --force"
            done.append(False)
        except (ValueError, OSError) as e:
            from cocoop_lib.runs import record_path
            damaged[c.resolved().run_name()] = (f"damaged record {record_path(c)}: {e}; "
                                                "re-run with --force (or delete that file)")
            done.append(False)
    return done, damaged


def derived_files(config) -> list[Path]:
    """Every file derived from one run: record, checkpoints, claim, failed marker."""
    from cocoop_lib import run_locks
    from cocoop_lib.runs import record_path
    from cocoop_lib.workers import failed_path

    c = config.resolved()
    out, name = Path(c.output_dir), c.run_name()
    files = [record_path(c), run_locks.claim_path(out, name), failed_path(c)]
    files += sorted((out / "checkpoints").glob(f"{name}-*.pt"))
    files += sorted((out / "checkpoints").glob(f"{name}.pt"))
    return files


def status(configs, out: Path, workers_hint: int | None = None) -> str:
    """Done / claimed (by whom, since when, epoch) / failed / to do, and an ETA."""
    import json

    from cocoop_lib import run_locks
    from cocoop_lib.run_cost import run_cost
    from cocoop_lib.workers import failed_path

    done, damaged = _done(configs)
    live = run_locks.list_claims(out)
    lines, rate_num, rate_den, left, n_live = [], 0.0, 0.0, 0.0, 0
    counts = {"done": 0, "claimed": 0, "failed": 0, "to do": 0}
    counts_trained = [0]                       # done runs trained here (not shipped records)
    for c, d in zip(configs, done):
        name, cost = c.resolved().run_name(), run_cost(c)
        if d:
            counts["done"] += 1
            from cocoop_lib.workers import finished_record
            record = finished_record(c)
            if not record.get("shipped_from"):   # a shipped record's seconds were not spent here
                rate_num += record.get("seconds", {}).get("total", 0.0)
                rate_den += cost
                counts_trained[0] += 1
            continue
        if failed_path(c).exists() or name in damaged:
            counts["failed"] += 1
            why = damaged.get(name) or json.loads(failed_path(c).read_text()).get("error", "")
            lines.append(f"failed   {name}: {why}")
            continue
        info = live.get(name)
        if info and not info["stale"]:
            counts["claimed"] += 1
            n_live += 1
            frac = (info.get("epoch") or 0) / info["epochs"] if info.get("epochs") else 0.0
            left += cost * (1 - frac)
            lines.append(f"claimed  {name}: {run_locks.describe(info)}")
            continue
        counts["to do"] += 1
        left += cost
        lines.append(f"to do    {name}" + (" (stale claim; the next worker takes it over)"
                                           if info else ""))
    summary = ", ".join(f"{v} {k}" for k, v in counts.items())
    if rate_den > 0 and left > 0:
        parallel = max(n_live, workers_hint or 0, 1)
        eta = left * rate_num / rate_den / parallel
        summary += (f"; ETA {eta / 60:.0f} min with {parallel} worker(s), from the speed of the "
                    f"{counts_trained[0]} finished runs trained here")
    elif left > 0:
        summary += ("; ETA: unknown until a run trained here has finished"
                    + (f" (the {counts['done']} done are shipped records, which took no time here)"
                       if counts["done"] else ""))
    if counts["failed"]:
        summary += "; failed runs are skipped until the sweep runs with --retry-failed"
    return "\n".join([f"{len(configs)} runs: {summary}", *lines])


def _slurm_extra(text: str | None) -> dict:
    """Free-form sbatch options ("--account=x --qos high --exclusive") -> submitit's dict."""
    extra, items = {}, shlex.split(text or "")
    i = 0
    while i < len(items):
        item = items[i]
        if not item.startswith("--"):
            raise SweepError(f"--slurm-extra: {item!r} is not an sbatch option (use --name=value)")
        key, eq, value = item[2:].partition("=")
        if not eq:
            if i + 1 < len(items) and not items[i + 1].startswith("--"):
                value, i = items[i + 1], i + 1
            else:
                value = True
        extra[key.replace("-", "_")] = value
        i += 1
    return extra


def _minutes(text: str) -> int:
    """SLURM time "HH:MM:SS", "D-HH:MM:SS" or minutes -> minutes."""
    days, _, rest = text.rpartition("-") if "-" in text else ("0", "", text)
    parts = [int(x) for x in rest.split(":")]
    if len(parts) == 1:
        return int(days) * 1440 + parts[0]
    while len(parts) < 3:
        parts.append(0)
    h, m, s = parts
    return int(days) * 1440 + h * 60 + m + (1 if s else 0)


def slurm_executor(args, folder: Path):
    """A submitit executor with the sweep's SLURM flags (``cluster``: None = SLURM, or submitit's
    "local"/"debug" for testing without a cluster)."""
    try:
        import submitit
    except ImportError:
        raise SweepError("--executor slurm needs submitit (pip install submitit==1.5.4)") from None
    if args.slurm_cluster in (None, "slurm") and not _slurm_here():
        raise SweepError("--executor slurm: SLURM is not available here (no `sbatch` on PATH), so "
                         "nothing was submitted. Run the sweep on the cluster's login node, or use "
                         "--executor local --workers N to train on this machine (--print-sbatch "
                         "shows the job script without SLURM)")
    ex = submitit.AutoExecutor(folder=str(folder), cluster=args.slurm_cluster)
    if args.slurm_cluster in (None, "slurm") and ex.cluster != "slurm":
        raise SweepError(f"--executor slurm: submitit chose its {ex.cluster!r} executor, not "
                         "SLURM; nothing was submitted. Run the sweep where `sbatch` works, or use "
                         "--executor local")
    params = dict(name="cocoop-sweep", timeout_min=_minutes(args.time), cpus_per_task=args.cpus_per_task,
                  tasks_per_node=1, nodes=1)
    if args.gpus_per_task:
        params["gpus_per_node"] = args.gpus_per_task
    if args.mem:
        params["slurm_mem"] = args.mem
    if args.partition:
        params["slurm_partition"] = args.partition
    extra = _slurm_extra(args.slurm_extra)
    if extra:
        params["slurm_additional_parameters"] = extra
    if args.slurm_cluster in (None, "slurm"):
        params["slurm_array_parallelism"] = args.workers
    ex.update_parameters(**{k: v for k, v in params.items()
                            if ex.cluster == "slurm" or not k.startswith("slurm_")})
    return ex


def _slurm_here() -> bool:
    import shutil

    return shutil.which("sbatch") is not None


def sbatch_text(args, folder: Path) -> str:
    """The sbatch script submitit would submit for these flags (no sbatch or srun is called):
    one job array of ``--workers`` tasks, run by this interpreter (the venv's python)."""
    from unittest import mock

    from submitit.slurm.slurm import SlurmExecutor

    saved, args.slurm_cluster = args.slurm_cluster, "slurm"
    try:  # SlurmExecutor refuses to start where srun is missing; the script text needs neither
        with mock.patch.object(SlurmExecutor, "affinity", classmethod(lambda cls: 1)), \
                mock.patch(f"{__name__}._slurm_here", lambda: True):
            ex = slurm_executor(args, folder)
    finally:
        args.slurm_cluster = saved
    inner = ex._executor
    if args.workers > 1:            # what map_array submits: an array of --workers tasks
        inner.parameters["map_count"] = args.workers
    return inner._make_submission_file_text(f"{inner.python} -u -m submitit.core._submit", "UID")


def run_local(plan_file: Path, args) -> int:
    """``--workers`` processes on this machine, each pinned to one GPU when there are GPUs."""
    import torch

    n_gpu = torch.cuda.device_count() if args.device in ("auto",) or args.device.startswith("cuda") else 0
    threads = max(1, (os.cpu_count() or 1) // args.workers) if n_gpu == 0 else None
    procs = []
    for i in range(args.workers):
        env = dict(os.environ, COCOOP_WORKER=f"{os.uname().nodename}:w{i}",
                   PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
        if n_gpu:
            env["CUDA_VISIBLE_DEVICES"] = str(i % n_gpu)
        else:   # the process's OpenMP / MKL pools; a run itself trains with runs.CPU_THREADS
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        cmd = [sys.executable, "-m", "cocoop_lib.workers", str(plan_file), "--worker",
               env["COCOOP_WORKER"], "--poll", str(args.poll)]
        procs.append(subprocess.Popen(cmd, env=env))
        where = f"GPU {i % n_gpu}" if n_gpu else f"CPU, {threads} thread(s)"
        print(f"worker w{i} started (pid {procs[-1].pid}, {where})", flush=True)
    rcs = [p.wait() for p in procs]
    for i, (proc, rc) in enumerate(zip(procs, rcs)):
        if rc == 0:
            continue
        if rc < 0:
            import signal
            try:
                why = f"was killed by signal {signal.Signals(-rc).name}"
            except ValueError:
                why = f"was killed by signal {-rc}"
            why += ("; a run it held is taken over and resumed from its checkpoint by the next "
                    "sweep (the same command)")
        elif rc == 1:
            why = "exited with code 1: a run failed (see the FAILED lines above and failed/)"
        else:
            why = f"exited with code {rc} (see its output above)"
        print(f"worker w{i} (pid {proc.pid}) {why}", file=sys.stderr, flush=True)
    return 0 if all(rc == 0 for rc in rcs) else 1


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--setting", choices=("paper", "mini"), default="paper",
                   help="paper: CLIP ViT-B/16 on the real datasets (needs --data-root); "
                        "mini: the offline mini world")
    p.add_argument("--data-root", help="folder holding the paper's datasets")
    p.add_argument("--output-dir", default="outputs", help="records, checkpoints, caches, claims")
    p.add_argument("--experiments", nargs="+", choices=EXPERIMENTS, default=list(BOOK_EXPERIMENTS),
                   help="default: the book's three; budget_check: the appendix's recipe check "
                        "(Table 1's runs at the dropped short budget beside the paper's epochs "
                        "and batch sizes)")
    p.add_argument("--datasets", nargs="+", help="default: every dataset of the setting")
    p.add_argument("--methods", nargs="+", choices=("zeroshot", "coop", "cocoop"))
    p.add_argument("--seeds", nargs="+", type=int, help="default: 1 2 3")
    p.add_argument("--shots", type=int)
    p.add_argument("--epochs", type=int)
    p.add_argument("--n-ctx", type=int)
    p.add_argument("--recipe", choices=("paper", "mini"))
    p.add_argument("--backbone", help="default: openai/clip-vit-base-patch16 (paper) or mini")
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="auto")
    p.add_argument("--shard", default="0/1", help="I/N: only every N-th run starting at I (static split)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and whether they are done")
    p.add_argument("--status", action="store_true",
                   help="done / claimed / failed / to do, with an ETA; runs nothing")
    p.add_argument("--force", action="store_true",
                   help="redo every planned run: delete its record, checkpoints, claim, failed marker")
    p.add_argument("--retry-failed", action="store_true", help="try the runs in failed/ again")
    g = p.add_argument_group("executors")
    g.add_argument("--executor", choices=("inline", "local", "slurm"), default="inline",
                   help="inline: this process, one run after the other; local: --workers "
                        "processes here (one GPU each); slurm: --workers SLURM jobs (submitit)")
    g.add_argument("--workers", type=int, default=1, help="worker processes or SLURM jobs")
    g.add_argument("--poll", type=float, default=5.0, help="seconds between looks at claimed runs")
    s = p.add_argument_group("slurm (with --executor slurm)")
    s.add_argument("--partition")
    s.add_argument("--gpus-per-task", type=int, default=1)
    s.add_argument("--cpus-per-task", type=int, default=8)
    s.add_argument("--mem", help="memory per job, e.g. 32G")
    s.add_argument("--time", default="24:00:00", help="time limit per job (HH:MM:SS or minutes)")
    s.add_argument("--slurm-extra", help='more sbatch options, e.g. "--account=proj --qos=high"')
    s.add_argument("--slurm-cluster", default=None, help=argparse.SUPPRESS)  # tests: local / debug
    s.add_argument("--print-sbatch", action="store_true", help="print the sbatch script and exit")
    args = p.parse_args(argv)
    try:
        return _main(args)
    except SweepError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _main(args) -> int:
    from cocoop_lib.runs import record_path
    from cocoop_lib.workers import failed_path, work, write_plan

    from cocoop_lib import shipped

    if args.print_sbatch and args.executor != "slurm":
        raise SweepError("--print-sbatch prints the SLURM job script, so it needs --executor slurm "
                         f"(got --executor {args.executor}); nothing was run")
    try:
        shipped.setting()
    except ValueError as e:
        raise SweepError(str(e)) from None
    if (args.executor == "slurm" and not (args.print_sbatch or args.dry_run or args.status)
            and args.slurm_cluster in (None, "slurm") and not _slurm_here()):
        raise SweepError("--executor slurm: SLURM is not available here (no `sbatch` on PATH), so "
                         "nothing was submitted. Run the sweep on the cluster's login node, or use "
                         "--executor local --workers N to train on this machine (--print-sbatch "
                         "shows the job script without SLURM)")
    index, count = parse_shard(args.shard)
    if args.workers < 1:
        raise SweepError(f"--workers {args.workers}: give at least 1")
    configs = plan(args)[index::count]
    out = Path(args.output_dir)
    if args.status:
        print(status(configs, out, args.workers if args.executor != "inline" else None))
        return 0
    if args.force and not args.dry_run:
        removed = 0
        for c in configs:
            for f in derived_files(c):
                if f.exists():
                    f.unlink()
                    removed += 1
        print(f"--force: removed {removed} files of {len(configs)} planned runs; every planned run "
              "trains here (shipped records are not used)", flush=True)
    if args.retry_failed:
        for c in configs:
            failed_path(c).unlink(missing_ok=True)
    if args.force and not args.dry_run:
        with shipped.switched_off():
            done, damaged = _done(configs)
    else:
        done, damaged = _done(configs)
    print(f"{len(configs)} runs in shard {args.shard}, {sum(done)} already done", flush=True)
    for line in damaged.values():
        print(line, flush=True)
    if args.dry_run:
        for c, d in zip(configs, done):
            print(f"{'done' if d else 'todo'}  {record_path(c).name}")
        if args.executor == "slurm":
            print(sbatch_text(args, out / "slurm"))
        return 0
    if args.executor == "slurm" and args.print_sbatch:
        print(sbatch_text(args, out / "slurm"))
        return 0
    todo = [c for c, d in zip(configs, done) if not d and c.resolved().run_name() not in damaged]
    failed_before = [c for c in todo if failed_path(c).exists()]
    if failed_before:
        print(f"{len(failed_before)} run(s) failed before and are skipped (details in "
              f"{out / 'failed'}); once the cause is fixed, add --retry-failed to try them again",
              flush=True)
    t0 = time.perf_counter()
    if not todo:
        print("nothing to do", flush=True)
        return 1 if damaged else 0
    if args.executor == "inline":
        counts = work(todo, poll_s=args.poll, log=lambda line: print(line, flush=True),
                      use_shipped=not args.force)
        rc = 1 if counts["failed"] or damaged else 0
    else:
        plan_file = write_plan(todo, out / "sweeps" / f"plan-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.json",
                               use_shipped=not args.force)
        if args.executor == "local":
            rc = run_local(plan_file, args)
        else:
            from cocoop_lib.workers import work_plan
            ex = slurm_executor(args, out / "slurm")
            names = [f"slurm-w{i}" for i in range(args.workers)]
            jobs = ex.map_array(work_plan, [str(plan_file)] * args.workers, names)
            print("submitted " + " ".join(j.job_id for j in jobs) + f" ({len(todo)} runs, "
                  f"logs in {out / 'slurm'}); progress: the same command with --status", flush=True)
            if args.slurm_cluster == "debug":
                for j in jobs:
                    j.result()
            return 0
        rc = rc or (1 if damaged else 0)
    print(f"sweep finished in {(time.perf_counter() - t0) / 60:.1f} min", flush=True)
    print(status(configs, out).splitlines()[0], flush=True)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
