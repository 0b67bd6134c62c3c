"""cocoop_lib: CoOp and CoCoOp prompt learning on a frozen CLIP (reproducibility package).

Main entry points::

    from cocoop_lib.backbone import load_backbone          # frozen CLIP + tokenizer
    from cocoop_lib.prompt_learners import CoCoOpPromptLearner
    from cocoop_lib.runs import RunConfig, run              # one experiment -> run record
"""
__version__ = "0.1.0"
