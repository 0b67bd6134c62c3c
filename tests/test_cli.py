"""cocoop_lib/cli.py (and __main__.py): `python -m cocoop_lib` runs, reports a shipped record, and
turns bad arguments into one clear line and exit status 2."""
import json
import os
import subprocess
import sys

import pytest

from cocoop_lib import shipped
from cocoop_lib.cli import main
from fixtures_runs import REPO, ZS_DIGITS, cli_args as _cli, no_training


def test_cli_runs_and_reports_errors(tiny_clip_dir, eurosat_root, tmp_path, capsys):
    args = ["--dataset", "EuroSAT", "--method", "coop", "--backbone", tiny_clip_dir, "--data-root",
            eurosat_root, "--output-dir", str(tmp_path), "--shots", "2", "--epochs", "1",
            "--recipe", "paper"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_trainable_params"] == 4 * 64 and set(out["metrics"]) >= {"EuroSAT:base"}
    assert main(args[:-2] + ["--recipe", "paper", "--shots", "0"]) == 2
    assert "shots must be a positive integer" in capsys.readouterr().err


def test_cli_help_explains_the_options():
    out = subprocess.run([sys.executable, "-m", "cocoop_lib", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for word in ("--dataset", "--method", "--backbone", "--data-root", "--precision", "fp16-pure",
                 "openai/clip-vit-base-patch16"):
        assert word in out


def test_no_arguments_print_usage_and_train_nothing(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    res = subprocess.run([sys.executable, "-m", "cocoop_lib"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert "usage: python -m cocoop_lib" in res.stderr and "example" in res.stderr
    assert list(tmp_path.iterdir()) == []                   # no ./outputs written


@pytest.mark.parametrize("extra, message", [
    (["--device", "gpu"], "device 'gpu' is not valid: use 'auto', 'cpu', 'cuda' or 'cuda:N'"),
    (["--method", "cocoop", "--class-chunk", "0"], "class_chunk must be a positive integer"),
])
def test_cli_rejects_bad_device_and_class_chunk(tiny_clip_dir, eurosat_root, tmp_path, capsys,
                                                extra, message):
    assert main(_cli(tiny_clip_dir, eurosat_root, tmp_path / "o", *extra)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_output_dir_that_is_a_file_or_cannot_be_created(tiny_clip_dir, eurosat_root, tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert main(_cli(tiny_clip_dir, eurosat_root, afile)) == 2
    assert f"output_dir {afile} is a file" in capsys.readouterr().err
    blocked = afile / "sub"                                  # under a file: cannot be created
    assert main(_cli(tiny_clip_dir, eurosat_root, blocked)) == 2
    assert f"output_dir {blocked} cannot be created" in capsys.readouterr().err
    assert afile.read_text() == "x"


def test_cli_returning_a_shipped_record_says_so_and_gives_its_own_seconds(tmp_path, monkeypatch,
                                                                        capsys):
    monkeypatch.setenv(shipped.ENV, "1")
    no_training(monkeypatch)
    assert main(["--dataset", "MiniDigits", "--method", "zeroshot", "--seed", "1", "--device", "cpu",
                 "--output-dir", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    committed = json.loads(shipped.shipped_path(ZS_DIGITS).read_text())
    assert out["reused"] == f"shipped record cocoop_lib/assets/mini_runs/records/{ZS_DIGITS}.json"
    assert set(out["seconds"]) == {"this_call"} and out["recorded_seconds"] == committed["seconds"]
    assert "reused the shipped record" in captured.err and "nothing was trained now" in captured.err
