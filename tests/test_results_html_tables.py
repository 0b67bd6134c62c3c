"""cocoop_lib/results/html_tables.py: ours - paper is shown only in the paper's setting."""
from __future__ import annotations

from cocoop_lib import results
from fixtures_records import b2n, record


def test_deltas_to_the_paper_only_in_the_papers_setting():
    """ours - paper is shown (and coloured) only for real CLIP ViT-B/16 on a paper dataset."""
    def real(r):
        r["backbone"].update(backbone="openai/clip-vit-base-patch16", is_mini_clip=False)
        r["config"]["data_root"] = "/data"
        return r

    paper = results.base_to_new([real(b2n("EuroSAT", "cocoop", 1, 90.0, 60.0))])
    assert bool(paper.set_index("dataset").loc["EuroSAT", "paper_setting"])
    assert not bool(paper.set_index("dataset").loc["Average", "paper_setting"])  # 1 of 11 datasets
    html = results.base_to_new_display(paper).to_html()
    assert ">ours - paper<" in html and "+2.5" in html and "background-color" in html
    mini = results.base_to_new([b2n("EuroSAT", "cocoop", 1, 90.0, 60.0),
                                b2n("MiniX", "cocoop", 1, 50.0, 50.0)], plays={"MiniX": "DTD"})
    assert not mini.paper_setting.any()
    html = results.base_to_new_display(mini).to_html()
    assert ">ours - paper<" not in html and "background-color" not in html
    # one row per dataset: ours (paper), the paper's number that of the dataset a row plays
    assert "50.0 ± 0.0 (77.01)" in html and "MiniX plays DTD" in html
    assert "Not the paper&#x27;s setting" in html
    # transfer: the same rule per dataset
    recs = [real(record("ImageNet", "coop", 1, {"ImageNet:all": 70.0, "DTD:all": 40.0},
                        train_classes="all"))]
    tr = results.transfer(recs, "ImageNet", ["DTD"], table="table2").set_index("dataset")
    assert tr.paper_setting.to_dict() == {"ImageNet": True, "DTD": True, "Average": False}
    html = results.transfer_display(tr.reset_index(), "T2", "table-cross-dataset").to_html()
    assert 'id="table-cross-dataset"' in html and f"{70.0 - 71.51:+.1f}" in html
