"""Test-time measurement of a BlockDrop policy, greedy, blocks really skipped (docs/blockdrop.md, "honest").

Accuracy; blocks used per image; FLOPs per image with and without the policy's own cost, by the profile's
counter (blockzoo.profile.flops), block by block; distinct policies; how often each block is dropped; and
the measured latency per image against the static network on the same device (FLOPs saved are not time
saved).
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from blockzoo.dynamic.droppable import DroppableNet
from blockzoo.profile.flops import count_flops


def unit_flops(droppable: DroppableNet, image: torch.Tensor) -> dict[str, list[int] | int]:
    """FLOPs for one image: of the stem and head (`fixed`), of each unit's block and of its shortcut, all by
    the profile's counter; the sum with every block on equals the profile's count of the whole network."""
    net = droppable.net
    names = ["stem", "head"] + [f"{unit.stage}.{unit.index}" for unit in droppable.units]
    count = count_flops(net, image, names)
    inputs: dict[int, torch.Tensor] = {}
    hooks = [unit.block.register_forward_pre_hook(lambda m, args, i=i: inputs.__setitem__(i, args[0]))
             for i, unit in enumerate(droppable.units)]
    try:
        with torch.no_grad():
            net.eval()(image)
    finally:
        for hook in hooks:
            hook.remove()
    shortcut = [0 if _is_identity(unit.shortcut) else count_flops(unit.shortcut, inputs[i]).total
                for i, unit in enumerate(droppable.units)]
    return {"fixed": count.stages["stem"] + count.stages["head"], "total": count.total,
            "block": [count.stages[name] for name in names[2:]], "shortcut": shortcut}


def _is_identity(shortcut) -> bool:
    return shortcut is None or isinstance(shortcut, nn.Identity) or (isinstance(shortcut, nn.Sequential)
                                                                     and len(shortcut) == 0)


def flops_per_image(keep: torch.Tensor, droppable: DroppableNet, table: dict) -> np.ndarray:
    """FLOPs of each image's network under its decisions (keep: (N, K) of 0/1), without the policy."""
    fixed = table["fixed"] + sum(table["block"][i] for i in range(len(droppable.units)) if i not in droppable.droppable)
    block = np.array([table["block"][i] for i in droppable.droppable], dtype=float)
    shortcut = np.array([table["shortcut"][i] for i in droppable.droppable], dtype=float)
    decisions = keep.cpu().numpy().astype(float)
    return fixed + decisions @ block + (1 - decisions) @ shortcut


def median_latency_ms(run, images: torch.Tensor, warmup: int = 3) -> float:
    """Median wall time of run(image) over the images, one at a time (CUDA synchronised)."""
    times = []
    cuda = images.device.type == "cuda"
    with torch.inference_mode():
        for i, image in enumerate(images):
            if cuda:
                torch.cuda.synchronize(images.device)
            start = time.perf_counter()
            run(image[None], i)
            if cuda:
                torch.cuda.synchronize(images.device)
            if i >= warmup:
                times.append((time.perf_counter() - start) * 1e3)
    return float(np.median(times)) if times else float("nan")


def measure(droppable: DroppableNet, policy: nn.Module, static_net: nn.Module, images: torch.Tensor,
            labels: torch.Tensor, latency_images: int = 200) -> tuple[dict, torch.Tensor]:
    """The test-time figures of the greedy policy on (already normalised) test images, and its decisions
    (N, K) for each image. static_net: the trained cell as it was before BlockDrop (fine-tuning changes
    the base network), the reference for accuracy and latency."""
    droppable.eval()
    policy.eval()
    static_net.eval()
    device = images.device
    with torch.no_grad():
        keep = torch.cat([(policy(images[i:i + 256]) >= 0.5).float() for i in range(0, len(images), 256)])
        predicted = torch.cat([droppable(images[i:i + 256], keep[i:i + 256]).argmax(1)
                               for i in range(0, len(images), 256)])
        static = torch.cat([static_net(images[i:i + 256]).argmax(1) for i in range(0, len(images), 256)])
    table = unit_flops(droppable, images[:1])
    flops = flops_per_image(keep, droppable, table)
    policy_flops = count_flops(policy, images[:1]).total
    used = keep.sum(1).cpu().numpy()
    sample = images[:latency_images]

    def dynamic(image, i):
        decisions = (policy(image) >= 0.5).float()
        droppable.forward_skipping(image, decisions)

    latency = median_latency_ms(dynamic, sample)
    latency_static = median_latency_ms(lambda image, i: static_net(image), sample)
    k = droppable.num_droppable
    return {
        "blocks_droppable": k,
        "droppable": ";".join(droppable.droppable_names()),
        "test_acc": float((predicted == labels).float().mean()),
        "test_acc_static": float((static == labels).float().mean()),
        "blocks_used_mean": float(used.mean()) if k else 0.0,
        "blocks_used_std": float(used.std(ddof=1)) if len(used) > 1 and k else 0.0,
        "flops_per_image_mean": float(flops.mean()),
        "flops_per_image_std": float(flops.std(ddof=1)) if len(flops) > 1 else 0.0,
        "flops_per_image_with_policy_mean": float(flops.mean() + policy_flops),
        "flops_policy": int(policy_flops),
        "flops_static": int(table["total"]),
        "distinct_policies": int(len({tuple(row) for row in keep.cpu().numpy().astype(int).tolist()})),
        "drop_rates": ";".join(f"{name}:{1 - float(rate):.4f}" for name, rate
                               in zip(droppable.droppable_names(), keep.mean(0).tolist(), strict=True)),
        "latency_ms": latency,
        "latency_static_ms": latency_static,
        "latency_images": int(len(sample)),
        "latency_device": device.type,
    }, keep
