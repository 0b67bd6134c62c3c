"""cocoop_lib.diagnostics against direct computations on a tiny random CLIP."""

import pytest
import torch
import torch.nn.functional as F

from cocoop_lib.diagnostics import context_sensitivity, fit_context_on_features
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import build_prompt_learner

NAMES = ["red square", "green circle", "blue star"]


def coop(backbone, **kw):
    torch.manual_seed(0)
    return PromptedCLIP(backbone, build_prompt_learner("coop", backbone, NAMES, **kw))


def test_context_sensitivity_is_the_mean_cosine_of_moved_contexts(tiny_backbone):
    model = coop(tiny_backbone)
    ctx0 = model.prompt_learner.ctx.data.clone()
    got = context_sensitivity(model, scale=2.0, trials=3, seed=7)
    assert torch.equal(model.prompt_learner.ctx.data, ctx0)          # restored
    # independent: the same random moves, text features through the public path
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        t0 = F.normalize(model.text_features(), dim=-1)
        cos = []
        for _ in range(3):
            r = torch.randn(ctx0.shape, generator=gen)
            r = r / r.norm(dim=-1, keepdim=True) * ctx0.norm(dim=-1, keepdim=True) * 2.0
            model.prompt_learner.ctx.data = ctx0 + r
            cos.append(float((t0 * F.normalize(model.text_features(), dim=-1)).sum(-1).mean()))
        model.prompt_learner.ctx.data = ctx0
    assert got == pytest.approx(sum(cos) / 3, abs=1e-6)
    assert got < 0.9999                    # a random tiny CLIP does listen to its context
    assert context_sensitivity(model, scale=0.0) == pytest.approx(1.0, abs=1e-6)


def test_fitting_the_context_lowers_the_loss_and_restores_the_model(tiny_backbone):
    model = coop(tiny_backbone)
    ctx0 = model.prompt_learner.ctx.data.clone()
    torch.manual_seed(1)
    feats = F.normalize(torch.randn(30, tiny_backbone.embed_dim), dim=-1)
    labels = torch.arange(30) % 3
    with torch.no_grad():
        logits = model.logits_from_features(feats)
    out = fit_context_on_features(model, feats, labels, steps=40, lr=0.05)
    assert out["loss_before"] == pytest.approx(float(F.cross_entropy(logits, labels)), rel=1e-5)
    assert out["accuracy_before"] == pytest.approx(100.0 * float((logits.argmax(-1) == labels).float().mean()))
    assert out["loss_after"] < out["loss_before"] and out["context_moved"] > 0
    assert torch.equal(model.prompt_learner.ctx.data, ctx0)
    with pytest.raises(ValueError, match="30 features but 29 labels"):
        fit_context_on_features(model, feats, labels[:29])


def test_diagnostics_refuse_learners_they_cannot_measure(tiny_backbone):
    zs = PromptedCLIP(tiny_backbone, build_prompt_learner("zeroshot", tiny_backbone, NAMES))
    with pytest.raises(ValueError, match="no learned context"):
        context_sensitivity(zs)
    cc = PromptedCLIP(tiny_backbone, build_prompt_learner("cocoop", tiny_backbone, NAMES))
    with pytest.raises(ValueError, match="unconditional"):
        context_sensitivity(cc)


def test_context_report_on_paper_format_data(tiny_clip_dir, eurosat_root):
    from cocoop_lib.datasets import load_dataset, subsample_classes
    from cocoop_lib.diagnostics import context_report
    rows = context_report(["EuroSAT"], backbone=str(tiny_clip_dir), data_root=str(eurosat_root),
                          max_images=4, steps=3)
    base = subsample_classes(load_dataset("EuroSAT", str(eurosat_root)), "base")
    assert len(rows) == 1 and rows[0]["dataset"] == "EuroSAT"
    assert rows[0]["base classes"] == len(base.classnames)
    n = len(base.test)
    assert rows[0]["test images"] == len(base.test[:: -(-n // 4)]) <= 4
    assert rows[0]["oracle gain"] == pytest.approx(
        rows[0]["accuracy, context fitted to these images"] - rows[0]["accuracy, 'a photo of a'"], abs=0.02)
