"""cocoop_lib/run_cost.py: a run's relative cost, against the formula computed here by hand."""
from cocoop_lib.datasets import get_spec
from cocoop_lib.run_cost import run_cost
from cocoop_lib.runs import RunConfig


def _config(method, **kw):
    return RunConfig(dataset="MiniDigits", method=method, recipe="mini", device="cpu", **kw)


def test_training_cost_is_epochs_images_classes_over_the_batch_for_coop_only():
    spec = get_spec("MiniDigits")
    base = (spec.n_classes + 1) // 2                       # the base half of the classes
    shots = _config("coop").resolved().shots
    for method, per_batch in (("coop", True), ("cocoop", False)):
        one = run_cost(_config(method, epochs=1, batch_size=4))
        three = run_cost(_config(method, epochs=3, batch_size=4))
        # the evaluation part does not depend on epochs: the difference is two epochs' training
        expected = 2 * shots * base * base / (4 if per_batch else 1)
        assert abs((three - one) - expected) < 1e-9
    assert run_cost(_config("zeroshot")) == run_cost(_config("zeroshot", epochs=7))


def test_cocoop_evaluates_one_prompt_set_per_test_image():
    spec = get_spec("MiniDigits")
    k = (spec.n_classes + 1) // 2
    n_test = spec.counts[2] * k / spec.n_classes
    # evaluated on base and new (5 + 5 of the 10 classes): each test image once, k prompts
    zs = run_cost(_config("zeroshot"))
    assert abs(zs - 2 * (n_test + k)) < 1e-9
    train = _config("cocoop").resolved()
    cocoop_eval = run_cost(_config("cocoop")) - train.epochs * train.shots * k * k
    assert abs(cocoop_eval - 2 * (n_test * k + k)) < 1e-9    # k prompts per test image
