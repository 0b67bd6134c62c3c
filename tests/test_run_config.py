"""cocoop_lib/run_config.py: RunConfig's resolution from the recipe (lr, crop scale, evaluation
targets), the device check, and the fixed CPU thread count."""
import dataclasses

import pytest
import torch

from cocoop_lib import runs
from cocoop_lib.cli import main
from cocoop_lib.presets import MINI, lr_for
from cocoop_lib.runs import RunConfig, check_device, run
from fixtures_runs import cli_args as _cli, cpu_config as _config


def test_random_context_takes_its_own_lr_unless_one_is_given():
    c = RunConfig(dataset="MiniGlyphs", method="coop", n_ctx=18, ctx_init="", device="cpu").resolved()
    assert c.lr == lr_for(MINI, "coop", random_ctx=True)
    c = RunConfig(dataset="MiniGlyphs", method="coop", n_ctx=18, ctx_init="", lr=0.5, device="cpu")
    assert c.resolved().lr == 0.5
    assert RunConfig(dataset="MiniGlyphs", method="coop", device="cpu").resolved().lr == lr_for(MINI, "coop")


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


def test_val_target_of_another_dataset_is_refused(tiny_clip_dir, eurosat_root, tmp_path):
    with pytest.raises(ValueError, match="only EuroSAT:val exists"):
        _config(tiny_clip_dir, eurosat_root, tmp_path, method="coop",
                eval_on=("MiniGlyphs:val",)).resolved()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_cuda_without_gpu_is_one_clear_error_shared_with_the_notebooks(tiny_clip_dir, eurosat_root,
                                                                       tmp_path, capsys):
    assert main(_cli(tiny_clip_dir, eurosat_root, tmp_path / "o", "--device", "cuda")) == 2
    assert "no CUDA GPU is visible here" in capsys.readouterr().err
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        check_device("cuda:1")
    from cocoop_lib.notebook import ParameterError, check_parameters
    with pytest.raises(ParameterError, match="no CUDA GPU is visible here"):
        check_parameters("base_to_new", datasets=["EuroSAT"], data_root=eurosat_root, device="cuda")


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
