"""Training recipes: optimiser, schedule and loss, every number in one place (no torch here)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

from blockzoo.errors import BlockzooError

if TYPE_CHECKING:
    from blockzoo.settings import TrainSettings


@dataclass(frozen=True)
class Recipe:
    """Optimiser, schedule and loss of a training run. Every number docs/training.md states is here."""

    name: str
    optimizer: str  # "sgd" or "adam"
    lr: float  # the peak learning rate at batch size `lr_batch_size`
    lr_batch_size: int | None  # lr scales linearly with the batch size relative to this; None = no scaling
    weight_decay: float  # L2 on conv/linear weights only (norm parameters and biases too when decay_all)
    label_smoothing: float
    # "warmup-cosine" (per step), "cosine" (per epoch, to 0, no warm-up) or "plateau" (ReduceLROnPlateau on
    # val_loss, per epoch)
    schedule: str
    momentum: float = 0.0
    nesterov: bool = True  # with SGD and momentum
    decay_all: bool = False  # weight decay on every parameter, norms and biases included
    augment: str = "crop-flip"  # "crop-flip", "randaugment-cutout" (RandAugment(2, 14) first, Cutout(16) last), or
    # "blox": BLOX's order, RandAugment(2, 14) -> flip -> crop -> normalise -> Cutout(1, 16)
    warmup_epochs: float = 0.0  # linear warm-up, capped at warmup_max_fraction of the run
    warmup_max_fraction: float = 0.1
    plateau_factor: float = 0.5
    plateau_patience: int = 3
    # The protocol beyond the optimiser (BLOX's; defaults: blockzoo's)
    drop_last: bool = True  # the training loader drops its last partial batch
    precision: str | None = None  # what train.precision "auto" means (None: bf16-mixed on a GPU with it, else fp32)
    deterministic: bool = False  # torch's deterministic algorithms, cuDNN's benchmark off, torch's TF32 defaults
    best_ties: str = "earlier"  # best checkpoint: of equal validation accuracies, the "earlier" or "lower-val-loss"
    normalise: str = "dataset"  # mean/std: the dataset's (catalogue) or "blox" (BLOX's digits, CIFAR)

    def lr_for(self, batch_size: int) -> float:
        return self.lr * batch_size / self.lr_batch_size if self.lr_batch_size else self.lr


RECIPES: dict[str, Recipe] = {
    # The default. 0.1 per 128 images is the classic CIFAR ResNet rate (He et al. 2016), scaled
    # linearly with the batch (Goyal et al. 2017): 0.2 at the default batch of 256.
    "sgd": Recipe("sgd", optimizer="sgd", lr=0.2, lr_batch_size=256, momentum=0.9, weight_decay=5e-4,
                  label_smoothing=0.1, schedule="warmup-cosine", warmup_epochs=2.0),
    # BlockZoo 0.3.0 (its train.py): Adam at 1e-3, no weight decay, plain cross-entropy,
    # ReduceLROnPlateau(mode="min", factor=0.5, patience=3) on the validation loss.
    "blockzoo": Recipe("blockzoo", optimizer="adam", lr=1e-3, lr_batch_size=None, weight_decay=0.0,
                       label_smoothing=0.0, schedule="plateau", plateau_factor=0.5, plateau_patience=3),
    # BLOX's protocol (docs/blox.md): SGD 0.01 at batch 256, momentum 0.9 without Nesterov, weight decay 5e-4
    # (torch's SGD: on every parameter), cosine to 0 per epoch, cross-entropy; RandAugment(2, 14) -> flip ->
    # crop 32 pad 4 -> normalise (BLOX's digits) -> Cutout(1, 16); the last partial batch kept; fp32, deterministic;
    # the best validation accuracy, ties to the lower validation loss. With setting=blox: 200 epochs, seed 0,
    # BLOX's split (data.split: blox).
    "blox": Recipe("blox", optimizer="sgd", lr=0.01, lr_batch_size=256, momentum=0.9, nesterov=False,
                   weight_decay=5e-4, decay_all=True, label_smoothing=0.0, schedule="cosine", augment="blox",
                   drop_last=False, precision="32-true", deterministic=True, best_ties="lower-val-loss",
                   normalise="blox"),
}


def get_recipe(name: str) -> Recipe:
    try:
        return RECIPES[name]
    except KeyError:
        raise BlockzooError(f"unknown recipe {name!r}; use one of: {', '.join(RECIPES)}") from None


def resolve_recipe(settings: "TrainSettings") -> tuple[Recipe, str]:
    """The recipe a run uses: its lr scaled to the batch size, then the settings' overrides; and its label,
    the recipe's name with the overrides it ran with ("sgd", "sgd(lr=0.05)")."""
    base = get_recipe(settings.recipe)
    overrides = {name: value for name in ("lr", "weight_decay", "label_smoothing")
                 if (value := getattr(settings, name)) is not None}
    recipe = dataclasses.replace(base, lr=base.lr_for(settings.batch_size), lr_batch_size=None)
    recipe = dataclasses.replace(recipe, **overrides)
    label = base.name + (f"({','.join(f'{k}={v:g}' for k, v in overrides.items())})" if overrides else "")
    return recipe, label
