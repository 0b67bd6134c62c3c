"""cocoop_lib/run_log.py: run_many's console log: one line per run, a one-line summary."""
from cocoop_lib.run_log import PrintRunLog, run_line, run_summary


def _record(**extra):
    return {"config": {"dataset": "MiniDigits", "method": "cocoop", "seed": 2}, "n_ctx": 4,
            "metrics": {"MiniFood:all": 40.04, "MiniDigits:H": 66.66, "MiniDigits:new": 50.0,
                        "MiniDigits:base": 99.95},
            "seconds": {"total": 12.4}, **extra}


def test_a_run_line_puts_its_own_metrics_first_and_says_where_the_record_came_from():
    line = "MiniDigits cocoop n_ctx=4 seed 2: base 100.0  new 50.0  H 66.7  MiniFood:all 40.0"
    assert run_line(_record(), found=False) == line + "  (12 s)"
    assert run_line(_record(), found=True) == line + "  (reused)"
    assert run_line(_record(shipped_from="x.json"), found=True) == line + "  (shipped record)"


def test_the_summary_counts_new_reused_and_shipped_runs():
    counts = {"runs": 5, "trained": 2, "shipped": 0, "reused": 3, "seconds": 61.6}
    assert run_summary(counts) == "5 runs (2 new, 3 reused) in 62 s"
    counts["shipped"] = 3
    assert run_summary(counts) == ("5 runs (2 new, 3 reused, 3 of them shipped with the repository "
                                   "(set COCOOP_SHIPPED_RUNS=0 to train them here)) in 62 s")


def test_the_plain_log_prints_numbered_lines_then_the_summary(capsys):
    log = PrintRunLog(2)
    log.run(1, "first")
    log.run(2, "second")
    log.done({"runs": 2, "trained": 2, "shipped": 0, "reused": 0, "seconds": 3.0})
    assert capsys.readouterr().out == "[1/2] first\n[2/2] second\n2 runs (2 new, 0 reused) in 3 s\n"
