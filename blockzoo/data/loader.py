"""The on-device batch loader: the whole split on the device, crop and flip in batch."""
from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from blockzoo.errors import BlockzooError

AUGMENTATIONS = ("crop-flip", "randaugment-cutout", "blox")


class DeviceLoader:
    """The whole split held as one uint8 tensor on `device`; batches built on the device.

    train=True: reshuffled every epoch from (seed, epoch), per-sample random crop with zero padding
    `pad` and per-sample random horizontal flip, all in one gather on the device. Then converted to
    `dtype`, scaled to 0..1 and normalised with mean/std. train=False: fixed order, no augmentation,
    keeps the last partial batch. augment="randaugment-cutout" (the blox recipe) adds torchvision's
    RandAugment(2, 14) on each image before the crop and flip, and Cutout (one 16x16 square, its centre
    anywhere in the image, zeroed after normalisation) after them. augment="blox" is BLOX's order: RandAugment(2, 14)
    -> horizontal flip -> random crop (pad 4) -> normalise -> Cutout(1, 16): the flip before the crop (a crop
    offset c of a flipped image is offset 2 pad - c of the unflipped one, which the one gather takes).

    Each iteration uses the current epoch and advances it by one, so a loop that never calls
    set_epoch() still gets a new order each epoch; set_epoch(e) makes the next iteration epoch e
    (call it when resuming).
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, *, batch_size: int, mean, std,
                 device: str | torch.device = "cpu", train: bool = False, seed: int = 0, pad: int = 4,
                 flip: bool = True, drop_last: bool | None = None, channels_last: bool = False,
                 dtype: torch.dtype = torch.float32, augment: str = "crop-flip"):
        if images.dtype != torch.uint8 or images.ndim != 4 or len(images) != len(labels):
            raise ValueError(f"need uint8 images (N, C, H, W) and N labels, got {images.dtype} "
                             f"{tuple(images.shape)} and {tuple(labels.shape)}")
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean and std need one value per channel ({images.shape[1]}), got {mean}, {std}")
        self.drop_last = train if drop_last is None else drop_last
        if batch_size < 1 or (self.drop_last and batch_size > len(images)):
            raise BlockzooError(f"batch size {batch_size} does not fit {len(images)} images; "
                                f"set a batch size between 1 and {len(images)}")
        if pad < 0 or seed < 0:
            raise ValueError(f"pad and seed must be >= 0, got pad={pad}, seed={seed}")
        if augment not in AUGMENTATIONS:
            raise ValueError(f"augment must be one of {AUGMENTATIONS}, got {augment!r}")
        self.augment = augment if train else "crop-flip"
        self.device = torch.device(device)
        self.batch_size, self.train, self.seed, self.pad, self.flip = batch_size, train, seed, pad, flip
        self.channels_last, self.dtype = channels_last, dtype
        self.epoch = 0
        self.num_samples, channels, self.height, self.width = images.shape
        # Training reads crops from a zero-padded copy; the crop at offset (pad, pad) is the original.
        source = F.pad(images, (pad,) * 4) if train and pad else images
        self.images = source.to(self.device)
        self.labels = labels.to(self.device, torch.int64)
        mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, -1, 1, 1)
        self._scale, self._shift = 1 / (255 * std), mean / std
        _, _, padded_height, padded_width = self.images.shape
        self._sample_stride, self._row_stride = channels * padded_height * padded_width, padded_width
        self._channel_start = (torch.arange(channels, device=self.device).view(1, -1, 1, 1)
                               * padded_height * padded_width)
        self._rows = torch.arange(self.height, device=self.device)
        self._cols = torch.arange(self.width, device=self.device)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        if self.train:
            order, offsets, flips, *centres = self._epoch_plan(epoch)
        for i in range(len(self)):
            batch = slice(i * self.batch_size, (i + 1) * self.batch_size)
            if not self.train:
                yield self._normalise(self.images[batch]), self.labels[batch]
                continue
            index = order[batch]
            if self.augment in ("randaugment-cutout", "blox"):
                x = self._randaugment(index)
                x = self._crop_and_flip(torch.arange(len(x), device=self.device), offsets[batch], flips[batch], x)
                yield self._cutout(self._normalise(x), centres[0][batch]), self.labels[index]
            else:
                yield self._normalise(self._crop_and_flip(index, offsets[batch], flips[batch])), self.labels[index]

    def _epoch_plan(self, epoch: int) -> tuple[torch.Tensor, ...]:
        """Order, crop offsets, flips (and Cutout centres) for one epoch, drawn on the CPU so every device
        gets the same."""
        seed = int(np.random.SeedSequence((self.seed, epoch)).generate_state(1, np.uint64)[0])
        generator = torch.Generator().manual_seed(seed)
        n = self.num_samples
        order = torch.randperm(n, generator=generator)
        offsets = torch.randint(0, 2 * self.pad + 1, (n, 2), generator=generator)
        flips = torch.rand(n, generator=generator) < 0.5 if self.flip else torch.zeros(n, dtype=torch.bool)
        if self.augment == "blox":  # flip, then crop at the drawn offset: the gather's column offset mirrors
            offsets[:, 1] = torch.where(flips, 2 * self.pad - offsets[:, 1], offsets[:, 1])
        plan = [order, offsets, flips]
        if self.augment in ("randaugment-cutout", "blox"):
            plan.append(torch.stack((torch.randint(0, self.height, (n,), generator=generator),
                                     torch.randint(0, self.width, (n,), generator=generator)), 1))
        return tuple(part.to(self.device) for part in plan)

    def _crop_and_flip(self, index: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor,
                       source: torch.Tensor | None = None) -> torch.Tensor:
        """Gather each sample's window of the padded images (or of the padded batch `source`), columns
        reversed where flipped."""
        rows = offsets[:, :1] + self._rows  # (B, H)
        cols = offsets[:, 1:] + torch.where(flips[:, None], self._cols.flip(0), self._cols)  # (B, W)
        # One flat index per output pixel and a single take(): 3x faster on CPU than 4-way advanced indexing.
        flat = ((index * self._sample_stride).view(-1, 1, 1, 1) + self._channel_start
                + (rows * self._row_stride)[:, None, :, None] + cols[:, None, None, :])
        return (self.images if source is None else source).take(flat)

    def _randaugment(self, index: torch.Tensor) -> torch.Tensor:
        """RandAugment(2, 14) on each original image of the batch (torch's global RNG), re-padded for the crop."""
        from torchvision.transforms import v2

        if not hasattr(self, "_rand_augment"):
            self._rand_augment = v2.RandAugment(num_ops=2, magnitude=14)
        p = self.pad
        originals = self.images[index][:, :, p:p + self.height, p:p + self.width]
        augmented = torch.stack([self._rand_augment(image) for image in originals])
        return F.pad(augmented, (p,) * 4)

    def _cutout(self, x: torch.Tensor, centres: torch.Tensor, size: int = 16) -> torch.Tensor:
        """Zero a size x size square per image around its centre, clipped at the borders (DeVries & Taylor)."""
        rows = torch.arange(self.height, device=x.device).view(1, -1, 1)
        cols = torch.arange(self.width, device=x.device).view(1, 1, -1)
        cy, cx = centres[:, :1, None], centres[:, 1:, None]
        inside = (rows >= cy - size // 2) & (rows < cy + size // 2) & (cols >= cx - size // 2) & (cols < cx + size // 2)
        return x.masked_fill(inside[:, None], 0.0)

    def _normalise(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.float() * self._scale - self._shift).to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x
