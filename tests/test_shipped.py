"""cocoop_lib/shipped.py: the shipped mini-world records are complete, reused by the rule only
where their identity fits, only as committed (digests, self-consistency), and switched by
COCOOP_SHIPPED_RUNS (recomputing them: tests/test_shipped_check.py)."""
import json

import pytest

from cocoop_lib import identity as identity_mod, runs, shipped
from cocoop_lib.cli import main
from cocoop_lib.experiments import BOOK_EXPERIMENTS, plan
from cocoop_lib.parameters import check_parameters
from cocoop_lib.runs import RunConfig, find, find_record, run, run_identity, run_many
from fixtures_runs import (SHIPPED_STORE, SWEEP_ZS, ZS_DIGITS, copy_mini_digits, mini_cfg, no_training,
                           replace_base_test_images)
from fixtures_runs import mini_fashion_cfg as _mini, no_training as _no_training, store_copy as _store_copy
from fixtures_runs import sweep_script as _sweep_main


def test_book_grid_is_shipped_so_the_main_job_trains_nothing(tmp_path, monkeypatch):
    """Every run the book's chapters plan (mini world, default parameters) has a shipped record
    that the reuse rule accepts: a change that renames runs or changes their identity fails here,
    not as hours of training in `make book`."""
    monkeypatch.setenv(shipped.ENV, "1")
    P = check_parameters("base_to_new", device="cpu", output_dir=str(tmp_path))
    configs = plan(BOOK_EXPERIMENTS, P)
    missing = [c.resolved().run_name() for c in configs if find_record(c) is None]
    assert not missing, f"{len(missing)} of {len(configs)} runs have no usable shipped record: {missing[:5]}"
    assert len(configs) == 81      # 54 base-to-new + 18 long-context CoOp + 9 transfer


def test_shipped_record_is_copied_instead_of_training(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(shipped.ENV, "1")
    _no_training(monkeypatch)
    config = _mini(tmp_path)
    committed = json.loads(shipped.shipped_path(config.resolved().run_name()).read_text())
    [record] = run_many([config])
    assert record["metrics"] == committed["metrics"]
    assert record["shipped_from"] == f"cocoop_lib/assets/mini_runs/records/{config.resolved().run_name()}.json"
    copy = json.loads((tmp_path / "records" / f"{config.resolved().run_name()}.json").read_text())
    assert copy == {**committed, "shipped_from": record["shipped_from"],
                    "config": {**committed["config"], "output_dir": str(tmp_path)}}
    out = capsys.readouterr().out
    assert "(shipped record)" in out and "1 of them shipped with the repository" in out
    # no checkpoint ships for this run: loading its model says so and how to rebuild it
    from cocoop_lib.errors import RecordError
    with pytest.raises(RecordError, match="shipped runs carry checkpoints only for chapter 1"):
        runs.load_trained(record)


def test_one_store_says_where_a_record_comes_from(tmp_path, monkeypatch):
    """runs.find: the shipped record until a run copies it, then the output dir's; nothing when
    shipped runs are switched off and the output dir has none."""
    monkeypatch.setenv(shipped.ENV, "1")
    _no_training(monkeypatch)
    config = _mini(tmp_path)
    record, source = find(config)
    assert source == "shipped" and record["shipped_from"] and find_record(config) == record
    run(config, progress=False)
    record, source = find(config)
    assert source == "output_dir" and record["config"]["output_dir"] == str(tmp_path)
    monkeypatch.setenv(shipped.ENV, "0")
    assert find(_mini(tmp_path / "other")) == (None, None)


def test_chapter_one_models_load_from_shipped_checkpoints(tmp_path, monkeypatch):
    """Chapter 1 inspects the learned context of MiniEmojiNet seed 1: those two checkpoints ship
    and load into the learner, equal to the committed file."""
    import torch

    from cocoop_lib.training import load_checkpoint

    monkeypatch.setenv(shipped.ENV, "1")
    _no_training(monkeypatch)
    for method in ("coop", "cocoop"):
        record = run(_mini(tmp_path, dataset="MiniEmojiNet", method=method), progress=False)
        model, part = runs.load_trained(record)
        [ckpt] = (shipped.SHIPPED_DIR / "checkpoints").glob(f"{record['name']}-*.pt")
        state = load_checkpoint(ckpt)["learner"]
        for key, value in model.prompt_learner.state_dict().items():
            assert torch.equal(value, state[key]), key
        assert len(part.classnames) == 50


def test_shipped_records_are_not_used_when_switched_off_or_stale(tmp_path, monkeypatch):
    import dataclasses

    from cocoop_lib import presets

    config = _mini(tmp_path)
    monkeypatch.setenv(shipped.ENV, "0")
    assert find_record(config) is None
    monkeypatch.setenv(shipped.ENV, "1")
    assert find_record(config)["shipped_from"]
    # a recipe field that no config holds changed: the shipped record is stale, the run trains
    monkeypatch.setitem(presets.RECIPES, "mini", dataclasses.replace(presets.MINI, momentum=0.5))
    assert find_record(config) is None
    _no_training(monkeypatch)
    with pytest.raises(AssertionError, match="trained although"):
        run(config, progress=False)
    # other shots: another run name, nothing shipped
    monkeypatch.setitem(presets.RECIPES, "mini", presets.MINI)
    assert find_record(_mini(tmp_path, shots=2)) is None


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


def test_committed_digests_match_the_shipped_files():
    """`python scripts/shipped_digest.py` regenerates these after shipped records change."""
    for store in shipped.STORES:
        listed = dict(line.split("  ")[::-1] for line in (store / shipped.DIGEST).read_text().splitlines())
        files = {p.relative_to(store).as_posix(): shipped.file_sha256(p) for p in shipped.digest_files(store)}
        assert listed == files, f"{store / shipped.DIGEST} is out of date: run python scripts/shipped_digest.py"


def test_every_shipped_record_agrees_with_itself():
    for path in sorted((SHIPPED_STORE / "records").glob("*.json")):
        shipped.read_shipped(path)


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


@pytest.mark.parametrize("value, on", [("NO", False), (" off ", False), ("0", False), ("True", True),
                                       ("1", True)])
def test_known_shipped_runs_settings(value, on, monkeypatch):
    monkeypatch.setenv(shipped.ENV, value)
    assert shipped.enabled() is on


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
