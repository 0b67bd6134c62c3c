"""cocoop_lib/shipped_check.py: shipped records recomputed here equal what is committed (by the
regime's rule: bit-equal on the same kernel path, within the tolerance on another)."""
import json

import pytest

from cocoop_lib import shipped, shipped_check
from cocoop_lib.experiments import plan
from cocoop_lib.parameters import check_parameters
from fixtures_runs import mini_fashion_cfg as _mini


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
