"""cocoop_lib/precision.py: the precision modes, "auto" per device, and what each mode turns on."""
import pytest
import torch

from cocoop_lib.precision import (PRECISIONS, autocast_context, grad_scaler, resolve_precision,
                                  weight_dtype)


def test_auto_is_bf16_on_cuda_and_fp32_elsewhere_and_explicit_modes_stay():
    assert resolve_precision("auto", "cuda") == resolve_precision("auto", "cuda:1") == "bf16"
    assert resolve_precision("auto", "cpu") == resolve_precision("auto", torch.device("cpu")) == "fp32"
    for mode in ("fp32", "bf16", "fp16", "fp16-pure"):
        assert resolve_precision(mode, "cpu") == resolve_precision(mode, "cuda") == mode
    assert PRECISIONS == ("auto", "fp32", "bf16", "fp16", "fp16-pure")


@pytest.mark.parametrize("bad", ["fp8", "FP32", "", "float32"])
def test_an_unknown_precision_names_the_choices(bad):
    with pytest.raises(ValueError, match=f"Unknown precision {bad!r}; choose one of "
                                         "auto, fp32, bf16, fp16, fp16-pure."):
        resolve_precision(bad, "cpu")


def test_only_fp16_pure_keeps_float16_weights():
    assert weight_dtype("fp16-pure") == torch.float16
    assert [weight_dtype(m) for m in ("fp32", "bf16", "fp16")] == [torch.float32] * 3


@pytest.mark.parametrize("mode, dtype", [("bf16", torch.bfloat16), ("fp16", torch.float16),
                                         ("fp32", torch.float32), ("fp16-pure", torch.float32)])
def test_autocast_runs_a_matmul_in_the_modes_dtype(mode, dtype):
    a = torch.ones(2, 3)
    with autocast_context(mode, "cpu"):
        assert (a @ a.T).dtype == dtype
    assert (a @ a.T).dtype == torch.float32                  # and only inside the context


def test_the_gradient_scaler_is_on_for_fp16_autocast_only():
    assert grad_scaler("fp16", "cpu").is_enabled()
    assert not any(grad_scaler(m, "cpu").is_enabled() for m in ("fp32", "bf16", "fp16-pure"))
