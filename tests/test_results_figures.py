"""cocoop_lib/results/figures.py: the figures fit the book's page."""
from __future__ import annotations

from cocoop_lib import results
from fixtures_records import b2n, record


def test_figures_fit_the_page_with_legible_ticks():
    """Every figure is at most the page's width (8.5 in at 100 dpi, ~850 px: shown ~1:1 in the
    book; before, six datasets made Table 1's figure 13.8 in wide, shown at 60 %), and every tick
    label is 10 pt or larger at that size."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    recs = [b2n(d, m, s, 60.0 + s, 50.0 + s, params=512) for d in "ABCDEF" for m in
            ("zeroshot", "coop", "cocoop") for s in (1, 2)]
    recs += [b2n(d, "coop", s, 61.0, 49.0, n_ctx=18, ctx_init="", params=2304) for d in ("A", "B")
             for s in (1, 2)]
    tr_recs = [record("ImageNet", m, 1, {"ImageNet:all": 70.0, "DTD:all": 40.0}, train_classes="all")
               for m in ("zeroshot", "coop", "cocoop")]
    summary = results.base_to_new(recs)
    figs = [results.plot_base_to_new(recs, summary), results.plot_claim(summary),
            results.plot_ablation(results.ablation([r for r in recs if r["config"]["method"] != "zeroshot"])),
            results.plot_transfer(results.transfer(tr_recs, "ImageNet", ["DTD"]), "t")]
    for fig in figs:
        assert fig.get_size_inches()[0] <= 8.5 + 1e-6
        for ax in fig.axes:
            for t in ax.get_xticklabels() + ax.get_yticklabels():
                assert t.get_fontsize() >= 10, (ax.get_title(), t.get_text())
        plt.close(fig)
