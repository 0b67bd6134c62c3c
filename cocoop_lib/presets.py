"""Training recipes: the paper's, and the one departure the offline mini world needs.

Every difference between the two is in this file, and the book prints both. A run picks one with
``recipe="paper"`` or ``recipe="mini"``; ``"auto"`` takes "mini" for the bundled mini CLIP and
"paper" for any other backbone.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Recipe:
    """Per-method optimisation settings of one recipe."""

    name: str
    shots: int
    epochs: dict = field(default_factory=dict)        # method -> epochs
    epochs_on: dict = field(default_factory=dict)     # "method:dataset" -> epochs (exceptions)
    batch_size: dict = field(default_factory=dict)    # method -> training batch size
    lr: float = 0.002
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    warmup_lr: float = 1e-5
    test_batch_size: int = 100
    crop_scale: tuple = (0.08, 1.0)                  # RandomResizedCrop scale range
    n_ctx: int = 4
    ctx_init: str = "a photo of a"
    note: str = ""

    def as_dict(self) -> dict:
        return asdict(self)


PAPER = Recipe(
    name="paper", shots=16,
    epochs={"coop": 200, "cocoop": 10},
    epochs_on={"coop:ImageNet": 50},
    batch_size={"coop": 32, "cocoop": 1},
    note="CoCoOp paper (Zhou et al., CVPR 2022) and its official configs; CoOp on ImageNet uses 50 epochs.",
)

# The mini world's departures (see docs/mini_world.md for the measurements behind them).
MINI = Recipe(
    name="mini", shots=16,
    epochs={"coop": 10, "cocoop": 2},
    epochs_on={"coop:MiniEmojiNet": 5},
    batch_size={"coop": 32, "cocoop": 4},
    lr=0.3,
    crop_scale=(0.8, 1.0),
    note="Offline mini world (measurements in docs/mini_world.md): 32x32 images, so random crops keep "
         ">= 80% of the image (an 8% crop of 32 pixels destroys it, and smaller crops break the "
         "pixelated and tilted domains apart); CoOp 10 epochs (5 on MiniEmojiNet, as the paper gives "
         "ImageNet a quarter of the epochs) and CoCoOp 2 (epoch 1 is the warm-up), CoCoOp at batch 4, "
         "so that 3 seeds of every experiment fit the 20-minute CPU budget; lr 0.3, because the mini "
         "text encoder's gradients with respect to the context are so small that SGD at 0.002 does "
         "not move the context in so few steps.",
)

RECIPES = {"paper": PAPER, "mini": MINI}


def get_recipe(name: str, backbone: str = "mini") -> Recipe:
    """The recipe called ``name`` ("paper", "mini", or "auto": mini for the mini CLIP)."""
    if name == "auto":
        name = "mini" if backbone == "mini" else "paper"
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; choose 'paper', 'mini' or 'auto'.")
    return RECIPES[name]


def epochs_for(recipe: Recipe, method: str, dataset: str) -> int:
    """Epochs of ``method`` on ``dataset``: the recipe's exceptions first (the paper: CoOp on
    ImageNet 50), else its per-method number."""
    return recipe.epochs_on.get(f"{method}:{dataset}", recipe.epochs.get(method, 0))
