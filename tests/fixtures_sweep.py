"""Helpers of the tests that run real sweeps and workers (tests/test_sweep.py, test_workers.py,
test_run_locks.py): the sweep command on the mini world, records compared without timing and
provenance, the claim log's run counts, and a claim file written by hand."""
import copy
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

from cocoop_lib import run_locks


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


def write_claim(out, name, **info):
    path = run_locks.claim_path(out, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    now = run_locks._now()
    path.write_text(json.dumps({"owner": "x", "host": platform.node(), "pid": os.getpid(),
                                "worker": "", "started": now, "heartbeat": now, "epoch": 0,
                                "epochs": None, **info}))
