"""cocoop_lib/trained.py: the helpers the chapters use on a finished run."""
import torch

from cocoop_lib.runs import checkpoint_file, find_record, run, run_identity
from fixtures_runs import cfg


def test_the_runs_helpers_the_chapters_use(tiny_clip_dir, eurosat_root, tmp_path):
    from cocoop_lib.runs import cached_test_features, load_trained
    c = cfg(tiny_clip_dir, eurosat_root, tmp_path)
    record = run(c, progress=False)
    assert find_record(c) == record
    model, part = load_trained(record)
    saved = torch.load(checkpoint_file(tmp_path, record["name"], run_identity(c.resolved())),
                       weights_only=False)["learner"]
    assert torch.equal(model.prompt_learner.ctx.detach(), saved["ctx"])
    feats, labels = cached_test_features(c, model, part.test)
    assert feats.shape[0] == labels.shape[0] == len(part.test)
