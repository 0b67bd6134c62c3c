"""The frozen CLIP backbone: model, tokenizer and the protocol's image transforms.

``load_backbone("openai/clip-vit-base-patch16")`` gives the paper's CLIP ViT-B/16 (from the Hugging
Face hub, or its local cache); ``load_backbone("mini")`` gives the offline mini CLIP shipped in
``cocoop_lib/assets/mini_clip``; any folder in the hub's format works too.
"""
from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import torch
from torchvision import transforms as T
from transformers import CLIPModel, CLIPTokenizer

ASSETS = Path(__file__).resolve().parent / "assets"
MINI_CLIP_DIR = ASSETS / "mini_clip"
CLIP_TOKENIZER_DIR = ASSETS / "clip_tokenizer"
PAPER_BACKBONE = "openai/clip-vit-base-patch16"
DEFAULT_BACKBONE = "mini"

# CLIP's pixel statistics (OpenAI CLIP; the CoOp configs use the same numbers).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class BackboneError(RuntimeError):
    """The backbone could not be loaded; the message says why and how to fix it."""


@dataclass
class Backbone:
    """A frozen CLIP with what the prompt learners need around it."""

    model: CLIPModel
    tokenizer: CLIPTokenizer
    source: str                 # what the user asked for ("mini", a hub id or a folder)
    weights_path: str           # the weight file that was loaded
    weights_sha256: str
    is_mini: bool               # True for the offline mini CLIP (never the paper's setting)

    @property
    def image_size(self) -> int:
        return int(self.model.config.vision_config.image_size)

    @property
    def context_length(self) -> int:
        """Longest token sequence the text encoder accepts (77 for real CLIP)."""
        return int(self.model.config.text_config.max_position_embeddings)

    @property
    def ctx_dim(self) -> int:
        """Width of the token embeddings (512 for ViT-B/16)."""
        return int(self.model.config.text_config.hidden_size)

    @property
    def embed_dim(self) -> int:
        """Width of the joint image-text space (512 for ViT-B/16)."""
        return int(self.model.config.projection_dim)

    @property
    def logit_scale(self) -> float:
        return float(self.model.logit_scale.exp())

    def info(self) -> dict:
        """Provenance of the weights, for run records and notebook headers."""
        return {
            "backbone": self.source,
            "weights_path": self.weights_path,
            "weights_sha256": self.weights_sha256,
            "is_mini_clip": self.is_mini,
            "image_size": self.image_size,
            "embed_dim": self.embed_dim,
            "text_width": self.ctx_dim,
            "logit_scale": round(self.logit_scale, 4),
            "n_backbone_params": sum(p.numel() for p in self.model.parameters()),
        }


def image_transforms(image_size: int, crop_scale: tuple[float, float] = (0.08, 1.0)):
    """The protocol's (train, test) transforms for square images of ``image_size`` pixels.

    Train: RandomResizedCrop(bicubic, scale=crop_scale) + horizontal flip; test: resize the short
    side (bicubic) + centre crop. Both end with ToTensor and CLIP's Normalize.
    """
    bicubic = T.InterpolationMode.BICUBIC
    normalize = T.Normalize(CLIP_MEAN, CLIP_STD)
    train = T.Compose([T.RandomResizedCrop(image_size, scale=crop_scale, interpolation=bicubic),
                       T.RandomHorizontalFlip(), T.ToTensor(), normalize])
    test = T.Compose([T.Resize(image_size, interpolation=bicubic), T.CenterCrop(image_size),
                      T.ToTensor(), normalize])
    return train, test


_SHA_CACHE: dict[tuple, str] = {}


def file_sha256(path: str | Path, fresh: bool = False) -> str:
    """sha256 of a file, cached per (path, size, mtime) for the process; ``fresh``: read the bytes
    again whatever the cache holds (the shipped records' digest check)."""
    st = os.stat(path)
    key = (str(path), st.st_size, st.st_mtime_ns)
    if fresh or key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the hub's host accepts a TCP connection within ``timeout`` seconds."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_backbone_folder(source: str) -> Path:
    """Turn ``source`` ("mini", a folder, or a hub id) into a local folder in the hub's format.

    A hub id is taken from the local cache when it is there; otherwise it is downloaded, unless
    the machine is offline, in which case a :class:`BackboneError` says what to do (in seconds,
    not after the hub client's retries).
    """
    if source == "mini":
        folder = MINI_CLIP_DIR
        if not (folder / "config.json").exists():
            raise BackboneError(
                f"The offline mini CLIP is missing from {folder}. It ships with the repository; "
                "restore it with `git checkout -- cocoop_lib/assets/mini_clip` or rebuild it with "
                "`python -m data_scripts.mini_world.pretrain` (see README).")
        return folder
    path = Path(source).expanduser()
    if path.exists():
        if not (path / "config.json").exists() or not any((path / w).exists() for w in WEIGHT_FILES):
            raise BackboneError(
                f"Folder {path} is not a CLIP checkpoint in the Hugging Face format: it needs "
                f"config.json and one of {WEIGHT_FILES}. Save one with `CLIPModel.save_pretrained` "
                f"or download it with `huggingface-cli download {PAPER_BACKBONE} --local-dir {path}`.")
        return path
    if "/" not in source or source.count("/") > 1:
        raise BackboneError(
            f"Backbone {source!r} is neither 'mini', an existing folder, nor a hub id like "
            f"{PAPER_BACKBONE!r}.")
    from huggingface_hub import snapshot_download
    patterns = ["*.json", "*.txt", "model.safetensors"]
    try:
        return Path(snapshot_download(source, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not (fully) cached: fall through to the network
        pass
    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    how = (f"On a machine with internet run `huggingface-cli download {source}` (or "
           f"`python -c \"from transformers import CLIPModel; CLIPModel.from_pretrained('{source}')\"`) "
           f"once, or copy a folder saved with `save_pretrained` here and pass its path as the backbone. "
           f"Offline, use the bundled mini CLIP: backbone='mini'.")
    if offline or not _hub_reachable():
        why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub cannot be reached"
        raise BackboneError(f"Weights for {source!r} are not in the local cache and {why}. {how}")
    try:
        return Path(snapshot_download(source, allow_patterns=patterns))
    except Exception as err:
        raise BackboneError(f"Could not download {source!r}: {err}. {how}") from err


def check_weights_file(folder: str | Path) -> Path:
    """The weight file of a CLIP folder, checked cheaply (its header, not its tensors).

    ``model.safetensors``: the 8-byte header length, the JSON header and the tensors' byte ranges
    must fit the file exactly; ``pytorch_model.bin``: a readable zip archive. A truncated or
    garbage file raises :class:`BackboneError` naming it and the fix.
    """
    import json
    import struct
    import zipfile

    folder = Path(folder)
    weights = next((folder / w for w in WEIGHT_FILES if (folder / w).exists()), None)
    if weights is None:
        raise BackboneError(f"Folder {folder} has none of {WEIGHT_FILES}.")
    fix = (f"the file is truncated or not a weight file: delete {weights} and save or download "
           f"the weights again (`huggingface-cli download {PAPER_BACKBONE} --local-dir {folder}`, "
           "or `git checkout -- cocoop_lib/assets/mini_clip` for the mini CLIP)")
    size = weights.stat().st_size
    if weights.suffix == ".safetensors":
        try:
            with open(weights, "rb") as f:
                n = struct.unpack("<Q", f.read(8))[0]
                if n > size - 8:
                    raise ValueError(f"header of {n} bytes in a {size}-byte file")
                header = json.loads(f.read(n))
            ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
            if 8 + n + max(ends, default=0) != size:
                raise ValueError(f"tensors end at byte {8 + n + max(ends, default=0)}, "
                                 f"the file has {size}")
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError,
                struct.error) as err:
            raise BackboneError(f"Weight file {weights} is damaged ({err}); {fix}.") from None
    elif not zipfile.is_zipfile(weights):
        raise BackboneError(f"Weight file {weights} is damaged (not a zip archive); {fix}.")
    return weights


def load_backbone(source: str = DEFAULT_BACKBONE, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> Backbone:
    """Load a frozen CLIP (eval mode, ``requires_grad`` off) with its tokenizer.

    Args:
        source: "mini" (the bundled offline mini CLIP), a folder in the hub's format, or a hub id
            such as "openai/clip-vit-base-patch16".
        device: where the model lives.
        dtype: weight dtype; fp32 unless the official pure-fp16 mode is asked for.
    """
    folder = resolve_backbone_folder(source)
    check_weights_file(folder)
    try:
        model = CLIPModel.from_pretrained(folder, dtype=dtype, attn_implementation="sdpa")
    except (OSError, ValueError, RuntimeError) as err:
        raise BackboneError(f"Could not load the CLIP in {folder} ({str(err).splitlines()[0]}); "
                            "save or download it again.") from None
    model.eval().requires_grad_(False).to(device)
    tok_dir = folder if (folder / "vocab.json").exists() else CLIP_TOKENIZER_DIR
    tokenizer = CLIPTokenizer.from_pretrained(tok_dir)
    weights = next(folder / w for w in WEIGHT_FILES if (folder / w).exists())
    return Backbone(model=model, tokenizer=tokenizer, source=source, weights_path=str(weights),
                    weights_sha256=file_sha256(weights), is_mini=(source == "mini"))


def save_random_clip(folder: str | Path, *, vision_width: int = 64, vision_layers: int = 2,
                     image_size: int = 32, patch_size: int = 8, text_width: int = 64,
                     text_layers: int = 2, heads: int = 4, context_length: int = 77,
                     embed_dim: int = 64, seed: int = 0) -> Path:
    """Save a randomly initialised CLIP in the hub's folder format (with the real tokenizer).

    Used by tests and examples to exercise the real loading path without real weights.
    The defaults are tiny; pass ViT-B/16's sizes (768/12/224/16, 512/12/8 heads, 512) for a
    same-shaped model.
    """
    from transformers import CLIPConfig
    import shutil

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=49408, hidden_size=text_width, intermediate_size=4 * text_width,
                         num_hidden_layers=text_layers, num_attention_heads=heads,
                         max_position_embeddings=context_length, bos_token_id=49406,
                         eos_token_id=49407, pad_token_id=49407),
        vision_config=dict(hidden_size=vision_width, intermediate_size=4 * vision_width,
                           num_hidden_layers=vision_layers, num_attention_heads=heads,
                           image_size=image_size, patch_size=patch_size),
        projection_dim=embed_dim)
    model = CLIPModel(config)
    folder = Path(folder)
    model.save_pretrained(folder)
    for f in CLIP_TOKENIZER_DIR.iterdir():
        shutil.copy(f, folder / f.name)
    return folder
