"""cocoop_lib/records.py: atomic writes (no partial or temporary file on a full disk, the umask's
permissions, a killed writer's temporaries removed), exclusive creation of claims, and readers
that name a damaged record."""
import errno
import json
import os
import stat
import subprocess
import sys
import time

import pytest
import torch

from cocoop_lib import records as records_mod, run_locks
from cocoop_lib.cli import main
from cocoop_lib.errors import DiskFullError, RecordError
from cocoop_lib.runs import checkpoint_file, find_record, run, run_identity
from fixtures_runs import cfg, essence, leftovers


def disk_full_when_dumping(monkeypatch, key: str, partial: str) -> None:
    """json.dump of a dict holding ``key`` writes ``partial`` and then fails as a full disk does."""
    real = json.dump

    def dump(obj, f, *a, **kw):
        if isinstance(obj, dict) and key in obj:
            f.write(partial)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(obj, f, *a, **kw)
    monkeypatch.setattr(records_mod.json, "dump", dump)


def test_truncated_record_is_named_and_force_recomputes(tiny_clip_dir, eurosat_root, tmp_path, capsys):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    good = run(c, progress=False)
    rec = tmp_path / "records" / f"{good['name']}.json"
    text = rec.read_text()
    rec.write_text(text[: len(text) // 2])
    with pytest.raises(RecordError, match=str(rec)):
        find_record(c)
    args = ["--dataset", "EuroSAT", "--method", "zeroshot", "--backbone", tiny_clip_dir,
            "--data-root", eurosat_root, "--output-dir", str(tmp_path), "--shots", "4",
            "--recipe", "paper"]
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: run record") and str(rec) in err and "--force" in err
    assert len(err.splitlines()) == 1
    assert main(args + ["--force"]) == 0
    assert essence(json.loads(rec.read_text())) == essence(good)


def _failing_torch_save(monkeypatch, fail_when, error):
    real = torch.save

    def save(obj, f, *a, **kw):
        if fail_when(obj):
            with open(f, "wb") as fh:
                fh.write(b"PK\x03\x04partial")             # a partial file, as a full disk leaves
            raise error
        return real(obj, f, *a, **kw)
    monkeypatch.setattr(torch, "save", save)


def test_disk_full_at_the_feature_cache_is_named_and_leaves_nothing(tiny_clip_dir, eurosat_root,
                                                                     tmp_path, monkeypatch):
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path / "ref")
    ref = run(c, progress=False)
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path / "out")
    _failing_torch_save(monkeypatch, lambda obj: "features" in obj, RuntimeError(
        "[enforce fail at inline_container.cc:672] . unexpected pos 832 vs 726"))
    with pytest.raises(DiskFullError, match="no space left on device while writing .*features") as e:
        run(c, progress=False)
    assert e.value.errno == errno.ENOSPC
    assert leftovers(tmp_path / "out") == [] and not list((tmp_path / "out" / "features").glob("*"))
    monkeypatch.undo()
    again = run(c, progress=False)                          # resumes from the final checkpoint
    assert essence(again) == essence(ref)


def test_disk_full_at_a_checkpoint_keeps_the_previous_one_and_resumes_exactly(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch):
    ref = run(cfg(tiny_clip_dir, eurosat_root, tmp_path / "ref", epochs=3), progress=False)
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path / "out", epochs=3)
    _failing_torch_save(monkeypatch, lambda obj: obj.get("epoch") == 2,
                        OSError(errno.ENOSPC, "No space left on device"))
    with pytest.raises(DiskFullError, match="no space left on device while writing .*checkpoints"):
        run(c, progress=False)
    ckpt = checkpoint_file(tmp_path / "out", ref["name"], run_identity(c.resolved()))
    assert torch.load(ckpt, weights_only=False)["epoch"] == 1   # the epoch-1 checkpoint is intact
    assert leftovers(tmp_path / "out") == []
    monkeypatch.undo()
    assert essence(run(c, progress=False)) == essence(ref)


def test_disk_full_at_the_record_leaves_no_temporary_file_and_cli_says_so(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch, capsys):
    disk_full_when_dumping(monkeypatch, "metrics", '{"partial": ')
    args = ["--dataset", "EuroSAT", "--method", "zeroshot", "--backbone", tiny_clip_dir,
            "--data-root", eurosat_root, "--output-dir", str(tmp_path), "--shots", "4",
            "--recipe", "paper"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "error: no space left on device while writing" in err and "records" in err
    assert leftovers(tmp_path) == [] and not list((tmp_path / "records").iterdir())
    monkeypatch.undo()
    assert main(args) == 0


def test_disk_full_when_a_claim_is_created_leaves_no_claim(tmp_path, monkeypatch):
    disk_full_when_dumping(monkeypatch, "owner", '{"own')
    with pytest.raises(DiskFullError, match=r"no space left on device while writing .*claims/r1\.json"):
        run_locks.try_claim(tmp_path, "r1")
    assert list((tmp_path / "claims").iterdir()) == []                # no 0-byte claim, no .tmp
    monkeypatch.undo()
    with run_locks.try_claim(tmp_path, "r1") as claim:                    # space again: claimed at once
        assert claim.held()


def test_a_claim_is_created_without_hard_links_too(tmp_path, monkeypatch):
    """Where the file system has no hard links the claim is an O_EXCL create, still exclusive."""
    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")
    monkeypatch.setattr(records_mod.os, "link", no_links)
    first = run_locks.try_claim(tmp_path, "r1", heartbeat_s=0)
    assert first is not None and first.held()
    assert run_locks.try_claim(tmp_path, "r1", heartbeat_s=0) is None      # held by the first
    assert sorted(p.name for p in (tmp_path / "claims").iterdir()) == ["r1.json"]
    first.release()


def test_records_are_written_0644(tiny_clip_dir, eurosat_root, tmp_path):
    record = run(cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot"), progress=False)
    rec = tmp_path / "records" / f"{record['name']}.json"
    assert stat.S_IMODE(rec.stat().st_mode) == 0o644


def test_records_honour_the_umask(tiny_clip_dir, eurosat_root, tmp_path):
    old = os.umask(0o077)
    try:
        record = run(cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot"), progress=False)
    finally:
        os.umask(old)
    rec = tmp_path / "records" / f"{record['name']}.json"
    assert stat.S_IMODE(rec.stat().st_mode) == 0o600
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in (tmp_path / "features").glob("*.pt"))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("force", [False, True])
def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_run(tiny_clip_dir, eurosat_root,
                                                                       tmp_path, force):
    import platform
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    name = c.resolved().run_name()
    ckpt = checkpoint_file(tmp_path, name, run_identity(c.resolved()))
    host, dead = platform.node(), _dead_pid()
    (tmp_path / "records").mkdir()
    ckpt.parent.mkdir()
    killed = [tmp_path / "records" / f".{name}.json.{host}.{dead}.ab12cd34.tmp",       # AT1
              ckpt.with_name(f".{ckpt.name}.{host}.{dead}.zz99yy88.tmp")]              # AT2
    old = tmp_path / "records" / f".{name}.json.rmunvg49.tmp"                        # 3 Dec's names
    live = tmp_path / "records" / f".{name}.json.{host}.{os.getpid()}.live0000.tmp"   # a live writer
    for f in killed + [old, live]:
        f.write_text("partial")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    if force:
        run(c, progress=False)
    run(c, progress=False, force=force)
    assert [f.exists() for f in killed + [old, live]] == [False, False, False, True]
    assert not [p for p in tmp_path.rglob("*.tmp") if p != live]
