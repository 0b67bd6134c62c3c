"""cocoop_lib/backbone.py: the CLIP tokenizer, loading from a folder or the hub cache offline, and
weight files that are missing or damaged."""
import os
import shutil
import time

import pytest
from transformers import CLIPTokenizer

from cocoop_lib.backbone import BackboneError, CLIP_TOKENIZER_DIR, check_weights_file, load_backbone
from cocoop_lib.cli import main


def test_tokenizer_gives_openai_ids():
    tok = CLIPTokenizer.from_pretrained(CLIP_TOKENIZER_DIR)
    # ids of OpenAI's clip.tokenize("a photo of a cat.")
    assert tok("a photo of a cat.")["input_ids"] == [49406, 320, 1125, 539, 320, 2368, 269, 49407]


def test_ftfy_is_active_in_the_tokenizer(tiny_backbone):
    import html

    import ftfy
    tok = tiny_backbone.tokenizer
    assert tok.fix_text is not None                          # transformers uses ftfy, not its fallback

    def openai_clean(text):                                  # OpenAI CLIP's basic_clean + whitespace
        return " ".join(html.unescape(html.unescape(ftfy.fix_text(text))).strip().split()).lower()
    for text in ["\u201ccurly\u201d quotes", "\uff26\uff55\uff4c\uff4c width", "caf\u00e9 na\u00efve"]:
        assert tok(text)["input_ids"] == tok(openai_clean(text))["input_ids"], text


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


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_damaged_weights_file_is_named_in_cli_and_parameter_check(tiny_clip_dir, eurosat_root,
                                                                   tmp_path, capsys, damage):
    folder = tmp_path / "clip"
    shutil.copytree(tiny_clip_dir, folder)
    weights = folder / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    else:
        weights.write_bytes(os.urandom(100_000))
    with pytest.raises(BackboneError, match=f"Weight file {weights} is damaged"):
        check_weights_file(folder)
    assert main(["--dataset", "EuroSAT", "--method", "coop", "--backbone", str(folder),
                 "--data-root", eurosat_root, "--output-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Weight file") and str(weights) in err
    from cocoop_lib.notebook import ParameterError, check_parameters
    with pytest.raises(ParameterError, match=str(weights)):
        check_parameters("base_to_new", datasets=["EuroSAT"], data_root=eurosat_root,
                         backbone=str(folder))
    check_weights_file(tiny_clip_dir)                      # an intact file passes
