"""Pretrain the mini CLIP with the contrastive loss (multi-positive) on generated image-caption pairs.

On a GPU (the shipped model: 5 training minutes on one H100, batches made by 7 CPU workers):

    python -m data_scripts.mini_world.pretrain --save-world outputs/mini_world/world.npz  # here
    python -m data_scripts.mini_world.pretrain --device cuda --world outputs/mini_world/world.npz \
        --minutes 5 --batch 1024 --group 4 --lr 1.5e-3 --warmup 300 --workers 7 \
        --mention-p 0.7 --threads 2 --no-export --shards-out OUT   # there
    python -m data_scripts.mini_world.export --shards OUT                  # here: -> mini_clip/

On a CPU (the first model's settings, ~50 minutes on 2 cores):

    nohup setsid python -m data_scripts.mini_world.pretrain --minutes 50 --warmup 50 --batch 128 \
        --threads 1 > /tmp/pretrain.log 2>&1 &

Resumable: re-running continues from ``<work dir>/ckpt.pt`` (written every --ckpt-minutes).
Logs zero-shot accuracy on the mini benchmark's test splits (subsets) to ``<work dir>/log.jsonl``
every --eval-minutes, exports a first model after --first-export-minutes, and the final one at
the end (fp16 hub folder in cocoop_lib/assets/mini_clip).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm
from transformers import CLIPModel, CLIPTokenizer

from cocoop_lib.backbone import CLIP_MEAN, CLIP_STD

from .export import export_model
from .model_config import CONTEXT_LENGTH, LOGIT_SCALE_INIT, mini_clip_config
from .paths import EVAL_SETS, MINI_WORLD_DIR, TOKENIZER_DIR, WORK_DIR
from .pretrain_data import PretrainWorld
from .zeroshot import accuracy, load_test


def param_groups(model: torch.nn.Module, wd: float, scale_lr_mult: float = 10.0):
    """AdamW groups: decay on weight matrices; none on embeddings, norms, biases, logit scale.

    The logit scale gets ``scale_lr_mult`` x the learning rate: with Adam its log moves at most
    ~lr per step, so in a run of a few thousand steps it could not leave CLIP's initial 14.3
    (the prototype's stayed near 15) even where a sharper softmax lowers the loss.
    """
    decay, no_decay, scale = [], [], []
    for name, p in model.named_parameters():
        if "logit_scale" in name:
            scale.append(p)
        elif p.ndim < 2 or "embedding" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": wd, "lr_mult": 1.0},
            {"params": no_decay, "weight_decay": 0.0, "lr_mult": 1.0},
            {"params": scale, "weight_decay": 0.0, "lr_mult": scale_lr_mult}]


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def contrastive_loss(img_f, txt_f, scale, concept, img_bits, cap_bits):
    """Symmetric CE with every caption that is true of an image as a positive (soft targets)."""
    logits = scale * img_f @ txt_f.T
    pos = (concept[:, None] == concept[None, :]) & ((cap_bits[None, :] & ~img_bits[:, None]) == 0)
    pos = pos.float()
    li = -(pos / pos.sum(1, keepdim=True) * F.log_softmax(logits, 1)).sum(1).mean()
    lt = -(pos.T / pos.T.sum(1, keepdim=True) * F.log_softmax(logits.T, 1)).sum(1).mean()
    return (li + lt) / 2


class Evaluator:
    def __init__(self, per_class: dict[str, int] | None = None, full: bool = False):
        self.sets = {}
        for name in EVAL_SETS:
            k = None if full else (per_class or {"MiniFashion": 30, "MiniDigits": 30}).get(name, 3)
            self.sets[name] = load_test(name, MINI_WORLD_DIR, k)

    def __call__(self, model, tok) -> dict[str, float]:
        out = {n: round(accuracy(model, tok, *s), 2) for n, s in self.sets.items()}
        model.train()
        return out


class BatchStream(torch.utils.data.IterableDataset):
    """Endless batches (already tokenised) made in DataLoader worker processes.

    Worker w of a run resumed at step s draws from its own generator seeded by (seed, s, w).
    """

    def __init__(self, world, tok, batch: int, group: int, seed: int, start_step: int):
        self.world, self.tok, self.batch, self.group = world, tok, batch, group
        self.seed, self.start_step = seed, start_step

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        torch.set_num_threads(1)
        s = (self.seed * 1_000_003 + self.start_step) * 1009 + wid
        gen, rnd = torch.Generator().manual_seed(s), random.Random(s)
        while True:
            yield make_batch(self.world, self.tok, self.batch, self.group, gen, rnd)


def make_batch(world, tok, n: int, group: int, gen, rnd):
    """(images, input_ids, attention_mask, concept, image bits, caption bits) for one step."""
    img, caps, concept, img_bits, cap_bits = world.batch(n, gen, rnd, group)
    input_ids, attention_mask = tokenize_cached(tok, caps)
    return img, input_ids, attention_mask, concept, img_bits, cap_bits


_TOKEN_CACHE: dict[str, list[int]] = {}


def tokenize_cached(tok, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Same as ``tok(captions, padding="longest", truncation=True, max_length=32)``, memoised.

    Captions repeat (templates x concepts x attribute words); the slow BPE tokenizer was most of
    a batch's making time.
    """
    new = [c for c in dict.fromkeys(captions) if c not in _TOKEN_CACHE]
    if new:
        for c, ids in zip(new, tok(new, truncation=True, max_length=CONTEXT_LENGTH)["input_ids"]):
            _TOKEN_CACHE[c] = ids
    rows = [_TOKEN_CACHE[c] for c in captions]
    width = max(len(r) for r in rows)
    input_ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):   # right padding, as the tokenizer's default
        input_ids[i, :len(r)] = torch.tensor(r)
        attention_mask[i, :len(r)] = 1
    return input_ids, attention_mask


def save_shards(model: torch.nn.Module, out: Path, provenance: dict, max_bytes: int = 15 << 20):
    """fp16 state dict as safetensors files of at most ``max_bytes`` each + provenance.json.

    (A rented GPU machine returns files of at most 16 MiB; ``export --shards`` reassembles.)
    """
    from safetensors.torch import save_file
    out.mkdir(parents=True, exist_ok=True)
    items = [(n, t.detach().to("cpu", torch.float16).contiguous()) for n, t in model.state_dict().items()]
    big = max(items, key=lambda it: it[1].numel())
    if big[1].numel() * 2 > max_bytes:
        raise ValueError(f"{big[0]} alone is {big[1].numel() * 2} bytes > max_bytes={max_bytes}; "
                         "a tensor is never split, so raise max_bytes")
    shards, size = [{}], 0
    for name, t in items:     # greedy: a new shard when the next tensor would overflow this one
        if shards[-1] and size + t.numel() * 2 > max_bytes:
            shards.append({})
            size = 0
        shards[-1][name] = t
        size += t.numel() * 2
    for k, shard in enumerate(shards):
        save_file(shard, str(out / f"mini_clip-{k:02d}.safetensors"))
    (out / "provenance.json").write_text(json.dumps(provenance, indent=1) + "\n")


def save_atomic(obj, path: Path):
    tmp = path.with_suffix(".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=None,
                    help="train for this many minutes of training time instead of --steps: the "
                         "cosine schedule follows elapsed training time (finishes on time on a "
                         "shared CPU, but is not step-for-step reproducible)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work-dir", type=Path, default=WORK_DIR)
    ap.add_argument("--ckpt-minutes", type=float, default=3.0)
    ap.add_argument("--eval-minutes", type=float, default=8.0)
    ap.add_argument("--first-export-minutes", type=float, default=15.0,
                    help="export a first model after this much training (0: only at the end)")
    ap.add_argument("--no-export", action="store_true")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    ap.add_argument("--group", type=int, default=1,
                    help="items per concept in a batch (pretrain_data.py; 4: captions of one "
                         "concept that differ only in attribute words are negatives of each "
                         "other, the shipped model; 1: the first model)")
    ap.add_argument("--mention-p", type=float, default=0.5,
                    help="probability that a caption names each attribute true of its image")
    ap.add_argument("--text-layers", type=int, default=4)
    ap.add_argument("--text-heads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader processes making batches")
    ap.add_argument("--world", type=Path, default=None,
                    help="load the pools from this file (made by --save-world) instead of fonts")
    ap.add_argument("--save-world", type=Path, default=None,
                    help="build the pools, write them to this file and exit")
    ap.add_argument("--save-world-max", type=int, default=30000,
                    help="with --save-world: at most this many items per pool (file size)")
    ap.add_argument("--shards-out", type=Path, default=None,
                    help="also write the final fp16 weights as <=15 MiB shards + provenance here")
    args = ap.parse_args(argv)

    if args.save_world:
        args.save_world.parent.mkdir(parents=True, exist_ok=True)
        path = PretrainWorld().save(args.save_world, args.save_world_max)
        print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
        return 0
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    work = args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = work / "ckpt.pt", work / "log.jsonl"

    torch.manual_seed(args.seed)
    model = CLIPModel(mini_clip_config(args.text_layers, args.text_heads))
    tok = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))
    opt = torch.optim.AdamW(param_groups(model, args.wd), lr=args.lr, betas=(0.9, 0.98), eps=1e-6)
    gen = torch.Generator().manual_seed(args.seed)
    rnd = random.Random(args.seed)
    state = {"step": 0, "train_seconds": 0.0, "exported_first": False, "history": []}
    ck = None
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        gen.set_state(ck["gen"])
        rnd.setstate(ck["rnd"])
        state = ck["state"]
        print(f"resumed from step {state['step']} ({state['train_seconds'] / 60:.1f} min trained)", flush=True)
    if state.get("total_steps", args.steps) != args.steps:
        print(f"note: schedule total changed {state.get('total_steps')} -> {args.steps}", flush=True)
    state["total_steps"] = args.steps

    world = (PretrainWorld.load(args.world, args.mention_p) if args.world
             else PretrainWorld(mention_p=args.mention_p))
    model.to(device)
    if ck is not None:  # after model.to(device): the optimizer state follows the parameters
        opt.load_state_dict(ck["opt"])
    evaluator = Evaluator()
    mean = torch.tensor(CLIP_MEAN, device=device)[:, None, None]
    std = torch.tensor(CLIP_STD, device=device)[:, None, None]
    max_scale = math.log(100.0)

    def provenance():
        return {
            "what": "mini CLIP pretrained by data_scripts/mini_world/pretrain.py",
            "architecture": "transformers.CLIPModel from data_scripts/mini_world/model_config.py",
            "pretraining_data": "generated image-caption pairs, see data_scripts/mini_world/pretrain_data.py",
            "concepts": len(world.concepts),
            "pool_sizes": {k: len(v.concept) for k, v in world.pools.items()},
            "steps": state["step"], "schedule": (f"cosine over {args.minutes} training minutes"
                                                 if args.minutes else f"cosine over {args.steps} steps"),
            "text_layers": args.text_layers, "text_heads": args.text_heads,
            "batch_size": args.batch, "group": args.group, "mention_p": args.mention_p,
            "device": (torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"),
            "pools_file": str(args.world) if args.world else None,
            "lr": args.lr, "weight_decay": args.wd, "seed": args.seed,
            "train_minutes": round(state["train_seconds"] / 60, 1),
            "threads": args.threads, "logit_scale": round(float(model.logit_scale.detach().exp()), 2),
            "logit_scale_init": round(math.exp(LOGIT_SCALE_INIT), 2),
            "zero_shot_test": state["history"][-1]["zero_shot"] if state["history"] else None,
            "zero_shot_images": ("full test splits" if state["history"] and state["history"][-1]["final"]
                                 else "first 3 test images per class (30 for MiniFashion/MiniDigits)"),
        }

    def checkpoint():
        save_atomic({"model": model.state_dict(), "opt": opt.state_dict(), "gen": gen.get_state(),
                     "rnd": rnd.getstate(), "state": state, "provenance": provenance()}, ckpt_path)

    def log_eval(final=False, ev=None):
        acc = (ev or evaluator)(model, tok)
        rec = {"step": state["step"], "train_minutes": round(state["train_seconds"] / 60, 2),
               "logit_scale": round(float(model.logit_scale.detach().exp()), 2), "zero_shot": acc,
               "mean": round(sum(acc.values()) / len(acc), 2), "final": final,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        state["history"].append(rec)
        with open(log_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        tqdm.write(json.dumps(rec))

    if args.workers > 0:
        loader = torch.utils.data.DataLoader(
            BatchStream(world, tok, args.batch, args.group, args.seed, state["step"]),
            batch_size=None, num_workers=args.workers, prefetch_factor=4,
            pin_memory=device.type == "cuda", persistent_workers=True)
        stream = iter(loader)
        next_batch = lambda: next(stream)
    else:   # in-process: step-for-step reproducible with --steps (gen / rnd are checkpointed)
        next_batch = lambda: make_batch(world, tok, args.batch, args.group, gen, rnd)
    amp = dict(device_type=device.type, dtype=torch.bfloat16, enabled=args.bf16)

    model.train()
    last_ckpt = last_eval = time.time()
    bar = tqdm(total=None if args.minutes else args.steps, initial=state["step"], desc="pretrain",
               mininterval=10)
    def done() -> bool:
        if args.minutes is not None:
            return state["train_seconds"] >= args.minutes * 60
        return state["step"] >= args.steps

    while not done():
        t0 = time.time()
        if args.minutes is not None:  # schedule in "virtual steps" of elapsed time
            frac = state["train_seconds"] / (args.minutes * 60)
            lr = args.lr * min(1.0, (state["step"] + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * frac))
        else:
            lr = lr_at(state["step"], args.steps, args.lr, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr * g.get("lr_mult", 1.0)
        img, input_ids, attention_mask, concept, img_bits, cap_bits = (
            t.to(device, non_blocking=True) for t in next_batch())
        x = (img - mean) / std
        with torch.autocast(**amp):
            fi = model.get_image_features(pixel_values=x)
            ft = model.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
        fi = F.normalize(fi.float(), dim=-1)
        ft = F.normalize(ft.float(), dim=-1)
        loss = contrastive_loss(fi, ft, model.logit_scale.exp(), concept, img_bits, cap_bits)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, max_scale)
        state["step"] += 1
        state["train_seconds"] += time.time() - t0
        bar.update(1)
        if state["step"] % 20 == 0:   # .item() waits for the GPU
            bar.set_postfix(loss=f"{loss.item():.3f}", scale=f"{model.logit_scale.exp().item():.1f}",
                            refresh=False)
        now = time.time()
        if now - last_eval > args.eval_minutes * 60:
            log_eval()
            last_eval = time.time()
        if (not args.no_export and args.first_export_minutes and not state["exported_first"]
                and state["train_seconds"] > args.first_export_minutes * 60):
            if not state["history"] or state["history"][-1]["step"] != state["step"]:
                log_eval()
            export_model(model, provenance())
            state["exported_first"] = True
            tqdm.write(f"exported a first model at step {state['step']}")
        if now - last_ckpt > args.ckpt_minutes * 60:
            checkpoint()
            last_ckpt = time.time()
    bar.close()
    if not state["history"] or not state["history"][-1]["final"]:
        log_eval(final=True, ev=Evaluator(full=True))
        checkpoint()
    if args.shards_out:
        save_shards(model, args.shards_out, provenance())
        print(f"wrote fp16 shards to {args.shards_out}", flush=True)
    if not args.no_export:
        export_model(model.to("cpu"), provenance())
        print(f"exported the final model (step {state['step']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
