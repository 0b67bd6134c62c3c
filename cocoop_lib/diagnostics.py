"""How much can a learned context change a backbone's predictions? Two measurements.

Prompt learning only moves the context vectors, so it can help only as far as the text encoder
*listens* to them, and only where the hand-written prompt leaves room. CLIP ViT-B/16 gains tens of
points on some datasets; the mini CLIP gains nothing on data like its pretraining captions and
8-31 points on the mini benchmark's unseen domains (docs/mini_world.md). Both functions work on
any backbone:

    from cocoop_lib.diagnostics import context_sensitivity, fit_context_on_features

- ``context_sensitivity``: cosine between the class text features before and after moving every
  context vector by ``scale`` x its norm in a random direction (1.0: the context is ignored).
- ``fit_context_on_features``: an *oracle* bound. Fit the context directly to given image features
  (Adam, full batch), e.g. those of the test images themselves: in practice a ceiling for what a
  CoOp context learned from few shots adds on the same images.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .model import PromptedCLIP


def _ctx(model: PromptedCLIP) -> torch.nn.Parameter:
    ctx = getattr(model.prompt_learner, "ctx", None)
    if not isinstance(ctx, torch.nn.Parameter):
        raise ValueError("the model's prompt learner has no learned context (use method 'coop' or "
                         "'cocoop', not 'zeroshot')")
    return ctx


@torch.no_grad()
def context_sensitivity(model: PromptedCLIP, scale: float = 3.0, trials: int = 5,
                        seed: int = 0) -> float:
    """Mean cosine similarity of class text features (C, E) under random context moves.

    Each trial adds to every context vector (n_ctx, D) a random direction of ``scale`` times that
    vector's norm. The context is restored afterwards.
    """
    if model.conditional:
        raise ValueError("context_sensitivity needs an unconditional learner (CoOp); CoCoOp's "
                         "context depends on the image")
    ctx = _ctx(model)
    saved = ctx.data.clone()
    gen = torch.Generator().manual_seed(seed)
    before = F.normalize(model.text_features().float(), dim=-1)             # (C, E)
    cosines = []
    try:
        for _ in range(trials):
            r = torch.randn(saved.shape, generator=gen).to(saved)           # (n_ctx, D)
            r = r / r.norm(dim=-1, keepdim=True) * saved.norm(dim=-1, keepdim=True) * scale
            ctx.data = saved + r
            after = F.normalize(model.text_features().float(), dim=-1)
            cosines.append(float((before * after).sum(-1).mean()))
    finally:
        ctx.data = saved
    return sum(cosines) / len(cosines)


def fit_context_on_features(model: PromptedCLIP, features: torch.Tensor, labels: torch.Tensor,
                            steps: int = 100, lr: float = 0.01) -> dict:
    """Fit a CoOp context to (features (N, E), labels (N,)) with full-batch Adam.

    Returns accuracy (%) and cross-entropy before and after, and how far the context moved
    (norm of the change / norm of the start). The model's context is restored afterwards.
    """
    if model.conditional:
        raise ValueError("fit_context_on_features needs CoOp's learner (an image-independent context)")
    if features.shape[0] != labels.shape[0]:
        raise ValueError(f"{features.shape[0]} features but {labels.shape[0]} labels")
    ctx = _ctx(model)
    saved = ctx.data.clone()
    requires = ctx.requires_grad
    ctx.requires_grad_(True)
    opt = torch.optim.Adam([ctx], lr=lr)

    def evaluate():
        with torch.no_grad():
            logits = model.logits_from_features(features).float()            # (N, C)
            return (100.0 * float((logits.argmax(-1) == labels).float().mean()),
                    float(F.cross_entropy(logits, labels)))

    try:
        acc0, loss0 = evaluate()
        for _ in range(steps):
            loss = F.cross_entropy(model.logits_from_features(features).float(), labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        acc1, loss1 = evaluate()
        moved = float((ctx.data - saved).norm() / saved.norm())
    finally:
        ctx.data = saved
        ctx.requires_grad_(requires)
    return {"accuracy_before": acc0, "accuracy_after": acc1, "loss_before": loss0,
            "loss_after": loss1, "context_moved": moved, "steps": steps, "lr": lr}


def context_report(datasets: list[str], backbone: str = "mini", data_root: str | None = None,
                   device: str = "cpu", max_images: int = 1000, steps: int = 100,
                   lr: float = 0.01) -> list[dict]:
    """Both measurements for CoOp's start ("a photo of a") on each dataset's base classes.

    The oracle fit uses (at most ``max_images``, evenly spaced) base-class *test* images, so its
    gain is in practice a ceiling for what a context learned from 16 shots adds on them.
    One dict per dataset.
    """
    from .backbone import image_transforms, load_backbone
    from .datasets import ImageDataset, load_dataset, subsample_classes
    from .evaluation import image_features
    from .prompt_learners import build_prompt_learner

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    bb = load_backbone(backbone, device=device)
    _, test_tf = image_transforms(bb.image_size)
    rows = []
    for name in datasets:
        base = subsample_classes(load_dataset(name, data_root), "base")
        test = base.test[:: max(1, -(-len(base.test) // max_images))]
        model = PromptedCLIP(bb, build_prompt_learner("coop", bb, base.classnames)).to(device)
        feats, labels = image_features(model, ImageDataset(test, test_tf), device=device,
                                       desc=f"{name}:base features")
        feats, labels = feats.to(device), labels.to(device)
        fit = fit_context_on_features(model, feats, labels, steps=steps, lr=lr)
        rows.append({"dataset": name, "base classes": len(base.classnames), "test images": len(test),
                     "cosine under 3x random context moves": round(context_sensitivity(model), 4),
                     "accuracy, 'a photo of a'": round(fit["accuracy_before"], 2),
                     "accuracy, context fitted to these images": round(fit["accuracy_after"], 2),
                     "oracle gain": round(fit["accuracy_after"] - fit["accuracy_before"], 2),
                     "context moved (x its norm)": round(fit["context_moved"], 2)})
    return rows
