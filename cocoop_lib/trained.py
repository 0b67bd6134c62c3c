"""A finished run's model and the image features runs share: the process's backbone cache,
:func:`load_trained` (the learned prompts from a run's checkpoint) and :func:`cached_test_features`.
"""
from __future__ import annotations

from pathlib import Path

from .backbone import Backbone, image_transforms, load_backbone
from .datasets import ImageDataset, sample_few_shot, subsample_classes
from .errors import RecordError
from .evaluation import features_key, image_features
from .identity import checkpoint_file, image_sha256s, load_run_dataset, record_identity
from .model import PromptedCLIP
from .precision import weight_dtype
from .prompt_learners import build_prompt_learner
from .run_config import RunConfig, fixed_cpu_threads
from .training import load_checkpoint

_BACKBONES: dict[tuple, Backbone] = {}


def get_backbone(source: str, device: str, precision: str) -> Backbone:
    """Load a backbone once per process (runs in one notebook share it)."""
    key = (source, device, weight_dtype(precision))
    if key not in _BACKBONES:
        _BACKBONES[key] = load_backbone(source, device=device, dtype=weight_dtype(precision))
    return _BACKBONES[key]


def cached_test_features(config, model, items, *, transform=None, batch_size: int = 100,
                         desc: str = "image features"):
    """Image features and labels of ``items`` under the test transform, from the cache the runs
    share (``<output_dir>/features``; an unreadable cache file is rebuilt): ((N, E) float32, (N,))."""
    c = config.resolved() if hasattr(config, "resolved") else config
    backbone = model.backbone
    if transform is None:
        _, transform = image_transforms(backbone.image_size)
    paths = [d.impath for d in items]
    key = features_key(backbone.weights_sha256, paths, transform, c.precision,
                       image_sha256s=image_sha256s(paths), labels=[d.label for d in items])
    with fixed_cpu_threads(c.device):   # the cache is shared with runs: the same numbers as theirs
        return image_features(model, ImageDataset(items, transform), batch_size=batch_size,
                              device=c.device, precision=c.precision,
                              cache_dir=Path(c.output_dir) / "features", cache_key=key, desc=desc)


def load_trained(record: dict):
    """Rebuild a finished run's model: (PromptedCLIP with the learned prompts, its training split).

    The learner is rebuilt for the run's training classes and loaded from the run's checkpoint
    (:func:`checkpoint_file`, the name ``run`` wrote it under).
    """
    c = RunConfig(**{k: tuple(v) if k == "eval_on" else v for k, v in record["config"].items()})
    backbone = get_backbone(c.backbone, c.device, c.precision)
    splits = load_run_dataset(c.dataset, c.data_root)
    few = sample_few_shot(splits, c.shots, c.seed, cache_dir=str(Path(c.output_dir) / "fewshot"))
    part = subsample_classes(few, c.train_classes)
    learner = build_prompt_learner(c.method, backbone, part.classnames, template=splits.template,
                                   n_ctx=c.n_ctx, ctx_init=c.ctx_init,
                                   class_token_position=c.class_token_position, csc=c.csc)
    if c.method != "zeroshot":
        if "data_identity" not in record:
            raise RecordError(f"record {record['name']} does not say which data it was made on "
                              "(written by an older version); run it again to rebuild it")
        ckpt = checkpoint_file(c.output_dir, record["name"], record_identity(record))
        if not ckpt.exists():
            shipped = (" (the record came with the repository, whose shipped runs carry checkpoints "
                       "only for chapter 1's runs)" if record.get("shipped_from") else "")
            raise RecordError(f"checkpoint {ckpt} of record {record['name']} is missing{shipped}; "
                              "run it again with force=True (--force) to rebuild it")
        learner.load_state_dict(load_checkpoint(ckpt)["learner"])
    learner.eval()
    return PromptedCLIP(backbone, learner, class_chunk=c.class_chunk), part
