"""cocoop_lib/provenance.py: the facts a chapter's numbers came from, the not-the-paper warning
and THE setting sentence (of a chapter's parameters and of a set of records)."""
import pytest

from cocoop_lib.backbone import file_sha256
from cocoop_lib.parameters import check_parameters
from cocoop_lib.provenance import (backbone_summary, describe_setting, provenance_info,
                                   provenance_rows, provenance_text, setting_sentence,
                                   setting_warning)
from fixtures_records import b2n
from fixtures_runs import REPO

MINI_WEIGHTS = REPO / "cocoop_lib" / "assets" / "mini_clip" / "model.safetensors"
needs_mini_clip = pytest.mark.skipif(not MINI_WEIGHTS.exists(), reason="needs the bundled mini CLIP")


def _info(backbone="mini", world="mini", **extra):
    """A provenance_info-shaped dict (what provenance_rows and setting_warning read)."""
    return {"parameters": {"datasets": ["MiniDigits"], "seeds": [1]},
            "backbone": {"backbone": backbone, "weights_sha256": "ab" * 32,
                         "is_mini_clip": backbone == "mini",
                         "is_paper_backbone": backbone == "openai/clip-vit-base-patch16"},
            "recipe": "mini", "data": "offline mini world (bundled)", "world": world,
            "device": "cpu", "device_name": "x86_64", "cpu_threads": 1,
            "versions": {"python": "3.13.5", "torch": "2.9.0"}, "git_revision": "0123abcd",
            "wall_seconds": 12.34, **extra}


def test_the_setting_sentence_of_records():
    assert describe_setting([]) == "no runs"
    recs = [b2n("A", "coop", 2, 1.0, 1.0), b2n("A", "cocoop", 1, 1.0, 1.0),
            b2n("B", "zeroshot", 1, 1.0, 1.0)]
    # the methods' epochs in the order of their names
    assert describe_setting(recs) == ("the offline mini CLIP on the offline mini world, recipe mini, "
                                      "16 shots, CoCoOp 5 epochs, CoOp 50 epochs, seeds 1, 2 (3 runs)")
    real = b2n("EuroSAT", "zeroshot", 1, 1.0, 1.0, mini=False)
    real["backbone"]["backbone"] = "openai/clip-vit-base-patch16"
    real["config"].update(data_root="/data", recipe="paper")
    assert describe_setting([real]) == ("CLIP openai/clip-vit-base-patch16 on the paper's datasets, "
                                        "recipe paper, 16 shots, no training, seeds 1 (1 runs)")


@needs_mini_clip
def test_the_setting_sentence_of_a_chapters_parameters():
    P = check_parameters("base_to_new", datasets=["MiniDigits"], seeds=[1, 2], device="cpu")
    assert setting_sentence(P) == ("the offline mini CLIP on the offline mini world, recipe mini, "
                                   "16 shots, CoOp 200 epochs (MiniEmojiNet 50), CoCoOp 10 epochs, "
                                   "seeds 1, 2")
    P = check_parameters("base_to_new", datasets=["MiniDigits"], seeds=[3], shots=2, epochs=1,
                         recipe="paper", device="cpu")
    assert setting_sentence(P) == ("the offline mini CLIP on the offline mini world, recipe paper, "
                                   "2 shots, 1 epochs, seeds 3")


def test_the_warning_names_what_is_not_the_papers_setting():
    both = setting_warning(_info())
    assert both.startswith("Offline mini world: these numbers come from the offline mini CLIP")
    assert "not the paper's CLIP ViT-B/16 and the offline mini world's datasets" in both
    data_only = setting_warning(_info(backbone="openai/clip-vit-base-patch16"))
    assert "mini CLIP" not in data_only and "not the paper's 11 datasets" in data_only
    assert setting_warning(_info(backbone="openai/clip-vit-base-patch16", world="paper")) is None
    other = setting_warning(_info(backbone="openai/clip-vit-large-patch14", world="paper"))
    assert other == ("Backbone 'openai/clip-vit-large-patch14' is not the paper's CLIP ViT-B/16 "
                     "(openai/clip-vit-base-patch16): these numbers are not the paper's setting.")
    # records made with the mini CLIP make the block say so whatever the parameters name
    mixed = _info(backbone="openai/clip-vit-base-patch16", world="paper",
                  records={"is_mini_clip": [False, True]})
    assert "the offline mini CLIP" in setting_warning(mixed)


def test_the_blocks_rows_and_plain_text():
    rows = dict(provenance_rows(_info()))
    assert list(rows) == ["backbone", "weights sha256", "data", "recipe", "device", "versions",
                          "git revision", "notebook wall time", "parameters"]
    assert rows["backbone"] == "mini (offline mini CLIP)"
    assert rows["device"] == "cpu (x86_64, 1 thread(s))"
    assert rows["versions"] == ["python 3.13.5", "torch 2.9.0"]
    assert rows["notebook wall time"] == "12.3 s (since the parameters cell)"
    assert rows["parameters"] == ["datasets=['MiniDigits']", "seeds=[1]"]
    records = {"n_runs": 3, "n_reused": 2, "n_shipped": 0, "compute_seconds": 41.6,
               "weights_sha256": ["cd" * 32], "devices": ["x86_64"], "git_revisions": ["0123abcd"]}
    rows = dict(provenance_rows(_info(records=records)))
    assert rows["runs"] == ("3 run records (2 reused from earlier executions); compute time "
                            "recorded in them 42 s")
    assert rows["record weights"] == ["cd" * 32]          # other weights than the parameters name
    assert rows["records made on"] == ["x86_64", "at git 0123abcd"]
    text = provenance_text(_info(), title="Setting").splitlines()
    assert text[0] == "== Setting ==" and text[1].startswith("!! Offline mini world")
    assert text[2] == "backbone: mini (offline mini CLIP)"
    assert "versions: python 3.13.5, torch 2.9.0" in text


@needs_mini_clip
def test_provenance_facts_of_parameters_and_records():
    P = check_parameters("base_to_new", datasets=["MiniDigits"], seeds=[1], device="cpu")
    summary = backbone_summary(P)
    assert summary == {"backbone": "mini", "weights_path": str(MINI_WEIGHTS),
                       "weights_sha256": file_sha256(MINI_WEIGHTS), "is_mini_clip": True,
                       "is_paper_backbone": False}
    recs = [b2n("A", "coop", 1, 1.0, 1.0), b2n("A", "cocoop", 1, 1.0, 1.0)]
    # made before the parameters cell (reused) and after it (trained in this chapter)
    from datetime import datetime, timezone
    utc = lambda t: datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="seconds")
    recs[0]["provenance"]["utc"] = utc(P.started - 3600)
    recs[1]["provenance"]["utc"] = utc(P.started + 5)
    recs[1]["shipped_from"] = "x.json"
    recs[1]["seconds"]["total"] = 2.5
    info = provenance_info(P, recs)
    assert info["parameters"] == P.as_dict() and info["backbone"] == summary
    assert (info["recipe"], info["world"], info["device"]) == ("mini", "mini", "cpu")
    assert info["data"] == "offline mini world (bundled)"
    assert info["records"] == {"n_runs": 2, "n_reused": 1, "n_shipped": 1, "compute_seconds": 3.5,
                               "weights_sha256": ["ab" * 32], "is_mini_clip": [True],
                               "devices": ["x86_64"], "git_revisions": ["abc"]}
    assert "records" not in provenance_info(P)
