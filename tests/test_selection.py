"""cocoop_lib/selection.py: how MINI's learning rates and crop scale were chosen (base-class
validation data only) and that the recipe holds the committed choice."""
import dataclasses

from cocoop_lib import selection
from cocoop_lib.parameters import check_parameters
from cocoop_lib.presets import MINI, PAPER, lr_for


def test_choose_takes_the_best_mean_and_the_smaller_lr_on_a_tie():
    table = {"coop": {0.002: {"mean": 50.0}, 0.02: {"mean": 61.0}, 0.3: {"mean": 61.0}},
             "cocoop": {0.002: {"mean": 70.0}, 0.1: {"mean": 69.9}}}
    assert selection.choose(table) == {"coop": 0.02, "cocoop": 0.002}


def test_selection_runs_see_only_base_class_validation_data():
    P = check_parameters("ablation", device="cpu")
    configs = selection.selection_configs(P.world.base_to_new, long_n_ctx=18, device="cpu")
    assert len(configs) == len(selection.VARIANTS) * len(selection.LR_GRID) * len(P.world.base_to_new)
    for variant, lr, c in configs:
        r = c.resolved()
        assert r.eval_on == (f"{r.dataset}:val",) and r.train_classes == "base" and r.lr == lr
        assert (r.ctx_init == "") == (variant == "coop-random")


def test_the_recipe_holds_what_the_committed_selection_chose():
    """presets.MINI holds the choice of the committed selection (summary.json, the rule at the
    paper's budget): its runs' epochs and batch sizes are the paper's, every grid point ran on
    every dataset, and the lrs and the crop scale of the recipe are the ones it chose."""
    summary = selection.load_summary()
    assert selection.SUMMARY.exists() and summary["rule"] == selection.RULE
    assert summary["crop_rule"] == selection.CROP_RULE
    coop_epochs = {d: PAPER.epochs_on["coop:ImageNet"] if d == "MiniEmojiNet" else PAPER.epochs["coop"]
                   for d in summary["datasets"]}
    assert summary["epochs"]["coop"] == summary["epochs"]["coop-random"] == coop_epochs
    assert set(summary["epochs"]["cocoop"].values()) == {PAPER.epochs["cocoop"]} == {10}
    assert summary["batch_size"] == {"coop": 32, "coop-random": 32, "cocoop": 1}
    table = {v: {float(lr): row for lr, row in rows.items()} for v, rows in summary["table"].items()}
    assert selection.choose(table) == summary["chosen"]
    for variant, rows in table.items():                      # every grid point on every dataset
        assert sorted(rows) == sorted(summary["grid"]) == sorted(selection.LR_GRID)
        for row in rows.values():
            assert set(row) == set(summary["datasets"]) | {"mean"}
    chosen = summary["chosen"]
    assert lr_for(MINI, "coop") == chosen["coop"]
    assert lr_for(MINI, "coop", random_ctx=True) == chosen["coop-random"]
    assert lr_for(MINI, "cocoop") == chosen["cocoop"]
    assert lr_for(PAPER, "coop", random_ctx=True) == lr_for(PAPER, "cocoop") == 0.002
    # the crop rule: both scales for every variant on every dataset, at the chosen lr; the
    # recipe's own scale is the lr grid's row at the chosen lr
    crop = summary["crop_table"]        # the rule finished (7 Dec 2026): its table is committed
    assert summary["crop_runs"]["done"] == summary["crop_runs"]["total"] == 2 * 3 * 6
    assert set(crop) == {selection.crop_label(s) for s in selection.CROP_GRID}
    for label, by_variant in crop.items():
        assert set(by_variant) == set(selection.VARIANTS) | {"mean"}
        for variant in selection.VARIANTS:
            assert set(by_variant[variant]) == set(summary["datasets"]) | {"mean"}
    mini_label = selection.crop_label(selection.MINI_CROP)
    for variant in selection.VARIANTS:
        assert crop[mini_label][variant] == table[variant][chosen[variant]]
    assert tuple(summary["crop_chosen"]) == selection.choose_crop(crop) == tuple(MINI.crop_scale)


def test_choose_crop_keeps_the_departure_only_when_it_is_strictly_better():
    def table(mini, paper):
        return {"0.8-1": {"mean": mini}, "0.08-1": {"mean": paper}}
    assert selection.choose_crop(table(80.1, 80.0)) == selection.MINI_CROP == (0.8, 1.0)
    assert selection.choose_crop(table(80.0, 80.0)) == selection.PAPER_CROP == (0.08, 1.0)
    assert selection.choose_crop(table(70.0, 80.0)) == selection.PAPER_CROP


def test_crop_table_averages_datasets_then_variants():
    configs = selection.crop_configs(["MiniGlyphs", "MiniFood"], {"coop": 0.1, "cocoop": 0.02},
                                     long_n_ctx=18, variants=("coop", "cocoop"), device="cpu")
    accs = iter([10.0, 20.0, 30.0, 50.0, 60.0, 70.0, 80.0, 100.0])
    records = [{"metrics": {f"{c.dataset}:val": next(accs)}} for _, _, c in configs]
    t = selection.crop_table(configs, records)
    assert t["0.08-1"] == {"coop": {"MiniGlyphs": 10.0, "MiniFood": 20.0, "mean": 15.0},
                           "cocoop": {"MiniGlyphs": 60.0, "MiniFood": 70.0, "mean": 65.0}, "mean": 40.0}
    assert t["0.8-1"]["mean"] == (40.0 + 90.0) / 2


def test_crop_runs_differ_from_the_lr_runs_only_in_the_crop_scale():
    P = check_parameters("ablation", device="cpu")
    chosen = {"coop": 0.1, "coop-random": 0.002, "cocoop": 0.02}
    configs = selection.crop_configs(P.world.base_to_new, chosen, long_n_ctx=18, device="cpu")
    lr_runs = {c.resolved().run_name(): c.resolved()
               for v, lr, c in selection.selection_configs(P.world.base_to_new, long_n_ctx=18,
                                                           device="cpu") if lr == chosen[v]}
    assert len(configs) == len(selection.VARIANTS) * 2 * len(P.world.base_to_new)
    for variant, scale, c in configs:
        r = c.resolved()
        assert r.lr == chosen[variant] and r.eval_on == (f"{r.dataset}:val",)
        if scale == tuple(MINI.crop_scale):      # the recipe's own: the lr grid's run, by name
            assert r.crop_scale is None and lr_runs[r.run_name()] == r
        else:
            assert r.crop_scale == scale and r.run_name() not in lr_runs
            twin = dataclasses.replace(r, crop_scale=None)
            assert twin.run_name() in lr_runs and twin == lr_runs[twin.run_name()]
