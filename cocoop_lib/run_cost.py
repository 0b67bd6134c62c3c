"""A run's relative cost from its recipe (no data read): the sweep schedules the longest runs
first with it and estimates the time left; the appendix picks its cheapest shipped runs by it.
"""
from __future__ import annotations


def run_cost(config) -> float:
    """Relative cost of a run from its recipe, in text-encoder prompt passes (no data is read).

    Training: epochs x training images x training classes, divided by the batch size for CoOp
    (one set of class prompts per batch) but not for CoCoOp (its prompts depend on each image).
    Evaluation: one prompt per test class (CoOp) or per test image and class (CoCoOp), estimated
    from the dataset's class count (test sizes are not known without reading the split file).
    """
    from .datasets import get_spec

    c = config.resolved()
    n_cls = get_spec(c.dataset).n_classes
    n_train_cls = n_cls if c.train_classes == "all" else (n_cls + 1) // 2
    images = c.shots * n_train_cls
    train = 0.0
    if c.method == "coop":
        train = c.epochs * images * n_train_cls / c.batch_size
    elif c.method == "cocoop":
        train = c.epochs * images * n_train_cls
    evaluate = 0.0
    for target in c.eval_on:
        ds, subset = target.split(":")
        k = get_spec(ds).n_classes
        k = k if subset == "all" else (k + 1) // 2
        spec = get_spec(ds)
        n_test = (spec.counts[2] if spec.counts else 50 * k) * (k / spec.n_classes)
        evaluate += n_test * (k if c.method == "cocoop" else 1) + k
    return train + evaluate
