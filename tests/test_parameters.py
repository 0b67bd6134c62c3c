"""cocoop_lib/parameters.py: the book's parameters checked with clear messages, and their defaults."""
from __future__ import annotations

import pytest

from cocoop_lib.datasets.roles import world_of
from cocoop_lib.parameters import ParameterError, check_parameters


@pytest.mark.parametrize("kw, words", [
    (dict(datasets=["NoSuchSet"]), ["`datasets`", "'NoSuchSet'", "unknown dataset"]),
    (dict(seeds=[1, -2]), ["`seeds`", "non-negative integer", "-2"]),
    (dict(seeds=-1), ["`seeds`", "non-negative integer"]),
    (dict(methods=["cocop"]), ["`methods`", "'cocop'"]),
    (dict(shots=0), ["`shots`", "positive integer"]),
    (dict(epochs=-5), ["`epochs`", "positive integer"]),
    (dict(precision="fp8"), ["`precision`", "fp16-pure"]),
    (dict(recipe="fast"), ["`recipe`"]),
    (dict(device="tpu"), ["`device`"]),
    (dict(datasets=["EuroSAT"]), ["needs `data_root`"]),
    (dict(data_root="/no/such/folder"), ["`data_root`", "does not exist"]),
])
def test_bad_parameters_fail_with_a_clear_message(kw, words):
    with pytest.raises(ParameterError) as err:
        check_parameters("base_to_new", **kw)
    for w in words:
        assert w in str(err.value)


def test_parameter_defaults_and_roles(eurosat_root):
    p = check_parameters("base_to_new", datasets="EuroSAT", data_root=eurosat_root, seeds=2)
    assert p.datasets == ["EuroSAT"] and p.seeds == [2] and p.methods == ["zeroshot", "coop", "cocoop"]
    assert check_parameters("ablation", datasets="EuroSAT", data_root=eurosat_root).methods == ["coop", "cocoop"]
    w = world_of(["ImageNetR", "EuroSAT", "ImageNet", "ImageNetV2"])
    assert (w.source, w.targets, w.variants) == ("ImageNet", ("EuroSAT",), ("ImageNetV2", "ImageNetR"))
    c = p.run_config("EuroSAT", "coop", 2).resolved()
    assert (c.n_ctx, c.ctx_init, c.seed) == (None, "a photo of a", 2)
    p16 = check_parameters("base_to_new", datasets="EuroSAT", data_root=eurosat_root, n_ctx=16)
    assert (p16.run_config("EuroSAT", "coop", 1).n_ctx, p16.run_config("EuroSAT", "coop", 1).ctx_init) == (16, "")
