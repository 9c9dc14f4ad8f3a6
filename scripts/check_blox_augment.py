"""Does blockzoo's on-device BLOX augmentation produce the distribution BLOX's per-sample PIL pipeline produces?

The random streams cannot be equal (BLOX draws per sample in torchvision's PIL transforms and numpy, inside
DataLoader workers; blockzoo draws crops, flips and Cutout for a whole epoch at once, and RandAugment per
image with torch's generator), so this compares distributions over the same images: per-channel mean and
standard deviation of the augmented, normalised images, the share of zeroed values (Cutout), and how often
each RandAugment operation is applied.

    python scripts/check_blox_augment.py [--images 2000] [--epochs 3]

Images: Debian's Fashion-MNIST (the CIFAR archives cannot be fetched here), padded to 32x32 and repeated to
three channels, normalised with BLOX's CIFAR-100 digits.
"""
from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def blox_reference(images: torch.Tensor, epochs: int, mean, std, counts: collections.Counter) -> torch.Tensor:
    """BLOX's trainer.py transforms, per sample on PIL images, with BLOX's Cutout (numpy's generator)."""
    import torchvision.transforms as T
    import torchvision.transforms.autoaugment as autoaugment

    original = autoaugment._apply_op

    def counted(img, op_name, magnitude, interpolation, fill):
        counts[op_name] += 1
        return original(img, op_name, magnitude, interpolation, fill)

    autoaugment._apply_op = counted
    transform = T.Compose([T.RandAugment(2, 14), T.RandomHorizontalFlip(0.5), T.RandomCrop((32, 32), padding=4),
                           T.ToTensor(), T.Normalize(mean, std)])
    out = []
    try:
        for _ in range(epochs):
            for image in images:
                x = transform(T.functional.to_pil_image(image))
                y, xx = np.random.randint(32), np.random.randint(32)  # BLOX's Cutout(1, 16), prob 1
                mask = np.ones((32, 32), np.float32)
                mask[np.clip(y - 8, 0, 32):np.clip(y + 8, 0, 32), np.clip(xx - 8, 0, 32):np.clip(xx + 8, 0, 32)] = 0
                out.append(x * torch.from_numpy(mask))
    finally:
        autoaugment._apply_op = original
    return torch.stack(out)


def blockzoo_loader(images: torch.Tensor, epochs: int, mean, std, counts: collections.Counter) -> torch.Tensor:
    from torchvision.transforms.v2 import _auto_augment

    from blockzoo.data.loader import DeviceLoader

    base = _auto_augment._AutoAugmentBase
    original = base._apply_image_or_video_transform

    def counted(self, image, transform_id, magnitude, interpolation, fill):
        counts[transform_id] += 1
        return original(self, image, transform_id, magnitude, interpolation, fill)

    base._apply_image_or_video_transform = counted
    loader = DeviceLoader(images, torch.zeros(len(images), dtype=torch.int64), batch_size=256, mean=mean, std=std,
                          train=True, seed=0, augment="blox", drop_last=False)
    try:
        return torch.cat([x for _ in range(epochs) for x, _ in loader])
    finally:
        base._apply_image_or_video_transform = original


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    args = p.parse_args()
    import tempfile

    from blockzoo.data.catalogue import BLOX_NORMALISATION
    from blockzoo.data.splits import load_splits

    torch.manual_seed(0)
    np.random.seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        splits = load_splits("fashion-mnist", tmp, val_size=0, archive=args.fashion_mnist)
    images = splits.train_x[:args.images].expand(-1, 3, -1, -1).contiguous()
    mean, std = BLOX_NORMALISATION["cifar100"]
    ours, theirs = collections.Counter(), collections.Counter()
    a = blockzoo_loader(images, args.epochs, mean, std, ours)
    b = blox_reference(images, args.epochs, mean, std, theirs)
    print(f"{len(images)} Fashion-MNIST images x {args.epochs} epochs = {len(a)} augmented samples each\n")
    print(f"{'':<26} {'blockzoo (on device)':>21} {'BLOX (PIL, per sample)':>23}")
    for c in range(3):
        print(f"channel {c} mean / std       {a[:, c].mean():9.4f} {a[:, c].std():9.4f}   "
              f"{b[:, c].mean():9.4f} {b[:, c].std():9.4f}")
    print(f"{'zeroed values (Cutout)':<26} {(a == 0).float().mean():21.4f} {(b == 0).float().mean():23.4f}")
    print(f"{'per-image mean: std':<26} {a.mean((1, 2, 3)).std():21.4f} {b.mean((1, 2, 3)).std():23.4f}")
    total_a, total_b = sum(ours.values()), sum(theirs.values())
    print(f"\nRandAugment operations (share of {total_a} / {total_b} applications; uniform = {1 / 14:.4f}):")
    for op in sorted(set(ours) | set(theirs)):
        print(f"  {op:<14} {ours[op] / total_a:8.4f} {theirs[op] / total_b:8.4f}")


if __name__ == "__main__":
    main()
