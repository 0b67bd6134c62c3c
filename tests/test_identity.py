"""cocoop_lib/identity.py: what a record depends on beyond its config: the image-hash cache, the
recipe fields, and the identity's parts (checkpoint names, stale reasons)."""
import os
from pathlib import Path

from cocoop_lib import identity as identity_mod
from cocoop_lib.presets import PAPER
from cocoop_lib.runs import run
from fixtures_runs import copy_root, cpu_config as _config


def test_image_hashes_are_cached_by_stat_and_force_reads_every_file_again(eurosat_root, tmp_path,
                                                                         monkeypatch):
    root = Path(copy_root(eurosat_root, tmp_path / "data"))
    paths = sorted(str(p) for p in (root / "eurosat" / "2750").rglob("*.png"))
    folder = str(root / "eurosat")
    true = identity_mod.image_sha256s(paths, folder=folder)
    assert list(identity_mod.hash_cache_dir().glob("*.json"))       # the cache file is written
    reads = []
    real = identity_mod.hashlib.file_digest
    monkeypatch.setattr(identity_mod.hashlib, "file_digest", lambda f, a: reads.append(1) or real(f, a))
    identity_mod._HASHES.clear()                                    # a new process: the cache file
    assert identity_mod.image_sha256s(paths, folder=folder) == true and reads == []
    # a cache entry that lies (same stat, other sha): only refresh (--force) reads the file again
    st = os.stat(paths[0])
    identity_mod._HASHES[paths[0]] = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, "0" * 64)
    assert identity_mod.image_sha256s(paths[:1], folder=folder)[0] == "0" * 64
    assert identity_mod.image_sha256s(paths[:1], folder=folder, refresh=True) == true[:1]
    assert reads == [1]


def test_record_reuse_depends_on_the_recipe_fields_the_config_does_not_hold(
        tiny_clip_dir, eurosat_root, tmp_path, monkeypatch):
    """A recipe's lr, epochs, ... are resolved into the config (and the run name), so editing
    them for other runs (e.g. writing the selection's result into MINI) keeps a record; editing
    momentum, which no config holds, makes it stale."""
    import dataclasses

    from cocoop_lib import presets
    from cocoop_lib.runs import find_record

    config = _config(tiny_clip_dir, eurosat_root, tmp_path, method="coop", lr=0.01)
    record = run(config, progress=False)
    assert find_record(config) == record
    monkeypatch.setitem(presets.RECIPES, "paper", dataclasses.replace(
        PAPER, note="edited", lr_on={"cocoop": 0.5}, epochs_on={"coop:ImageNet": 7}))
    assert find_record(config) == record
    monkeypatch.setitem(presets.RECIPES, "paper", dataclasses.replace(PAPER, momentum=0.5))
    assert find_record(config) is None
