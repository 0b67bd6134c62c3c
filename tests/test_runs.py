"""One run end to end (RunConfig -> record) and the command line, on a tiny random CLIP."""
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from cocoop_lib.backbone import image_transforms
from cocoop_lib.cli import main
from cocoop_lib.datasets import DataError, ImageDataset, load_dataset, subsample_classes
from cocoop_lib.runs import RunConfig, checkpoint_file, record_identity, run
from cocoop_lib.text_encoder import tokenize


def config(tiny_clip_dir, eurosat_root, tmp_path, **kw):
    base = dict(dataset="EuroSAT", backbone=tiny_clip_dir, data_root=eurosat_root,
                output_dir=str(tmp_path), recipe="paper", shots=4, epochs=2, batch_size=4)
    base.update(kw)
    return RunConfig(**base)


def test_zero_shot_run_equals_an_independent_computation(tiny_backbone, tiny_clip_dir, eurosat_root,
                                                         tmp_path):
    record = run(config(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot"), progress=False)
    data = load_dataset("EuroSAT", eurosat_root)
    clip, tok = tiny_backbone.model, tiny_backbone.tokenizer
    for subset in ("base", "new"):
        part = subsample_classes(data, subset)
        texts = [data.template.format(c) for c in part.classnames]
        with torch.no_grad():
            t = F.normalize(clip.get_text_features(input_ids=tokenize(tok, texts, 77)), dim=-1)
            images = torch.stack([x for x, _ in ImageDataset(part.test, image_transforms(32)[1])])
            v = F.normalize(clip.get_image_features(pixel_values=images), dim=-1)
        pred = (v @ t.T).argmax(-1)
        acc = 100 * (pred == torch.tensor([d.label for d in part.test])).float().mean().item()
        assert record["metrics"][f"EuroSAT:{subset}"] == pytest.approx(acc, abs=1e-3)
        assert record["n_test"][f"EuroSAT:{subset}"] == 15
    assert record["n_trainable_params"] == 0
    assert record["backbone"]["weights_sha256"] == tiny_backbone.weights_sha256


def test_same_seed_gives_identical_records_and_base_to_new_works(tiny_clip_dir, eurosat_root, tmp_path):
    a = run(config(tiny_clip_dir, eurosat_root, tmp_path / "a", method="cocoop", seed=1), progress=False)
    b = run(config(tiny_clip_dir, eurosat_root, tmp_path / "b", method="cocoop", seed=1), progress=False)
    c = run(config(tiny_clip_dir, eurosat_root, tmp_path / "c", method="cocoop", seed=2), progress=False)
    assert a["metrics"] == b["metrics"] and a["train"]["losses"] == b["train"]["losses"]
    assert a["train"]["losses"] != c["train"]["losses"]
    assert set(a["metrics"]) == {"EuroSAT:base", "EuroSAT:new", "EuroSAT:H"}
    assert a["n_classes_train"] == 5 and a["n_train"] == 5 * 4
    # the checkpoint trained on the 5 base classes is what evaluated the 5 new ones
    ckpt = torch.load(checkpoint_file(tmp_path / "a", a["name"], record_identity(a)), weights_only=False)
    assert ckpt["epoch"] == 2 and "ctx" in ckpt["learner"]
    rec_file = tmp_path / "a" / "records" / f"{a['name']}.json"
    assert json.loads(rec_file.read_text())["metrics"] == a["metrics"]
    for key in ("config", "provenance", "backbone", "seconds", "peak_memory_mib"):
        assert key in a


def test_existing_record_is_reused(tiny_clip_dir, eurosat_root, tmp_path):
    cfg = config(tiny_clip_dir, eurosat_root, tmp_path, method="coop", epochs=1)
    first = run(cfg, progress=False)
    rec = tmp_path / "records" / f"{first['name']}.json"
    data = json.loads(rec.read_text())
    data["metrics"]["marker"] = 1.0
    rec.write_text(json.dumps(data))
    assert run(cfg, progress=False)["metrics"]["marker"] == 1.0
    # a record made with other backbone weights is stale: the run is done again
    data["backbone"]["weights_sha256"] = "0" * 64
    rec.write_text(json.dumps(data))
    again = run(cfg, progress=False)
    assert "marker" not in again["metrics"] and again["metrics"] == first["metrics"]


@pytest.mark.parametrize("kw, message", [
    (dict(method="cocop"), "Unknown method 'cocop'"),
    (dict(shots=0), "shots must be a positive integer"),
    (dict(shots=-3), "shots must be a positive integer"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(dataset="EuroSet"), "unknown dataset 'EuroSet'"),
    (dict(precision="fp8"), "Unknown precision 'fp8'"),
    (dict(method="coop", n_ctx=16), "n_ctx=16 disagrees with ctx_init='a photo of a'"),
])
def test_bad_parameters_are_clear_errors(tiny_clip_dir, eurosat_root, tmp_path, kw, message):
    with pytest.raises((ValueError, DataError), match=message):
        run(config(tiny_clip_dir, eurosat_root, tmp_path, **kw), progress=False)
    assert not (tmp_path / "records").exists()


def test_missing_data_folder_names_the_fix(tiny_clip_dir, tmp_path):
    with pytest.raises(DataError, match="data_scripts.get EuroSAT"):
        run(config(tiny_clip_dir, str(tmp_path / "nowhere"), tmp_path, method="zeroshot"))


def test_cli_runs_and_reports_errors(tiny_clip_dir, eurosat_root, tmp_path, capsys):
    args = ["--dataset", "EuroSAT", "--method", "coop", "--backbone", tiny_clip_dir, "--data-root",
            eurosat_root, "--output-dir", str(tmp_path), "--shots", "2", "--epochs", "1",
            "--recipe", "paper"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_trainable_params"] == 4 * 64 and set(out["metrics"]) >= {"EuroSAT:base"}
    assert main(args[:-2] + ["--recipe", "paper", "--shots", "0"]) == 2
    assert "shots must be a positive integer" in capsys.readouterr().err


def test_cli_help_explains_the_options():
    out = subprocess.run([sys.executable, "-m", "cocoop_lib", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for word in ("--dataset", "--method", "--backbone", "--data-root", "--precision", "fp16-pure",
                 "openai/clip-vit-base-patch16"):
        assert word in out
