"""The speed engine: exact speed-ups behind the same seams as the plain maths.

* :class:`FastPromptEncoder` (same call as :class:`cocoop_lib.prompt_encoders.PlainPromptEncoder`):
  call plans with length buckets, shared prefix, image groups, class chunks under checkpointing;
* :func:`plan_calls`: the call plan, a pure function of the EOT positions;
* :func:`make_step`: the training step, replayed from a captured CUDA graph on a GPU.
"""
from .captured_step import CapturedStep, EagerStep, make_step, restructured_step  # noqa: F401
from .plan import plan_calls  # noqa: F401
from .prompt_encoder import FastPromptEncoder  # noqa: F401
