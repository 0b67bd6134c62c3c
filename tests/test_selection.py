"""The mini recipe's choices: the base-class validation target, the lr rule, and the budget check."""
import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from cocoop_lib import selection
from cocoop_lib import budget_check as budget_check_module
from cocoop_lib.backbone import image_transforms
from cocoop_lib.datasets import ImageDataset, load_dataset, sample_few_shot, subsample_classes
from cocoop_lib.experiments import paper_budget, plan, plan_base_to_new, plan_budget_check
from cocoop_lib.parameters import check_parameters
from cocoop_lib.presets import MINI, PAPER, epochs_for, get_recipe, lr_for
from cocoop_lib.results.tables import budget_check, gain_signs
from cocoop_lib.runs import RunConfig, run
from cocoop_lib.text_encoder import tokenize


def _config(tiny_clip_dir, eurosat_root, tmp_path, **kw):
    base = dict(dataset="EuroSAT", backbone=tiny_clip_dir, data_root=eurosat_root, device="cpu",
                output_dir=str(tmp_path), recipe="paper", shots=4, epochs=1, batch_size=4)
    return RunConfig(**{**base, **kw})


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


def test_val_target_of_another_dataset_is_refused(tiny_clip_dir, eurosat_root, tmp_path):
    with pytest.raises(ValueError, match="only EuroSAT:val exists"):
        _config(tiny_clip_dir, eurosat_root, tmp_path, method="coop",
                eval_on=("MiniGlyphs:val",)).resolved()


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


def test_crop_scale_override_is_checked_named_and_used(tiny_clip_dir, eurosat_root, tmp_path,
                                                       monkeypatch):
    base = RunConfig(dataset="MiniGlyphs", method="coop", device="cpu")
    assert dataclasses.replace(base, crop_scale=(0.8, 1)).resolved().run_name() == \
        base.resolved().run_name()                     # the recipe's own scale is no override
    assert dataclasses.replace(base, crop_scale=(0.08, 1)).resolved().run_name() != \
        base.resolved().run_name()
    for bad in [(0, 1), (0.9, 0.5), (0.5,), "small", (0.5, 1.5)]:
        with pytest.raises(ValueError, match="crop_scale must be"):
            dataclasses.replace(base, crop_scale=bad).resolved()
    # the training crop is the override (paper recipe here: its own 0.08-1 unless overridden)
    from cocoop_lib import runs as runs_mod
    seen = []
    real = runs_mod.image_transforms
    monkeypatch.setattr(runs_mod, "image_transforms",
                        lambda size, scale=(0.08, 1.0): seen.append(tuple(scale)) or real(size, scale))
    record = run(_config(tiny_clip_dir, eurosat_root, tmp_path, method="coop", crop_scale=(0.5, 0.9)),
                 progress=False)
    assert seen == [(0.5, 0.9)] and tuple(record["config"]["crop_scale"]) == (0.5, 0.9)


def test_random_context_takes_its_own_lr_unless_one_is_given():
    c = RunConfig(dataset="MiniGlyphs", method="coop", n_ctx=18, ctx_init="", device="cpu").resolved()
    assert c.lr == lr_for(MINI, "coop", random_ctx=True)
    c = RunConfig(dataset="MiniGlyphs", method="coop", n_ctx=18, ctx_init="", lr=0.5, device="cpu")
    assert c.resolved().lr == 0.5
    assert RunConfig(dataset="MiniGlyphs", method="coop", device="cpu").resolved().lr == lr_for(MINI, "coop")


def test_budget_check_sides_differ_only_in_epochs_and_batch_size():
    P = check_parameters("base_to_new", device="cpu")
    pairs = plan_budget_check(P)
    assert len(pairs["short budget"]) == len(pairs["paper budget"]) == 6 * 3 * 3
    # the mini recipe is the paper's budget now: that side is Table 1's own grid
    assert [c.resolved() for c in pairs["paper budget"]] == [c.resolved() for c in plan_base_to_new(P)]
    for a, b in zip(pairs["short budget"], pairs["paper budget"]):
        ra, rb = a.resolved(), b.resolved()
        if a.method == "zeroshot":
            assert ra == rb
            continue
        emoji = a.method == "coop" and a.dataset == "MiniEmojiNet"
        want = 50 if emoji else {"coop": 200, "cocoop": 10}[a.method]
        assert (rb.epochs, rb.batch_size) == (want, {"coop": 32, "cocoop": 1}[a.method])
        short = 5 if emoji else {"coop": 10, "cocoop": 2}[a.method]
        assert (ra.epochs, ra.batch_size) == (short, {"coop": 32, "cocoop": 4}[a.method])
        assert {k: v for k, v in vars(ra).items() if k not in ("epochs", "batch_size")} == \
               {k: v for k, v in vars(rb).items() if k not in ("epochs", "batch_size")}
    # in the paper's own setting the paper budget is the recipe: nothing extra to run
    c = RunConfig(dataset="OxfordPets", method="coop", recipe="paper", backbone="openai/clip-vit-base-patch16",
                  device="cpu")
    assert paper_budget(c.resolved(), "ImageNet") == c.resolved()
    assert len(plan(["budget_check"], P)) == 6 * 3 * (1 + 2 + 2)


def test_mini_recipe_trains_for_the_papers_epochs_and_batch_sizes():
    for method in ("coop", "cocoop"):
        for dataset in ("MiniGlyphs", "MiniEmojiNet"):
            assert epochs_for(MINI, method, dataset) == epochs_for(PAPER, method,
                                                                   "ImageNet" if dataset == "MiniEmojiNet" else dataset)
        assert MINI.batch_size[method] == PAPER.batch_size[method]


def _record(dataset, method, seed, base, new):
    return {"name": f"{dataset}-{method}-{seed}", "n_trainable_params": 0, "n_ctx": 4,
            "config": {"dataset": dataset, "method": method, "seed": seed, "n_ctx": 4,
                       "ctx_init": "a photo of a", "train_classes": "base", "shots": 16, "epochs": 1,
                       "recipe": "mini", "device": "cpu", "precision": "fp32", "data_root": None},
            "recipe": {"ctx_init": "a photo of a"}, "metrics": {f"{dataset}:base": base, f"{dataset}:new": new},
            "backbone": {"backbone": "mini", "is_mini_clip": True, "weights_sha256": "x"},
            "seconds": {"total": 1.0}}


def test_budget_check_finds_a_flipped_sign():
    zs = [_record(d, "zeroshot", 1, 50, 50) for d in ("A", "B")]
    recipe = zs + [_record("A", "coop", 1, 60, 55), _record("B", "coop", 1, 70, 48),
                   _record("A", "cocoop", 1, 58, 56), _record("B", "cocoop", 1, 66, 52)]
    paper = zs + [_record("A", "coop", 1, 70, 40), _record("B", "coop", 1, 80, 44),
                  _record("A", "cocoop", 1, 62, 54), _record("B", "cocoop", 1, 66, 52)]
    check = budget_check(recipe, paper).set_index(["gap", "metric"])
    # CoOp - CLIP on new: short budget +1.5 (A +5, B -2), paper budget -8: the departure flips it
    assert check.loc[("CoOp - CLIP", "new"), "short_budget"] == pytest.approx(1.5)
    assert check.loc[("CoOp - CLIP", "new"), "paper_budget"] == pytest.approx(-8.0)
    assert not check.loc[("CoOp - CLIP", "new"), "same_sign"]
    assert check.loc[("CoOp - CLIP", "base"), "same_sign"]
    signs = gain_signs(recipe, paper).set_index(["dataset", "seed", "subset"])
    assert signs.loc[("A", 1, "new"), "short_budget"] == 5 and signs.loc[("A", 1, "new"), "paper_budget"] == -10
    assert not signs.loc[("A", 1, "new"), "same_sign"] and signs.loc[("B", 1, "new"), "same_sign"]
    assert len(signs) == 4


def test_record_reuse_depends_on_the_recipe_fields_the_config_does_not_hold(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch):
    """A recipe's lr, epochs, ... are resolved into the config (and the run name), so editing
    them for other runs (e.g. writing the selection's result into MINI) keeps a record; editing
    momentum, which no config holds, makes it stale."""
    import dataclasses

    from cocoop_lib import presets
    from cocoop_lib.runs import find_record

    config = _config(tiny_clip_dir, eurosat_root, tmp_path, method="coop", lr=0.01)
    record = run(config, progress=False)
    assert find_record(config) == record
    monkeypatch.setitem(presets.RECIPES, "paper", dataclasses.replace(
        PAPER, note="edited", lr_on={"cocoop": 0.5}, epochs_on={"coop:ImageNet": 7}))
    assert find_record(config) == record
    monkeypatch.setitem(presets.RECIPES, "paper", dataclasses.replace(PAPER, momentum=0.5))
    assert find_record(config) is None


def test_agreement_sentence_counts_and_names_the_differing_gaps():
    from cocoop_lib.results import agreement_sentence, base_to_new, claim_check

    zs = [_record(d, "zeroshot", 1, 50, 50) for d in ("A", "B")]
    records = zs + [_record("A", "coop", 1, 60, 55), _record("B", "coop", 1, 70, 48),
                    _record("A", "cocoop", 1, 58, 56), _record("B", "cocoop", 1, 66, 52)]
    claims = claim_check(base_to_new(records))
    text = agreement_sentence(claims)
    n_same = int(claims.same_sign.astype(bool).sum())
    assert text.startswith(f"the sign agrees with the paper's on {n_same} of the {len(claims)} gaps")
    # CoOp - CLIP new: +1.5 here, -11.0 in the paper (Table 1's average row)
    assert "CoOp - CLIP new (+1.5 here, -11.0 in the paper)" in text


def test_budget_sentence_reports_flips_from_the_records(monkeypatch):
    zs = [_record(d, "zeroshot", 1, 50, 50) for d in ("A", "B")]
    recipe = zs + [_record("A", "coop", 1, 60, 55), _record("B", "coop", 1, 70, 48),
                   _record("A", "cocoop", 1, 58, 56), _record("B", "cocoop", 1, 66, 52)]
    paper = zs + [_record("A", "coop", 1, 70, 40), _record("B", "coop", 1, 80, 44),
                  _record("A", "cocoop", 1, 62, 54), _record("B", "cocoop", 1, 66, 52)]
    monkeypatch.setattr(budget_check_module, "budget_check_records", lambda *a: (recipe, paper, []))
    text = budget_check_module.budget_sentence(check_parameters("base_to_new", device="cpu"))
    assert text.startswith("these runs use the paper's epochs and batch sizes")
    assert "2 dataset and seed pairs" in text
    assert "CoOp - CLIP new (+1.5 at the short budget, -8.0 at the paper's)" in text
    assert text.endswith("the same sign under both budgets in 1 of 2 dataset and seed pairs")
    paper_text = budget_check_module.budget_sentence(check_parameters("base_to_new", device="cpu", recipe="paper"))
    assert "no budget departure" in paper_text


def test_base_gain_count_takes_a_mean_of_exactly_five_points(monkeypatch):
    """MiniFashion's CoOp base gains 8.0, 1.2 and 5.8 over seeds: a mean of 5 points, which
    float sums give as 4.999...; it counts as >= 5."""
    zs = [_record("A", "zeroshot", s, 66.4, 85.0) for s in (1, 2, 3)]
    runs = zs + [_record("A", "coop", s, b, 86.0) for s, b in zip((1, 2, 3), (74.4, 67.6, 72.2))] \
        + [_record("A", "cocoop", s, 68.0, 86.0) for s in (1, 2, 3)]
    monkeypatch.setattr(budget_check_module, "budget_check_records", lambda *a: (runs, runs, []))
    counts = budget_check_module.budget_check_report()["counts"]
    assert (counts["base_gain5"], counts["base_gain5_short"], counts["n_datasets"]) == (1, 1, 1)
