"""Kernel paths (cocoop_lib/kernel_path.py): records name theirs, a comparison knows its regime
(bit-equal on one path, the measured tolerance across paths), and a planted change in the recipe
fails both rules."""
import copy
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cocoop_lib import kernel_path, presets
from cocoop_lib.kernel_path import compare, load_tolerance, other_path_env, path_of, same_path
from cocoop_lib.runs import RunConfig, run

REPO = Path(__file__).resolve().parents[1]
TOL = {"metrics": {"base": 3.0, "new": 3.0, "H": 2.0, "accuracy": 3.0}, "loss_epochs": 2,
       "loss_start": 1e-4}


def _record(metrics, losses, **prov):
    path = {"cpu_model": "X", "cpu_capability": "AVX2", "blas": "MKL 1", "onednn": "v3",
            "cpu_threads": 1, "kernel_env": {}}
    return {"metrics": metrics, "train": {"losses": losses},
            "provenance": {"device": "cpu", "versions": {"torch": "2"}, **path, **prov}}


def test_a_cpu_record_names_its_kernel_path(tmp_path):
    record = run(RunConfig(dataset="MiniFashion", method="zeroshot", device="cpu",
                           output_dir=str(tmp_path)), progress=False)
    prov = record["provenance"]
    assert prov["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert prov["cpu_model"] == kernel_path.cpu_model() and "model" in prov["cpu_model"]
    assert prov["blas"] != "unknown" and prov["onednn"]
    assert prov["cpu_threads"] == 1 and isinstance(prov["kernel_env"], dict)
    assert path_of(record) is not None and same_path(record, copy.deepcopy(record))


def test_records_without_a_kernel_path_count_as_another_path():
    new = _record({"D:base": 50.0}, [1.0, 0.5])
    old = copy.deepcopy(new)
    for f in ("cpu_model", "cpu_capability", "blas", "onednn", "kernel_env"):
        del old["provenance"][f]
    assert path_of(old) is None and not same_path(old, new)
    assert compare(old, new, TOL)["regime"] == "another kernel path"


def test_the_same_path_demands_bit_equality():
    a = _record({"D:base": 50.0, "D:new": 40.0}, [1.0, 0.5, 0.25])
    assert compare(a, copy.deepcopy(a), TOL) | {} == {
        "metrics_equal": True, "max_metric_diff": 0.0, "max_loss_diff": 0.0,
        "regime": "same kernel path", "max_loss_start_diff": 0.0, "passed": True, "why": ""}
    b = _record({"D:base": 50.0, "D:new": 40.0}, [1.0, 0.5, 0.25 + 1e-9])
    result = compare(a, b, TOL)
    assert not result["passed"] and "not bit-equal on the same kernel path" in result["why"]


def test_another_path_passes_within_the_tolerance_and_names_what_breaks_it():
    a = _record({"D:base": 50.0, "D:new": 40.0, "D:H": 44.44}, [1.0, 0.5, 0.25])
    near = _record({"D:base": 52.0, "D:new": 38.0, "D:H": 44.2}, [1.0 + 5e-5, 0.5, 0.4],
                   cpu_capability="AVX512")
    result = compare(a, near, TOL)
    assert result["regime"] == "another kernel path" and result["passed"], result["why"]
    assert result["max_metric_diff"] == 2.0 and result["max_loss_start_diff"] == pytest.approx(5e-5)
    far = _record({"D:base": 54.0, "D:new": 40.0, "D:H": 44.44}, [1.0, 0.5, 0.25], cpu_capability="AVX512")
    assert compare(a, far, TOL)["why"] == "D:base differs by +4.00 points (tolerance across kernel paths 3.00)"
    moved = _record({"D:base": 50.0, "D:new": 40.0, "D:H": 44.44}, [1.0, 0.52, 0.25], cpu_capability="AVX512")
    assert "the first 2 epochs' losses differ by 0.02" in compare(a, moved, TOL)["why"]
    missing = _record({"D:base": 50.0}, [1.0, 0.5, 0.25], cpu_capability="AVX512")
    assert not compare(a, missing, TOL)["passed"]                      # a metric went missing
    shorter = _record(a["metrics"], [1.0, 0.5], cpu_capability="AVX512")
    assert not compare(a, shorter, TOL)["passed"]                      # other epochs


def test_other_path_env_goes_one_vector_width_down():
    assert other_path_env("AVX512")["ATEN_CPU_CAPABILITY"] == "avx2"
    assert other_path_env("AVX2") == {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE",
                                      "ONEDNN_MAX_CPU_ISA": "SSE41"}
    assert other_path_env("DEFAULT")["ATEN_CPU_CAPABILITY"] == "default"


def test_the_committed_tolerance_was_measured():
    tol = load_tolerance()
    assert tol["made_by"] == "scripts/measure_kernel_paths.py" and tol["n_comparisons"] >= 8 * 2
    assert set(tol["metrics"]) >= {"base", "new", "H", "accuracy"}
    assert 0 < tol["loss_start"] < 1e-2 and tol["loss_epochs"] >= 2
    measured = json.loads((kernel_path.TOLERANCE_FILE.parent / "measurements.json").read_text())
    runs = {c["run"] for c in measured["comparisons"] if c["method"] != "zeroshot"}
    assert len(runs) >= 8 and {c["method"] for c in measured["comparisons"]} >= {"coop", "cocoop"}
    for c in measured["comparisons"]:          # the tolerance covers every comparison it came from
        if c["method"] != "zeroshot":
            assert all(abs(v) <= tol["metrics"][kernel_path.metric_kind(k)] for k, v in c["metrics"].items())


CHILD = "import json, sys\nfrom cocoop_lib.runs import RunConfig, run\nrun(RunConfig(**json.loads(sys.argv[1])), progress=False)"


def _train_in_child(config: RunConfig, env_extra: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in kernel_path.KERNEL_ENV}
    env |= {"PYTHONPATH": str(REPO), "TQDM_DISABLE": "1", "COCOOP_SHIPPED_RUNS": "0", **env_extra}
    fields = {f: getattr(config, f) for f in ("dataset", "method", "seed", "epochs", "device", "output_dir")}
    subprocess.run([sys.executable, "-c", CHILD, json.dumps(fields)], env=env, check=True, cwd=REPO,
                   capture_output=True, timeout=300)
    name = config.resolved().run_name()
    return json.loads((Path(config.output_dir) / "records" / f"{name}.json").read_text())


def _strip_path(record: dict) -> dict:
    out = copy.deepcopy(record)
    out["provenance"].pop("cpu_capability")
    return out


def test_another_kernel_path_stays_within_tolerance_and_planted_changes_fail_both_rules(tmp_path, monkeypatch):
    """The tolerance branch on every machine: the same run in a child process on another kernel
    path (other_path_env) passes by the tolerance rule. Planted changes fail the bit-equal rule and
    the tolerance rule: half the lr (a setting: named), and another augmentation draw (one extra
    random number before every crop: no setting shows it, the first epoch's loss does)."""
    from cocoop_lib.datasets.augment import TensorTrainAugment

    def config(out, **kw):
        return RunConfig(dataset="MiniFashion", method="coop", seed=1, epochs=3, device="cpu",
                         output_dir=str(tmp_path / out), **kw)

    reference = run(config("ref"), progress=False)
    again = run(config("again"), progress=False)
    assert compare(reference, again)["regime"] == "same kernel path"
    assert compare(reference, again)["passed"]                          # bit-equal in one path

    other = _train_in_child(config("other"), other_path_env())
    assert path_of(other) != path_of(reference)
    assert other["provenance"]["kernel_env"] == other_path_env()
    result = compare(reference, other)
    assert result["regime"] == "another kernel path" and result["passed"], result["why"]
    assert result["max_loss_diff"] > 0                                  # it did take another path

    half_lr = run(config("lr", lr=reference["config"]["lr"] / 2), progress=False)
    crop_params = TensorTrainAugment.crop_params

    def shifted(self, height, width):
        torch.rand(1)                                                   # one extra draw
        return crop_params(self, height, width)

    monkeypatch.setattr(TensorTrainAugment, "crop_params", shifted)
    draws = run(config("draws"), progress=False)
    monkeypatch.undo()
    assert draws["config"] == {**reference["config"], "output_dir": str(tmp_path / "draws")}
    for planted, sign in ((half_lr, "settings differ (config.lr"), (draws, "epochs' losses differ")):
        same = compare(reference, planted)
        assert same["regime"] == "same kernel path" and not same["passed"]
        across = compare(_strip_path(reference), planted)
        assert across["regime"] == "another kernel path" and not across["passed"]
        assert sign in across["why"] and "the run itself changed" in across["why"], across["why"]
