"""cocoop_lib/prompt_learners.py: parameter counts, CoCoOp against CoOp, what is learned and
checkpointed, class token positions, context words, and bad arguments."""
import pytest
import torch
import torch.nn.functional as F
from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

from cocoop_lib.backbone import Backbone, CLIP_TOKENIZER_DIR
from cocoop_lib.model import PromptedCLIP
from cocoop_lib.prompt_learners import (CoCoOpPromptLearner, CoOpPromptLearner, ZeroShotPrompts,
                                        build_prompt_learner, count_trainable)


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


def test_init_words_with_underscores_read_as_spaces(tiny_backbone):
    from cocoop_lib.prompt_learners import CoOpPromptLearner
    a = CoOpPromptLearner(tiny_backbone, ["cat", "dog"], n_ctx=None, ctx_init="a_photo_of_a")
    b = CoOpPromptLearner(tiny_backbone, ["cat", "dog"], n_ctx=None, ctx_init="a photo of a")
    assert a.n_ctx == 4 and torch.equal(a.ctx, b.ctx)


def test_bad_learner_arguments_are_clear_errors(tiny_backbone):
    with pytest.raises(ValueError, match="Unknown method 'coopp'"):
        build_prompt_learner("coopp", tiny_backbone, ["a", "b"])
    with pytest.raises(ValueError, match="n_ctx=8 disagrees with ctx_init='a photo of a'"):
        CoOpPromptLearner(tiny_backbone, ["a", "b"], n_ctx=8, ctx_init="a photo of a")
    with pytest.raises(ValueError, match="class_token_position"):
        CoOpPromptLearner(tiny_backbone, ["a", "b"], class_token_position="start")
    with pytest.raises(ValueError, match="cannot serve"):
        CoOpPromptLearner(tiny_backbone, ["a", "b"], csc=True).set_classnames(["x", "y", "z"])
