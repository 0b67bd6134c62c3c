"""Prompt learners on the tiny random CLIP shared by tests/test_faithful.py and the fast
engine's tests (tests/test_fast_*.py): class names of different token lengths, the protocol's
optimiser, a spy on the shared-prefix encoder calls."""
import torch

from cocoop_lib.prompt_learners import CoCoOpPromptLearner, CoOpPromptLearner


# class names of different token lengths, so the cut length and the EOT positions differ by class
NAMES = ["cat", "golden retriever", "sea or lake", "herbaceous vegetation land", "x",
         "a very long class name with many words"]
SGD = dict(lr=0.05, momentum=0.9, weight_decay=5e-4)   # the protocol's optimiser, a larger lr


def learner(backbone, method, seed=0):
    torch.manual_seed(seed)
    if method == "cocoop":
        learner = CoCoOpPromptLearner(backbone, NAMES)
        with torch.no_grad():   # a Meta-Net far from zero, so the conditional path really matters
            for p in learner.meta_net.parameters():
                p.normal_(std=0.5)
        return learner
    return CoOpPromptLearner(backbone, NAMES)


def params(learner):
    return {n: p.detach().clone() for n, p in learner.named_parameters()}


def spy_calls(model):
    """Record (prefix shape, suffix shape after the cut) of every shared-prefix encoder call."""
    calls, original = [], model.prompt_encoder.forward_shared_prefix

    def spy(prefix, suffix, eot, length=None):
        assert length in (None, int(eot.max()) + 1)
        calls.append((tuple(prefix.shape), (*suffix.shape[:2], int(eot.max()) + 1 - prefix.shape[1])))
        return original(prefix, suffix, eot, length)

    model.prompt_encoder.forward_shared_prefix = spy
    return calls
