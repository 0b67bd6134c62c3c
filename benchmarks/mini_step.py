"""One mini-world training step (CoOp batch 32, CoCoOp batch 1), before and after the batch pipeline.

    python -m benchmarks.mini_step [--dataset MiniFood] [--threads 1] [--repeats 15]

"before": the PIL + DataLoader path (decode and transform every image every step); "after": images
decoded once, the augmentation on uint8 tensors, a plain index loop (cocoop_lib/train_batches.py).
A step = produce one batch + ``train_step``. Both pipelines run in ONE process, interleaved round by
round after a warm-up; each number is a median. Writes benchmarks/results/mini_step.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

from cocoop_lib.backbone import image_transforms  # noqa: E402
from cocoop_lib.datasets import ImageDataset, load_dataset, sample_few_shot, subsample_classes  # noqa: E402
from cocoop_lib.model import PromptedCLIP  # noqa: E402
from cocoop_lib.presets import get_recipe  # noqa: E402
from cocoop_lib.prompt_learners import build_prompt_learner  # noqa: E402
from cocoop_lib.runs import get_backbone  # noqa: E402
from cocoop_lib.train_batches import EpochBatches, training_images  # noqa: E402
from cocoop_lib.training import train_step  # noqa: E402

OUT = Path(__file__).resolve().parent / "results" / "mini_step.json"


def endless(batches):
    while True:
        yield from batches


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="MiniFood")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--steps", type=int, default=3, help="steps per timing")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    backbone = get_backbone("mini", "cpu", "fp32")
    recipe = get_recipe("mini")
    train_tf = image_transforms(backbone.image_size, tuple(recipe.crop_scale))[0]
    splits = load_dataset(args.dataset)
    base = subsample_classes(sample_few_shot(splits, recipe.shots, 1), "base")
    cases = {}
    for method, bs in (("coop", 32), ("cocoop", 1)):
        learner = build_prompt_learner(method, backbone, base.classnames, template=splits.template,
                                       n_ctx=None, ctx_init=recipe.ctx_init)
        model = PromptedCLIP(backbone, learner)
        opt = torch.optim.SGD([q for q in learner.parameters() if q.requires_grad], lr=0.002,
                              momentum=0.9)
        for pipeline in ("pil", "tensor"):
            t0 = time.perf_counter()
            data = training_images(ImageDataset(base.train, train_tf), pipeline)
            setup = time.perf_counter() - t0
            it = endless(EpochBatches(data, bs, torch.Generator().manual_seed(0)))
            cases[(method, pipeline)] = dict(model=model, opt=opt, it=it, setup=setup, times=[],
                                             data_times=[])
    for rnd in range(args.repeats + 2):                  # 2 warm-up rounds, then interleaved
        for key, c in cases.items():
            t_data = t_all = 0.0
            for _ in range(args.steps):
                t0 = time.perf_counter()
                x, y = next(c["it"])
                t1 = time.perf_counter()
                train_step(c["model"], c["opt"], x, y)
                t_data += t1 - t0
                t_all += time.perf_counter() - t0
            if rnd >= 2:
                c["times"].append(t_all / args.steps)
                c["data_times"].append(t_data / args.steps)
    result = {"device": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
              "threads": args.threads, "torch": torch.__version__, "dataset": args.dataset,
              "repeats": args.repeats, "steps_per_timing": args.steps,
              "note": "shared, loaded 2-core machine: absolute times are noisy, the ratios matter",
              "methods": {}}
    for method, bs in (("coop", 32), ("cocoop", 1)):
        before, after = cases[(method, "pil")], cases[(method, "tensor")]
        row = {"batch_size": bs,
               "step_ms_before": 1e3 * statistics.median(before["times"]),
               "step_ms_after": 1e3 * statistics.median(after["times"]),
               "data_ms_before": 1e3 * statistics.median(before["data_times"]),
               "data_ms_after": 1e3 * statistics.median(after["data_times"]),
               "decode_once_s": after["setup"]}
        row["speedup"] = row["step_ms_before"] / row["step_ms_after"]
        row["data_speedup"] = row["data_ms_before"] / row["data_ms_after"]
        result["methods"][method] = {k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}
        print(f"{method:7s} b{bs:<3d} step {row['step_ms_before']:7.2f} -> {row['step_ms_after']:7.2f} ms "
              f"(x{row['speedup']:.2f}); batch production {row['data_ms_before']:.2f} -> "
              f"{row['data_ms_after']:.2f} ms (x{row['data_speedup']:.1f})")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
