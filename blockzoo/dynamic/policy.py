"""BlockDrop's policy: a ResNet-8 that looks at the image once and gives K keep-probabilities; its rewards."""
from __future__ import annotations

import torch
from torch import nn


class PolicyNet(nn.Module):
    """ResNet-8 style: a 3x3 stem, one BasicBlock per stage (widths 16, 32, 64; strides 1, 2, 2), global
    pool, Linear(64, K), sigmoid: the probability of executing each droppable block."""

    def __init__(self, num_decisions: int, in_chans: int = 3, widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        from timm.models.resnet import BasicBlock, downsample_conv

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
    averaged over the batch, minus entropy_weight times the decided decisions' mean entropy."""
    p = bounded(probs, alpha).clamp(1e-6, 1 - 1e-6)
    log_pi = torch.where(sampled.bool(), p.log(), (1 - p).log()) * mask
    loss = -(log_pi.sum(1) * advantage).mean()
    if entropy_weight:
        q = probs.clamp(1e-6, 1 - 1e-6)
        entropy = -(q * q.log() + (1 - q) * (1 - q).log()) * mask
        loss = loss - entropy_weight * entropy.sum(1).mean() / mask.sum().clamp(min=1)
    return loss
