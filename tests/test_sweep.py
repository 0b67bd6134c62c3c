"""The sweep on many workers: per-run claims, local worker processes, SLURM via submitit, status.

The sweeps here are real processes on the bundled mini world (MiniDigits / MiniFashion, 1 epoch),
compared record by record with an inline sweep, ignoring timing and provenance fields.
"""
import copy
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from cocoop_lib import experiments, run_locks, workers
from cocoop_lib.notebook import check_parameters
from cocoop_lib.run_cost import run_cost
from cocoop_lib.runs import RunConfig, record_path, run

REPO = Path(__file__).resolve().parents[1]
SWEEP = [sys.executable, str(REPO / "scripts" / "sweep.py"), "--setting", "mini", "--experiments",
         "base_to_new", "--datasets", "MiniDigits", "MiniFashion", "--methods", "zeroshot", "coop",
         "--seeds", "1", "--epochs", "1", "--poll", "0.3"]
ENV = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1",
           MKL_NUM_THREADS="1", TQDM_DISABLE="1", TOKENIZERS_PARALLELISM="false")
IGNORED = ("seconds", "provenance", "peak_memory_mib")


def comparable(record: dict) -> dict:
    """A record without the fields that legitimately differ between equal runs."""
    r = {k: v for k, v in copy.deepcopy(record).items() if k not in IGNORED}
    r["train"].pop("seconds", None)
    r["config"].pop("output_dir", None)
    return r


def records_of(out: Path) -> dict:
    return {p.name: comparable(json.loads(p.read_text())) for p in sorted((out / "records").glob("*.json"))}


def runs_started(out: Path) -> dict:
    """How many times each run was started under a claim (from the claim log)."""
    counts = {}
    for e in run_locks.read_log(out):
        if e["event"] == "run":
            counts[e["run"]] = counts.get(e["run"], 0) + 1
    return counts


def sweep(out, *extra, check=True, **kw):
    p = subprocess.run(SWEEP + ["--output-dir", str(out), *extra], capture_output=True, text=True,
                       env=ENV, timeout=300, **kw)
    if check:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def inline_ref(tmp_path_factory):
    out = tmp_path_factory.mktemp("inline") / "out"
    sweep(out)
    return out


# ----------------------------------------------------------------------------- claims


def test_claim_is_exclusive_and_released(tmp_path):
    first = run_locks.try_claim(tmp_path, "run-a", heartbeat_s=0)
    assert first is not None and run_locks.try_claim(tmp_path, "run-a", heartbeat_s=0) is None
    info = json.loads(run_locks.claim_path(tmp_path, "run-a").read_text())
    assert {"owner", "host", "pid", "worker", "started", "heartbeat", "epoch", "epochs"} <= set(info)
    assert info["pid"] == os.getpid()
    first.heartbeat(epoch=3, epochs=10)
    assert run_locks.read_claim(run_locks.claim_path(tmp_path, "run-a"))["epoch"] == 3
    first.release()
    assert not run_locks.claim_path(tmp_path, "run-a").exists()
    with pytest.raises(ZeroDivisionError):   # released on an exception too
        with run_locks.try_claim(tmp_path, "run-b", heartbeat_s=0):
            1 / 0
    assert not run_locks.claim_path(tmp_path, "run-b").exists()


def _write_claim(out, name, **info):
    path = run_locks.claim_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = run_locks._now()
    path.write_text(json.dumps({"owner": "x", "host": platform.node(), "pid": os.getpid(),
                                "worker": "", "started": now, "heartbeat": now, "epoch": 0,
                                "epochs": None, **info}))


def test_stale_claims_are_taken_over_once(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()                                  # a pid that no longer exists
    _write_claim(tmp_path, "dead", pid=dead.pid)
    _write_claim(tmp_path, "live")               # this process: alive
    _write_claim(tmp_path, "far", host="other-node", pid=1, heartbeat="2000-01-01T00:00:00+00:00")
    _write_claim(tmp_path, "far-live", host="other-node", pid=1)
    assert run_locks.try_claim(tmp_path, "live", heartbeat_s=0) is None
    assert run_locks.try_claim(tmp_path, "far-live", heartbeat_s=0) is None
    # eight threads race for each stale claim: exactly one wins each
    for name in ("dead", "far"):
        wins = []
        threads = [threading.Thread(target=lambda: wins.append(run_locks.try_claim(tmp_path, name, heartbeat_s=0)))
                   for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert sum(w is not None for w in wins) == 1
        assert run_locks.read_claim(run_locks.claim_path(tmp_path, name))["owner"] != "x"
    assert [e["run"] for e in run_locks.read_log(tmp_path) if e["event"] == "takeover"] == ["dead", "far"]
    assert not list((tmp_path / "claims").glob("*.stale-*"))


def test_stale_claim_race_repeated(tmp_path):
    """The takeover race, 100 times over: the CI run of 1 Dec saw two winners once (a stale-lock
    cleanup that deleted a fresh takeover lock); about 2% of these trials failed with that code."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    for trial in range(100):
        name = f"run{trial}"
        _write_claim(tmp_path, name, pid=dead.pid)
        wins, errors = [], []

        def contend():
            try:
                wins.append(run_locks.try_claim(tmp_path, name, heartbeat_s=0))
            except Exception as e:            # noqa: BLE001 - a race must not raise either
                errors.append(e)
        threads = [threading.Thread(target=contend) for _ in range(8)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert not errors and sum(w is not None for w in wins) == 1, (trial, errors)


def test_run_waits_for_or_refuses_a_live_claim(tmp_path):
    config = RunConfig(dataset="MiniDigits", method="zeroshot", output_dir=str(tmp_path), device="cpu")
    name = config.resolved().run_name()
    holder = run_locks.try_claim(tmp_path, name, worker="other", heartbeat_s=0)
    with pytest.raises(run_locks.RunClaimed, match="other"):
        run(config, progress=False, wait=False)
    assert not record_path(config).exists()

    def finish():                                # the holder finishes the run, then releases
        time.sleep(0.5)
        holder.release()
        run(config, progress=False)
    t = threading.Thread(target=finish)
    t.start()
    record = run(config, progress=False)         # waits, then returns the holder's record
    t.join()
    assert record["name"] == name
    assert runs_started(tmp_path) == {name: 1}


# ----------------------------------------------------------------------------- plans


def test_plan_is_unique_longest_first_with_labels(tmp_path):
    P = check_parameters("results", datasets=["MiniDigits"], methods=["zeroshot", "coop", "cocoop"],
                         seeds=[1], output_dir=str(tmp_path))
    grid = experiments.plan(["base_to_new", "ablation"], P)
    names = [c.resolved().run_name() for c in grid]
    assert len(names) == len(set(names)) == 4    # zeroshot, coop ctx=4 (shared), coop long, cocoop
    costs = [run_cost(c) for c in grid]
    assert costs == sorted(costs, reverse=True) and grid[0].method == "cocoop"
    labels = sorted(experiments.config_label(c) for c in experiments.plan_ablation(P, 18))
    assert labels == ["CoCoOp (ctx=4 + Meta-Net)", "CoOp ctx=18", "CoOp ctx=4"]
    from cocoop_lib import notebook
    assert notebook.plan_ablation is experiments.plan_ablation


# ----------------------------------------------------------------------------- sweeps


def test_local_workers_equal_inline_each_run_once(inline_ref, tmp_path):
    out = tmp_path / "local"
    p = sweep(out, "--executor", "local", "--workers", "2")
    assert "worker w0 started" in p.stdout and "worker w1 started" in p.stdout
    ref = records_of(inline_ref)
    assert len(ref) == 4 and records_of(out) == ref
    assert sorted(runs_started(out).values()) == [1, 1, 1, 1]
    assert len({e["worker"] for e in run_locks.read_log(out)}) == 2     # both workers trained
    assert not list((out / "claims").glob("*.json"))          # every claim released


def test_two_sweeps_at_once_train_each_run_once(inline_ref, tmp_path):
    out = tmp_path / "twice"
    cmd = SWEEP + ["--output-dir", str(out)]
    procs = [subprocess.Popen(cmd + extra, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env=ENV) for extra in ([], ["--executor", "local", "--workers", "2"])]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert records_of(out) == records_of(inline_ref)
    assert sorted(runs_started(out).values()) == [1, 1, 1, 1]
    assert not list(out.rglob("*.tmp"))


def test_killed_worker_is_taken_over_and_resumes(tmp_path):
    cfg = dict(dataset="MiniDigits", method="coop", seed=1, epochs=4, device="cpu")
    ref_config = RunConfig(**cfg, output_dir=str(tmp_path / "ref"))     # uninterrupted
    # the reference is trained by a worker too: same thread count (ENV), so the losses can be
    # compared to the last bit (CPU reductions round differently with 1 and 2 threads)
    ref_plan = workers.write_plan([ref_config], tmp_path / "ref" / "plan.json")
    subprocess.run([sys.executable, "-m", "cocoop_lib.workers", str(ref_plan), "--worker", "ref"],
                   env=ENV, check=True, capture_output=True, timeout=300)
    ref = comparable(json.loads(record_path(ref_config).read_text()))
    out = tmp_path / "killed"
    config = RunConfig(**cfg, output_dir=str(out))
    plan_file = workers.write_plan([config], out / "plan.json")
    w = subprocess.Popen([sys.executable, "-m", "cocoop_lib.workers", str(plan_file), "--worker", "victim"],
                         env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not any(e["event"] == "epoch" and e["epoch"] >= 2 for e in run_locks.read_log(out)):
        assert time.time() < deadline and w.poll() is None
        time.sleep(0.05)
    w.send_signal(signal.SIGKILL)
    w.wait()
    ckpt = next((out / "checkpoints").glob("*.pt"))
    reached = torch.load(ckpt, weights_only=False)["epoch"]
    assert 2 <= reached < 4 and run_locks.claim_path(out, config.resolved().run_name()).exists()
    status = sweep(out, "--status", "--datasets", "MiniDigits", "--methods", "coop", "--epochs", "4")
    p = subprocess.run([sys.executable, "-m", "cocoop_lib.workers", str(plan_file), "--worker", "heir"],
                       env=ENV, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    log = run_locks.read_log(out)
    assert [e["event"] for e in log if e["worker"] == "heir"][:2] == ["takeover", "run"]
    heir_epochs = [e["epoch"] for e in log if e["event"] == "epoch" and e["worker"] == "heir"]
    assert heir_epochs == list(range(reached + 1, 5))          # resumed, not restarted
    assert comparable(json.loads(record_path(config).read_text())) == ref
    assert status.stdout.startswith("1 runs: 0 done, 0 claimed, 0 failed, 1 to do")
    assert "stale claim" in status.stdout         # the dead worker's claim is not shown as live


def test_failed_run_does_not_stop_the_rest_and_retry(tmp_path, monkeypatch):
    import cocoop_lib.runs as runs_module

    attempts = {}
    real_run = runs_module.run

    def counting_run(config, *args, **kwargs):
        name = config.resolved().run_name()
        attempts[name] = attempts.get(name, 0) + 1
        return real_run(config, *args, **kwargs)

    monkeypatch.setattr(runs_module, "run", counting_run)
    good = RunConfig(dataset="MiniDigits", method="zeroshot", output_dir=str(tmp_path), device="cpu")
    bad = RunConfig(dataset="MiniFashion", method="zeroshot", output_dir=str(tmp_path), device="cpu",
                    data_root=str(tmp_path / "nowhere"))
    lines = []
    counts = workers.work([bad, good], poll_s=0.1, log=lines.append)
    assert counts == {"trained": 1, "reused": 0, "failed": 1}
    marker = json.loads(workers.failed_path(bad).read_text())
    assert "nowhere" in marker["error"] and record_path(good).exists()
    assert workers.work([bad], poll_s=0.1, log=lines.append)["failed"] == 1   # not retried
    assert attempts == {bad.resolved().run_name(): 1, good.resolved().run_name(): 1}
    workers.work([bad], retry_failed=True, poll_s=0.1, log=lines.append)    # retried
    assert attempts[bad.resolved().run_name()] == 2


def test_status_force_and_damaged_record(inline_ref, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(inline_ref, out)
    st = sweep(out, "--status", "--workers", "2", "--executor", "local").stdout
    assert st.startswith("4 runs: 4 done, 0 claimed, 0 failed, 0 to do")
    damaged = next((out / "records").glob("MiniDigits-zeroshot*.json"))
    damaged.write_text(damaged.read_text()[:200])
    coop = next((out / "records").glob("MiniFashion-coop*.json"))
    coop.unlink()
    _write_claim(out, coop.stem, worker="gpu-node-3", epoch=0, epochs=1)
    st = sweep(out, "--status").stdout
    assert "1 claimed" in st and "gpu-node-3" in st and "ETA" in st
    assert f"damaged record {damaged}" in st and "--force" in st
    run_locks.claim_path(out, coop.stem).unlink()
    p = sweep(out, check=False)                      # the damaged one is reported, the rest run
    assert p.returncode == 1 and f"damaged record {damaged}" in p.stdout
    assert coop.exists() and len(damaged.read_text()) == 200     # rerun; the damaged one kept
    p = sweep(out, "--force", "--datasets", "MiniDigits", "--methods", "zeroshot")
    assert "--force: removed 1 files of 1 planned runs" in p.stdout   # the damaged record
    assert records_of(out) == records_of(inline_ref)


@pytest.mark.parametrize("args, message", [
    (["--shard", "abc"], "is not I/N"),
    (["--shard", "5/2"], "I must be in 0..N-1"),
    (["--seeds", "-1"], "Fix the sweep's --seeds option"),
])
def test_bad_sweep_arguments_are_clear_errors(args, message, tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import sweep as sweep_script
    argv = SWEEP[2:] + ["--output-dir", str(tmp_path), *args]
    assert sweep_script.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "notebook" not in err and "Traceback" not in err


# ----------------------------------------------------------------------------- SLURM (submitit)


def test_sbatch_script_has_the_flags_given(tmp_path, capsys):
    sys.path.insert(0, str(REPO / "scripts"))
    import sweep as sweep_script
    argv = SWEEP[2:] + ["--output-dir", str(tmp_path), "--executor", "slurm", "--workers", "3",
                        "--partition", "gpu-a100", "--gpus-per-task", "2", "--cpus-per-task", "12",
                        "--mem", "48G", "--time", "1-02:30:00",
                        "--slurm-extra", "--account=proj42 --qos high --exclusive", "--print-sbatch"]
    assert sweep_script.main(argv) == 0
    text = capsys.readouterr().out
    for flag in ("--partition=gpu-a100", "--gpus-per-node=2", "--cpus-per-task=12", "--mem=48G",
                 f"--time={26 * 60 + 30}", "--account=proj42", "--qos=high", "#SBATCH --exclusive"):
        assert flag in text, flag
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize("cluster", ["debug", pytest.param("local", marks=pytest.mark.slow)])
def test_submitit_workers_run_the_plan(cluster, tmp_path):
    out = tmp_path / cluster
    p = sweep(out, "--executor", "slurm", "--slurm-cluster", cluster, "--workers", "2",
              "--methods", "zeroshot")
    assert "submitted" in p.stdout
    if cluster == "local":                        # real processes: wait for them via --status
        deadline = time.time() + 240
        while "2 done" not in sweep(out, "--methods", "zeroshot", "--status").stdout:
            assert time.time() < deadline
            time.sleep(1)
        time.sleep(1)
    assert len(list((out / "records").glob("*.json"))) == 2
    assert sorted(runs_started(out).values()) == [1, 1]
