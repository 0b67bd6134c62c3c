"""One test per row of the reliability findings that was not "good" (sweep and concurrency rows
aside): the same run gives the same record in any order and entry point, changed data is
recomputed, damaged files are named (or rebuilt), a full disk leaves nothing behind, and the CLI
and data checks give one clear line. Tiny random CLIP + tiny EuroSAT fixture (tests/conftest.py)."""
import argparse
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from cocoop_lib import records as records_mod
from cocoop_lib.backbone import BackboneError, check_weights_file
from cocoop_lib.cli import main
from cocoop_lib.datasets import DataError, load_dataset
from cocoop_lib.errors import CheckpointError, DiskFullError, RecordError
from cocoop_lib.runs import (RunConfig, check_device, checkpoint_file, find_record, run, run_identity,
                             run_many)

REPO = Path(__file__).resolve().parents[1]
IGNORED = ("seconds", "provenance", "peak_memory_mib")


def cfg(clip, root, out, **kw):
    base = dict(dataset="EuroSAT", backbone=clip, data_root=root, output_dir=str(out),
                recipe="paper", shots=4, epochs=2, batch_size=4, method="coop", seed=1)
    base.update(kw)
    return RunConfig(**base)


def essence(record: dict) -> dict:
    """A record without what legitimately differs between two runs (timing, host, output dir)."""
    out = {k: v for k, v in record.items() if k not in IGNORED}
    out["config"] = {k: v for k, v in record["config"].items() if k != "output_dir"}
    out["train"] = {k: v for k, v in record["train"].items() if k != "seconds"}
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and ".tmp" in p.name)


def copy_root(src: str, dst: Path) -> str:
    shutil.copytree(src, dst)
    return str(dst)


# ----------------------------------------------------------------------------- 6.3 run order


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


# ----------------------------------------------------------------------------- 2.9 data identity


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


# ----------------------------------------------------------------------------- 4.4 - 4.7 damage


def test_truncated_record_is_named_and_force_recomputes(tiny_clip_dir, eurosat_root, tmp_path, capsys):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    good = run(c, progress=False)
    rec = tmp_path / "records" / f"{good['name']}.json"
    text = rec.read_text()
    rec.write_text(text[: len(text) // 2])
    with pytest.raises(RecordError, match=str(rec)):
        find_record(c)
    args = ["--dataset", "EuroSAT", "--method", "zeroshot", "--backbone", tiny_clip_dir,
            "--data-root", eurosat_root, "--output-dir", str(tmp_path), "--shots", "4",
            "--recipe", "paper"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: run record") and str(rec) in err and "--force" in err
    assert len(err.splitlines()) == 1
    assert main(args + ["--force"]) == 0
    assert essence(json.loads(rec.read_text())) == essence(good)


@pytest.mark.parametrize("damage", ["truncated", "json text"])
def test_damaged_checkpoint_is_named_and_deleting_it_retrains_exactly(
        tiny_clip_dir, eurosat_root, tmp_path, damage):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    good = run(c, progress=False)
    (tmp_path / "records" / f"{good['name']}.json").unlink()
    ckpt = checkpoint_file(tmp_path, good["name"], run_identity(c.resolved()))
    if damage == "truncated":
        ckpt.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    else:
        ckpt.write_text('{"epoch": 5, "learner": {"ctx')
    with pytest.raises(CheckpointError, match=str(ckpt)) as info:
        run(c, progress=False)
    assert "delete it" in str(info.value) and "--force" in str(info.value)
    assert essence(run(c, force=True, progress=False)) == essence(good)


def test_truncated_feature_cache_is_rebuilt_with_a_warning(tiny_clip_dir, eurosat_root, tmp_path):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    good = run(c, progress=False)
    (tmp_path / "records" / f"{good['name']}.json").unlink()
    caches = sorted((tmp_path / "features").glob("*.pt"))
    assert len(caches) == 2
    for f in caches:
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.warns(UserWarning, match="feature cache .* is unreadable") as seen:
        again = run(c, progress=False)
    assert {str(f) for f in caches} <= {str(w.message).split(" is ")[0].split("cache ")[1] for w in seen}
    assert essence(again) == essence(good)
    for f in caches:                                        # rewritten whole
        assert set(torch.load(f)) == {"features", "labels"}


def test_truncated_few_shot_cache_is_redrawn_with_a_warning(tiny_clip_dir, eurosat_root, tmp_path):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    good = run(c, force=True, progress=False)
    (cache,) = (tmp_path / "fewshot").glob("*.json")
    cache.write_text(cache.read_text()[:40])
    with pytest.warns(UserWarning, match=f"few-shot cache {cache} is unreadable"):
        again = run(c, force=True, progress=False)
    assert essence(again) == essence(good)


# ----------------------------------------------------------------------------- 5.x full disk


def _failing_torch_save(monkeypatch, fail_when, error):
    real = torch.save

    def save(obj, f, *a, **kw):
        if fail_when(obj):
            with open(f, "wb") as fh:
                fh.write(b"PK\x03\x04partial")             # a partial file, as a full disk leaves
            raise error
        return real(obj, f, *a, **kw)
    monkeypatch.setattr(torch, "save", save)


def test_disk_full_at_the_feature_cache_is_named_and_leaves_nothing(tiny_clip_dir, eurosat_root,
                                                                     tmp_path, monkeypatch):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path / "ref")
    ref = run(c, progress=False)
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path / "out")
    _failing_torch_save(monkeypatch, lambda obj: "features" in obj, RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 832 vs 726"))
    with pytest.raises(DiskFullError, match="no space left on device while writing .*features") as e:
        run(c, progress=False)
    assert e.value.errno == errno.ENOSPC
    assert leftovers(tmp_path / "out") == [] and not list((tmp_path / "out" / "features").glob("*"))
    monkeypatch.undo()
    again = run(c, progress=False)                          # resumes from the final checkpoint
    assert essence(again) == essence(ref)


def test_disk_full_at_a_checkpoint_keeps_the_previous_one_and_resumes_exactly(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch):
    ref = run(cfg(tiny_clip_dir, eurosat_root, tmp_path / "ref", epochs=3), progress=False)
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path / "out", epochs=3)
    _failing_torch_save(monkeypatch, lambda obj: obj.get("epoch") == 2,
                        OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(DiskFullError, match="no space left on device while writing .*checkpoints"):
        run(c, progress=False)
    ckpt = checkpoint_file(tmp_path / "out", ref["name"], run_identity(c.resolved()))
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1   # the epoch-1 checkpoint is intact
    assert leftovers(tmp_path / "out") == []
    monkeypatch.undo()
    assert essence(run(c, progress=False)) == essence(ref)


def test_disk_full_at_the_record_leaves_no_temporary_file_and_cli_says_so(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch, capsys):
    real = json.dump

    def dump(obj, f, *a, **kw):
        if isinstance(obj, dict) and "metrics" in obj:
            f.write('{"partial": ')
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **kw)
    monkeypatch.setattr(records_mod.json, "dump", dump)
    args = ["--dataset", "EuroSAT", "--method", "zeroshot", "--backbone", tiny_clip_dir,
            "--data-root", eurosat_root, "--output-dir", str(tmp_path), "--shots", "4",
            "--recipe", "paper"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "error: no space left on device while writing" in err and "records" in err
    assert leftovers(tmp_path) == [] and not list((tmp_path / "records").iterdir())
    monkeypatch.undo()
    assert main(args) == 0


def test_records_are_written_0644(tiny_clip_dir, eurosat_root, tmp_path):
    record = run(cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot"), progress=False)
    rec = tmp_path / "records" / f"{record['name']}.json"
    assert stat.S_IMODE(rec.stat().st_mode) == 0o644


# ----------------------------------------------------------------------------- 1.13, 3.6 weights


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


# ----------------------------------------------------------------------------- CLI (1.9 - 1.17, 8.1)


def _cli(tiny_clip_dir, eurosat_root, out, *extra):
    return ["--dataset", "EuroSAT", "--method", "coop", "--backbone", tiny_clip_dir, "--data-root",
            eurosat_root, "--output-dir", str(out), "--shots", "2", "--epochs", "1",
            "--recipe", "paper", *extra]


@pytest.mark.parametrize("extra, message", [
    (["--device", "gpu"], "device 'gpu' is not valid: use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    (["--method", "cocoop", "--class-chunk", "0"], "class_chunk must be a positive integer"),
])
def test_cli_rejects_bad_device_and_class_chunk(tiny_clip_dir, eurosat_root, tmp_path, capsys,
                                                extra, message):
    assert main(_cli(tiny_clip_dir, eurosat_root, tmp_path / "o", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_one_clear_error_shared_with_the_notebooks(tiny_clip_dir, eurosat_root,
                                                                       tmp_path, capsys):
    assert main(_cli(tiny_clip_dir, eurosat_root, tmp_path / "o", "--device", "cuda")) == 2
    assert "no CUDA GPU is visible here" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        check_device("cuda:1")
    from cocoop_lib.notebook import ParameterError, check_parameters
    with pytest.raises(ParameterError, match="no CUDA GPU is visible here"):
        check_parameters("base_to_new", datasets=["EuroSAT"], data_root=eurosat_root, device="cuda")


def test_output_dir_that_is_a_file_or_cannot_be_created(tiny_clip_dir, eurosat_root, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(_cli(tiny_clip_dir, eurosat_root, afile)) == 2
    assert f"output_dir {afile} is a file" in capsys.readouterr().err
    blocked = afile / "sub"                                  # under a file: cannot be created
    assert main(_cli(tiny_clip_dir, eurosat_root, blocked)) == 2
    assert f"output_dir {blocked} cannot be created" in capsys.readouterr().err
    assert afile.read_text() == "x"


def test_no_arguments_print_usage_and_train_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "cocoop_lib"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "usage: python -m cocoop_lib" in res.stderr and "example" in res.stderr
    assert list(tmp_path.iterdir()) == []                   # no ./outputs written


# ----------------------------------------------------------------------------- data (2.1b - 2.10)


def test_training_run_lists_every_missing_image_at_once(tiny_clip_dir, eurosat_root, tmp_path):
    root = copy_root(eurosat_root, tmp_path / "data")
    splits = load_dataset("EuroSAT", root)
    gone = [splits.train[0].impath, splits.test[0].impath, splits.test[-1].impath]  # train, base, new
    for p in gone:
        os.remove(p)
    with pytest.raises(DataError) as info:
        run(cfg(tiny_clip_dir, root, tmp_path / "o", shots=6), progress=False)
    message = str(info.value)
    assert message.startswith("3 images of run") and all(f"missing: {p}" in message for p in gone)
    assert not (tmp_path / "o" / "checkpoints").exists()     # checked before any training


def test_label_out_of_range_names_the_entry(eurosat_root, tmp_path):
    root = copy_root(eurosat_root, tmp_path / "data")
    split = Path(root) / "eurosat" / "split_zhou_EuroSAT.json"
    data = json.loads(split.read_text())
    data["test"][0][1] = 10
    split.write_text(json.dumps(data))
    with pytest.raises(DataError, match=r"test\[0\] .*has label 10, out of range for 10 classes"):
        load_dataset("EuroSAT", root)


def test_mini_dataset_folder_not_found_names_the_users_root(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset("MiniDigits", str(tmp_path / "mine"))
    message = str(info.value)
    assert str(tmp_path / "mine") in message and "restore it from git" not in message
    from cocoop_lib.datasets.mini import MINI_ROOT
    from cocoop_lib.datasets import get_spec
    assert "restore it from git" in get_spec("MiniDigits").fix_hint(MINI_ROOT)


def test_verify_decodes_images_by_default_and_fast_mode_does_not(eurosat_root, tmp_path, capsys):
    from data_scripts.verify import main as verify
    root = copy_root(eurosat_root, tmp_path / "data")
    bad = load_dataset("EuroSAT", root).test[2].impath
    Path(bad).write_bytes(Path(bad).read_bytes()[:60])      # truncated PNG
    assert verify(["EuroSAT", "--root", root]) == 1
    assert f"image unreadable: {bad}" in capsys.readouterr().out
    verify(["EuroSAT", "--root", root, "--fast"])
    assert bad not in capsys.readouterr().out


# ----------------------------------------------------------------------------- point 6


def test_ftfy_is_active_in_the_tokenizer(tiny_backbone):
    import html

    import ftfy
    tok = tiny_backbone.tokenizer
    assert tok.fix_text is not None                          # transformers uses ftfy, not its fallback

    def openai_clean(text):                                  # OpenAI CLIP's basic_clean + whitespace
        return " ".join(html.unescape(html.unescape(ftfy.fix_text(text))).strip().split()).lower()
    for text in ["\u201ccurly\u201d quotes", "\uff26\uff55\uff4c\uff4c width", "caf\u00e9 na\u00efve"]:
        assert tok(text)["input_ids"] == tok(openai_clean(text))["input_ids"], text


def test_init_words_with_underscores_read_as_spaces(tiny_backbone):
    from cocoop_lib.prompt_learners import CoOpPromptLearner
    a = CoOpPromptLearner(tiny_backbone, ["cat", "dog"], n_ctx=None, ctx_init="a_photo_of_a")
    b = CoOpPromptLearner(tiny_backbone, ["cat", "dog"], n_ctx=None, ctx_init="a photo of a")
    assert a.n_ctx == 4 and torch.equal(a.ctx, b.ctx)


def test_the_runs_helpers_the_chapters_use(tiny_clip_dir, eurosat_root, tmp_path):
    from cocoop_lib.runs import cached_test_features, load_trained
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    record = run(c, progress=False)
    assert find_record(c) == record
    model, part = load_trained(record)
    saved = torch.load(checkpoint_file(tmp_path, record["name"], run_identity(c.resolved())),
                       weights_only=False)["learner"]
    assert torch.equal(model.prompt_learner.ctx.detach(), saved["ctx"])
    feats, labels = cached_test_features(c, model, part.test)
    assert feats.shape[0] == labels.shape[0] == len(part.test)


# ============================================================================ issue 24, point 6
# The 3 Dec trial's cases (docs/reliability.md): each test fails on the code of 2edddfbb.

from cocoop_lib import identity as identity_mod, run_locks, shipped, workers  # noqa: E402
from cocoop_lib.datasets.mini import MINI_ROOT  # noqa: E402

SHIPPED_STORE = Path(shipped.SHIPPED_DIR)
ZS_DIGITS = "MiniDigits-zeroshot-base-seed1-290364e8"     # a shipped zero-shot record


def mini_cfg(out, **kw):
    return RunConfig(**{"dataset": "MiniDigits", "method": "zeroshot", "seed": 1, "device": "cpu",
                        "output_dir": str(out), **kw})


def copy_mini_digits(dst: Path) -> Path:
    shutil.copytree(Path(MINI_ROOT) / "MiniDigits", dst / "MiniDigits")
    return dst


def replace_base_test_images(root: Path) -> int:
    """N4c's change: every base-class test image (classes 0-4) becomes one class-9 image, under
    the same file names; the split file is untouched."""
    split = json.loads((root / "MiniDigits" / "split_zhou_MiniDigits.json").read_text())
    nine = next(p for p, label, _ in split["test"] if label == 9)
    src = (root / "MiniDigits" / "images" / nine).read_bytes()
    n = 0
    for rel, label, _ in split["test"]:
        if label < 5:
            (root / "MiniDigits" / "images" / rel).write_bytes(src)
            n += 1
    return n


def no_training(monkeypatch):
    from cocoop_lib import runs as runs_mod

    def refuse(*a, **k):
        raise AssertionError("trained although a shipped record fits")
    monkeypatch.setattr(runs_mod, "_train_and_evaluate", refuse)


# ----------------------------------------------------------------------------- N4c, N4b: shipped


def test_shipped_record_is_not_reused_when_pixels_changed_and_records_the_users_root(
        tmp_path, monkeypatch):
    monkeypatch.setenv(shipped.ENV, "1")
    ok = copy_mini_digits(tmp_path / "ok")
    pix = copy_mini_digits(tmp_path / "pix")
    assert replace_base_test_images(pix) == 500
    # the same names and split file, other pixels: the shipped record does not belong to it
    changed = mini_cfg(tmp_path / "o1", data_root=str(pix))
    assert find_record(changed) is None
    reason = identity_mod.stale_reason(
        json.loads(shipped.shipped_path(ZS_DIGITS).read_text()), run_identity(changed.resolved()))
    assert reason == "the images of MiniDigits changed (same file names, other contents)"
    # an identical copy elsewhere: reused, and the copied record names the root the user passed
    no_training(monkeypatch)
    record = run(mini_cfg(tmp_path / "o2", data_root=str(ok)), progress=False)
    assert record["shipped_from"].endswith(f"{ZS_DIGITS}.json")
    saved = json.loads((tmp_path / "o2" / "records" / f"{ZS_DIGITS}.json").read_text())
    assert saved["config"]["data_root"] == str(ok) and record["config"]["data_root"] == str(ok)


def test_the_book_grid_records_carry_the_image_bytes_of_the_mini_world():
    """Every shipped record's data identity has the images' bytes hash, computed from the data."""
    for store in shipped.STORES:
        for path in sorted((store / "records").glob("*.json")):
            for name, ident in json.loads(path.read_text())["data_identity"].items():
                assert len(ident["image_bytes_sha256"]) == 64, (path, name)
    now = identity_mod.data_identity(identity_mod.load_run_dataset("MiniDigits", None))
    saved = json.loads(shipped.shipped_path(ZS_DIGITS).read_text())["data_identity"]["MiniDigits"]
    assert saved == now


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


# ----------------------------------------------------------------------------- N4d: own dir, --force


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


def test_image_hashes_are_cached_by_stat_and_force_reads_every_file_again(eurosat_root, tmp_path,
                                                                         monkeypatch):
    root = Path(copy_root(eurosat_root, tmp_path / "data"))
    paths = sorted(str(p) for p in (root / "eurosat" / "2750").rglob("*.png"))
    folder = str(root / "eurosat")
    true = identity_mod.image_sha256s(paths, folder=folder)
    assert list(identity_mod.hash_cache_dir().glob("*.json"))       # the cache file is written
    reads = []
    real = identity_mod.hashlib.file_digest
    monkeypatch.setattr(identity_mod.hashlib, "file_digest", lambda f, a: reads.append(1) or real(f, a))
    identity_mod._HASHES.clear()                                    # a new process: the cache file
    assert identity_mod.image_sha256s(paths, folder=folder) == true and reads == []
    # a cache entry that lies (same stat, other sha): only refresh (--force) reads the file again
    st = os.stat(paths[0])
    identity_mod._HASHES[paths[0]] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, "0" * 64)
    assert identity_mod.image_sha256s(paths[:1], folder=folder)[0] == "0" * 64
    assert identity_mod.image_sha256s(paths[:1], folder=folder, refresh=True) == true[:1]
    assert reads == [1]


# ----------------------------------------------------------------------------- N1, N2: shipped checks


def test_committed_digests_match_the_shipped_files():
    """`python scripts/shipped_digest.py` regenerates these after shipped records change."""
    for store in shipped.STORES:
        listed = dict(line.split("  ")[::-1] for line in (store / shipped.DIGEST).read_text().splitlines())
        files = {p.relative_to(store).as_posix(): shipped.file_sha256(p) for p in shipped.digest_files(store)}
        assert listed == files, f"{store / shipped.DIGEST} is out of date: run python scripts/shipped_digest.py"


def test_every_shipped_record_agrees_with_itself():
    for path in sorted((SHIPPED_STORE / "records").glob("*.json")):
        shipped.read_shipped(path)


def _store_copy(tmp_path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(SHIPPED_STORE / "records", store / "records")
    shutil.copyfile(SHIPPED_STORE / shipped.DIGEST, store / shipped.DIGEST)
    return store


def test_an_edited_shipped_record_is_refused_naming_the_file_and_the_fixes(tmp_path, monkeypatch):
    monkeypatch.setenv(shipped.ENV, "1")
    store = _store_copy(tmp_path)
    name = RunConfig(dataset="MiniDigits", method="coop", seed=1, device="cpu").resolved().run_name()
    path = store / "records" / f"{name}.json"
    record = json.loads(path.read_text())
    record["metrics"].update({"MiniDigits:base": 99.4, "MiniDigits:new": 97.6})   # N1's edit
    path.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    ident = identity_mod.record_identity(json.loads((SHIPPED_STORE / "records" / f"{name}.json").read_text()))
    with pytest.raises(shipped.ShippedRecordError) as e:
        shipped.shipped_record(name, ident, store)
    msg = str(e.value)
    assert f"shipped file {path} is not the committed one" in msg
    assert f"git checkout -- {path}" in msg and "COCOOP_SHIPPED_RUNS=0" in msg
    assert "python scripts/shipped_digest.py" in msg
    # even with a matching digest, H no longer agrees with base and new
    shipped.write_digest(store)
    with pytest.raises(shipped.ShippedRecordError, match=r"disagrees with itself \(MiniDigits:H = "
                                                         r"\d+\.\d+ is not 2BN/\(B\+N\) = 98\.49"):
        shipped.shipped_record(name, ident, store)
    # an intact shipped record of the real store is reused
    assert shipped.shipped_record(name, ident)["metrics"]["MiniDigits:base"] != 99.4


def _sweep_main():
    sys.path.insert(0, str(REPO / "scripts"))
    import sweep as sweep_script
    return sweep_script


SWEEP_ZS = ["--setting", "mini", "--experiments", "base_to_new", "--datasets", "MiniDigits",
            "--methods", "zeroshot", "--seeds", "1", "--poll", "0.1", "--device", "cpu"]


@pytest.mark.slow
def test_damaged_shipped_record_sweep_names_it_and_force_repairs(tmp_path, monkeypatch, capsys):
    """N2, N2b: the sweep says which shipped file is damaged and how to restore it; --force trains."""
    monkeypatch.setenv(shipped.ENV, "1")
    store = _store_copy(tmp_path)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", store)
    path = store / "records" / f"{ZS_DIGITS}.json"
    path.write_text(path.read_text()[:300])                          # truncated
    out = tmp_path / "out"
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out)]) == 1
    text = capsys.readouterr().out
    assert f"damaged shipped record: shipped file {path} is not the committed one" in text
    assert f"git checkout -- {path}" in text and "COCOOP_SHIPPED_RUNS=0" in text
    assert f"damaged record {out}" not in text                        # no path that does not exist
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out), "--force"]) == 0
    text = capsys.readouterr().out
    assert "every planned run trains here" in text and "0 already done" in text
    record = json.loads((out / "records" / f"{ZS_DIGITS}.json").read_text())
    assert "shipped_from" not in record                               # trained here
    committed = json.loads((SHIPPED_STORE / "records" / f"{ZS_DIGITS}.json").read_text())
    assert record["metrics"] == committed["metrics"]


@pytest.mark.slow
def test_sweep_force_on_an_intact_shipped_run_trains_it(tmp_path, monkeypatch, capsys):
    """N19: --force means "redo every planned run", shipped ones included."""
    monkeypatch.setenv(shipped.ENV, "1")
    out = tmp_path / "out"
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out)]) == 0
    assert "1 already done" in capsys.readouterr().out                # the shipped record
    assert sw.main(SWEEP_ZS + ["--output-dir", str(out), "--force"]) == 0
    text = capsys.readouterr().out
    assert "0 already done" in text and "sweep finished" in text
    assert "shipped_from" not in json.loads((out / "records" / f"{ZS_DIGITS}.json").read_text())
    assert [e["event"] for e in run_locks.read_log(out)].count("run") == 1


def test_run_book_advice_for_a_damaged_shipped_record_works(tmp_path, monkeypatch):
    """N2: what run_book shows is the error's own message: no --force, which run_book lacks."""
    monkeypatch.setenv(shipped.ENV, "1")
    store = _store_copy(tmp_path)
    monkeypatch.setattr(shipped, "SHIPPED_DIR", store)
    path = store / "records" / f"{ZS_DIGITS}.json"
    path.write_text(path.read_text()[:300])
    with pytest.raises(shipped.ShippedRecordError) as e:
        find_record(mini_cfg(tmp_path / "out"))
    msg = str(e.value)
    assert f"git checkout -- {path}" in msg and "COCOOP_SHIPPED_RUNS=0" in msg
    assert "--force" not in msg


# ----------------------------------------------------------------------------- N3', N3''


@pytest.mark.parametrize("value", ["2", "", " ", "nope", "yes please"])
def test_unknown_shipped_runs_setting_is_an_error_naming_the_values(value, tmp_path, monkeypatch,
                                                                    capsys):
    monkeypatch.setenv(shipped.ENV, value)
    with pytest.raises(ValueError, match=r"COCOOP_SHIPPED_RUNS=.* is not understood: set "
                                         r"COCOOP_SHIPPED_RUNS=1 .* COCOOP_SHIPPED_RUNS=0"):
        shipped.enabled()
    assert main(["--dataset", "MiniDigits", "--method", "zeroshot", "--output-dir", str(tmp_path)]) == 2
    assert "is not understood" in capsys.readouterr().err
    assert _sweep_main().main(SWEEP_ZS + ["--output-dir", str(tmp_path)]) == 2
    assert "is not understood" in capsys.readouterr().err
    assert not (tmp_path / "records").exists()


def test_unknown_shipped_runs_setting_is_an_error_even_where_a_record_exists(tmp_path, monkeypatch,
                                                                             capsys):
    monkeypatch.setenv(shipped.ENV, "1")
    args = ["--dataset", "MiniDigits", "--method", "zeroshot", "--device", "cpu", "--output-dir",
            str(tmp_path)]
    assert main(args) == 0                                            # the shipped record, copied
    monkeypatch.setenv(shipped.ENV, "2")
    capsys.readouterr()
    assert main(args) == 2 and "COCOOP_SHIPPED_RUNS='2' is not understood" in capsys.readouterr().err


@pytest.mark.parametrize("value, on", [("NO", False), (" off ", False), ("0", False), ("True", True),
                                       ("1", True)])
def test_known_shipped_runs_settings(value, on, monkeypatch):
    monkeypatch.setenv(shipped.ENV, value)
    assert shipped.enabled() is on


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("value, recompute", [("0", False), ("no", False), ("false", False),
                                              (None, False), ("1", True), ("yes", True)])
def test_make_book_recompute_means_what_it_says(value, recompute):
    args = ["make", "-n", "-s", "book"] + ([f"RECOMPUTE={value}"] if value is not None else [])
    p = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    line = [ln for ln in p.stdout.splitlines() if "run_book.py" in ln][-1]
    assert ("COCOOP_SHIPPED_RUNS=0" in line) is recompute


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.parametrize("value", ["2", "nope"])
def test_make_book_refuses_an_unknown_recompute(value):
    p = subprocess.run(["make", "-n", "book", f"RECOMPUTE={value}"], cwd=REPO, capture_output=True,
                       text=True)
    assert p.returncode != 0 and "run_book.py" not in p.stdout
    assert f"RECOMPUTE={value} is not understood: use RECOMPUTE=1" in p.stderr


# ----------------------------------------------------------------------------- N5: the CLI says "shipped"


def test_cli_returning_a_shipped_record_says_so_and_gives_its_own_seconds(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setenv(shipped.ENV, "1")
    no_training(monkeypatch)
    assert main(["--dataset", "MiniDigits", "--method", "zeroshot", "--seed", "1", "--device", "cpu",
                 "--output-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    committed = json.loads(shipped.shipped_path(ZS_DIGITS).read_text())
    assert out["reused"] == f"shipped record cocoop_lib/assets/mini_runs/records/{ZS_DIGITS}.json"
    assert set(out["seconds"]) == {"this_call"} and out["recorded_seconds"] == committed["seconds"]
    assert "reused the shipped record" in captured.err and "nothing was trained now" in captured.err


# ----------------------------------------------------------------------------- N18: disk full at a claim


def test_disk_full_when_a_claim_is_created_leaves_no_claim(tmp_path, monkeypatch):
    real = json.dump

    def dump(obj, f, *a, **kw):
        if isinstance(obj, dict) and "owner" in obj:
            f.write('{"own')
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **kw)
    monkeypatch.setattr(records_mod.json, "dump", dump)
    with pytest.raises(DiskFullError, match=r"no space left on device while writing .*claims/r1\.json"):
        run_locks.try_claim(tmp_path, "r1")
    assert list((tmp_path / "claims").iterdir()) == []                # no 0-byte claim, no .tmp
    monkeypatch.undo()
    with run_locks.try_claim(tmp_path, "r1") as claim:                    # space again: claimed at once
        assert claim.held()


# ----------------------------------------------------------------------------- L4c, RF2, L1, L2


def test_waiting_for_another_hosts_claim_says_who_holds_it_and_how_to_stop(tmp_path, capsys):
    path = run_locks.claim_path(tmp_path, "r1")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"owner": "x", "host": "node17", "pid": 1234, "worker": "slurm-w3",
                                "started": run_locks._now(), "heartbeat": run_locks._now(),
                                "epoch": 5, "epochs": 20}))
    calls = []

    def finished():
        calls.append(1)
        return {"name": "r1"} if len(calls) >= 3 else None
    assert run_locks.acquire(tmp_path, "r1", finished=finished, poll_s=0.01) == {"name": "r1"}
    err = capsys.readouterr().err
    assert err.count("waiting for run r1") == 1
    assert "slurm-w3 (pid 1234 on node17" in err and "epoch 5/20" in err
    assert "COCOOP_CLAIM_STALE_S" in err and f"delete {path} to take the run over now" in err


def test_a_skipped_failed_run_says_how_to_retry(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(shipped.ENV, "1")
    out = tmp_path / "out"
    args = ["--setting", "mini", "--experiments", "base_to_new", "--datasets", "MiniDigits",
            "--methods", "coop", "--seeds", "1", "--epochs", "1", "--device", "cpu",
            "--output-dir", str(out)]
    sw = _sweep_main()
    [config] = sw.plan(argparse.Namespace(
        setting="mini", data_root=None, output_dir=str(out), experiments=["base_to_new"],
        datasets=["MiniDigits"], methods=["coop"], seeds=[1], shots=None, epochs=1, n_ctx=None,
        recipe=None, backbone=None, device="cpu", precision="auto"))
    fail = workers.failed_path(config)
    fail.parent.mkdir(parents=True)
    fail.write_text(json.dumps({"error": "CheckpointError: ... delete it or run again with --force"}))
    assert sw.main(args) == 1
    text = capsys.readouterr().out
    assert "1 run(s) failed before and are skipped" in text and "add --retry-failed" in text
    assert f"skipped {config.resolved().run_name()}: it failed before" in text
    assert "failed runs are skipped until the sweep runs with --retry-failed" in sw.status([config], out)


def test_status_eta_ignores_shipped_runs(tmp_path, monkeypatch):
    monkeypatch.setenv(shipped.ENV, "1")
    sw = _sweep_main()
    ns = argparse.Namespace(
        setting="mini", data_root=None, output_dir=str(tmp_path), experiments=["base_to_new"],
        datasets=["MiniDigits"], methods=["zeroshot", "coop"], seeds=[1], shots=None, epochs=3,
        n_ctx=None, recipe=None, backbone=None, device="cpu", precision="auto")
    text = sw.status(sw.plan(ns), tmp_path).splitlines()[0]
    assert text.startswith("2 runs: 1 done, 0 claimed, 0 failed, 1 to do")
    assert "ETA: unknown until a run trained here has finished (the 1 done are shipped records" in text


def test_a_local_worker_that_died_is_named_with_its_exit(tmp_path, monkeypatch, capsys):
    sw = _sweep_main()
    real = subprocess.Popen
    codes = iter(["import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "raise SystemExit(0)"])
    monkeypatch.setattr(sw.subprocess, "Popen", lambda cmd, env: real([sys.executable, "-c", next(codes)]))
    args = argparse.Namespace(device="cpu", workers=2, poll=0.1)
    assert sw.run_local(tmp_path / "plan.json", args) == 1
    err = capsys.readouterr().err
    assert "worker w0 (pid" in err and "was killed by signal SIGKILL" in err
    assert "taken over and resumed from its checkpoint" in err and "worker w1" not in err


# ----------------------------------------------------------------------------- SL1-SL3: SLURM


def test_slurm_executor_without_slurm_is_an_error_and_submits_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))                 # no sbatch anywhere
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(tmp_path / "o"), "--executor", "slurm"]) == 2
    captured = capsys.readouterr()
    assert "SLURM is not available here (no `sbatch` on PATH), so nothing was submitted" in captured.err
    assert "--executor local" in captured.err and "submitted" not in captured.out
    assert not (tmp_path / "o").exists()


def test_print_sbatch_needs_the_slurm_executor_and_shows_an_array_of_this_python(tmp_path, capsys):
    sw = _sweep_main()
    assert sw.main(SWEEP_ZS + ["--output-dir", str(tmp_path / "o"), "--print-sbatch"]) == 2
    assert "--print-sbatch prints the SLURM job script, so it needs --executor slurm" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()                              # nothing was run
    assert sw.main(SWEEP_ZS + ["--output-dir", str(tmp_path / "o"), "--print-sbatch",
                               "--executor", "slurm", "--workers", "3"]) == 0
    text = capsys.readouterr().out
    assert "#SBATCH --array=0-2%3" in text
    assert f"{sys.executable} -u -m submitit.core._submit" in text


# ----------------------------------------------------------------------------- 2.10, AT1/AT2, 8.7


def test_a_missing_mini_world_image_advises_a_copy_not_data_scripts_get(tmp_path):
    root = copy_mini_digits(tmp_path / "data")
    split = json.loads((root / "MiniDigits" / "split_zhou_MiniDigits.json").read_text())
    (root / "MiniDigits" / "images" / split["test"][0][0]).unlink()
    with pytest.raises(DataError) as e:
        run(mini_cfg(tmp_path / "out", data_root=str(root)), progress=False)
    msg = str(e.value)
    assert "1 images of run" in msg and "copy it again from cocoop_lib/assets/mini_world/MiniDigits" in msg
    assert "python -m data_scripts.get" not in msg
    from cocoop_lib.datasets import open_rgb
    with pytest.raises(DataError, match=r"git checkout -- cocoop_lib/assets/mini_world"):
        open_rgb(os.path.join(MINI_ROOT, "MiniDigits", "images", "000", "no_such.png"))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("force", [False, True])
def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_run(tiny_clip_dir, eurosat_root,
                                                                       tmp_path, force):
    import platform
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    name = c.resolved().run_name()
    ckpt = checkpoint_file(tmp_path, name, run_identity(c.resolved()))
    host, dead = platform.node(), _dead_pid()
    (tmp_path / "records").mkdir()
    ckpt.parent.mkdir()
    killed = [tmp_path / "records" / f".{name}.json.{host}.{dead}.ab12cd34.tmp",       # AT1
              ckpt.with_name(f".{ckpt.name}.{host}.{dead}.zz99yy88.tmp")]              # AT2
    old = tmp_path / "records" / f".{name}.json.rmunvg49.tmp"                        # 3 Dec's names
    live = tmp_path / "records" / f".{name}.json.{host}.{os.getpid()}.live0000.tmp"   # a live writer
    for f in killed + [old, live]:
        f.write_text("partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    if force:
        run(c, progress=False)
    run(c, progress=False, force=force)
    assert [f.exists() for f in killed + [old, live]] == [False, False, False, True]
    assert not [p for p in tmp_path.rglob("*.tmp") if p != live]


def test_records_honour_the_umask(tiny_clip_dir, eurosat_root, tmp_path):
    old = os.umask(0o077)
    try:
        record = run(cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot"), progress=False)
    finally:
        os.umask(old)
    rec = tmp_path / "records" / f"{record['name']}.json"
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "features").glob("*.pt"))


def test_a_claim_is_created_without_hard_links_too(tmp_path, monkeypatch):
    """Where the file system has no hard links the claim is an O_EXCL create, still exclusive."""
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(records_mod.os, "link", no_links)
    first = run_locks.try_claim(tmp_path, "r1", heartbeat_s=0)
    assert first is not None and first.held()
    assert run_locks.try_claim(tmp_path, "r1", heartbeat_s=0) is None      # held by the first
    assert sorted(p.name for p in (tmp_path / "claims").iterdir()) == ["r1.json"]
    first.release()


def test_a_run_finished_by_another_worker_meanwhile_is_not_counted_as_trained(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch):
    """L3: the check said "not done", then another worker's record appeared before the claim."""
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    run(c, progress=False)                                   # "the other worker"
    monkeypatch.setattr(workers, "finished_record", lambda config: None)
    lines = []
    assert workers.work([c], poll_s=0.01, log=lines.append) == {"trained": 0, "reused": 1, "failed": 0}
    assert "finished by another worker meanwhile" in lines[-1]
    other = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot", seed=2)
    assert workers.work([other], poll_s=0.01, log=lines.append) == {"trained": 1, "reused": 0, "failed": 0}
