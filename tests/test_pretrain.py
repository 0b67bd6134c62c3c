"""The mini CLIP's pretraining machinery: grouped batches, the pools file, cached tokens, shards."""

import random

import numpy as np
import pytest
import torch

from data_scripts.mini_world.pretrain_data import BIT, SOURCE_WEIGHTS, Pool, PretrainWorld


def synthetic_world(mention_p: float = 0.7) -> PretrainWorld:
    """A font-free world: every pool kind with random images, 3-5 concepts per pool."""
    w = PretrainWorld(build=False, mention_p=mention_p)
    g = np.random.default_rng(0)
    shapes = {"glyph": (1, 32, 32), "fashion": (1, 32, 32), "mnist": (1, 32, 32),
              "emoji": (4, 32, 32), "outline": (4, 32, 32)}
    fixed = {"glyph": BIT["bold"], "fashion": 0, "mnist": BIT["handwritten"], "emoji": 0,
             "outline": BIT["outline"]}
    for p, name in enumerate(SOURCE_WEIGHTS):
        concepts = [w._concept(f"{name} thing {i}", name) for i in range(3 + p % 3)]
        per = [concepts[i % len(concepts)] for i in range(7 * len(concepts) + p)]
        imgs = g.integers(0, 256, size=(len(per),) + shapes[name], dtype=np.uint8)
        w.pools[name] = w._pool(imgs, per, [fixed[name]] * len(per))
    return w


def test_same_concept_groups_keep_the_item_first_and_stay_in_its_concept():
    pool = Pool(torch.zeros(9, 1, 2, 2, dtype=torch.uint8),
                torch.tensor([2, 0, 1, 0, 2, 2, 1, 0, 2]), torch.zeros(9, dtype=torch.long), [])
    assert pool.count.tolist() == [3, 2, 4]
    idx = torch.tensor([0, 1, 2, 3, 4, 5, 6, 7, 8])
    out = pool.same_concept(idx, 5, torch.Generator().manual_seed(0)).view(9, 5)
    assert torch.equal(out[:, 0], idx)
    assert torch.equal(pool.concept[out], pool.concept[idx][:, None].expand(9, 5))
    # every item of a concept is reachable: over many draws all indices of concept 2 appear
    many = pool.same_concept(torch.tensor([0] * 200), 4, torch.Generator().manual_seed(1))
    assert set(many.tolist()) == {0, 4, 5, 8}


def test_grouped_batches_hold_blocks_of_one_concept_and_true_captions():
    w = synthetic_world(mention_p=1.0)
    gen, rnd = torch.Generator().manual_seed(3), random.Random(3)
    img, caps, concept, img_bits, cap_bits = w.batch(64, gen, rnd, group=4)
    assert img.shape == (64, 3, 32, 32) and len(caps) == 64
    assert float(img.min()) >= 0.0 and float(img.max()) <= 1.0
    blocks = concept.view(16, 4)
    assert torch.equal(blocks, blocks[:, :1].expand(16, 4))
    assert int((cap_bits & ~img_bits).abs().sum()) == 0          # captions name only true attributes
    for c, k, m in zip(caps, concept.tolist(), cap_bits.tolist()):
        assert w.concepts[k] in c
        if m == 0:
            assert not any(a in c for a in ("blurry", "noisy", "pixelated", "faded"))
    # mention_p = 1: every true attribute is named, up to three per caption
    assert all(bin(m).count("1") == min(3, bin(b).count("1"))
               for b, m in zip(img_bits.tolist(), cap_bits.tolist()))
    with pytest.raises(ValueError, match="multiple of the group size"):
        w.batch(10, gen, rnd, group=4)


def test_ungrouped_batches_mix_concepts():
    w = synthetic_world()
    _, _, concept, _, _ = w.batch(64, torch.Generator().manual_seed(0), random.Random(0), group=1)
    assert len(set(concept.tolist())) > 10


def test_pools_file_round_trip_and_subsampling(tmp_path):
    w = synthetic_world()
    path = w.save(tmp_path / "world.npz", max_items=10)
    back = PretrainWorld.load(path, mention_p=0.3)
    assert back.concepts == w.concepts and back.categories == w.categories
    assert back.mention_p == 0.3 and list(back.pools) == list(w.pools)
    for name, pool in w.pools.items():
        got = back.pools[name]
        n = min(10, len(pool.concept))
        assert len(got.concept) == n
        # each kept item is an original item with its concept and attributes
        for i in range(n):
            hits = [j for j in range(len(pool.concept))
                    if torch.equal(pool.images[j], got.images[i])]
            assert hits and pool.concept[hits[0]] == got.concept[i]
            assert pool.attrs[hits[0]] == got.attrs[i]
    assert not list(tmp_path.glob("*.tmp*"))


def test_cached_tokenisation_equals_the_tokenizer():
    from transformers import CLIPTokenizer
    from data_scripts.mini_world.paths import TOKENIZER_DIR
    from data_scripts.mini_world.pretrain import tokenize_cached
    tok = CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR))
    w = synthetic_world()
    _, caps, _, _, _ = w.batch(48, torch.Generator().manual_seed(5), random.Random(5), group=4)
    caps = caps + caps[:5] + ["a " + " ".join(["very"] * 40) + " long caption."]
    for _ in range(2):   # second pass: all from the cache
        ids, mask = tokenize_cached(tok, caps)
        ref = tok(caps, padding="longest", truncation=True, max_length=32, return_tensors="pt")
        assert torch.equal(ids, ref["input_ids"]) and torch.equal(mask, ref["attention_mask"])


def test_contrastive_loss_counts_every_true_caption_as_positive():
    from data_scripts.mini_world.pretrain import contrastive_loss
    torch.manual_seed(0)
    f = torch.nn.functional.normalize(torch.randn(4, 8), dim=-1)
    concept = torch.tensor([0, 0, 1, 2])
    img_bits = torch.tensor([BIT["blurry"], 0, 0, 0])
    cap_bits = torch.tensor([0, 0, 0, 0])   # captions 0 and 1 are both true of images 0 and 1
    scale = torch.tensor(10.0)
    got = contrastive_loss(f, f, scale, concept, img_bits, cap_bits)
    logits = scale * f @ f.T
    pos = torch.tensor([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]], dtype=torch.float)
    li = -(pos / pos.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    lt = -(pos / pos.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    assert torch.allclose(got, (li + lt) / 2)
    # a caption naming "blurry" is not true of the sharp image 1
    cap_bits = torch.tensor([BIT["blurry"], 0, 0, 0])
    got2 = contrastive_loss(f, f, scale, concept, img_bits, cap_bits)
    pos2 = pos.clone()
    pos2[1, 0] = 0
    li2 = -(pos2 / pos2.sum(1, keepdim=True) * logits.log_softmax(1)).sum(1).mean()
    lt2 = -(pos2.T / pos2.T.sum(1, keepdim=True) * logits.T.log_softmax(1)).sum(1).mean()
    assert torch.allclose(got2, (li2 + lt2) / 2)


def test_shards_reassemble_into_the_hub_folder(tmp_path):
    """pretrain --shards-out (files <= the limit) -> export --shards -> CLIPModel.from_pretrained."""
    from transformers import CLIPModel
    from data_scripts.mini_world import export
    from data_scripts.mini_world.model_config import mini_clip_config
    from data_scripts.mini_world.pretrain import save_shards
    torch.manual_seed(0)
    model = CLIPModel(mini_clip_config(text_layers=2, text_heads=4))
    with pytest.raises(ValueError, match="token_embedding"):   # 49408 x 128 fp16 = 12.6 MB
        save_shards(model, tmp_path / "too_small", {}, max_bytes=12 << 20)
    limit = 13 << 20
    save_shards(model, tmp_path / "shards", {"steps": 7, "text_layers": 2, "text_heads": 4},
                max_bytes=limit)
    files = sorted((tmp_path / "shards").glob("mini_clip-*.safetensors"))
    assert len(files) == 2 and all(f.stat().st_size <= limit + 64 * 1024 for f in files)
    export.main(["--shards", str(tmp_path / "shards"), "--out", str(tmp_path / "clip"), "--no-eval"])
    back = CLIPModel.from_pretrained(str(tmp_path / "clip"), local_files_only=True)
    assert back.config.text_config.num_hidden_layers == 2
    assert back.config.text_config.num_attention_heads == 4
    ref = model.state_dict()
    for k, v in back.state_dict().items():
        assert torch.equal(v.half(), ref[k].half()), k
    assert (tmp_path / "clip" / "vocab.json").is_file()

