"""The core library: backbone, text path, prompt learners, schedule, training, runs, CLI."""
import math
import time

import pytest
import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

from cocoop_lib.backbone import CLIP_TOKENIZER_DIR, Backbone, BackboneError, load_backbone
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import (CoCoOpPromptLearner, CoOpPromptLearner, ZeroShotPrompts,
                                        build_prompt_learner, count_trainable)
from cocoop_lib.text_encoder import PromptTextEncoder, eot_positions, tokenize
from cocoop_lib.training import TrainSettings, learning_rate, train


def test_tokenizer_gives_openai_ids():
    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    # ids of OpenAI's clip.tokenize("a photo of a cat.")
    assert tok("a photo of a cat.")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 269, 49407]


@pytest.mark.parametrize("length", [77, None])
def test_prompt_text_path_equals_hub_text_features(tiny_backbone, length):
    texts = ["a photo of a cat.", "a dog", "a centered satellite photo of annual crop land."]
    ids = tokenize(tiny_backbone.tokenizer, texts, 77)
    if length is None:  # a truncated batch: cut right after the longest EOT
        ids = ids[:, : int(eot_positions(ids).max()) + 1]
    enc = PromptTextEncoder(tiny_backbone.model)
    with torch.no_grad():
        ours = enc(enc.embed_tokens(ids), eot_positions(ids))
        ref = tiny_backbone.model.get_text_features(input_ids=ids)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() <= 1e-5


def _b16_text_backbone() -> Backbone:
    """A backbone with ViT-B/16's text width (512) and embedding size (512); one layer each."""
    config = CLIPConfig(
        text_config=dict(hidden_size=512, intermediate_size=2048, num_hidden_layers=1,
                         num_attention_heads=8, eos_token_id=49407),
        vision_config=dict(hidden_size=768, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=12, image_size=32, patch_size=16),
        projection_dim=512)
    model = CLIPModel(config).eval().requires_grad_(False)
    return Backbone(model, CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR), "random-b16", "", "", False)


def test_trainable_parameter_counts_of_vit_b16_shaped_config():
    bb = _b16_text_backbone()
    names = ["dog", "cat", "golden retriever"]
    assert count_trainable(ZeroShotPrompts(bb, names)) == 0
    assert count_trainable(CoOpPromptLearner(bb, names, n_ctx=4)) == 2_048
    assert count_trainable(CoOpPromptLearner(bb, names, n_ctx=60, ctx_init=None)) == 30_720
    assert count_trainable(CoCoOpPromptLearner(bb, names)) == 35_360


def test_cocoop_with_zero_meta_net_equals_coop(tiny_backbone):
    names = ["annual crop land", "forest", "river", "sea or lake"]
    coop = CoOpPromptLearner(tiny_backbone, names)
    cocoop = CoCoOpPromptLearner(tiny_backbone, names)
    torch.nn.init.zeros_(cocoop.meta_net.linear2.weight)
    torch.nn.init.zeros_(cocoop.meta_net.linear2.bias)
    with torch.no_grad():
        cocoop.ctx.copy_(coop.ctx + 0.1)
        coop.ctx.copy_(cocoop.ctx)
    images = torch.randn(3, 3, 32, 32)
    a = PromptedCLIP(tiny_backbone, coop)(images)
    b = PromptedCLIP(tiny_backbone, cocoop)(images)
    assert a.shape == b.shape == (3, 4)
    # equal up to float rounding (CoCoOp runs B*C prompts in one batch, CoOp C prompts)
    assert (a - b).abs().max() <= 1e-6


def test_gradients_reach_only_learned_parameters(tiny_backbone):
    learner = CoCoOpPromptLearner(tiny_backbone, ["cat", "dog", "bird"])
    model = PromptedCLIP(tiny_backbone, learner)
    loss = F.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([0, 2]))
    loss.backward()
    assert all(p.grad is None for p in tiny_backbone.model.parameters())
    learned = dict(learner.named_parameters())
    assert set(learned) == {"ctx", "meta_net.linear1.weight", "meta_net.linear1.bias",
                            "meta_net.linear2.weight", "meta_net.linear2.bias"}
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learned.values())
    assert set(learner.state_dict()) == set(learned)  # checkpoints hold only learned parameters


def test_class_chunking_gives_the_same_logits_and_gradients(tiny_backbone):
    names = [f"class {i}" for i in range(7)]
    torch.manual_seed(0)
    learner = CoCoOpPromptLearner(tiny_backbone, names)
    images = torch.randn(2, 3, 32, 32)
    results = []
    for chunk in (None, 3):
        learner.zero_grad()
        logits = PromptedCLIP(tiny_backbone, learner, class_chunk=chunk)(images)
        logits.square().sum().backward()
        results.append((logits.detach(), learner.ctx.grad.clone()))
    assert torch.allclose(results[0][0], results[1][0], atol=1e-5)
    assert torch.allclose(results[0][1], results[1][1], atol=1e-5)


def test_class_token_positions_keep_the_same_tokens(tiny_backbone):
    names = ["sea or lake", "forest"]
    end = CoOpPromptLearner(tiny_backbone, names, class_token_position="end")
    for pos in ("middle", "front"):
        other = CoOpPromptLearner(tiny_backbone, names, class_token_position=pos)
        prompts, eot = other()
        ref, ref_eot = end()
        assert prompts.shape == ref.shape and torch.equal(eot, ref_eot)
        # same multiset of rows up to EOT: the class tokens only moved
        for c in range(len(names)):
            rows = lambda p: sorted(p[c, : int(eot[c]) + 1].sum(-1).tolist())
            assert rows(prompts) == pytest.approx(rows(ref), abs=1e-4)
    # front: the class name directly follows SOS ("forest" is one token)
    front = CoOpPromptLearner(tiny_backbone, names, class_token_position="front")
    tok_emb = tiny_backbone.model.text_model.embeddings.token_embedding
    forest_id = tiny_backbone.tokenizer("forest")["input_ids"][1]
    assert torch.equal(front()[0][1, 1], tok_emb.weight[forest_id])


def test_checkpoint_loads_against_another_class_list(tiny_backbone):
    base = CoCoOpPromptLearner(tiny_backbone, ["cat", "dog", "bird"])
    with torch.no_grad():
        base.ctx.add_(0.5)
    new = CoCoOpPromptLearner(tiny_backbone, ["sea or lake", "river"])
    new.load_state_dict(base.state_dict())
    assert torch.equal(new.ctx, base.ctx)
    logits = PromptedCLIP(tiny_backbone, new)(torch.randn(4, 3, 32, 32))
    assert logits.shape == (4, 2)


def test_learning_rate_of_a_10_epoch_run_follows_the_protocol(tiny_backbone, eurosat_root):
    expected = [1e-5] + [0.002 * (1 + math.cos(math.pi * (e - 2) / 10)) / 2 for e in range(2, 11)]
    # Dassl's scheduler is torch's CosineAnnealingLR (T_max = max epochs) after a constant warm-up
    p = torch.nn.Parameter(torch.zeros(1))
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(torch.optim.SGD([p], lr=0.002), T_max=10)
    torch_lrs = []
    for _ in range(9):
        torch_lrs.append(cosine.get_last_lr()[0])
        cosine.optimizer.step()
        cosine.step()
    assert [learning_rate(e, 10) for e in range(1, 11)] == pytest.approx(expected, rel=1e-12)
    assert expected[1:] == pytest.approx(torch_lrs, rel=1e-9)
    # and the loop really uses them
    from cocoop_lib.datasets import ImageDataset, load_dataset
    from cocoop_lib.backbone import image_transforms
    data = load_dataset("EuroSAT", eurosat_root)
    model = PromptedCLIP(tiny_backbone, CoOpPromptLearner(tiny_backbone, data.classnames))
    history = train(model, ImageDataset(data.train[:8], image_transforms(32)[1]),
                    TrainSettings(epochs=10, batch_size=8), progress=False)
    assert history["lrs"] == pytest.approx(expected, rel=1e-12)


def test_training_lowers_the_loss(tiny_backbone, eurosat_root):
    from cocoop_lib.backbone import image_transforms
    from cocoop_lib.datasets import ImageDataset, load_dataset
    torch.manual_seed(0)
    data = load_dataset("EuroSAT", eurosat_root)
    model = PromptedCLIP(tiny_backbone, CoCoOpPromptLearner(tiny_backbone, data.classnames))
    history = train(model, ImageDataset(data.train, image_transforms(32)[1]),
                    TrainSettings(epochs=6, batch_size=4, lr=0.5, warmup_epochs=0), progress=False)
    assert history["losses"][-1] < history["losses"][0] - 0.05


def test_interrupted_training_resumes_to_the_same_result(tiny_backbone, eurosat_root, tmp_path):
    from cocoop_lib.backbone import image_transforms
    from cocoop_lib.datasets import ImageDataset, load_dataset
    data = load_dataset("EuroSAT", eurosat_root)
    train_tf = image_transforms(32, (0.5, 1.0))[0]
    settings = TrainSettings(epochs=3, batch_size=4, lr=0.1, pipeline="pil")  # Crash: PIL path

    def fresh():
        torch.manual_seed(3)
        return PromptedCLIP(tiny_backbone, CoOpPromptLearner(tiny_backbone, data.classnames))

    full = fresh()
    train(full, ImageDataset(data.train[:12], train_tf), settings, tmp_path / "a.pt", progress=False)

    class Crash(ImageDataset):
        calls = 0

        def __getitem__(self, i):
            Crash.calls += 1
            if Crash.calls == 2 * 12 + 3:  # inside epoch 3
                raise KeyboardInterrupt
            return super().__getitem__(i)

    interrupted = fresh()
    with pytest.raises(KeyboardInterrupt):
        train(interrupted, Crash(data.train[:12], train_tf), settings, tmp_path / "b.pt", progress=False)
    assert torch.load(tmp_path / "b.pt", weights_only=False)["epoch"] == 2
    resumed = fresh()
    history = train(resumed, ImageDataset(data.train[:12], train_tf), settings, tmp_path / "b.pt",
                    progress=False)
    assert len(history["losses"]) == 3
    assert torch.equal(resumed.prompt_learner.ctx, full.prompt_learner.ctx)


def test_missing_weights_offline_fail_fast_with_a_clear_message(monkeypatch, tmp_path):
    import huggingface_hub.constants as hf_constants
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    t0 = time.perf_counter()
    with pytest.raises(BackboneError, match="not in the local cache.*huggingface-cli download"):
        load_backbone("openai/clip-vit-base-patch16")
    assert time.perf_counter() - t0 < 10
    with pytest.raises(BackboneError, match="not a CLIP checkpoint"):
        load_backbone(str(tmp_path))


def test_bad_learner_arguments_are_clear_errors(tiny_backbone):
    with pytest.raises(ValueError, match="Unknown method 'coopp'"):
        build_prompt_learner("coopp", tiny_backbone, ["a", "b"])
    with pytest.raises(ValueError, match="n_ctx=8 disagrees with ctx_init='a photo of a'"):
        CoOpPromptLearner(tiny_backbone, ["a", "b"], n_ctx=8, ctx_init="a photo of a")
    with pytest.raises(ValueError, match="class_token_position"):
        CoOpPromptLearner(tiny_backbone, ["a", "b"], class_token_position="start")
    with pytest.raises(ValueError, match="cannot serve"):
        CoOpPromptLearner(tiny_backbone, ["a", "b"], csc=True).set_classnames(["x", "y", "z"])


def test_aggregation_follows_the_paper():
    from cocoop_lib.evaluation import average_over_datasets, base_new_summary, harmonic_mean
    # CoCoOp's Table 1 rows (base, new) for the 11 datasets (CoCoOp paper)
    rows = [(75.98, 70.43), (97.96, 93.81), (95.20, 97.69), (70.49, 73.59), (94.87, 71.75),
            (90.70, 91.29), (33.41, 23.71), (79.74, 76.86), (77.01, 56.00), (87.49, 60.04),
            (82.33, 73.45)]
    avg = average_over_datasets([b for b, _ in rows], [n for _, n in rows])
    assert round(avg["base"], 2) == 80.47 and round(avg["new"], 2) == 71.69
    assert round(avg["H"], 2) == 75.83
    # the other way (mean of per-dataset H; the paper quotes 75.44 from its rounded H column)
    assert sum(harmonic_mean(b, n) for b, n in rows) / 11 == pytest.approx(75.44, abs=0.02)
    s = base_new_summary([70.0, 72.0, 74.0], [60.0, 66.0, 60.0])
    assert s["base"] == 72.0 and s["base_std"] == 2.0 and s["new"] == 62.0
    assert s["new_std"] == pytest.approx(12 ** 0.5) and s["H"] == pytest.approx(2 * 72 * 62 / 134)


def test_hub_id_loads_from_the_local_hub_cache_offline(tiny_clip_dir, tmp_path, monkeypatch):
    """The real path (a hub id) with a random CLIP placed in the hub cache's layout."""
    import shutil
    import huggingface_hub.constants as hf_constants
    repo = tmp_path / "hub" / "models--openai--clip-vit-base-patch16"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(tiny_clip_dir, snapshot)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(snapshot.name)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    bb = load_backbone("openai/clip-vit-base-patch16")
    assert bb.source == "openai/clip-vit-base-patch16" and not bb.is_mini
    assert bb.info()["weights_sha256"] == load_backbone(tiny_clip_dir).weights_sha256


def test_recipe_epochs_with_per_dataset_exceptions():
    """The paper trains CoOp 50 epochs on ImageNet, 200 elsewhere; the mini recipe mirrors it."""
    from cocoop_lib.presets import MINI, PAPER, epochs_for, get_recipe
    assert epochs_for(PAPER, "coop", "ImageNet") == 50
    assert epochs_for(PAPER, "coop", "OxfordPets") == 200
    assert epochs_for(PAPER, "cocoop", "ImageNet") == 10
    assert epochs_for(MINI, "coop", "MiniEmojiNet") == 50      # MiniEmojiNet plays ImageNet
    assert epochs_for(MINI, "coop", "MiniGlyphs") == 200
    assert epochs_for(MINI, "zeroshot", "MiniGlyphs") == 0
    assert get_recipe("auto", "mini") is MINI and get_recipe("auto", "openai/clip-vit-base-patch16") is PAPER
    with pytest.raises(ValueError, match="Unknown recipe"):
        get_recipe("fast")
