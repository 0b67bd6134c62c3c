"""The console log of ``runs.run_many``: one line per run and a summary (the notebook's version is
:class:`cocoop_lib.notebook_output.NotebookRunLog`)."""
from __future__ import annotations

from .shipped import ENV


class PrintRunLog:
    """The per-run log of :func:`run_many` as plain lines on stdout (scripts, tests, the CLI).

    A log has three calls: ``log = RunLog(total)``, ``log.run(i, line)`` after each run,
    ``log.done(counts)`` at the end (counts: runs, shipped, reused, trained, seconds).
    :class:`cocoop_lib.notebook_output.NotebookRunLog` is the same log for a notebook page (a summary,
    the per-run lines folded away); ``cocoop_lib.notebook`` makes it the default there."""

    def __init__(self, total: int):
        self.total = total

    def run(self, i: int, line: str) -> None:
        print(f"[{i}/{self.total}] {line}", flush=True)

    def done(self, counts: dict) -> None:
        print(run_summary(counts), flush=True)


def run_summary(counts: dict) -> str:
    """The one-line summary of a :func:`run_many` call, e.g. "54 runs (0 new, 54 reused, 54 of
    them shipped with the repository (...)) in 3 s"."""
    shipped = (f", {counts['shipped']} of them shipped with the repository (set "
               f"{ENV}=0 to train them here)") if counts["shipped"] else ""
    return (f"{counts['runs']} runs ({counts['trained']} new, "
            f"{counts['runs'] - counts['trained']} reused{shipped}) in {counts['seconds']:.0f} s")


def run_line(record: dict, found: bool) -> str:
    """One run's line of the log: dataset, method, n_ctx, seed, metrics, and where it came from."""
    rc = record["config"]
    order = {"base": 0, "new": 1, "H": 2, "all": 0}
    own = rc["dataset"] + ":"
    items = sorted(record["metrics"].items(), key=lambda kv: (
        not kv[0].startswith(own), order.get(kv[0].split(":")[-1], 3)))
    metrics = "  ".join(f"{k.split(':', 1)[1] if k.startswith(own) else k} {v:.1f}"
                        for k, v in items)
    if found:
        how = "shipped record" if record.get("shipped_from") else "reused"
    else:
        how = f"{record['seconds']['total']:.0f} s"
    return (f"{rc['dataset']} {rc['method']} n_ctx={record['n_ctx']} seed {rc['seed']}: "
            f"{metrics}  ({how})")
