"""data_scripts.get / verify against fixture archives served by a local HTTP server (127.0.0.1)."""

import dataclasses
import hashlib
import http.server
import json
import os
import threading
from pathlib import Path

import pytest

from cocoop_lib.datasets import DATASETS, load_dataset
from data_scripts import get, verify
from data_scripts import sources as S
from data_scripts.download import DownloadError, download
from fixtures_data import make_split_dataset, tar_dir, zip_paths
from fixtures_runs import copy_root


class FileServer:
    """Serves {path: bytes} on 127.0.0.1 with Range support; can cut a path's first response."""

    def __init__(self):
        self.files, self.types, self.cut, self.requests = {}, {}, set(), []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes="):
                    start = int(rng[6:].split("-")[0])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Type", server.types.get(self.path, "application/octet-stream"))
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if self.path in server.cut:  # send half, then drop the connection
                    server.cut.discard(self.path)
                    self.wfile.write(body[start:start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server():
    s = FileServer()
    yield s
    s.close()


def md5(data):
    return hashlib.md5(data).hexdigest()


BLOB = bytes(range(256)) * 400  # 100 KiB


# ----------------------------------------------------------------------------- download


def test_download_resumes_after_interruption(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    server.cut.add("/blob.bin")
    dest = str(tmp_path / "blob.bin")
    digest = download([server.url("/blob.bin")], dest, md5=md5(BLOB), log=lambda m: None)
    assert open(dest, "rb").read() == BLOB and digest == hashlib.sha256(BLOB).hexdigest()
    assert server.requests == [("/blob.bin", None), ("/blob.bin", f"bytes={len(BLOB) // 2}-")]
    assert not os.path.exists(dest + ".part")


def test_interrupted_download_is_resumed_by_the_next_run(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    server.cut.add("/blob.bin")
    dest = str(tmp_path / "blob.bin")
    with pytest.raises(DownloadError, match="resumed next time"):
        download([server.url("/blob.bin")], dest, md5=md5(BLOB), attempts=1, log=lambda m: None)
    assert not os.path.exists(dest) and os.path.getsize(dest + ".part") == len(BLOB) // 2
    download([server.url("/blob.bin")], dest, md5=md5(BLOB), log=lambda m: None)
    assert open(dest, "rb").read() == BLOB
    assert server.requests[-1] == ("/blob.bin", f"bytes={len(BLOB) // 2}-")


def test_checksum_mismatch_is_refused_and_nothing_is_left(server, tmp_path):
    server.files["/blob.bin"] = BLOB
    dest = str(tmp_path / "blob.bin")
    with pytest.raises(DownloadError, match="md5 mismatch: expected 0+, got " + md5(BLOB)):
        download([server.url("/blob.bin")], dest, md5="0" * 32, log=lambda m: None)
    assert os.listdir(tmp_path) == []
    with pytest.raises(DownloadError, match="sha256 mismatch"):
        download([server.url("/blob.bin")], dest, sha256="f" * 64, log=lambda m: None)
    assert os.listdir(tmp_path) == []


def test_dead_link_falls_back_to_mirror_and_html_pages_are_refused(server, tmp_path):
    server.files["/mirror/blob.bin"] = BLOB
    server.files["/quota"] = b"<html>quota exceeded</html>"
    server.types["/quota"] = "text/html; charset=utf-8"
    dest = str(tmp_path / "blob.bin")
    download([server.url("/dead/blob.bin"), server.url("/quota"), server.url("/mirror/blob.bin")],
             dest, md5=md5(BLOB), log=lambda m: None)
    assert open(dest, "rb").read() == BLOB
    with pytest.raises(DownloadError, match=r"HTTP 404[\s\S]*HTML page"):
        download([server.url("/dead/x"), server.url("/quota")], str(tmp_path / "x"), log=lambda m: None)
    assert not os.path.exists(tmp_path / "x") and not os.path.exists(tmp_path / "x.part")


# ----------------------------------------------------------------------------- get


def fixture_counts(monkeypatch, name, counts):
    monkeypatch.setitem(DATASETS, name, dataclasses.replace(DATASETS[name], counts=counts))


def serve_dtd(server, tmp_path):
    """A DTD release archive (dtd/images/..., dtd/labels/...) and its split file."""
    src = tmp_path / "src"
    split = make_split_dataset(str(src), "DTD")
    os.makedirs(src / "dtd" / "labels")
    (src / "dtd" / "labels" / "readme.txt").write_text("labels\n")
    split_bytes = open(split, "rb").read()
    os.remove(split)
    archive = str(tmp_path / "dtd.tar.gz")
    tar_dir(str(src / "dtd"), archive, "dtd")
    data = open(archive, "rb").read()
    server.files["/dtd-r1.0.1.tar.gz"] = data
    server.files["/split.json"] = split_bytes
    return [
        S.Artifact("dtd-r1.0.1.tar.gz", (server.url("/gone.tar.gz"), server.url("/dtd-r1.0.1.tar.gz")),
                   md5=md5(data), place=(("dtd", "dtd"),)),
        S.Artifact("split_zhou_DescribableTextures.json", (server.url("/split.json"),), archive=False,
                   place=((".", "dtd/split_zhou_DescribableTextures.json"),), check="DTD"),
    ], split_bytes


def test_get_fetches_extracts_places_split_and_verifies(server, tmp_path, monkeypatch, capsys):
    artifacts, split_bytes = serve_dtd(server, tmp_path)
    monkeypatch.setitem(S.SOURCES, "DTD", artifacts)
    fixture_counts(monkeypatch, "DTD", (47, 47, 47))
    server.cut.add("/dtd-r1.0.1.tar.gz")
    root = tmp_path / "data"
    assert get.main(["dtd", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "resuming at" in out and "verify: OK" in out and "recorded sha256" in out
    assert open(root / "dtd" / "split_zhou_DescribableTextures.json", "rb").read() == split_bytes
    assert (root / "dtd" / "labels" / "readme.txt").is_file()
    assert len(os.listdir(root / "dtd" / "images")) == 47
    downloads = root / "_downloads" / "DTD"
    assert sorted(os.listdir(downloads)) == ["recorded_sha256.json", "split_zhou_DescribableTextures.json"]
    record = json.loads((downloads / "recorded_sha256.json").read_text())
    assert record["split_zhou_DescribableTextures.json"]["sha256"] == hashlib.sha256(split_bytes).hexdigest()
    # A second run finds everything in place and downloads nothing.
    n = len(server.requests)
    assert get.main(["DTD", "--root", str(root)]) == 0
    assert len(server.requests) == n and "complete (verify OK): nothing to do" in capsys.readouterr().out
    assert get.main(["DTD", "--root", str(root), "--dry-run"]) == 0
    assert capsys.readouterr().out.count("(already in place)") == 2


def test_get_refuses_a_split_file_with_wrong_sizes(server, tmp_path, monkeypatch, capsys):
    artifacts, _ = serve_dtd(server, tmp_path)   # fixture split: 47/47/47, official: 2820/1128/1692
    monkeypatch.setitem(S.SOURCES, "DTD", artifacts)
    root = tmp_path / "data"
    assert get.main(["DTD", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "split sizes (47, 47, 47) differ from the official (2820, 1128, 1692)" in out
    assert not (root / "dtd" / "split_zhou_DescribableTextures.json").exists()
    assert not any(f.startswith("split_zhou") for f in os.listdir(root / "_downloads" / "DTD"))


def test_get_checksum_mismatch_leaves_nothing_complete(server, tmp_path, monkeypatch, capsys):
    artifacts, _ = serve_dtd(server, tmp_path)
    bad = dataclasses.replace(artifacts[0], md5="0" * 32)
    monkeypatch.setitem(S.SOURCES, "DTD", [bad, artifacts[1]])
    fixture_counts(monkeypatch, "DTD", (47, 47, 47))
    root = tmp_path / "data"
    assert get.main(["DTD", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "md5 mismatch" in out and "DTD: dtd-r1.0.1.tar.gz" in out
    assert not (root / "dtd" / "images").exists()
    downloads = root / "_downloads" / "DTD"
    assert not any(f.startswith("dtd-r1.0.1") for f in os.listdir(downloads))
    # A wrong file placed by hand is moved aside, never used.
    (downloads / "dtd-r1.0.1.tar.gz").write_bytes(b"junk")
    assert get.main(["DTD", "--root", str(root)]) == 1
    assert (downloads / "dtd-r1.0.1.tar.gz.bad").read_bytes() == b"junk"
    assert not (downloads / "dtd-r1.0.1.tar.gz").exists()


def test_get_unpacks_nested_archive(server, tmp_path, monkeypatch):
    """Caltech101's zip holds 101_ObjectCategories.tar.gz, unpacked into caltech-101/."""
    src = tmp_path / "src"
    split = make_split_dataset(str(src), "Caltech101")
    inner = str(tmp_path / "101_ObjectCategories.tar.gz")
    tar_dir(str(src / "caltech-101" / "101_ObjectCategories"), inner, "101_ObjectCategories")
    archive = str(tmp_path / "caltech-101.zip")
    zip_paths(archive, {"caltech-101/101_ObjectCategories.tar.gz": inner})
    server.files["/caltech-101.zip"] = data = open(archive, "rb").read()
    server.files["/split.json"] = open(split, "rb").read()
    real = S.SOURCES["Caltech101"]
    monkeypatch.setitem(S.SOURCES, "Caltech101", [
        dataclasses.replace(real[0], urls=(server.url("/caltech-101.zip"),), md5=md5(data)),
        dataclasses.replace(real[1], urls=(server.url("/split.json"),)),
    ])
    fixture_counts(monkeypatch, "Caltech101", (100, 100, 100))
    root = tmp_path / "data"
    assert get.main(["Caltech101", "--root", str(root)]) == 0
    assert len(os.listdir(root / "caltech-101" / "101_ObjectCategories")) == 100
    assert verify.verify_dataset("Caltech101", str(root)) == []


def snapshot(path):
    return sorted((os.path.relpath(os.path.join(d, f), path), os.stat(os.path.join(d, f)).st_mtime_ns)
                  for d, _, files in os.walk(path) for f in files + _)


def test_dry_run_touches_nothing(server, tmp_path, capsys):
    root = tmp_path / "data"
    assert get.main(["all", "--root", str(root), "--dry-run"]) == 0
    assert not root.exists()
    out = capsys.readouterr().out
    assert "https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz" in out
    assert "md5 fff73e5086ae6bdbea199a49dfb8a4c1" in out and "~625 MB" in out
    assert f"{root}/dtd" in out and "MANUAL" in out and "image-net.org" in out
    make_split_dataset(str(root), "EuroSAT")
    before = snapshot(root)
    assert get.main(["EuroSAT", "--root", str(root), "--dry-run"]) == 0
    assert snapshot(root) == before and server.requests == []
    assert "(target exists; not unpacked by data_scripts)" in capsys.readouterr().out


def test_manual_steps_are_printed_plainly(server, tmp_path, monkeypatch, capsys):
    server.files["/classnames.txt"] = b"n01440764 tench\n"
    cn = dataclasses.replace(S.classnames("imagenet"), urls=(server.url("/classnames.txt"),))
    monkeypatch.setitem(S.SOURCES, "ImageNet", S.SOURCES["ImageNet"][:3] + [cn])
    monkeypatch.setitem(S.SOURCES, "StanfordCars", S.SOURCES["StanfordCars"][:1])
    root = tmp_path / "data"
    assert get.main(["ImageNet", "StanfordCars", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    downloads = root / "_downloads" / "ImageNet"
    assert "MANUAL STEP: ImageNet needs a licence login" in out
    assert f"expected file: {downloads}/ILSVRC2012_img_train.tar (md5 1d675b47d978889d74fa0da5fadfb00e)" in out
    assert f"{root}/stanford_cars/cars_train/" in out and "Kaggle" in out
    assert (root / "imagenet" / "classnames.txt").read_bytes() == b"n01440764 tench\n"
    assert "Not complete" in out


def test_every_paper_dataset_has_sources_with_targets_in_its_folder():
    for name, spec in DATASETS.items():
        if spec.world != "paper":
            continue
        arts = S.SOURCES[name]
        assert any(t.split("/")[0] == spec.folder for a in arts for t in a.targets), name
        for a in arts:
            assert a.urls or a.manual, (name, a.filename)
        if spec.kind == "split_json":
            assert any(a.targets == [f"{spec.folder}/{spec.split_file}"] for a in arts), name


# ----------------------------------------------------------------------------- verify


@pytest.fixture
def eurosat(tmp_path, monkeypatch):
    root = tmp_path / "data"
    make_split_dataset(str(root), "EuroSAT", per_class=(2, 1, 1))
    fixture_counts(monkeypatch, "EuroSAT", (20, 10, 10))
    return root


def test_verify_ok(eurosat, capsys):
    assert verify.main(["EuroSAT", "--root", str(eurosat)]) == 0
    assert "EuroSAT: OK" in capsys.readouterr().out


def test_verify_catches_missing_file(eurosat, capsys):
    gone = eurosat / "eurosat" / "2750" / "Forest" / "Forest_test0.jpg"
    os.remove(gone)
    assert verify.main(["EuroSAT", "--root", str(eurosat)]) == 1
    assert f"image missing: {gone}" in capsys.readouterr().out


def test_verify_catches_wrong_split_entry(eurosat, capsys):
    path = eurosat / "eurosat" / "split_zhou_EuroSAT.json"
    split = json.loads(path.read_text())
    assert split["train"][0][0] == "AnnualCrop/AnnualCrop_train0.jpg"
    split["train"][0][1:] = [1, "Forest"]                       # labelled as the wrong class
    split["test"][3][0] = "Highway/Highway_tset0.jpg"           # a typo in the path
    path.write_text(json.dumps(split))
    assert verify.main(["EuroSAT", "--root", str(eurosat)]) == 1
    out = capsys.readouterr().out
    assert ("entry: train[0] 'AnnualCrop/AnnualCrop_train0.jpg' is labelled 1 ('Forest') but its path "
            "says class 'Annual Crop Land'") in out
    assert "image missing: " + str(eurosat / "eurosat" / "2750" / "Highway" / "Highway_tset0.jpg") in out
    split["train"][0][1:] = [0, "Forest"]                       # one label, two names
    path.write_text(json.dumps(split))
    assert verify.verify_dataset("EuroSAT", str(eurosat))[0].startswith(
        "EuroSAT: label 0 has two class names")


def test_verify_catches_wrong_count(eurosat, monkeypatch, capsys):
    fixture_counts(monkeypatch, "EuroSAT", (13_500, 5_400, 8_100))
    assert verify.main(["EuroSAT", "--root", str(eurosat)]) == 1
    out = capsys.readouterr().out
    assert "count: train has 20 entries, expected 13,500" in out
    assert "count: test has 10 entries, expected 8,100" in out


def test_verify_all_on_an_empty_root_names_every_dataset(tmp_path, capsys):
    assert verify.main(["all", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert out.count("dataset folder not found") == 15
    assert "python -m data_scripts.get ImageNetR --root" in out


def test_imagenet_archives_placed_by_hand_are_unpacked(tmp_path, monkeypatch, capsys):
    """The ILSVRC2012 tars (here: 3-class fakes in the real formats) -> images/{train,val}/<wnid>/."""
    import tarfile

    import numpy as np
    import scipy.io
    from torchvision.datasets import imagenet as tv

    wn = ["n01440764", "n01443537", "n01484850"]
    downloads = tmp_path / "data" / "_downloads" / "ImageNet"
    work = tmp_path / "work"
    os.makedirs(downloads)
    # devkit: meta.mat (leaf synsets with ILSVRC ids 3,1,2) + val ground truth (ILSVRC ids)
    data = work / "ILSVRC2012_devkit_t12" / "data"
    os.makedirs(data)
    synsets = np.array([(3, wn[0], "tench, Tinca tinca", "", 0), (1, wn[1], "goldfish", "", 0),
                        (2, wn[2], "great white shark", "", 0)],
                       dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("words", "O"), ("gloss", "O"),
                              ("num_children", "O")])
    scipy.io.savemat(str(data / "meta.mat"), {"synsets": synsets})
    (data / "ILSVRC2012_validation_ground_truth.txt").write_text("1\n3\n2\n3\n")
    tar_dir(str(work / "ILSVRC2012_devkit_t12"), str(downloads / "ILSVRC2012_devkit_t12.tar.gz"),
            "ILSVRC2012_devkit_t12")
    # val: 4 flat images; train: one tar per wnid
    with tarfile.open(downloads / "ILSVRC2012_img_val.tar", "w") as t:
        for i in range(4):
            p = work / f"ILSVRC2012_val_{i + 1:08d}.JPEG"
            p.write_bytes(b"jpeg")
            t.add(p, arcname=p.name)
    with tarfile.open(downloads / "ILSVRC2012_img_train.tar", "w") as t:
        for w in wn:
            (work / f"{w}_1.JPEG").write_bytes(b"jpeg")
            with tarfile.open(work / f"{w}.tar", "w") as inner:
                inner.add(work / f"{w}_1.JPEG", arcname=f"{w}_1.JPEG")
            t.add(work / f"{w}.tar", arcname=f"{w}.tar")
    meta = {k: (f, md5(open(downloads / f, "rb").read())) for k, (f, _) in tv.ARCHIVE_META.items()}
    monkeypatch.setattr(tv, "ARCHIVE_META", meta)

    root = str(tmp_path / "data")
    assert get.prepare_imagenet(root, str(downloads), log=lambda m: None) == []
    img = tmp_path / "data" / "imagenet" / "images"
    assert sorted(os.listdir(img)) == ["train", "val"]
    assert sorted(os.listdir(img / "train")) == wn
    assert os.listdir(img / "train" / wn[0]) == [f"{wn[0]}_1.JPEG"]
    # ground truth 1,3,2,3 -> goldfish, tench, shark, tench
    assert sorted(os.listdir(img / "val" / wn[0])) == ["ILSVRC2012_val_00000002.JPEG", "ILSVRC2012_val_00000004.JPEG"]
    assert os.listdir(img / "val" / wn[1]) == ["ILSVRC2012_val_00000001.JPEG"]



def test_verify_decodes_images_by_default_and_fast_mode_does_not(eurosat_root, tmp_path, capsys):
    from data_scripts.verify import main as verify
    root = copy_root(eurosat_root, tmp_path / "data")
    bad = load_dataset("EuroSAT", root).test[2].impath
    Path(bad).write_bytes(Path(bad).read_bytes()[:60])      # truncated PNG
    assert verify(["EuroSAT", "--root", root]) == 1
    assert f"image unreadable: {bad}" in capsys.readouterr().out
    verify(["EuroSAT", "--root", root, "--fast"])
    assert bad not in capsys.readouterr().out
