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


def blockdrop_flops(module: nn.Module, x: torch.Tensor) -> int:
    """FLOPs of module(x) for one image by BlockDrop's counting rule (its utils.py): 2 x multiply-adds of every
    nn.Conv2d and nn.Linear, a convolution counted as if dense (their rule ignores `groups`); nothing else."""
    total = [0]

    def hook(m, args, out):
        if isinstance(m, nn.Conv2d):
            kh, kw = m.kernel_size
            total[0] += 2 * (out.numel() // out.shape[0]) * m.in_channels * kh * kw
        else:
            total[0] += 2 * (out.numel() // out.shape[0]) * m.in_features

    hooks = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = module.training
    try:
        with torch.no_grad():
            module.eval()(x[:1])
    finally:
        module.train(was_training)
        for h in hooks:
            h.remove()
    return total[0]


def unit_flops_blockdrop(droppable: DroppableNet, image: torch.Tensor) -> dict[str, list[int] | int]:
    """unit_flops() in BlockDrop's convention (blockdrop_flops), from each unit's own input."""
    net = droppable.net
    inputs: dict[int, torch.Tensor] = {}
    hooks = [unit.block.register_forward_pre_hook(lambda m, args, i=i: inputs.__setitem__(i, args[0]))
             for i, unit in enumerate(droppable.units)]
    try:
        with torch.no_grad():
            net.eval()(image[:1])
    finally:
        for hook in hooks:
            hook.remove()
    block = [blockdrop_flops(unit.block, inputs[i]) for i, unit in enumerate(droppable.units)]
    shortcut = [0 if _is_identity(unit.shortcut) else blockdrop_flops(unit.shortcut, inputs[i])
                for i, unit in enumerate(droppable.units)]
    total = blockdrop_flops(net, image[:1])
    return {"fixed": total - sum(block), "total": total, "block": block, "shortcut": shortcut}


def costs(droppable: DroppableNet, policy: nn.Module, image: torch.Tensor) -> dict[str, float | int]:
    """What the policy costs against what it can save, in both conventions, for one image: the policy's FLOPs,
    the static network's, the droppable blocks' (`flops_droppable`: what skipping every one of them saves, their
    shortcuts' cost taken off), and the break-even: the share of that the policy must skip to pay for itself."""
    out: dict[str, float | int] = {"blocks_droppable": droppable.num_droppable}
    for suffix, table, policy_flops in (("", unit_flops(droppable, image[:1]), count_flops(policy, image[:1]).total),
                                        ("_blockdrop", unit_flops_blockdrop(droppable, image[:1]),
                                         blockdrop_flops(policy, image[:1]))):
        saving = sum(table["block"][i] - table["shortcut"][i] for i in droppable.droppable)
        out[f"flops_policy{suffix}"] = int(policy_flops)
        out[f"flops_static{suffix}"] = int(table["total"])
        out[f"flops_droppable{suffix}"] = int(saving)
        out[f"break_even{suffix}"] = float(policy_flops / saving) if saving > 0 else float("inf")
    return out


def describe_costs(c: dict) -> str:
    """One line: K, the policy's FLOPs against the base, the break-even, in both conventions."""
    parts = []
    for suffix, name in (("", "blockzoo's FLOPs"), ("_blockdrop", "BlockDrop's 2 x MACs")):
        parts.append(f"{name}: policy {c[f'flops_policy{suffix}'] / 1e6:.2f} M = "
                     f"{c[f'flops_policy{suffix}'] / c[f'flops_static{suffix}']:.1%} of the static "
                     f"{c[f'flops_static{suffix}'] / 1e6:.2f} M, droppable blocks "
                     f"{c[f'flops_droppable{suffix}'] / 1e6:.2f} M, "
                     f"break-even {c[f'break_even{suffix}']:.1%}")
    return f"K = {c['blocks_droppable']} droppable blocks; " + "; ".join(parts)


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
    blockdrop_table = unit_flops_blockdrop(droppable, images[:1])
    flops_blockdrop = flops_per_image(keep, droppable, blockdrop_table) + blockdrop_flops(policy, images[:1])
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
        "flops_blockdrop_per_image_with_policy_mean": float(flops_blockdrop.mean()),
        "flops_blockdrop_per_image_with_policy_std": float(flops_blockdrop.std(ddof=1)) if len(flops) > 1 else 0.0,
        "flops_blockdrop_static": int(blockdrop_table["total"]),
        "distinct_policies": int(len({tuple(row) for row in keep.cpu().numpy().astype(int).tolist()})),
        "drop_rates": ";".join(f"{name}:{1 - float(rate):.4f}" for name, rate
                               in zip(droppable.droppable_names(), keep.mean(0).tolist(), strict=True)),
        "latency_ms": latency,
        "latency_static_ms": latency_static,
        "latency_images": int(len(sample)),
        "latency_device": device.type,
    }, keep
