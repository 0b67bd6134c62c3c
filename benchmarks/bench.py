"""Speed benchmark: the library's CoCoOp / CoOp against the faithful port of the official loop.

    python -m benchmarks.bench --quick                 # CPU, 2-layer ViT-B/16-shaped model, ~2-3 min
    python -m benchmarks.bench                         # CPU, 12 layers (full ViT-B/16 shape), ~25 min
    python -m benchmarks.bench --device cuda           # GPU preset (benchmarks/gpu_check.sh)
    python -m benchmarks.bench --dry-run               # seconds: exercises every code path

Both paths run in the same process, on the same random inputs, interleaved round by round (so load
on a shared machine hits both alike), after a check that they give the same logits and gradients.
Each number is the median of ``--repeats`` timings. Performance claims are the RATIOS: speed-ups,
the CoCoOp / CoOp cost ratio, memory ratios and, on a GPU, the achieved fraction of peak FLOP/s
from the cost model of docs/performance.md. Results go to a JSON file and a printed table.

Model: random weights in ViT-B/16's shape (text width 512, 8 heads, context 77, vocab 49408;
vision width 768, 12 heads, 224 px, patch 16; embed 512); ``--layers`` sets the depth of both towers
(12 = ViT-B/16; fewer keep the image/text cost balance and every per-layer ratio).

Layers: ``cost_model.py`` (FLOPs, bf16 peaks), ``synthetic.py`` (the random ViT-B/16-shaped CLIP,
class names), ``timing.py`` (interleaved timing, memory), ``report.py`` (environment, the claims'
thresholds as data, summary, table), ``settings.py`` (``Settings``: what one benchmark run
measures); this file holds the presets, the measurements (``Bench``) and the CLI, and re-exports the public names of the others. It stays one file of about 500 lines
on purpose: every scenario of ``Bench`` shares one set-up (models, inputs, the agreement check) and
splitting the scenarios would spread that set-up over several modules.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")          # the library's progress bars
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402

from benchmarks.cost_model import (BACKWARD_FACTOR, IMAGE_GFLOPS_B16, PEAK_BF16_TFLOPS,  # noqa: E402,F401
                                   device_peak, executed_text_gflops, peak_bf16_tflops,
                                   shared_prefix_gflops, text_gflops)
from benchmarks.faithful import faithful_evaluate, faithful_model, faithful_train_step  # noqa: E402
from benchmarks.settings import Settings  # noqa: E402
from benchmarks.report import CLAIMS, claims, environment, summary, table  # noqa: E402,F401
from benchmarks.synthetic import class_names, vit_b16_shaped_backbone  # noqa: E402
from benchmarks.timing import Path_, SavedActivations, run_interleaved, sync  # noqa: E402,F401
from cocoop_lib.backbone import Backbone  # noqa: E402
from cocoop_lib.evaluation import accuracy_from_features, image_features  # noqa: E402
from cocoop_lib.fast import CapturedStep, make_step, shared_prefix_rows  # noqa: E402
from cocoop_lib.model import PromptedCLIP  # noqa: E402
from cocoop_lib.prompt_learners import CoCoOpPromptLearner, CoOpPromptLearner  # noqa: E402
from cocoop_lib.training import plain_step, train_step  # noqa: E402


ROOT = Path(__file__).resolve().parents[1]
SGD = dict(lr=0.002, momentum=0.9, weight_decay=5e-4)     # the protocol's optimiser

# replayed vs eager 20-step trajectory: max relative parameter difference allowed per precision
TRAJECTORY_TOLERANCE = {"fp32": 1e-5, "bf16": 2e-2}

# ------------------------------------------------------------------------------- settings
def preset(args) -> Settings:
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    name = args.preset
    if name == "auto":
        name = "gpu" if device == "cuda" else ("cpu-quick" if args.quick else "cpu")
    if name == "gpu":   # library bf16 autocast; the port in the official pure fp16
        s = Settings(layers=12, repeats=5, precision="bf16", faithful_precision="fp16",
                     headroom_batch=8, headroom_max_classes=1000, eval_images=100,
                     faithful_eval_images=100,
                     faithful_coop_max_classes=500, faithful_train_max_gib=40.0,
                     memory_check_classes=1000, trajectory_classes=100)
    elif name == "cpu-quick":
        s = Settings(layers=2, classes=(5, 19, 100), repeats=3, headroom_batch=0, eval_images=10,
                     faithful_coop_max_classes=0, quick=True)
    else:
        s = Settings()
    if args.dry_run:   # every code path in seconds, on whatever device was chosen
        s.layers, s.classes, s.repeats = 1, (5, 19), 1
        s.eval_images, s.faithful_eval_images, s.coop_batch = 4, 2, 4
        s.headroom_batch = 2 if s.headroom_batch else 0
        s.memory_check_classes = 100 if s.memory_check_classes else 0
        s.trajectory_classes = 5 if s.trajectory_classes else 0
        s.trajectory_steps = 4 if s.trajectory_classes else s.trajectory_steps
        s.faithful_coop_max_classes = 19
        s.dry_run = True
    s.device, s.preset = device, name
    for name in ("layers", "repeats", "threads", "peak_tflops", "faithful_train_max_gib"):
        if getattr(args, name) is not None:
            setattr(s, name, getattr(args, name))
    if args.classes:
        s.classes = tuple(int(c) for c in args.classes.split(","))
    if args.no_cuda_graph:
        s.captured = False
    return s


# ------------------------------------------------------------------------------- one class count
class Bench:
    def __init__(self, s: Settings):
        self.s = s
        self.backbone = vit_b16_shaped_backbone(s.layers, s.device)
        # the official default precision is pure fp16 (CLIP, context and Meta-Net in fp16)
        if s.faithful_precision == "fp16":
            model16 = copy.deepcopy(self.backbone.model).half()
            self.faithful_backbone = Backbone(model16, self.backbone.tokenizer, "fp16 copy", "", "",
                                              False)
        else:
            self.faithful_backbone = self.backbone
        self.frozen = [t for bb in {id(self.backbone): self.backbone,
                                    id(self.faithful_backbone): self.faithful_backbone}.values()
                       for t in list(bb.model.parameters()) + list(bb.model.buffers())]
        gen = torch.Generator().manual_seed(0)
        n = max(s.coop_batch, s.headroom_batch, s.eval_images, s.faithful_eval_images, 1)
        self.images = torch.randn(n, 3, 224, 224, generator=gen).to(s.device)
        self.label_seed = gen

    def library_step(self, model: PromptedCLIP, optimizer):
        """The library's default training step here: ``cocoop_lib.fast.make_step`` (the captured
        step on CUDA, the eager ``train_step`` elsewhere) and how many untimed calls prime it (its
        warm-up steps and the capture). The GPU preset on a CPU (dry run) runs the
        captured step's code with ``capture=False``, so that path is exercised everywhere."""
        s = self.s
        if s.preset == "gpu" and not s.device.startswith("cuda") and s.captured is not False:
            step = CapturedStep(model, optimizer, s.precision, s.device, capture=False)
        else:
            step = make_step(model, optimizer, s.precision, s.device, captured=s.captured,
                             log=None, plain=plain_step)
        self.step_description = step.description
        n_prime = step.warmup + 1 if isinstance(step, CapturedStep) and step.capture else 0
        return step, n_prime

    def labels(self, n: int, n_cls: int) -> torch.Tensor:
        return torch.randint(0, n_cls, (n,), generator=self.label_seed).to(self.s.device)

    def learners(self, names: list[str]):
        """(library CoCoOp, library CoOp, port CoCoOp, port CoOp) models with their optimisers."""
        torch.manual_seed(1)
        cocoop = CoCoOpPromptLearner(self.backbone, names)
        coop = CoOpPromptLearner(self.backbone, names)
        port_cocoop, port_coop = copy.deepcopy(cocoop), copy.deepcopy(coop)
        if self.s.faithful_precision == "fp16":
            port_cocoop.half(), port_coop.half()
        # the port rebuilds its fixed embeddings from its own (possibly fp16) CLIP
        out = {}
        for key, learner, model in (
                ("cocoop", cocoop, PromptedCLIP(self.backbone, cocoop)),
                ("coop", coop, PromptedCLIP(self.backbone, coop)),
                ("port_cocoop", port_cocoop, faithful_model(self.faithful_backbone, port_cocoop)),
                ("port_coop", port_coop, faithful_model(self.faithful_backbone, port_coop))):
            out[key] = (model, torch.optim.SGD([p for p in learner.parameters()], **SGD))
        return out

    def agreement(self, n_cls: int = 19) -> dict:
        """Max relative difference of logits and gradients, library vs port, fp32, 2 images."""
        names = class_names(n_cls, self.backbone.tokenizer)
        torch.manual_seed(2)
        learner = CoCoOpPromptLearner(self.backbone, names)
        images, labels = self.images[:2], self.labels(2, n_cls)
        results = []
        for model in (PromptedCLIP(self.backbone, learner), faithful_model(self.backbone, learner)):
            learner.zero_grad()
            logits = model(images) if isinstance(model, PromptedCLIP) else model.logits(images)
            F.cross_entropy(logits, labels).backward()
            results.append((logits.detach(), [p.grad.clone() for p in learner.parameters()]))
        (a, ga), (b, gb) = results
        rel = lambda x, y: float((x - y).abs().max() / y.abs().max())
        return {"classes": n_cls, "logits_max_rel_diff": rel(a, b),
                "grads_max_rel_diff": max(rel(x, y) for x, y in zip(ga, gb))}

    def classes(self, n_cls: int) -> dict:
        s, dev = self.s, self.s.device
        names = class_names(n_cls, self.backbone.tokenizer)
        m = self.learners(names)
        lib, lib_opt = m["cocoop"]
        eot = lib.prompt_learner.eot
        cut = int(eot.max()) + 1
        prefix = shared_prefix_rows(lib.prompt_learner)
        img1, lab1 = self.images[:1], self.labels(1, n_cls)
        imgc, labc = self.images[:s.coop_batch], self.labels(s.coop_batch, n_cls)
        with torch.autocast(dev.split(":")[0], torch.bfloat16, enabled=s.precision == "bf16"):
            feats1 = lib.encode_images(img1)

        no_share = PromptedCLIP(self.backbone, m["cocoop"][0].prompt_learner)
        no_share.prompt_encoder.share_prefix = False      # the same learner, without the speed-up

        def lib_step(key, images, labels, share=True):       # the library's eager step
            model, opt = m[key]
            model = model if share else no_share
            return lambda: train_step(model, opt, images, labels, s.precision, dev)

        def default_path(key, images, labels):                # the library's default step
            step, n_prime = self.library_step(*m[key])

            def prime():
                for _ in range(n_prime):
                    step(images, labels)
            return Path_(lambda: step(images, labels), len(images), True, prime)

        def port_step(key, images, labels):
            model, opt = m[key]
            return lambda: faithful_train_step(model, opt, images, labels)

        def text_step():                      # the text side of a CoCoOp step (image features given)
            with torch.autocast(dev.split(":")[0], torch.bfloat16, enabled=s.precision == "bf16"):
                loss = F.cross_entropy(lib.logits_from_features(feats1).float(), lab1)
            lib_opt.zero_grad(set_to_none=True)
            loss.backward()
            lib_opt.step()

        # the port's activations grow as C x 77: skip its training where they would not fit
        port_gib = self._port_activation_gib(n_cls)
        train = {"cocoop_b1": default_path("cocoop", img1, lab1),
                 "cocoop_b1_eager": Path_(lib_step("cocoop", img1, lab1), 1, True),
                 "cocoop_b1_no_prefix_sharing": Path_(lib_step("cocoop", img1, lab1, False), 1, True),
                 "cocoop_text_b1": Path_(text_step, 1, True),
                 "coop_b%d" % s.coop_batch: default_path("coop", imgc, labc)}
        if port_gib <= s.faithful_train_max_gib:
            train["faithful_cocoop_b1"] = Path_(port_step("port_cocoop", img1, lab1), 1, True)
        if n_cls <= s.faithful_coop_max_classes:
            train["faithful_coop_b%d" % s.coop_batch] = Path_(port_step("port_coop", imgc, labc),
                                                              s.coop_batch, True)
        if s.headroom_batch and n_cls <= s.headroom_max_classes:
            imgh, labh = self.images[:s.headroom_batch], self.labels(s.headroom_batch, n_cls)
            train["cocoop_b%d" % s.headroom_batch] = default_path("cocoop", imgh, labh)
        run_interleaved(train, s.repeats, dev, self.frozen)

        # evaluation: the port recomputes image features per test batch and loops over images;
        # the library reuses cached features ("cached") or computes them once first ("cold")
        ne, nf = s.eval_images, s.faithful_eval_images
        eimg, elab = self.images[:ne], self.labels(ne, n_cls)
        port = m["port_cocoop"][0]
        with torch.no_grad():
            cached, _ = image_features(lib, TensorDataset(eimg, elab), batch_size=s.test_batch,
                                       device=dev, precision=s.precision)
        kw = dict(batch_size=s.test_batch, device=dev, precision=s.precision)

        def cold():
            f, y = image_features(lib, TensorDataset(eimg, elab), batch_size=s.test_batch,
                                  device=dev, precision=s.precision)
            accuracy_from_features(lib, f, y, **kw)

        evals = {"faithful": Path_(lambda: faithful_evaluate(port, eimg[:nf], elab[:nf],
                                                            s.test_batch), nf),
                 "cached": Path_(lambda: accuracy_from_features(lib, cached, elab.cpu(), **kw), ne),
                 "cold": Path_(cold, ne)}
        run_interleaved(evals, s.repeats, dev, self.frozen)
        return self._summary(n_cls, cut, prefix, eot, train, evals, port_gib, lib)

    def _port_activation_gib(self, n_cls: int) -> float:
        """Estimate of the port's saved activations per step: C x 77 rows x width x layers x 15
        values (measured on CPU, fp32: 14.7 values per row and layer), in the port's precision."""
        nbytes = 2 if self.s.faithful_precision == "fp16" else 4
        return n_cls * 77 * 512 * self.s.layers * 15 * nbytes / 2**30

    def _summary(self, n_cls, cut, prefix, eot, train, evals, port_gib, lib) -> dict:
        s = self.s
        med = {k: statistics.median(p.samples) for k, p in {**train, **evals}.items()}
        per_image = {k: med[k] / p.items for k, p in train.items()}
        ips = {k: p.items / med[k] for k, p in evals.items()}
        width = 512
        f_cut = text_gflops(cut, width, s.layers)
        f_77 = text_gflops(77, width, s.layers)
        f_exec = executed_text_gflops(lib, 1, s.layers, width) / n_cls        # training, batch 1
        eval_group = min(lib.prompt_encoder.image_groups(s.eval_images, n_cls), s.eval_images, s.test_batch)
        f_exec_eval = executed_text_gflops(lib, eval_group, s.layers, width) / n_cls
        image_g = IMAGE_GFLOPS_B16 * s.layers / 12
        text_train_g = BACKWARD_FACTOR * n_cls * f_cut              # per image, cost model
        out = {
            "classes": n_cls, "cut_length": cut, "shared_prefix_rows": prefix,
            "mean_prompt_length": float(eot.float().mean() + 1),
            "seconds_per_step": {k: med[k] for k in train},
            "seconds_per_image": per_image,
            "eval_images_per_s": ips,
            "samples": {k: p.samples for k, p in {**train, **evals}.items()},
            "memory_mib": {k: p.memory_mib for k, p in {**train, **evals}.items()},
            "memory_kind": ("cuda peak allocated above the model" if s.device.startswith("cuda")
                            else "activations saved for backward (train paths)"),
            "cost_model_gflops": {"text_per_prompt_cut": f_cut, "text_per_prompt_77": f_77,
                                  "text_per_prompt_executed_train_b1": f_exec,
                                  "text_per_prompt_executed_eval": f_exec_eval, "image": image_g},
        }
        r = {}
        if "faithful_cocoop_b1" in train:
            r["train_speedup_b1"] = per_image["faithful_cocoop_b1"] / per_image["cocoop_b1"]
            if train["faithful_cocoop_b1"].memory_mib and train["cocoop_b1"].memory_mib:
                r["train_memory_ratio_b1"] = (train["faithful_cocoop_b1"].memory_mib
                                              / train["cocoop_b1"].memory_mib)
        else:
            out["faithful_train_skipped"] = (f"the port's activations would be ~{port_gib:.1f} GiB "
                                             f"(> {s.faithful_train_max_gib} GiB)")
        r["prefix_sharing_gain_b1"] = (per_image["cocoop_b1_no_prefix_sharing"]
                                       / per_image["cocoop_b1_eager"])
        r["default_step_gain_b1"] = per_image["cocoop_b1_eager"] / per_image["cocoop_b1"]
        r["eval_speedup_cached"] = ips["cached"] / ips["faithful"]
        r["eval_speedup_cold"] = ips["cold"] / ips["faithful"]
        coop = "coop_b%d" % s.coop_batch
        r["cocoop_b1_over_coop_b%d" % s.coop_batch] = per_image["cocoop_b1"] / per_image[coop]
        # the cost model's ratio with prompts cut to the longest EOT (no prefix sharing, no buckets)
        r["cost_model_cocoop_b1_over_coop_b%d" % s.coop_batch] = (
            (image_g + text_train_g) / (image_g + text_train_g / s.coop_batch))
        if "faithful_" + coop in train and "faithful_cocoop_b1" in train:
            r["faithful_cocoop_b1_over_faithful_coop_b%d" % s.coop_batch] = (
                per_image["faithful_cocoop_b1"] / per_image["faithful_" + coop])
        head = "cocoop_b%d" % s.headroom_batch
        if head in train:
            r[f"headroom_{head}_per_image_vs_cocoop_b1"] = per_image["cocoop_b1"] / per_image[head]
            if "faithful_cocoop_b1" in train:
                r[f"headroom_{head}_speedup_vs_faithful_b1"] = (per_image["faithful_cocoop_b1"]
                                                                / per_image[head])
        out["ratios"] = r
        # achieved FLOP/s (cost model at the cut length; "executed" counts the shared prefix once)
        fl = {"text_train_b1_cost_model": text_train_g / med["cocoop_text_b1"] / 1e3,
              "text_train_b1_executed": BACKWARD_FACTOR * n_cls * f_exec / med["cocoop_text_b1"] / 1e3,
              "text_eval_cached_cost_model": n_cls * f_cut * ips["cached"] / 1e3,
              "text_eval_cached_executed": n_cls * f_exec_eval * ips["cached"] / 1e3,
              "faithful_text_eval": n_cls * f_77 * ips["faithful"] / 1e3}
        if "faithful_cocoop_b1" in train:
            fl["faithful_train_b1"] = ((image_g + BACKWARD_FACTOR * n_cls * f_77)
                                       / med["faithful_cocoop_b1"] / 1e3)
        out["achieved_tflops"] = fl
        name, peak = device_peak(s)
        out["bf16_peak"] = {"device_name": name, "tflops": peak}       # None: device not known
        out["fraction_of_bf16_peak"] = {k: (v / peak if peak else None) for k, v in fl.items()}
        return out

    def replay_trajectory(self, n_cls: int, steps: int = 20) -> dict:
        """The library's default step (captured on CUDA) vs the eager ``train_step`` over ``steps``
        batch-1 CoCoOp steps from the same start, lr halved half-way (the tensor lr): max relative
        parameter difference, max loss difference, and whether they are within the precision's
        tolerance (TRAJECTORY_TOLERANCE)."""
        s, dev = self.s, self.s.device
        names = class_names(n_cls, self.backbone.tokenizer)
        torch.manual_seed(3)
        a = CoCoOpPromptLearner(self.backbone, names)
        b = copy.deepcopy(a)
        ma, mb = PromptedCLIP(self.backbone, a), PromptedCLIP(self.backbone, b)
        oa, ob = torch.optim.SGD(list(a.parameters()), **SGD), torch.optim.SGD(list(b.parameters()), **SGD)
        step, _ = self.library_step(mb, ob)
        loss_diff = 0.0
        for i in range(steps):
            if i == steps // 2:
                for o in (oa, ob):
                    for g in o.param_groups:
                        g["lr"] = SGD["lr"] / 2
            img, lab = self.images[i % len(self.images)][None], self.labels(1, n_cls)
            la, lb = train_step(ma, oa, img, lab, s.precision, dev), step(img, lab)
            loss_diff = max(loss_diff, abs(float(la) - float(lb)))
        with torch.no_grad():
            rel = max(float((pa - pb).abs().max() / pa.abs().max())
                      for pa, pb in zip(a.parameters(), b.parameters()))
        tol = TRAJECTORY_TOLERANCE[s.precision]
        return {"classes": n_cls, "steps": steps, "path": step.description,
                "graphs_captured": len(getattr(step, "graphs", {})), "params_max_rel_diff": rel,
                "loss_max_abs_diff": loss_diff, "tolerance_rel": tol, "within_tolerance": rel <= tol}

    def memory_check(self, n_cls: int) -> dict:
        """Peak memory of the library's default CoCoOp training step (batch 1; its capture
        included) and of an evaluation batch at ``n_cls`` classes (ImageNet: 1000), against
        ``memory_budget_gib`` (a 16 GB GPU). On CUDA the budget is checked on the total peak
        allocated (weights included); on the CPU on the activations saved for backward."""
        s, dev = self.s, self.s.device
        names = class_names(n_cls, self.backbone.tokenizer)
        torch.manual_seed(1)
        learner = CoCoOpPromptLearner(self.backbone, names)
        model = PromptedCLIP(self.backbone, learner)
        opt = torch.optim.SGD(list(learner.parameters()), **SGD)
        img, lab = self.images[:1], self.labels(1, n_cls)
        eimg = self.images[:s.eval_images]
        step, n_prime = self.library_step(model, opt)

        def prime():
            for _ in range(n_prime):
                step(img, lab)

        def evaluate():
            f, y = image_features(model, TensorDataset(eimg, self.labels(len(eimg), n_cls)),
                                  batch_size=s.test_batch, device=dev, precision=s.precision)
            accuracy_from_features(model, f, y, batch_size=s.test_batch, device=dev,
                                   precision=s.precision)

        paths = {"cocoop_b1_train": Path_(lambda: step(img, lab), 1, True, prime),
                 "eval": Path_(evaluate, len(eimg))}
        run_interleaved(paths, 1, dev, self.frozen)
        used = {k: (p.memory_total_mib if p.memory_total_mib is not None else p.memory_mib)
                for k, p in paths.items()}
        budget = s.memory_budget_gib * 1024
        return {"classes": n_cls, "cut_length": int(learner.eot.max()) + 1, "path": step.description,
                "memory_mib": {k: p.memory_mib for k, p in paths.items()},
                "memory_total_mib": {k: p.memory_total_mib for k, p in paths.items()},
                "budget_gib": s.memory_budget_gib,
                "budget_checked_on": ("total peak allocated" if dev.startswith("cuda")
                                      else "activations saved for backward (train), none (eval)"),
                "fits_budget": {k: (v is None or v <= budget) for k, v in used.items()},
                "seconds": {k: statistics.median(p.samples) for k, p in paths.items()}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="CPU: 2 layers, C in {5, 19, 100}")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"])
    ap.add_argument("--preset", default="auto", choices=["auto", "cpu-quick", "cpu", "gpu"],
                    help="settings (auto: gpu on cuda, else cpu or cpu-quick); "
                         "--preset gpu --device cpu --dry-run exercises the GPU path here")
    ap.add_argument("--dry-run", action="store_true", help="1 layer, C in {5, 19}, 1 repeat")
    ap.add_argument("--layers", type=int, help="depth of both towers (12 = ViT-B/16)")
    ap.add_argument("--classes", help="comma-separated class counts, e.g. 5,19,100,500")
    ap.add_argument("--repeats", type=int, help="timed repeats per path (median reported)")
    ap.add_argument("--threads", type=int, help="CPU threads (default 1)")
    ap.add_argument("--faithful-train-max-gib", type=float,
                    help="skip the port's training where its activations would exceed this")
    ap.add_argument("--peak-tflops", type=float, help="bf16 dense peak of the GPU, if not known")
    ap.add_argument("--no-cuda-graph", action="store_true",
                    help="time the library's eager step instead of its default (captured on CUDA)")
    ap.add_argument("--out", help="JSON output (default benchmarks/results/<cpu|gpu>[-quick].json)")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible.")
    s = preset(args)
    torch.set_num_threads(s.threads)
    t0 = time.perf_counter()
    bench = Bench(s)
    report = {"settings": asdict(s), "environment": environment(s)}
    print(f"# CoCoOp speed benchmark on {report['environment']['device_name']} "
          f"({s.layers}-layer ViT-B/16-shaped towers, {s.threads} CPU thread(s), library "
          f"{s.precision}, faithful {s.faithful_precision}, median of {s.repeats})", flush=True)
    report["agreement_fp32"] = bench.agreement(19 if not s.dry_run else 5)
    print(f"agreement (fp32): {report['agreement_fp32']}", flush=True)
    rows = []
    for n_cls in s.classes:
        t = time.perf_counter()
        rows.append(bench.classes(n_cls))
        print(f"C={n_cls}: {json.dumps(rows[-1]['ratios'])} ({time.perf_counter() - t:.0f} s)",
              flush=True)
    report["results"] = rows
    if s.memory_check_classes:
        report["memory_check"] = bench.memory_check(s.memory_check_classes)
        print(f"memory check: {report['memory_check']}", flush=True)
    if s.trajectory_classes:
        report["trajectory"] = bench.replay_trajectory(s.trajectory_classes, s.trajectory_steps)
        print(f"trajectory: {report['trajectory']}", flush=True)
    report["library_path"] = bench.step_description
    report["summary"] = summary(s, rows)
    report["claims"] = claims(s, rows, report.get("memory_check"), report.get("trajectory"))
    report["environment"]["load_average_end"] = os.getloadavg()
    report["seconds_total"] = time.perf_counter() - t0
    report["table"] = table(s, rows)
    print()
    print(report["table"])
    print()
    for c in report["claims"]:
        print(f"{'MET' if c['met'] else 'NOT MET'}: {c['claim']}: {c['value']} (target {c['target']})")
    name = s.preset + ("-dry" if s.dry_run else "") + ("-on-cpu" if s.preset == "gpu" and
                                                       not s.device.startswith("cuda") else "")
    # dry runs only exercise the code: their JSON goes to the temp folder unless --out says otherwise
    folder = Path(tempfile.gettempdir()) if s.dry_run else ROOT / "benchmarks" / "results"
    out = Path(args.out) if args.out else folder / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(f"\nwritten {out} ({report['seconds_total']:.0f} s)", flush=True)
    return report


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
