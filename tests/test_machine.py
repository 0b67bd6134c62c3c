"""cocoop_lib/machine.py: what a run ran on (git revision, versions, device, kernel path)."""
import platform
import subprocess

import torch

from cocoop_lib import machine
from cocoop_lib.kernel_path import kernel_path


def test_git_revision_is_this_checkouts_head():
    head = subprocess.run(["git", "-C", str(machine.REPO), "rev-parse", "--short=12", "HEAD"],
                          capture_output=True, text=True).stdout.strip()
    rev = machine.git_revision()
    assert rev in (head, head + "-dirty") and len(head) == 12


def test_versions_and_provenance_name_this_process():
    v = machine.versions()
    assert v["python"] == platform.python_version() and torch.__version__.startswith(v["torch"])
    assert set(v) == {"python", "cocoop-lib", *machine.PACKAGES}
    prov = machine.provenance("cpu")
    assert prov["device"] == "cpu" and prov["host"] == platform.node()
    # the kernel path's facts are the record's (what decides its float32 sums)
    assert {k: prov[k] for k in kernel_path("cpu")} == kernel_path("cpu")
    assert prov["utc"].endswith("+00:00") and prov["git_revision"] == machine.git_revision()
