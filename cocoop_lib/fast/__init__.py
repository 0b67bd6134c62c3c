"""The speed engine: exact speed-ups behind the same seams as the plain maths.

* :class:`FastPromptEncoder` (same call as :class:`cocoop_lib.prompt_encoders.PlainPromptEncoder`):
  call plans with length buckets, shared prefix, image groups, class chunks under checkpointing;
* :func:`forward_shared_prefix`: the text tower with the rows all classes share computed once;
* :func:`plan_calls`: the call plan, a pure function of the EOT positions;
* :func:`make_step`: the training step, replayed from a captured CUDA graph on a GPU.
"""
from .captured_step import CapturedStep, make_step, restructured_step  # noqa: F401
from .plan import plan_calls  # noqa: F401
from .prompt_encoder import FastPromptEncoder  # noqa: F401
from .shared_prefix import forward_shared_prefix, shared_prefix_rows  # noqa: F401
