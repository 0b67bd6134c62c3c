"""cocoop_lib/fast/plan.py: the call plan is a pure partition of the classes."""
import torch

from cocoop_lib.fast import plan_calls


def test_plan_calls_is_a_pure_partition_of_the_classes():
    eot = torch.tensor([9, 5, 7, 5, 9, 6, 5, 12])
    calls, inverse = plan_calls(eot, groups=1, chunk=3, buckets=True, min_prompts=2)
    order = torch.cat([c for c, _ in calls])
    assert sorted(order.tolist()) == list(range(8)) and all(len(c) <= 3 for c, _ in calls)
    assert [length for _, length in calls] == [int(eot[c].max()) + 1 for c, _ in calls]
    assert torch.equal(order[inverse], torch.arange(8))
    assert plan_calls(eot, groups=1, chunk=8, buckets=False, min_prompts=2) == ([(None, 13)], None)
