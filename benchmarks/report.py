"""The benchmark's report: environment, the acceptance claims (thresholds as data), the per-C
summary and the printed markdown table."""
from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

import torch

from benchmarks.cost_model import device_peak
from benchmarks.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def environment(s: Settings) -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
           "platform": platform.platform(), "cpu_threads": torch.get_num_threads(),
           "load_average_start": os.getloadavg()}
    try:
        env["git_commit"] = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, text=True,
                                           capture_output=True).stdout.strip()
    except OSError:
        pass
    if s.device.startswith("cuda"):
        env.update(device_name=torch.cuda.get_device_name(), cuda=torch.version.cuda,
                   cudnn=torch.backends.cudnn.version(),
                   device_memory_gib=torch.cuda.get_device_properties(0).total_memory / 2**30,
                   peak_bf16_tflops=device_peak(s)[1])
    else:
        env["device_name"] = device_peak(s)[0]
    return env


# The issue's acceptance numbers: (presets, claim, C, (section, key) of that C's row, op, target);
# "{b}" is the CoOp batch. Checked only where measured.
CLAIMS = [
    (("cpu", "cpu-quick"), "CPU, C=100, batch 1: training step speed-up vs faithful", 100,
     ("ratios", "train_speedup_b1"), ">=", 4),
    (("cpu", "cpu-quick"), "CPU, C=100: evaluation images/s vs faithful (cached image features)", 100,
     ("ratios", "eval_speedup_cached"), ">=", 10),
    (("gpu",), "GPU, C=100, batch 1: training step (default path) speed-up vs faithful", 100,
     ("ratios", "train_speedup_b1"), ">=", 10),
    (("gpu",), "GPU, C=100: evaluation images/s vs faithful (cached image features)", 100,
     ("ratios", "eval_speedup_cached"), ">=", 20),
    (("gpu",), "GPU, C=500, batch 1: text-side fraction of bf16 peak (cost model)", 500,
     ("fraction_of_bf16_peak", "text_train_b1_cost_model"), ">=", 0.30),
    (("cpu", "cpu-quick", "gpu"), "C=100: CoCoOp (batch 1) / CoOp (batch {b}) training time per image",
     100, ("ratios", "cocoop_b1_over_coop_b{b}"), "<=", 10),
]


def claims(s: Settings, rows: list[dict], memory: dict | None = None,
           trajectory: dict | None = None) -> list[dict]:
    """The issue's acceptance numbers (CLAIMS, the memory budget, the trajectory tolerance),
    checked against this run (only where measured)."""
    by_c = {r["classes"]: r for r in rows}
    out = []

    def check(what, value, op, threshold):
        if value is not None:
            ok = value >= threshold if op == ">=" else value <= threshold
            out.append({"claim": what, "value": round(float(value), 6), "target": f"{op} {threshold}",
                        "met": bool(ok)})

    for presets, what, n_cls, (section, key), op, target in CLAIMS:
        if s.preset in presets:
            value = by_c.get(n_cls, {}).get(section, {}).get(key.format(b=s.coop_batch))
            check(what.format(b=s.coop_batch), value, op, target)
    if memory:
        budget = memory["budget_gib"] * 1024
        for k, mib in memory["memory_total_mib"].items():
            check(f"C={memory['classes']}: {k} peak memory (MiB, total allocated) within "
                  f"{memory['budget_gib']:g} GiB", mib, "<=", budget)
    if trajectory:
        check(f"replayed vs eager {trajectory['steps']}-step trajectory at C={trajectory['classes']}: "
              "max relative parameter difference", trajectory["params_max_rel_diff"], "<=",
              trajectory["tolerance_rel"])
    return out


def summary(s: Settings, rows: list[dict]) -> dict:
    """Per class count, the four numbers the GPU check reports (None where not measured)."""
    coop = "cocoop_b1_over_coop_b%d" % s.coop_batch
    return {str(r["classes"]): {
        "train_speedup_b1": r["ratios"].get("train_speedup_b1"),
        "eval_speedup_cached": r["ratios"].get("eval_speedup_cached"),
        coop: r["ratios"].get(coop),
        "text_fraction_of_bf16_peak": r["fraction_of_bf16_peak"].get("text_train_b1_cost_model")}
        for r in rows}


def table(s: Settings, rows: list[dict]) -> str:
    """The printed table (markdown)."""
    head = ["C", "L cut", "train b1 faithful s", "train b1 ours s", "train speed-up",
            "eval img/s faithful", "eval img/s ours (cached / cold)", "eval speed-up (cached / cold)",
            f"CoCoOp b1 / CoOp b{s.coop_batch} per image (ours / faithful (cost model))",
            "peak memory faithful / ours MiB" if s.device.startswith("cuda")
            else "act. memory faithful / ours MiB",
            "prefix-sharing gain"]
    if s.headroom_batch:
        head.append(f"headroom b{s.headroom_batch} vs faithful b1")
    if s.preset == "gpu":
        head.append("text TFLOP/s (frac. of bf16 peak)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    fmt = lambda v, spec=".3g": "-" if v is None else format(v, spec)
    for r in rows:
        st, ips, ra, mem = r["seconds_per_step"], r["eval_images_per_s"], r["ratios"], r["memory_mib"]
        cells = [str(r["classes"]), str(r["cut_length"]), fmt(st.get("faithful_cocoop_b1")),
                 fmt(st["cocoop_b1"]), fmt(ra.get("train_speedup_b1"), ".1f") + "x"
                 if "train_speedup_b1" in ra else "-",
                 fmt(ips["faithful"]), f"{fmt(ips['cached'])} / {fmt(ips['cold'])}",
                 f"{ra['eval_speedup_cached']:.1f}x / {ra['eval_speedup_cold']:.1f}x",
                 f"{ra['cocoop_b1_over_coop_b%d' % s.coop_batch]:.1f}x / "
                 + fmt(ra.get("faithful_cocoop_b1_over_faithful_coop_b%d" % s.coop_batch), ".1f")
                 + f" (model {ra['cost_model_cocoop_b1_over_coop_b%d' % s.coop_batch]:.1f})",
                 f"{fmt(mem.get('faithful_cocoop_b1'), '.0f')} / {fmt(mem['cocoop_b1'], '.0f')}",
                 f"{ra['prefix_sharing_gain_b1']:.2f}x"]
        if s.headroom_batch:
            cells.append(fmt(ra.get(f"headroom_cocoop_b{s.headroom_batch}_speedup_vs_faithful_b1"),
                             ".1f"))
        if s.preset == "gpu":
            t = r["achieved_tflops"]["text_train_b1_cost_model"]
            frac = r.get("fraction_of_bf16_peak", {}).get("text_train_b1_cost_model")
            cells.append(f"{fmt(t)} ({fmt(frac, '.0%')})")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


