"""Profile one cell (block x position): parameters, FLOPs and peak memory, train and deploy form.

    python -m blockzoo.profile ResNetBasicBlock --position mid [--output profile.json]

Train form: the network as built. Deploy form: after timm's `reparameterize_model`, which
fuses the multi-branch blocks (MobileOne, RepMixer, ...) into their inference form.
FLOPs are fvcore's: one multiply-add counts as one FLOP, for one image, in eval mode.
"""
from __future__ import annotations

import copy
import warnings
import weakref
from collections import Counter
from typing import Iterable

import torch
from timm.utils.model import reparameterize_model
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from blockzoo import cli_common, results
from blockzoo.blocks.registry import POSITIONS, check_position, get_block, import_block_modules
from blockzoo.environment import collect_environment
from blockzoo.errors import BlockzooError, cli_errors
from blockzoo.scaffold import ScaffoldNet

with warnings.catch_warnings():  # fvcore scripts a loss function at import; torch warns that jit.script is deprecated
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis

STAGES = ("stem", *POSITIONS, "head")


# --- the cell: shared with benchmark.py ---------------------------------------------------------

def check_device(device: str | torch.device) -> torch.device:
    """cpu, cuda[:N] or auto (cuda when available, else cpu), as a torch.device; a user error otherwise."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except RuntimeError:
        raise BlockzooError(f"unknown device '{device}'; use cpu, cuda or auto") from None
    if device.type not in ("cpu", "cuda"):
        raise BlockzooError(f"device '{device}' is not supported; use cpu, cuda or auto")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BlockzooError("CUDA is not available on this machine (no GPU or a CPU-only torch); use --device cpu")
    return device


def build_cell(block: str, position: str, *, block_modules: Iterable[str] = (), input_size: int = 32, **scaffold) -> tuple[ScaffoldNet, dict]:
    """The train-form ScaffoldNet of a cell and its `scaffold` record section. Fails fast on bad names."""
    import_block_modules(tuple(block_modules))
    get_block(block)
    check_position(position)
    if not isinstance(input_size, int) or input_size < 1:
        raise BlockzooError(f"input_size must be a positive integer, got {input_size!r}")
    net = ScaffoldNet(block, position, **scaffold)
    return net, {**scaffold, "input_size": input_size}


# the methods timm's reparameterize_model calls; a net with none of them has a deploy form equal to itself
_REPARAMETERIZE_HOOKS = ("fuse", "reparameterize", "switch_to_deploy")


def has_deploy_form(net: nn.Module) -> bool:
    """Whether re-parameterisation changes anything in `net`."""
    return any(hasattr(module, hook) for module in net.modules() for hook in _REPARAMETERIZE_HOOKS)


def deploy_form(net: nn.Module) -> nn.Module:
    """The re-parameterised inference form of `net` (a copy, in eval mode; `net` is untouched)."""
    return reparameterize_model(copy.deepcopy(net).eval(), inplace=True)


def cell_record(block: str, position: str, scaffold: dict, section: str, values: dict) -> dict:
    """A validated results record of one cell with one measuring section."""
    record = {"block": block, "position": position, "scaffold": scaffold, section: values}
    results.validate(record)
    return record


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


# --- FLOPs ----------------------------------------------------------------------------------------

def count_flops(model: nn.Module, inputs: torch.Tensor, module_names: Iterable[str] = ()) -> tuple[int, dict[str, int], Counter]:
    """fvcore FLOPs of `model` (eval mode) and of the named submodules, from ONE trace.

    Returns (total, {name: flops}, skipped ops {op: count}). Every fvcore op handle stays on.
    """
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, inputs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        by_module = analysis.by_module()  # traces once; total and every submodule come from it
        return by_module[""], {name: by_module[name] for name in module_names}, analysis.unsupported_ops()
    finally:
        model.train(was_training)


def format_ops(ops: Counter) -> str:
    """fvcore's skipped ops as 'op:count;op:count', by name."""
    return ";".join(f"{op}:{count}" for op, count in sorted(ops.items()))


# --- memory ---------------------------------------------------------------------------------------

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


# --- the record -----------------------------------------------------------------------------------

def profile_block(
    block: str,
    position: str,
    *,
    num_blocks: int = 3,
    base_channels: int = 64,
    num_classes: int = 100,
    in_chans: int = 3,
    input_size: int = 32,
    memory_batch_size: int = 64,
    device: str | torch.device = "cpu",
    block_modules: Iterable[str] = (),
) -> dict:
    """One results record with the `profile` section for `block` at `position`."""
    device = check_device(device)
    if not isinstance(memory_batch_size, int) or memory_batch_size < 1:
        raise BlockzooError(f"memory_batch_size must be a positive integer, got {memory_batch_size!r}")
    net, scaffold = build_cell(
        block, position, block_modules=block_modules, input_size=input_size,
        num_blocks=num_blocks, base_channels=base_channels, num_classes=num_classes, in_chans=in_chans,
    )
    image = torch.randn(1, in_chans, input_size, input_size)
    flops_total, flops_by_stage, skipped = count_flops(net, image, STAGES)
    if has_deploy_form(net):
        deploy = deploy_form(net)
        flops_total_deploy, flops_deploy_by_stage, _ = count_flops(deploy, image, [position])
    else:  # nothing to re-parameterise: the deploy form is the train form, no second trace
        deploy, flops_total_deploy, flops_deploy_by_stage = net, flops_total, flops_by_stage

    net.to(device)
    images = torch.randn(memory_batch_size, in_chans, input_size, input_size, device=device)
    memory_forward = forward_memory(net, images)
    memory_train_step = train_step_memory(net, images, num_classes)

    profile = {
        "params_total": count_parameters(net),
        "params_total_deploy": count_parameters(deploy),
        "params_active": count_parameters(getattr(net, position)),
        "params_active_deploy": count_parameters(getattr(deploy, position)),
        "flops_total": flops_total,
        "flops_total_deploy": flops_total_deploy,
        **{f"flops_{stage}": flops for stage, flops in flops_by_stage.items()},
        "flops_active": flops_by_stage[position],
        "flops_active_deploy": flops_deploy_by_stage[position],
        "unsupported_ops": format_ops(skipped),
        "memory_device": device.type,
        "memory_batch_size": memory_batch_size,
        "memory_forward_bytes": memory_forward,
        "memory_train_step_bytes": memory_train_step,
        "env": collect_environment(device),
    }
    return cell_record(block, position, scaffold, "profile", profile)


def print_profile(record: dict) -> None:
    p = record["profile"]
    position = record["position"]
    both = lambda name: (f"{p[name]:,}", f"{p[name + '_deploy']:,}")  # noqa: E731
    rows = [
        ("params", "whole net", *both("params_total")),
        ("params", f"active stage ({position})", *both("params_active")),
        ("FLOPs", "whole net", *both("flops_total")),
        ("FLOPs", f"active stage ({position})", *both("flops_active")),
        *[("FLOPs", stage, f"{p['flops_' + stage]:,}", "") for stage in STAGES],
        ("memory", f"eval forward, no grad, batch {p['memory_batch_size']}", cli_common.mebibytes(p["memory_forward_bytes"]), ""),
        ("memory", f"train step, batch {p['memory_batch_size']}", cli_common.mebibytes(p["memory_train_step_bytes"]), ""),
    ]
    notes = [
        "FLOPs: fvcore's count, one multiply-add = one FLOP, for one image in eval mode.",
        f"Ops fvcore skipped (not in the FLOPs): {p['unsupported_ops'] or 'none'}",
        f"Memory: measured peak above the resident model and input, train form, on {p['memory_device']}.",
    ]
    cli_common.print_table(
        f"{record['block']} at {position}", ["quantity", "of", "train form", "deploy form"], rows, notes
    )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    parser = cli_common.cell_parser("blockzoo.profile", __doc__)
    parser.add_argument("--memory-batch-size", type=int, default=64, metavar="N", help="batch size of the memory measurement (default 64)")
    args = parser.parse_args(argv)
    record = profile_block(
        args.block, args.position, device=args.device, memory_batch_size=args.memory_batch_size,
        **cli_common.scaffold_arguments(args),
    )
    return cli_common.show_and_write(record, print_profile, args.output)


if __name__ == "__main__":
    raise SystemExit(main())
