"""The GPU check's code path (benchmarks/bench.py, GPU preset) run end to end on the CPU.

The dry run uses a 1-layer ViT-B/16-shaped random CLIP; the captured step's code runs there as
``CapturedStep(capture=False)`` (the restructured step, eagerly), so the default GPU path, the
trajectory check and the C = 1000 memory check (here C = 100) are all exercised. No timing is
asserted: the claims come from real runs.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root (benchmarks/)


def test_gpu_preset_dry_run_reports_every_field(tmp_path):
    from benchmarks import bench
    threads = torch.get_num_threads()
    out = tmp_path / "gpu-dry.json"
    try:
        bench.main(["--preset", "gpu", "--device", "cpu", "--dry-run", "--classes", "5",
                    "--out", str(out)])
    finally:
        torch.set_num_threads(threads)
    report = json.loads(out.read_text())
    env = report["environment"]
    assert {"device_name", "torch", "cuda", "python", "git_commit"} <= set(env)
    assert report["library_path"] == "restructured training step (eager)"
    row = report["results"][0]
    assert row["classes"] == 5
    assert {"cocoop_b1", "cocoop_b1_eager", "coop_b4", "faithful_cocoop_b1"} <= set(row["seconds_per_step"])
    assert {"train_speedup_b1", "eval_speedup_cached", "cocoop_b1_over_coop_b4",
            "default_step_gain_b1"} <= set(row["ratios"])
    # a CPU is not in the peak table: the fraction is null, with the device's name
    assert row["bf16_peak"] == {"device_name": env["device_name"], "tflops": None}
    assert row["fraction_of_bf16_peak"]["text_train_b1_cost_model"] is None
    assert set(report["summary"]["5"]) == {"train_speedup_b1", "eval_speedup_cached",
                                           "cocoop_b1_over_coop_b4", "text_fraction_of_bf16_peak"}
    mem = report["memory_check"]
    assert mem["classes"] == 100 and mem["budget_gib"] == 16.0
    assert set(mem["fits_budget"]) == {"cocoop_b1_train", "eval"}
    assert mem["memory_mib"]["cocoop_b1_train"] > 0          # activations saved for backward
    traj = report["trajectory"]
    assert traj["steps"] == 4 and traj["graphs_captured"] == 0
    # on the CPU the restructured step is the eager step's maths bit for bit
    assert traj["params_max_rel_diff"] == 0.0 and traj["loss_max_abs_diff"] == 0.0
    claims = {c["claim"]: c for c in report["claims"]}
    assert any("trajectory" in k and c["met"] for k, c in claims.items())


def test_peak_table_and_unknown_device():
    from benchmarks import bench
    assert bench.peak_bf16_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert bench.peak_bf16_tflops("NVIDIA H200") == 989.0
    assert bench.peak_bf16_tflops("NVIDIA A100-SXM4-40GB") == 312.0
    assert bench.peak_bf16_tflops("NVIDIA H100 PCIe") == 756.0
    assert bench.peak_bf16_tflops("Some New Accelerator") is None


def test_claims_come_from_the_thresholds_table():
    from benchmarks import bench
    s = bench.Settings(preset="gpu", device="cuda")
    row = {"classes": 100, "ratios": {"train_speedup_b1": 12.0, "eval_speedup_cached": 19.0,
                                      "cocoop_b1_over_coop_b32": 3.0}}
    got = {c["claim"]: c["met"] for c in bench.claims(s, [row])}
    assert got == {"GPU, C=100, batch 1: training step (default path) speed-up vs faithful": True,
                   "GPU, C=100: evaluation images/s vs faithful (cached image features)": False,
                   "C=100: CoCoOp (batch 1) / CoOp (batch 32) training time per image": True}



def test_benchmark_dry_run_writes_its_report(tmp_path):
    """The benchmark script runs end to end (no timing is checked: claims come from real runs)."""
    from benchmarks import bench
    threads = torch.get_num_threads()
    try:
        report = bench.main(["--dry-run", "--classes", "5", "--out", str(tmp_path / "r.json")])
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "r.json").exists()
    assert report["agreement_fp32"]["logits_max_rel_diff"] < 1e-4
    assert report["agreement_fp32"]["grads_max_rel_diff"] < 1e-4
    row = report["results"][0]
    assert row["classes"] == 5 and row["cut_length"] < 77
    assert {"train_speedup_b1", "eval_speedup_cached", "cocoop_b1_over_coop_b4"} <= set(row["ratios"])
    assert "| C |" in report["table"]
