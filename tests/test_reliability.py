"""One test per row of the reliability findings that was not "good" (sweep and concurrency rows
aside): the same run gives the same record in any order and entry point, changed data is
recomputed, damaged files are named (or rebuilt), a full disk leaves nothing behind, and the CLI
and data checks give one clear line. Tiny random CLIP + tiny EuroSAT fixture (tests/conftest.py)."""
import errno
import json
import os
import shutil
import stat
import subprocess
import sys
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
IGNORED = ("seconds", "provenance", "peak_memory_mib", "_reused")


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


def test_notebook_helpers_are_the_runs_functions(tiny_clip_dir, eurosat_root, tmp_path):
    from cocoop_lib import notebook
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    record = run(c, progress=False)
    assert notebook.usable_record(c) == find_record(c) == record
    model, part = notebook.trained_model(record)
    saved = torch.load(checkpoint_file(tmp_path, record["name"], run_identity(c.resolved())),
                       weights_only=False)["learner"]
    assert torch.equal(model.prompt_learner.ctx.detach(), saved["ctx"])
    feats, labels = notebook.test_features(c, model, part.test)
    assert feats.shape[0] == labels.shape[0] == len(part.test)
