"""cocoop_lib/runs.py: one run end to end (RunConfig -> record) on a tiny random CLIP: its numbers
against independent computations, the same record in any order and entry point, reuse, and
recomputation when the data changed."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import (DataError, ImageDataset, load_dataset, sample_few_shot,
                                 subsample_classes)
from cocoop_lib.runs import (checkpoint_file, find_record, record_identity, run, run_identity,
                             run_many)
from cocoop_lib.text_encoder import tokenize
from fixtures_runs import REPO, cfg, config, copy_root, cpu_config as _config, essence


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


def test_val_target_is_the_few_shot_val_draw_of_the_base_classes(tiny_backbone, tiny_clip_dir,
                                                                 eurosat_root, tmp_path):
    """Zero-shot on EuroSAT:val equals an independent computation on the drawn val images."""
    record = run(_config(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot", shots=2,
                         eval_on=("EuroSAT:val", "EuroSAT:new")), progress=False)
    data = load_dataset("EuroSAT", eurosat_root)
    few = subsample_classes(sample_few_shot(data, 2, 1), "base")
    assert record["n_test"]["EuroSAT:val"] == 5 * 2 == len(few.val)   # min(shots, 4) per base class
    assert {d.impath for d in few.val} <= {d.impath for d in data.val}  # val images, never test
    clip, tok = tiny_backbone.model, tiny_backbone.tokenizer
    with torch.no_grad():
        t = F.normalize(clip.get_text_features(
            input_ids=tokenize(tok, [data.template.format(c) for c in few.classnames], 77)), dim=-1)
        x = torch.stack([img for img, _ in ImageDataset(few.val, image_transforms(32)[1])])
        v = F.normalize(clip.get_image_features(pixel_values=x), dim=-1)
    acc = 100 * ((v @ t.T).argmax(-1) == torch.tensor([d.label for d in few.val])).float().mean().item()
    assert record["metrics"]["EuroSAT:val"] == pytest.approx(acc, abs=1e-3)
    assert list(record["metrics"]) == ["EuroSAT:val", "EuroSAT:new"]


def test_same_run_first_in_a_fresh_process_or_after_other_runs_is_identical(
        tiny_clip_dir, eurosat_root, tmp_path):
    fresh = tmp_path / "fresh"
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS=str(torch.get_num_threads()),
               HF_HUB_OFFLINE="1", TQDM_DISABLE="1")
    subprocess.run([sys.executable, "-m", "cocoop_lib", "--dataset", "EuroSAT", "--method", "cocoop",
                    "--seed", "2", "--shots", "4", "--epochs", "2", "--batch-size", "4",
                    "--recipe", "paper", "--backbone", tiny_clip_dir, "--data-root", eurosat_root,
                    "--output-dir", str(fresh)], check=True, env=env, capture_output=True)
    (rec_file,) = (fresh / "records").glob("*.json")
    first = json.loads(rec_file.read_text())
    target = dict(method="cocoop", seed=2)
    # in this process, after other runs (which load the backbone and draw random numbers)
    run(cfg(tiny_clip_dir, eurosat_root, tmp_path / "b", method="zeroshot"), progress=False)
    run(cfg(tiny_clip_dir, eurosat_root, tmp_path / "b", seed=3), progress=False)
    after = run(cfg(tiny_clip_dir, eurosat_root, tmp_path / "b", **target), progress=False)
    # through the notebooks' helper, after another run in the same call
    many = run_many([cfg(tiny_clip_dir, eurosat_root, tmp_path / "c", seed=5),
                     cfg(tiny_clip_dir, eurosat_root, tmp_path / "c", **target)], verbose=False)[1]
    assert after["name"] == first["name"] == many["name"]
    assert after["metrics"] == first["metrics"] == many["metrics"]
    assert after["train"]["losses"] == first["train"]["losses"] == many["train"]["losses"]
    assert essence(after) == essence(many)


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


def test_changed_split_file_recomputes_with_one_line_and_never_resumes_old_checkpoint(
        tiny_clip_dir, eurosat_root, tmp_path, capsys):
    root = copy_root(eurosat_root, tmp_path / "data")
    out = tmp_path / "out"
    old = run(cfg(tiny_clip_dir, root, out), progress=False)
    old_identity = run_identity(cfg(tiny_clip_dir, root, out).resolved())
    assert find_record(cfg(tiny_clip_dir, root, out)) == old
    split = Path(root) / "eurosat" / "split_zhou_EuroSAT.json"
    data = json.loads(split.read_text())
    data["test"] = data["test"][::3]                      # a changed test split
    split.write_text(json.dumps(data))
    assert find_record(cfg(tiny_clip_dir, root, out)) is None
    capsys.readouterr()
    new = run(cfg(tiny_clip_dir, root, out), progress=False)
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
    assert len(lines) == 1 and "recomputing" in lines[0] and "split file of EuroSAT changed" in lines[0]
    assert str(out / "records" / f"{new['name']}.json") in lines[0]
    assert sum(new["n_test"].values()) == 10 != sum(old["n_test"].values())
    # the checkpoint of the old data was not resumed: another file, trained from epoch 1
    new_identity = run_identity(cfg(tiny_clip_dir, root, out).resolved())
    assert checkpoint_file(out, new["name"], new_identity) != checkpoint_file(out, old["name"], old_identity)
    assert new["train"]["losses"] == old["train"]["losses"]   # same training data, same draw
    fresh = run(cfg(tiny_clip_dir, root, tmp_path / "fresh"), progress=False)
    assert essence(new) == essence(fresh)


def test_a_record_without_image_bytes_is_recomputed_with_the_reason(tiny_clip_dir, eurosat_root,
                                                                     tmp_path, capsys):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    record = run(c, progress=False)
    rec = tmp_path / "records" / f"{record['name']}.json"
    old = json.loads(rec.read_text())
    del old["data_identity"]["EuroSAT"]["image_bytes_sha256"]      # as written before 3 Dec
    rec.write_text(json.dumps(old))
    assert find_record(c) is None
    capsys.readouterr()
    again = run(c, progress=False)
    out = capsys.readouterr().out
    assert "recomputing" in out and "does not say which image contents of EuroSAT" in out
    assert "image_bytes_sha256" in json.loads(rec.read_text())["data_identity"]["EuroSAT"]
    assert again["metrics"] == record["metrics"]


def test_images_changed_in_place_are_recomputed_and_force_never_serves_stale_features(
        tiny_clip_dir, eurosat_root, tmp_path):
    root = Path(copy_root(eurosat_root, tmp_path / "data"))
    out = tmp_path / "out"
    c = cfg(tiny_clip_dir, str(root), out, method="zeroshot")
    first = run(c, progress=False)
    n_features = len(list((out / "features").glob("*.pt")))
    # every test image of class 0 replaced in place by class 9's first test image (same names)
    split = json.loads((root / "eurosat" / "split_zhou_EuroSAT.json").read_text())
    nine = next(p for p, label, _ in split["test"] if label == 9)
    for rel, label, _ in split["test"]:
        if label == 0:
            shutil.copyfile(root / "eurosat" / "2750" / nine, root / "eurosat" / "2750" / rel)
    assert find_record(c) is None                       # the record is stale now
    forced = run(c, force=True, progress=False)
    fresh = run(cfg(tiny_clip_dir, str(root), tmp_path / "fresh", method="zeroshot"), progress=False)
    assert essence(forced) == essence(fresh)            # the changed images' numbers, not a cache's
    assert forced["data_identity"] != first["data_identity"]
    assert len(list((out / "features").glob("*.pt"))) > n_features   # features of the new bytes


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
