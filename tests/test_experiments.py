"""cocoop_lib/experiments.py: the experiments' grids (unique, longest first, labelled), the
budget check's two sides."""
from cocoop_lib import experiments
from cocoop_lib.experiments import paper_budget, plan, plan_base_to_new, plan_budget_check
from cocoop_lib.notebook import check_parameters
from cocoop_lib.run_cost import run_cost
from cocoop_lib.runs import RunConfig


def test_plan_is_unique_longest_first_with_labels(tmp_path):
    P = check_parameters("results", datasets=["MiniDigits"], methods=["zeroshot", "coop", "cocoop"],
                         seeds=[1], output_dir=str(tmp_path))
    grid = experiments.plan(["base_to_new", "ablation"], P)
    names = [c.resolved().run_name() for c in grid]
    assert len(names) == len(set(names)) == 4    # zeroshot, coop ctx=4 (shared), coop long, cocoop
    costs = [run_cost(c) for c in grid]
    assert costs == sorted(costs, reverse=True) and grid[0].method == "cocoop"
    labels = sorted(experiments.config_label(c) for c in experiments.plan_ablation(P, 18))
    assert labels == ["CoCoOp (ctx=4 + Meta-Net)", "CoOp ctx=18", "CoOp ctx=4"]
    from cocoop_lib import notebook
    assert notebook.plan_ablation is experiments.plan_ablation


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
