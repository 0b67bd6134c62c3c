"""Build the CLIP BPE tokenizer files (hub format) from open_clip's vocabulary.

The CLIP byte-pair-encoding vocabulary ships inside open-clip-torch's wheel as
``open_clip/bpe_simple_vocab_16e6.txt.gz`` (MIT licence). This script turns it into the
``vocab.json`` + ``merges.txt`` pair that ``transformers.CLIPTokenizer.from_pretrained`` reads,
so the real CLIP tokenizer works offline. The result is kept in
``cocoop_lib/assets/clip_tokenizer/``; run this only to rebuild it::

    pip download --no-deps open-clip-torch==3.3.0 -d /tmp/oc
    unzip -p /tmp/oc/open_clip_torch-*.whl open_clip/bpe_simple_vocab_16e6.txt.gz > /tmp/bpe.txt.gz
    python -m data_scripts.build_clip_tokenizer /tmp/bpe.txt.gz
"""
from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "cocoop_lib" / "assets" / "clip_tokenizer"
N_MERGES = 49152 - 256 - 2  # CLIP keeps this many merges (vocab 49408 with 2 special tokens)


def byte_alphabet() -> list[str]:
    """The 256 printable stand-ins GPT-2/CLIP BPE use for raw bytes, in vocabulary order.

    Printable bytes map to themselves and come first (in byte order); the remaining bytes map
    to chr(256 + k) and follow, in byte order. CLIP's vocabulary starts with this list.
    """
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(
        range(ord("®"), ord("ÿ") + 1))
    others = [b for b in range(256) if b not in printable]
    return [chr(b) for b in printable] + [chr(256 + k) for k in range(len(others))]


def build(bpe_gz: Path, out: Path = OUT) -> None:
    lines = gzip.open(bpe_gz, "rt", encoding="utf-8").read().split("\n")
    merges = [tuple(line.split()) for line in lines[1:1 + N_MERGES]]
    tokens = byte_alphabet()
    tokens = tokens + [t + "</w>" for t in tokens] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == 49408, len(tokens)
    out.mkdir(parents=True, exist_ok=True)
    (out / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}, ensure_ascii=False))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n",
                                    encoding="utf-8")
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "CLIPTokenizer", "model_max_length": 77, "do_lower_case": True,
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, indent=1))
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "pad_token": "<|endoftext|>"}, indent=1))


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("bpe_gz", type=Path, help="path to bpe_simple_vocab_16e6.txt.gz")
    build(p.parse_args().bpe_gz)
