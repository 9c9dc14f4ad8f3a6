"""BlockDrop's policy: a ResNet-8 that looks at the image once and gives K keep-probabilities; its rewards."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class PolicyNet(nn.Module):
    """ResNet-8 style: a 3x3 stem, one BasicBlock per stage (widths 16, 32, 64 by default; strides 1, 2, 2),
    global pool, Linear(widths[-1], K), sigmoid: the probability of executing each droppable block.

    input_size: the image is average-pooled down to input_size x input_size before the policy sees it (as
    BlockDrop's ImageNet policy sees the image at half its resolution); None: the full image."""

    def __init__(self, num_decisions: int, in_chans: int = 3, widths: Sequence[int] = (16, 32, 64),
                 input_size: int | None = None):
        super().__init__()
        from timm.models.resnet import BasicBlock, downsample_conv

        widths = tuple(int(w) for w in widths)
        if len(widths) != 3:
            raise ValueError(f"the policy has three stages: give three widths, got {widths}")
        self.input_size = input_size

        layers = [nn.Conv2d(in_chans, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]),
                  nn.ReLU(inplace=True)]
        channels = widths[0]
        for width, stride in zip(widths, (1, 2, 2), strict=True):
            changes = (stride, channels) != (1, width)
            downsample = downsample_conv(channels, width, 1, stride=stride) if changes else None
            layers.append(BasicBlock(channels, width, stride=stride, downsample=downsample))
            channels = width
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_decisions)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.input_size is not None and x.shape[-1] > self.input_size:
            x = F.adaptive_avg_pool2d(x, self.input_size)
        return torch.sigmoid(self.head(self.features(x)))


def reward(correct: torch.Tensor, keep: torch.Tensor, gamma: float) -> torch.Tensor:
    """Per image: 1 - (used / K)^2 when the prediction is right, -gamma when it is wrong."""
    used = keep.float().sum(1) / keep.shape[1]
    return torch.where(correct, 1 - used ** 2, torch.full_like(used, -float(gamma)))


def bounded(probs: torch.Tensor, alpha: float = 0.8) -> torch.Tensor:
    """Exploration: p' = alpha * p + (1 - alpha) * (1 - p), so that 0 and 1 become 0.2 and 0.8 at alpha 0.8."""
    return alpha * probs + (1 - alpha) * (1 - probs)


def curriculum_mask(num_decisions: int, decided: int, device=None) -> torch.Tensor:
    """Which decisions the policy makes when it decides the last `decided` blocks: True for those; the first
    K - decided blocks are forced on and kept out of the loss."""
    decided = max(0, min(num_decisions, decided))
    mask = torch.zeros(num_decisions, dtype=torch.bool, device=device)
    mask[num_decisions - decided:] = True
    return mask


def policy_loss(probs: torch.Tensor, sampled: torch.Tensor, advantage: torch.Tensor, mask: torch.Tensor,
                alpha: float = 0.8, entropy_weight: float = 0.0) -> torch.Tensor:
    """REINFORCE with a self-critical baseline: -sum_k log pi(u_k) * advantage over the decided blocks (mask),
    averaged over the batch; minus BlockDrop's entropy bonus (its cl_training.py, exactly): entropy_weight
    times the sum over all K blocks of -p' log p' on the bounded probabilities p' (clamped to [1e-15, 1]),
    averaged over the batch. That one-term form pulls p' towards 1/e, i.e. p towards about 0.28 at alpha 0.8."""
    bounded_probs = bounded(probs, alpha)
    p = bounded_probs.clamp(1e-6, 1 - 1e-6)
    log_pi = torch.where(sampled.bool(), p.log(), (1 - p).log()) * mask
    loss = -(log_pi.sum(1) * advantage).mean()
    if entropy_weight:
        q = bounded_probs.clamp(1e-15, 1 - 1e-15)
        loss = loss - entropy_weight * (-q * q.log()).sum(1).mean()
    return loss
