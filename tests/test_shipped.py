"""The shipped mini-world records (cocoop_lib/shipped.py): complete, reused by the rule, and
recomputed equal to what is committed."""
import json

import pytest

from cocoop_lib import runs, shipped, shipped_check
from cocoop_lib.experiments import BOOK_EXPERIMENTS, plan
from cocoop_lib.parameters import check_parameters
from cocoop_lib.runs import RunConfig, find, find_record, run, run_many


def _mini(output_dir, **kw):
    return RunConfig(**{"dataset": "MiniFashion", "method": "cocoop", "seed": 1, "device": "cpu",
                        "output_dir": str(output_dir), **kw})


def _no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the run trained although a shipped record fits it")
    monkeypatch.setattr(runs, "_train_and_evaluate", refuse)


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


def _recompute_and_compare(config, tmp_path, monkeypatch):
    """Recomputed here, the shipped record passes by its regime's rule: bit-equal on the kernel
    path it names, within the measured tolerance on another (tests/test_kernel_path.py checks
    that both rules fail a planted change)."""
    from cocoop_lib.kernel_path import same_path

    check = shipped_check.recompute(config, tmp_path)
    assert check["run"] == config.resolved().run_name()
    committed = json.loads(shipped.shipped_path(check["run"]).read_text())
    record = json.loads((tmp_path / "records" / f"{check['run']}.json").read_text())
    assert check["regime"] == ("same kernel path" if same_path(committed, record) else "another kernel path")
    assert check["passed"], check["why"]
    if check["regime"] == "same kernel path":
        assert check["metrics_equal"] and check["max_metric_diff"] == 0 and check["max_loss_diff"] == 0
    assert record["n_test"] == committed["n_test"] and record["n_train"] == committed["n_train"]
    assert "shipped_from" not in record


def test_cheapest_shipped_picks_one_small_run_per_method(tmp_path):
    P = check_parameters("base_to_new", device="cpu", output_dir=str(tmp_path))
    picked = shipped_check.cheapest_shipped(plan(["base_to_new"], P))
    assert [(c.method, c.dataset) for c in picked] in (
        [("coop", d1), ("cocoop", d2)] for d1 in ("MiniDigits", "MiniFashion") for d2 in ("MiniDigits", "MiniFashion"))
    smoke = check_parameters("base_to_new", device="cpu", output_dir=str(tmp_path), epochs=2, shots=2)
    assert shipped_check.cheapest_shipped(plan(["base_to_new"], smoke)) == []   # nothing ships for it


def test_a_shipped_cocoop_record_recomputes_equal(tmp_path, monkeypatch):
    """CoCoOp, the paper's 10 epochs at batch 1, on MiniFashion (about 15 s)."""
    _recompute_and_compare(_mini(tmp_path), tmp_path, monkeypatch)


def test_a_shipped_coop_record_recomputes_equal(tmp_path, monkeypatch):
    """CoOp, the paper's 200 epochs at batch 32, on MiniDigits (about 40 s)."""
    _recompute_and_compare(_mini(tmp_path, dataset="MiniDigits", method="coop", seed=2), tmp_path,
                           monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["MiniFashion", "MiniDigits"])
@pytest.mark.parametrize("method", ["coop", "cocoop"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_small_shipped_record_recomputes_equal(dataset, method, seed, tmp_path, monkeypatch):
    _recompute_and_compare(_mini(tmp_path, dataset=dataset, method=method, seed=seed), tmp_path,
                           monkeypatch)


def test_cpu_runs_use_a_fixed_thread_count(tiny_clip_dir, eurosat_root, tmp_path):
    """Over 200 epochs float32 sums with 1 and 2 threads drift into other predictions, so a CPU
    run always uses runs.CPU_THREADS and gives the process its own count back."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        record = run(RunConfig(dataset="EuroSAT", method="coop", backbone=tiny_clip_dir,
                               data_root=eurosat_root, device="cpu", output_dir=str(tmp_path),
                               recipe="paper", shots=2, epochs=1, batch_size=4), progress=False)
        assert record["provenance"]["cpu_threads"] == runs.CPU_THREADS == 1
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
