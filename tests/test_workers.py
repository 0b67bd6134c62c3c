"""cocoop_lib/workers.py: workers pulling runs under claims: a killed worker's run is taken over
and resumed, a failed run is skipped until retried, a run finished meanwhile is not trained."""
import json
import signal
import subprocess
import sys
import time

import torch

from cocoop_lib import run_locks, workers
from cocoop_lib.runs import RunConfig, record_path, run
from fixtures_runs import cfg
from fixtures_sweep import ENV, comparable, sweep


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


def test_a_run_finished_by_another_worker_meanwhile_is_not_counted_as_trained(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch):
    """L3: the check said "not done", then another worker's record appeared before the claim."""
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    run(c, progress=False)                                   # "the other worker"
    monkeypatch.setattr(workers, "finished_record", lambda config: None)
    lines = []
    assert workers.work([c], poll_s=0.01, log=lines.append) == {"trained": 0, "reused": 1, "failed": 0}
    assert "finished by another worker meanwhile" in lines[-1]
    other = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot", seed=2)
    assert workers.work([other], poll_s=0.01, log=lines.append) == {"trained": 1, "reused": 0, "failed": 0}
