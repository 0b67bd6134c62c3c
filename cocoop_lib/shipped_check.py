"""Checking the shipped records (:mod:`cocoop_lib.shipped`) by training runs again here.

    from cocoop_lib.shipped_check import cheapest_shipped, recompute
    for config in cheapest_shipped(plan_base_to_new(P)):
        print(recompute(config, "outputs/shipped_check"))   # regime, passed, why, max_metric_diff, ...

The comparison knows its regime (:func:`kernel_path.compare`): on the kernel path the shipped
record names, the recomputed record must be bit-equal; on another path (or when the record names
none: the records made before 3 Dec 2026), within the measured cross-path tolerance. Appendix A1
does this in every execution of the book; tests/test_shipped_check.py does it in the suite.
"""
from __future__ import annotations

import dataclasses

from .kernel_path import compare
from .records import read_record
from .run_cost import run_cost
from .runs import run
from .shipped import shipped_path


def recompute(config, output_dir) -> dict:
    """Train ``config`` afresh in ``output_dir`` (``force``: nothing shipped or cached is used)
    and compare the new record with the shipped one.

    Returns {"run", "regime", "passed", "why", "metrics_equal", "max_metric_diff" (points),
    "max_loss_diff", "max_loss_start_diff", "seconds"} (:func:`kernel_path.compare`).
    """
    c = dataclasses.replace(config, output_dir=str(output_dir))
    name = c.resolved().run_name()
    committed = read_record(shipped_path(name))
    record = run(c, force=True, progress=False)
    return {"run": name, **compare(committed, record), "seconds": round(record["seconds"]["total"], 1)}


def cheapest_shipped(configs, methods=("coop", "cocoop")) -> list:
    """Of ``configs``, the cheapest one per trained method whose record ships (by
    :func:`run_cost.run_cost`): what the appendix recomputes to check the shipped records."""
    out = []
    for method in methods:
        have = [c for c in configs if c.method == method and shipped_path(c.resolved().run_name()).exists()]
        if have:
            out.append(min(have, key=run_cost))
    return out
