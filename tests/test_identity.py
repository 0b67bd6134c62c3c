"""cocoop_lib/identity.py: what a record depends on beyond its config: the image-hash cache, the
recipe fields, and the identity's parts (checkpoint names, stale reasons)."""
import copy
import hashlib
import json
import os
from pathlib import Path

from cocoop_lib import identity as identity_mod
from cocoop_lib.datasets import load_dataset
from cocoop_lib.identity import (MISSING, checkpoint_file, data_identity, image_sha256s,
                                 record_identity, stale_reason)
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


def _identity():
    data = {"split_sha256": "s" * 64, "images_sha256": "i" * 64, "image_bytes_sha256": "b" * 64,
            "n_images": [20, 10, 30]}
    return {"weights_sha256": "w" * 64, "data": {"EuroSAT": data},
            "recipe": {"name": "paper", "momentum": 0.9, "crop_scale": [0.08, 1.0]}}


def _record_of(identity):
    return {"backbone": {"weights_sha256": identity["weights_sha256"]},
            "data_identity": copy.deepcopy(identity["data"]),
            "recipe": {**identity["recipe"], "note": "prose a record keeps too"}}


def test_stale_reason_names_the_first_part_that_differs():
    ident = _identity()
    assert stale_reason(_record_of(ident), ident) is None
    cases = [
        (lambda r: r["backbone"].update(weights_sha256="x"),
         "the backbone's weights changed (weights sha256 differs)"),
        (lambda r: r.pop("data_identity"),
         "the record does not say which data it was made on (written by an older version)"),
        (lambda r: r["data_identity"].pop("EuroSAT"), "it has no data identity for EuroSAT"),
        (lambda r: r["data_identity"]["EuroSAT"].update(split_sha256="x"),
         "the split file of EuroSAT changed (sha256 differs)"),
        (lambda r: r["data_identity"]["EuroSAT"].update(images_sha256="x"),
         "the image list of EuroSAT changed"),
        (lambda r: r["data_identity"]["EuroSAT"].pop("image_bytes_sha256"),
         "it does not say which image contents of EuroSAT it was made on (written before image "
         "bytes were part of a record's identity)"),
        (lambda r: r["data_identity"]["EuroSAT"].update(image_bytes_sha256="x"),
         "the images of EuroSAT changed (same file names, other contents)"),
        (lambda r: r["recipe"].update(momentum=0.5), "the library's paper recipe changed"),
        (lambda r: r["recipe"].pop("crop_scale"), "the library's paper recipe changed"),
    ]
    for change, reason in cases:
        record = _record_of(ident)
        change(record)
        assert stale_reason(record, ident) == reason


def test_a_record_gives_back_the_identity_it_was_made_under():
    fields = PAPER.training_fields()
    record = {"config": {"recipe": "paper", "backbone": "openai/clip-vit-base-patch16"},
              "backbone": {"weights_sha256": "w" * 64}, "data_identity": _identity()["data"],
              "recipe": {**json.loads(json.dumps(fields)), "note": "not a training field", "lr": 9.0}}
    ident = record_identity(record)
    assert ident["weights_sha256"] == "w" * 64 and ident["data"] == _identity()["data"]
    assert set(ident["recipe"]) == set(fields) and "note" not in ident["recipe"]
    assert stale_reason(record, ident) is None


def test_checkpoint_names_are_keyed_by_weights_data_and_recipe(tmp_path):
    ident = _identity()
    path = checkpoint_file(tmp_path, "EuroSAT-coop-seed1", ident)
    assert path.parent == tmp_path / "checkpoints"
    assert path.name.startswith("EuroSAT-coop-seed1-wwwwwwww-") and path.suffix == ".pt"
    assert len(path.stem.rsplit("-", 1)[1]) == 8
    reordered = {"recipe": dict(reversed(list(ident["recipe"].items()))), "data": ident["data"],
                 "weights_sha256": ident["weights_sha256"]}
    assert checkpoint_file(tmp_path, "EuroSAT-coop-seed1", reordered) == path     # order is no part
    for change in (lambda i: i["data"]["EuroSAT"].update(image_bytes_sha256="x"),
                   lambda i: i["recipe"].update(momentum=0.5)):
        other = copy.deepcopy(ident)
        change(other)
        assert checkpoint_file(tmp_path, "EuroSAT-coop-seed1", other) != path


def test_image_hashes_are_the_files_sha256_and_missing_ones_say_so(tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"first image")
    b.write_bytes(b"second")
    got = image_sha256s([str(a), str(tmp_path / "gone.png"), str(b)])
    assert got == [hashlib.sha256(b"first image").hexdigest(), MISSING,
                   hashlib.sha256(b"second").hexdigest()]


def test_the_data_identity_follows_the_bytes_not_the_root(eurosat_root, tmp_path):
    here = data_identity(load_dataset("EuroSAT", eurosat_root))
    root = Path(copy_root(eurosat_root, tmp_path / "moved"))
    assert data_identity(load_dataset("EuroSAT", str(root))) == here      # another root, same data
    assert here["n_images"] == [60, 20, 30] and len(here["image_bytes_sha256"]) == 64
    splits = load_dataset("EuroSAT", str(root))
    with open(splits.test[0].impath, "ab") as f:
        f.write(b"one more byte")
    changed = data_identity(load_dataset("EuroSAT", str(root)))
    assert changed["image_bytes_sha256"] != here["image_bytes_sha256"]
    assert {k: changed[k] for k in ("split_sha256", "images_sha256", "n_images")} == \
        {k: here[k] for k in ("split_sha256", "images_sha256", "n_images")}
