"""Measured peak memory of a forward pass and of one training step: the CUDA allocator on a GPU, a
tracker of tensor storage on the CPU."""
from __future__ import annotations

import weakref

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class StorageTracker(TorchDispatchMode):
    """Tracks the bytes of tensor storage created while active, and their running peak.

    Every op's outputs are seen; an output whose storage is new (not one of the op's inputs', not
    one already counted) adds its storage size, and a finaliser on that storage subtracts it when
    it is freed. Views and in-place results share their input's storage and add nothing. Storage
    that existed before (weights, the input) is not counted. Scratch buffers a kernel allocates
    and frees inside one op are invisible to it.
    """

    def __init__(self) -> None:
        super().__init__()
        self.current = 0
        self.peak = 0
        self._live: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage()._cdata for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for tensor in tree_leaves(out):
            if isinstance(tensor, torch.Tensor):
                self._count(tensor.untyped_storage(), inputs)
        return out

    def _count(self, storage: torch.UntypedStorage, input_storages: set[int]) -> None:
        key = storage._cdata
        if key in input_storages or key in self._live:
            return
        self._live.add(key)
        self.current += storage.nbytes()
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key, storage.nbytes())

    def _free(self, key: int, nbytes: int) -> None:
        self._live.discard(key)
        self.current -= nbytes


def peak_memory(step, device: torch.device) -> int:
    """Peak bytes allocated while `step()` runs, above what was allocated when it started."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step()
        torch.cuda.synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    with StorageTracker() as tracker:
        step()
    return tracker.peak


def forward_memory(net: nn.Module, images: torch.Tensor) -> int:
    """Peak memory of an eval-mode, no-grad forward pass (the output included)."""
    net.eval()

    def forward() -> None:
        with torch.no_grad():
            net(images)

    return peak_memory(forward, images.device)


def train_step_memory(net: nn.Module, images: torch.Tensor, num_classes: int) -> int:
    """Peak memory of one training step: forward, cross-entropy, backward, SGD-with-momentum step.

    Gradients and momentum buffers do not exist before the step, so they count.
    """
    net.train()
    labels = torch.randint(0, num_classes, (images.shape[0],), device=images.device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    optimizer.zero_grad(set_to_none=True)

    def step() -> None:
        loss = nn.functional.cross_entropy(net(images), labels)
        loss.backward()
        optimizer.step()

    return peak_memory(step, images.device)
