"""Export a pretraining checkpoint as the shipped mini CLIP (hub folder, fp16 safetensors).

    python -m data_scripts.mini_world.export [--ckpt outputs/mini_world/ckpt.pt] [--out DIR]
    python -m data_scripts.mini_world.export --shards DIR   # pretrain.py --shards-out (a GPU run)

The folder loads with ``CLIPModel.from_pretrained(folder)`` and
``CLIPTokenizer.from_pretrained(folder)``; ``mini_world.json`` records the provenance.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from transformers import CLIPModel

from .model_config import mini_clip_config
from .paths import MINI_CLIP_DIR, TOKENIZER_DIR, WORK_DIR
from .zeroshot import full_test_zero_shot

TOKENIZER_FILES = ("vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json")


def export_model(model: CLIPModel, provenance: dict, out: Path = MINI_CLIP_DIR) -> Path:
    """Write ``model`` (as fp16) + tokenizer + mini_world.json into ``out``, replacing it whole."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".mini_clip_", dir=out.parent))
    half = CLIPModel(model.config)
    half.load_state_dict(model.state_dict())
    half = half.to(torch.float16)
    half.save_pretrained(tmp, safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (TOKENIZER_DIR / name).is_file():
            shutil.copy2(TOKENIZER_DIR / name, tmp / name)
    (tmp / "mini_world.json").write_text(json.dumps(provenance, indent=1) + "\n")
    os.chmod(tmp, 0o755)  # mkdtemp makes 0700
    for f in tmp.iterdir():
        os.chmod(f, 0o644)
    old = out.with_name(out.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if out.exists():
        os.replace(out, old)
    os.replace(tmp, out)
    if old.exists():
        shutil.rmtree(old)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", type=Path, default=WORK_DIR / "ckpt.pt")
    ap.add_argument("--out", type=Path, default=MINI_CLIP_DIR)
    ap.add_argument("--shards", type=Path, default=None,
                    help="fp16 shards + provenance.json written by pretrain.py --shards-out")
    ap.add_argument("--no-eval", action="store_true", help="skip the full zero-shot evaluation")
    args = ap.parse_args(argv)
    if args.shards:
        from safetensors.torch import load_file
        prov = json.loads((args.shards / "provenance.json").read_text())
        weights = {}
        for f in sorted(args.shards.glob("mini_clip-*.safetensors")):
            weights.update(load_file(str(f)))
        if not weights:
            raise SystemExit(f"no mini_clip-*.safetensors in {args.shards}")
        step = prov.get("steps")
    else:
        state = torch.load(args.ckpt, map_location="cpu", weights_only=False)
        prov, weights, step = dict(state.get("provenance", {})), state["model"], state["state"]["step"]
    model = CLIPModel(mini_clip_config(prov.get("text_layers", 4), prov.get("text_heads", 2)))
    model.load_state_dict({k: v.float() for k, v in weights.items()})
    if not args.no_eval:
        prov["zero_shot_test"] = full_test_zero_shot(model)
        prov["zero_shot_images"] = "full test splits"
        prov["zero_shot_template"] = "each dataset's template (cocoop_lib/datasets/mini.py)"
    prov.pop("zero_shot_test_subset", None)
    prov["logit_scale"] = round(float(model.logit_scale.detach().exp()), 2)
    export_model(model, prov, args.out)
    print(f"exported step {step} to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
