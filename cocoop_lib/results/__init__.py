"""Run records -> the paper's tables (pandas), their display and figures.

    from cocoop_lib.records import read_records
    from cocoop_lib import results
    records = read_records("outputs/records")
    summary = results.base_to_new(records)          # tidy: one row per (dataset, method)
    results.base_to_new_display(summary)            # one narrow table per method

:mod:`.tables` holds the numbers (pandas only; the averaging rule is
:mod:`cocoop_lib.evaluation`'s), :mod:`.html_tables` the Styler/HTML, :mod:`.figures` the plots
(matplotlib and seaborn are imported only when a figure is drawn). Every function takes run
records (dicts written by :func:`cocoop_lib.runs.run`) and never reads files itself.
"""
from ..provenance import describe_setting
from .html_tables import (DELTA, TABLE_CLASS, TableGroup, ablation_display, base_to_new_display,
                      claim_display, comparison, settings_display, transfer_display)
from .figures import plot_ablation, plot_base_to_new, plot_claim, plot_transfer
from .tables import (AVERAGE, METHOD_ORDER, PAPER_METHOD, ablation, agreement_sentence,
                     average_row, base_to_new, base_vs_zero_shot, budget_check, claim_check,
                     gain_signs, is_paper_setting, method_label, noise_sentence, records_frame, settings_frame,
                     transfer, transfer_average, transfer_averages, variant_label)

__all__ = ["AVERAGE", "DELTA", "METHOD_ORDER", "PAPER_METHOD", "TABLE_CLASS", "TableGroup",
           "ablation", "ablation_display", "agreement_sentence", "average_row", "base_to_new", "base_vs_zero_shot",
           "base_to_new_display", "budget_check", "claim_check", "gain_signs", "claim_display", "comparison", "describe_setting", "is_paper_setting",
           "method_label", "noise_sentence", "plot_ablation", "plot_base_to_new", "plot_claim", "plot_transfer",
           "records_frame", "settings_frame", "settings_display", "transfer", "transfer_average",
           "transfer_averages", "transfer_display", "variant_label"]
