"""Fake run records with only what cocoop_lib.results reads (tests/test_results_*.py,
test_budget_check.py)."""



def record(dataset, method, seed, metrics, *, n_ctx=4, ctx_init="a photo of a", params=None,
           train_classes="base", mini=True):
    """A run record with only what results.py reads."""
    if method == "zeroshot":
        n_ctx, ctx_init, params = 0, "", 0
    return {
        "name": f"{dataset}-{method}-{n_ctx}-{seed}",
        "config": {"dataset": dataset, "method": method, "seed": seed, "train_classes": train_classes,
                   "shots": 16, "epochs": {"zeroshot": 0, "coop": 50, "cocoop": 5}[method],
                   "recipe": "mini", "device": "cpu", "precision": "fp32",
                   "n_ctx": None if ctx_init else n_ctx, "ctx_init": ctx_init, "data_root": None,
                   "batch_size": 1},
        "recipe": {"ctx_init": "a photo of a"},
        "metrics": metrics, "n_ctx": n_ctx,
        "n_trainable_params": params if params is not None else n_ctx * 128,
        "backbone": {"backbone": "mini", "is_mini_clip": mini, "weights_sha256": "ab" * 32},
        "provenance": {"device": "cpu", "device_name": "x86_64", "git_revision": "abc"},
        "seconds": {"total": 1.0},
    }


def b2n(dataset, method, seed, base, new, **kw):
    return record(dataset, method, seed, {f"{dataset}:base": base, f"{dataset}:new": new}, **kw)


def selection_record(dataset, method, seed, base, new):
    return {"name": f"{dataset}-{method}-{seed}", "n_trainable_params": 0, "n_ctx": 4,
            "config": {"dataset": dataset, "method": method, "seed": seed, "n_ctx": 4,
                       "ctx_init": "a photo of a", "train_classes": "base", "shots": 16, "epochs": 1,
                       "recipe": "mini", "device": "cpu", "precision": "fp32", "data_root": None},
            "recipe": {"ctx_init": "a photo of a"}, "metrics": {f"{dataset}:base": base, f"{dataset}:new": new},
            "backbone": {"backbone": "mini", "is_mini_clip": True, "weights_sha256": "x"},
            "seconds": {"total": 1.0}}
