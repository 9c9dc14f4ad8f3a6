"""What a network's training could reach here, and where a cell's time goes (scripts/bench_train_throughput.py).

layer_times()      each of the network's own layers timed alone at the training batch, forward + backward
PhaseTimer         a Lightning callback: seconds of each part of a train() call (set-up, training, validation, test)
load_seconds()     the dataset's load (decode, split) as train() does it
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from torch import nn


@dataclass(frozen=True)
class LayerTime:
    name: str  # the module's path in the network: "mid.0.conv1"
    kind: str  # its class: "Conv2d"
    seconds: float  # forward + backward of one batch, the best of the repeats


def leaf_modules(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules that hold no other module: the network's layers. Containers (Sequential, the blocks, the net
    itself) are left out, so no layer's time is counted twice."""
    return [(name, module) for name, module in net.named_modules() if not any(True for _ in module.children())]


def layer_times(net: nn.Module, example: torch.Tensor, *, repeats: int = 10, warmup: int = 2) -> list[LayerTime]:
    """Each leaf layer of `net` timed alone, forward and backward, on inputs of the shape, memory format and
    requires-grad it gets in one training-mode forward pass of `example` (the training batch). A layer called
    twice is timed once per call. The work between layers (a block's residual add, a functional activation, the
    loss, the optimiser) is in no layer: the sum of these times is the network's layer-sum ceiling."""
    calls: list[tuple[str, nn.Module, tuple]] = []

    def record(name):
        def hook(module, args):
            calls.append((name, module, tuple(_like(a) for a in args)))
        return hook

    handles = [module.register_forward_pre_hook(record(name)) for name, module in leaf_modules(net)]
    try:
        net.train()
        with torch.no_grad():
            net(example)
    finally:
        for handle in handles:
            handle.remove()
    return [LayerTime(name, type(module).__name__, _time_alone(module, inputs, repeats, warmup))
            for name, module, inputs in calls]


def _like(arg):
    """What a layer's input looked like (shape, dtype, memory format, whether it needs a gradient in training)."""
    if not isinstance(arg, torch.Tensor):
        return arg
    channels_last = arg.dim() == 4 and arg.is_contiguous(memory_format=torch.channels_last) and not arg.is_contiguous()
    return ("tensor", tuple(arg.shape), arg.dtype, arg.device, channels_last, arg.is_floating_point())


def _time_alone(module: nn.Module, inputs: tuple, repeats: int, warmup: int) -> float:
    layer = copy.deepcopy(module).train()
    if hasattr(layer, "inplace"):  # an in-place activation cannot act on a leaf tensor; its cost is the same
        layer.inplace = False
    args = []
    for i, spec in enumerate(inputs):
        if isinstance(spec, tuple) and spec and spec[0] == "tensor":
            _, shape, dtype, device, channels_last, floating = spec
            x = (torch.randn(shape, device=device) if floating else torch.zeros(shape, device=device)).to(dtype)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            # in training every layer's input needs a gradient but the image batch's (the first layer's)
            x.requires_grad_(floating and not (i == 0 and getattr(module, "_blockzoo_network_input", False)))
            args.append(x)
        else:
            args.append(spec)
    out = layer(*args)
    if any(out is a for a in args):  # Identity and its kind: no work of its own (alone, backward would copy a grad)
        return 0.0
    grad = torch.randn_like(out) if isinstance(out, torch.Tensor) and out.requires_grad else None
    best = float("inf")
    for i in range(warmup + repeats):
        _sync(args)
        start = time.perf_counter()
        out = layer(*args)
        if grad is not None:
            out.backward(grad)
        _sync(args)
        if i >= warmup:
            best = min(best, time.perf_counter() - start)
        layer.zero_grad(set_to_none=True)
        for a in args:
            if isinstance(a, torch.Tensor):
                a.grad = None
    return best


def mark_network_input(net: nn.Module) -> None:
    """Mark the first leaf layer as the one that sees the image (its input needs no gradient)."""
    leaves = leaf_modules(net)
    if leaves:
        leaves[0][1]._blockzoo_network_input = True


def _sync(args) -> None:
    if any(isinstance(a, torch.Tensor) and a.device.type == "cuda" for a in args):
        torch.cuda.synchronize()


def layer_sum_ceiling(net: nn.Module, batch_size: int, input_shape: tuple[int, int, int], *, channels_last: bool,
                      device: torch.device | str = "cpu", repeats: int = 10) -> tuple[float, list[LayerTime]]:
    """(images/s if a training step cost only its layers' forward + backward, each layer's time)."""
    net = copy.deepcopy(net).to(device)
    example = torch.randn(batch_size, *input_shape, device=device)
    if channels_last:
        from blockzoo.train.module import to_channels_last

        net, example = to_channels_last(net), example.contiguous(memory_format=torch.channels_last)
    mark_network_input(net)
    times = layer_times(net, example, repeats=repeats)
    return batch_size / sum(t.seconds for t in times), times


class PhaseTimer(L.Callback):
    """Wall seconds of the parts of a train() call, from Lightning's hooks (the device synchronised at each
    boundary): `fit set-up` (fit's start to the first training epoch), `training` (the training epochs, loader
    included), `validation` (every validation pass), `test` (the test pass). The rest of the call (building the
    network, loading the data, checkpoints, the record) is the call's wall time minus these."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._started: dict[str, float] = {}

    def _start(self, part: str, module) -> None:
        _sync_module(module)
        self._started[part] = time.perf_counter()

    def _stop(self, part: str, module) -> None:
        _sync_module(module)
        if part in self._started:
            self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - self._started.pop(part)

    def on_fit_start(self, trainer, pl_module):
        self._start("fit set-up", pl_module)

    def on_train_epoch_start(self, trainer, pl_module):
        self._stop("fit set-up", pl_module)
        self._start("training", pl_module)

    def on_validation_epoch_start(self, trainer, pl_module):
        self._stop("training", pl_module)
        self._start("validation", pl_module)

    def on_validation_epoch_end(self, trainer, pl_module):
        self._stop("validation", pl_module)

    def on_test_epoch_start(self, trainer, pl_module):
        self._start("test", pl_module)

    def on_test_epoch_end(self, trainer, pl_module):
        self._stop("test", pl_module)


def _sync_module(module) -> None:
    if module.device.type == "cuda":
        torch.cuda.synchronize(module.device)


def load_seconds(dataset: str, data_dir: str | Path, **fetch_options) -> float:
    """Seconds to load a dataset's splits as train() does (fetch check, decode or read the decoded copy, split)."""
    from blockzoo.data.splits import load_splits

    start = time.perf_counter()
    load_splits(dataset, data_dir, **fetch_options)
    return time.perf_counter() - start
