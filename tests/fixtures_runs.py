"""Helpers of the run-level tests (tests/test_runs.py, test_records.py, test_cli.py, ...): run
configs on the tiny EuroSAT fixture and the mini world, a record without what legitimately
differs between two runs, leftover temporary files, and the shipped store and sweep script."""
import json
import shutil
import sys
from pathlib import Path

from cocoop_lib import runs, shipped
from cocoop_lib.datasets.mini import MINI_ROOT
from cocoop_lib.runs import RunConfig


REPO = Path(__file__).resolve().parents[1]
IGNORED = ("seconds", "provenance", "peak_memory_mib")


def config(tiny_clip_dir, eurosat_root, tmp_path, **kw):
    base = dict(dataset="EuroSAT", backbone=tiny_clip_dir, data_root=eurosat_root,
                output_dir=str(tmp_path), recipe="paper", shots=4, epochs=2, batch_size=4)
    base.update(kw)
    return RunConfig(**base)


def cfg(clip, root, out, **kw):
    base = dict(dataset="EuroSAT", backbone=clip, data_root=root, output_dir=str(out),
                recipe="paper", shots=4, epochs=2, batch_size=4, method="coop", seed=1)
    base.update(kw)
    return RunConfig(**base)


def cpu_config(tiny_clip_dir, eurosat_root, tmp_path, **kw):
    base = dict(dataset="EuroSAT", backbone=tiny_clip_dir, data_root=eurosat_root, device="cpu",
                output_dir=str(tmp_path), recipe="paper", shots=4, epochs=1, batch_size=4)
    return RunConfig(**{**base, **kw})


def essence(record: dict) -> dict:
    """A record without what legitimately differs between two runs (timing, host, output dir)."""
    out = {k: v for k, v in record.items() if k not in IGNORED}
    out["config"] = {k: v for k, v in record["config"].items() if k != "output_dir"}
    out["train"] = {k: v for k, v in record["train"].items() if k != "seconds"}
    return out


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and ".tmp" in p.name)


def copy_root(src: str, dst: Path) -> str:
    shutil.copytree(src, dst)
    return str(dst)


def cli_args(tiny_clip_dir, eurosat_root, out, *extra):
    return ["--dataset", "EuroSAT", "--method", "coop", "--backbone", tiny_clip_dir, "--data-root",
            eurosat_root, "--output-dir", str(out), "--shots", "2", "--epochs", "1",
            "--recipe", "paper", *extra]


SHIPPED_STORE = Path(shipped.SHIPPED_DIR)
ZS_DIGITS = "MiniDigits-zeroshot-base-seed1-290364e8"     # a shipped zero-shot record


def mini_cfg(out, **kw):
    return RunConfig(**{"dataset": "MiniDigits", "method": "zeroshot", "seed": 1, "device": "cpu",
                        "output_dir": str(out), **kw})


def mini_fashion_cfg(output_dir, **kw):
    return RunConfig(**{"dataset": "MiniFashion", "method": "cocoop", "seed": 1, "device": "cpu",
                        "output_dir": str(output_dir), **kw})


def copy_mini_digits(dst: Path) -> Path:
    shutil.copytree(Path(MINI_ROOT) / "MiniDigits", dst / "MiniDigits")
    return dst


def replace_base_test_images(root: Path) -> int:
    """N4c's change: every base-class test image (classes 0-4) becomes one class-9 image, under
    the same file names; the split file is untouched."""
    split = json.loads((root / "MiniDigits" / "split_zhou_MiniDigits.json").read_text())
    nine = next(p for p, label, _ in split["test"] if label == 9)
    src = (root / "MiniDigits" / "images" / nine).read_bytes()
    n = 0
    for rel, label, _ in split["test"]:
        if label < 5:
            (root / "MiniDigits" / "images" / rel).write_bytes(src)
            n += 1
    return n


def no_training(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("the run trained although a shipped record fits it")
    monkeypatch.setattr(runs, "_train_and_evaluate", refuse)


def store_copy(tmp_path) -> Path:
    store = tmp_path / "store"
    shutil.copytree(SHIPPED_STORE / "records", store / "records")
    shutil.copyfile(SHIPPED_STORE / shipped.DIGEST, store / shipped.DIGEST)
    return store


def sweep_script():
    sys.path.insert(0, str(REPO / "scripts"))
    import sweep as sweep_script
    return sweep_script


SWEEP_ZS = ["--setting", "mini", "--experiments", "base_to_new", "--datasets", "MiniDigits",
            "--methods", "zeroshot", "--seeds", "1", "--poll", "0.1", "--device", "cpu"]
