"""cocoop_lib/notebook.py: the chapters' one import: existing records found without running, and
a run cell's log folded (the environment it sets: tests/test_imports.py)."""
from cocoop_lib import notebook, runs
from cocoop_lib.notebook_output import NotebookRunLog
from cocoop_lib.runs import run
from fixtures_runs import cfg


def test_load_records_finds_the_records_that_exist_and_runs_nothing(tiny_clip_dir, eurosat_root,
                                                                    tmp_path):
    done = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot")
    todo = cfg(tiny_clip_dir, eurosat_root, tmp_path, method="zeroshot", seed=2)
    record = run(done, progress=False)
    assert notebook.load_records([todo, done]) == ([record], [todo])
    assert len(list((tmp_path / "records").glob("*.json"))) == 1      # the missing one not run


def test_the_chapters_run_log_is_the_folded_one():
    assert runs.RUN_LOG is NotebookRunLog
