"""Zero-shot accuracy of a CLIPModel on the mini benchmark's test splits (used while pretraining)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from cocoop_lib.backbone import CLIP_MEAN, CLIP_STD

from .paths import EVAL_SETS, MINI_CLIP_DIR, MINI_WORLD_DIR, TOKENIZER_DIR


def load_test(name: str, root: Path = MINI_WORLD_DIR, per_class: int | None = None):
    """(images (N,3,32,32) normalised, labels, classnames, template) of a dataset's test split."""
    folder = root / name
    split = json.loads((folder / f"split_zhou_{name}.json").read_text())
    manifest = json.loads((root / "manifest.json").read_text())["datasets"][name]
    items = split["test"]
    if per_class is not None:
        seen: dict[int, int] = {}
        keep = []
        for it in items:
            if seen.get(it[1], 0) < per_class:
                seen[it[1]] = seen.get(it[1], 0) + 1
                keep.append(it)
        items = keep
    names = {}
    for part in split.values():
        for rel, label, cname in part:
            names[label] = cname
    arr = np.stack([np.asarray(Image.open(folder / "images" / rel).convert("RGB")) for rel, _, _ in items])
    x = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0
    x = (x - torch.tensor(CLIP_MEAN)[:, None, None]) / torch.tensor(CLIP_STD)[:, None, None]
    y = torch.tensor([it[1] for it in items])
    return x, y, [names[i] for i in range(len(names))], manifest["template"]


@torch.no_grad()
def accuracy(model, tokenizer, x, y, classnames, template, batch: int = 500) -> float:
    """Top-1 zero-shot accuracy (%) with the dataset's template."""
    model.eval()
    dev = next(model.parameters()).device
    prompts = [template.format(c) for c in classnames]
    tok = tokenizer(prompts, padding="max_length", truncation=True,
                    max_length=model.config.text_config.max_position_embeddings, return_tensors="pt")
    t = model.get_text_features(input_ids=tok["input_ids"].to(dev),
                                attention_mask=tok["attention_mask"].to(dev))
    t = t / t.norm(dim=-1, keepdim=True)
    correct = 0
    for i in range(0, len(y), batch):
        xb = x[i:i + batch].to(dev, next(model.parameters()).dtype)
        f = model.get_image_features(pixel_values=xb)
        f = f / f.norm(dim=-1, keepdim=True)
        correct += int(((f @ t.T.to(f.dtype)).argmax(1).cpu() == y[i:i + batch]).sum())
    return 100.0 * correct / len(y)


def full_test_zero_shot(model, root: Path = MINI_WORLD_DIR) -> dict:
    """{dataset: zero-shot %} on every evaluation set's full test split (printed as it goes)."""
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))
    acc = {}
    for name in EVAL_SETS:
        x, y, names, template = load_test(name, root)
        acc[name] = round(accuracy(model, tok, x, y, names, template), 2)
        print(f"{name}: zero-shot {acc[name]:.2f}% ({len(names)} classes)", flush=True)
    return acc


def record(clip_dir: Path | None = None, root: Path = MINI_WORLD_DIR) -> dict:
    """Zero-shot of the shipped mini CLIP on every full test split, written into its mini_world.json.

    For when the benchmark is rebuilt without retraining the model (export.py measures the same at
    export). Returns {dataset: accuracy %}.
    """
    from transformers import CLIPModel

    clip_dir = Path(clip_dir or MINI_CLIP_DIR)
    acc = full_test_zero_shot(CLIPModel.from_pretrained(str(clip_dir)).float(), root)
    path = clip_dir / "mini_world.json"
    info = json.loads(path.read_text())
    info["zero_shot_test"] = acc
    info["zero_shot_images"] = "full test splits"
    info["zero_shot_history_note"] = ("zero_shot_history was logged while pretraining, on evaluation "
                                      "subsets of the benchmark as it was then; zero_shot_test is "
                                      "measured on the benchmark of zero_shot_benchmark_manifest_sha256")
    manifest = (root / "manifest.json").read_bytes()
    info["zero_shot_benchmark_manifest_sha256"] = hashlib.sha256(manifest).hexdigest()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=1) + "\n")
    tmp.replace(path)
    return acc


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(description="Record the shipped mini CLIP's zero-shot accuracy on the "
                            "mini benchmark's full test splits (into mini_clip/mini_world.json)."
                            ).parse_args()
    torch.set_num_threads(2)
    record()
