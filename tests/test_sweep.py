"""scripts/sweep.py: the book's grid on many workers: local worker processes, SLURM via submitit,
status, shipped and failed runs (the claims: tests/test_run_locks.py; workers: test_workers.py).

The sweeps here are real processes on the bundled mini world (MiniDigits / MiniFashion, 1 epoch),
compared record by record with an inline sweep, ignoring timing and provenance fields.
"""
import argparse
import json
import shutil
import subprocess
import sys
import time

import pytest

from cocoop_lib import run_locks, shipped, workers
from fixtures_runs import SHIPPED_STORE, SWEEP_ZS, ZS_DIGITS, store_copy as _store_copy
from fixtures_runs import sweep_script as _sweep_main
from fixtures_sweep import ENV, REPO, SWEEP, records_of, runs_started, sweep, write_claim as _write_claim


@pytest.fixture(scope="module")
def inline_ref(tmp_path_factory):
    out = tmp_path_factory.mktemp("inline") / "out"
    sweep(out)
    return out


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


# ----------------------------------------------------------------------------- shipped and failed runs, workers, SLURM


def test_a_skipped_failed_run_says_how_to_retry(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(shipped.ENV, "1")
    out = tmp_path / "out"
    args = ["--setting", "mini", "--experiments", "base_to_new", "--datasets", "MiniDigits",
            "--methods", "coop", "--seeds", "1", "--epochs", "1", "--device", "cpu",
            "--output-dir", str(out)]
    sw = _sweep_main()
    [config] = sw.plan(argparse.Namespace(
        setting="mini", data_root=None, output_dir=str(out), experiments=["base_to_new"],
        datasets=["MiniDigits"], methods=["coop"], seeds=[1], shots=None, epochs=1, n_ctx=None,
        recipe=None, backbone=None, device="cpu", precision="auto"))
    fail = workers.failed_path(config)
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"error": "CheckpointError: ... delete it or run again with --force"}))
    assert sw.main(args) == 1
    text = capsys.readouterr().out
    assert "1 run(s) failed before and are skipped" in text and "add --retry-failed" in text
    assert f"skipped {config.resolved().run_name()}: it failed before" in text
    assert "failed runs are skipped until the sweep runs with --retry-failed" in sw.status([config], out)


def test_status_eta_ignores_shipped_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(shipped.ENV, "1")
    sw = _sweep_main()
    ns = argparse.Namespace(
        setting="mini", data_root=None, output_dir=str(tmp_path), experiments=["base_to_new"],
        datasets=["MiniDigits"], methods=["zeroshot", "coop"], seeds=[1], shots=None, epochs=3,
        n_ctx=None, recipe=None, backbone=None, device="cpu", precision="auto")
    text = sw.status(sw.plan(ns), tmp_path).splitlines()[0]
    assert text.startswith("2 runs: 1 done, 0 claimed, 0 failed, 1 to do")
    assert "ETA: unknown until a run trained here has finished (the 1 done are shipped records" in text


def test_a_local_worker_that_died_is_named_with_its_exit(tmp_path, monkeypatch, capsys):
    sw = _sweep_main()
    real = subprocess.Popen
    codes = iter(["import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "raise SystemExit(0)"])
    monkeypatch.setattr(sw.subprocess, "Popen", lambda cmd, env: real([sys.executable, "-c", next(codes)]))
    args = argparse.Namespace(device="cpu", workers=2, poll=0.1)
    assert sw.run_local(tmp_path / "plan.json", args) == 1
    err = capsys.readouterr().err
    assert "worker w0 (pid" in err and "was killed by signal SIGKILL" in err
    assert "taken over and resumed from its checkpoint" in err and "worker w1" not in err


@pytest.mark.slow
def test_damaged_shipped_record_sweep_names_it_and_force_repairs(tmp_path, monkeypatch, capsys):
    """N2, N2b: the sweep says which shipped file is damaged and how to restore it; --force trains."""
    monkeypatch.setenv(shipped.ENV, "1")
    store = _store_copy(tmp_path)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", store)
    path = store / "records" / f"{ZS_DIGITS}.json"
    path.write_text(path.read_text()[:300])                          # truncated
    out = tmp_path / "out"
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"damaged shipped record: shipped file {path} is not the committed one" in text
    assert f"git checkout -- {path}" in text and "COCOOP_SHIPPED_RUNS=0" in text
    assert f"damaged record {out}" not in text                        # no path that does not exist
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out), "--force"]) == 0
    text = capsys.readouterr().out
    assert "every planned run trains here" in text and "0 already done" in text
    record = json.loads((out / "records" / f"{ZS_DIGITS}.json").read_text())
    assert "shipped_from" not in record                               # trained here
    committed = json.loads((SHIPPED_STORE / "records" / f"{ZS_DIGITS}.json").read_text())
    assert record["metrics"] == committed["metrics"]


@pytest.mark.slow
def test_sweep_force_on_an_intact_shipped_run_trains_it(tmp_path, monkeypatch, capsys):
    """N19: --force means "redo every planned run", shipped ones included."""
    monkeypatch.setenv(shipped.ENV, "1")
    out = tmp_path / "out"
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out)]) == 0
    assert "1 already done" in capsys.readouterr().out                # the shipped record
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out), "--force"]) == 0
    text = capsys.readouterr().out
    assert "0 already done" in text and "sweep finished" in text
    assert "shipped_from" not in json.loads((out / "records" / f"{ZS_DIGITS}.json").read_text())
    assert [e["event"] for e in run_locks.read_log(out)].count("run") == 1


def test_slurm_executor_without_slurm_is_an_error_and_submits_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))                 # no sbatch anywhere
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(tmp_path / "o"), "--executor", "slurm"]) == 2
    captured = capsys.readouterr()
    assert "SLURM is not available here (no `sbatch` on PATH), so nothing was submitted" in captured.err
    assert "--executor local" in captured.err and "submitted" not in captured.out
    assert not (tmp_path / "o").exists()


def test_print_sbatch_needs_the_slurm_executor_and_shows_an_array_of_this_python(tmp_path, capsys):
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(tmp_path / "o"), "--print-sbatch"]) == 2
    assert "--print-sbatch prints the SLURM job script, so it needs --executor slurm" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()                              # nothing was run
    assert sw.main(SWEEP_ZS + ["--output-dir", str(tmp_path / "o"), "--print-sbatch",
                               "--executor", "slurm", "--workers", "3"]) == 0
    text = capsys.readouterr().out
    assert "#SBATCH --array=0-2%3" in text
    assert f"{sys.executable} -u -m submitit.core._submit" in text
