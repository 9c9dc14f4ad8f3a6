"""A cell: the unit every measurement builds (network, device, deploy form, record).

A cell is one block spec at one position of the scaffold (blockzoo.names says how cells are named);
profile, benchmark, train and the later measurements all start from `Cell.build()` and end with
`Cell.record()`.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import torch
from timm.utils.model import reparameterize_model
from torch import nn

from blockzoo import results
from blockzoo.blocks.registry import block_source, check_position, get_block, is_builtin
from blockzoo.errors import BlockzooError
from blockzoo.names import BASELINE_BLOCK, POSITIONS, cell_name, parse_cell
from blockzoo.scaffold import STAGE_STRIDES, STAGE_WIDTH_MULTIPLIERS, ScaffoldNet
from blockzoo.settings import ScaffoldSpec


@dataclass(frozen=True)
class Cell:
    block: str  # block spec: "InvertedResidual" or "InvertedResidual.uniform"
    position: str | None  # the stage under test; None for the baseline network
    scaffold: ScaffoldSpec = field(default_factory=ScaffoldSpec)

    def __post_init__(self) -> None:
        get_block(self.block)  # unknown blocks and variants fail here, before anything is built
        if self.position is not None:
            check_position(self.position)
        elif self.block != BASELINE_BLOCK:
            raise BlockzooError(f"block {self.block} needs a position ({', '.join(POSITIONS)})")

    @classmethod
    def from_name(cls, name: str, scaffold: ScaffoldSpec | None = None) -> "Cell":
        try:
            block, position = parse_cell(name)
        except ValueError as exc:
            raise BlockzooError(str(exc)) from None
        return cls(block, position, scaffold or ScaffoldSpec())

    @property
    def name(self) -> str:
        return cell_name(self.block, self.position)

    def stage_blocks(self) -> dict[str, str]:
        return {stage: self.block if stage == self.position else BASELINE_BLOCK for stage in POSITIONS}

    def build(self) -> ScaffoldNet:
        """The train-form network, its blocks checked against the block contract on a test input."""
        net = ScaffoldNet(stage_blocks=list(self.stage_blocks().values()), spec=self.scaffold)
        check_block_contract(net)
        return net

    def record(self, section: str, values: dict, seed: int | None = None) -> dict:
        """A validated results record of this cell with one measuring section."""
        record = {"cell": self.name, "block": self.block, "position": self.position, "seed": seed,
                  "scaffold": self.scaffold.to_dict(), section: values}
        results.validate(record)
        return record


def check_block_contract(net: ScaffoldNet) -> None:
    """Run one test image through `net` and check that every block maps (N, in, H, W) to
    (N, out, H/stride, W/stride); a block that breaks it is a one-line error naming it."""
    problems: list[str] = []
    running: list[tuple[str, str]] = []  # the block whose forward has started and not returned: the one that failed

    def check(stage: str, index: int, in_channels: int, out_channels: int, stride: int):
        spec = net.stage_blocks[POSITIONS.index(stage)]
        where = (f"block {spec} ({block_source(get_block(spec))}; {stage} stage, block {index}: "
                 f"{in_channels}->{out_channels} channels, stride {stride})")

        def pre_hook(module, inputs):
            fix = ("its widths come from the scaffold: try another base_channels (--base-channels, "
                   "scaffold.base_channels)" if is_builtin(get_block(spec)) else "fix the block's forward")
            running[:] = [(f"{where} raised", f"on an input of {tuple(inputs[0].shape)}; {fix}")]

        def hook(module, inputs, output):
            running.clear()
            if problems:
                return
            n, _, h, w = inputs[0].shape
            expected = (n, out_channels, math.ceil(h / stride), math.ceil(w / stride))
            got = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
            if got != expected:
                problems.append(f"{where} returned {got} for an input of {tuple(inputs[0].shape)}; expected "
                                f"{expected}: a block must map (N, in, H, W) to (N, out, H/stride, W/stride)")
        return pre_hook, hook

    handles = []
    channels = net.spec.base_channels
    for stage, blocks in net.stages().items():
        out = net.spec.base_channels * STAGE_WIDTH_MULTIPLIERS[stage]
        for index, block in enumerate(blocks):
            first = index == 0
            pre_hook, hook = check(stage, index, channels if first else out, out, STAGE_STRIDES[stage] if first else 1)
            handles += [block.register_forward_pre_hook(pre_hook), block.register_forward_hook(hook)]
        channels = out
    was_training = net.training
    # A batch of 2 (a block that assumes one image fails here, not in training), in eval mode, then in training
    # mode on a copy (its hooks included) with the random generator put back: the network stays as built, its
    # blocks' own counters and statistics too, and the random stream is the one training would have had.
    image = torch.zeros(2, net.spec.in_chans, net.spec.input_size, net.spec.input_size)
    try:
        passes = [(False, net), (True, copy.deepcopy(net))]
    except Exception:  # noqa: BLE001 - a block that cannot be copied is checked in eval mode only
        passes = [(False, net)]
    try:
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            for training, model in passes:
                model.train(training)
                try:
                    model(image)
                except Exception as exc:  # noqa: BLE001 - a user block that fails on a test input: one line
                    if problems:
                        raise BlockzooError(problems[0]) from None
                    mode = " in training mode" if training else ""
                    if running:
                        raised, fix = running[0]
                        raise BlockzooError(f"{raised} {type(exc).__name__}: {' '.join(str(exc).split())}{mode} "
                                            f"{fix}") from None
                    raise BlockzooError(f"the network of blocks {', '.join(net.stage_blocks)} fails{mode} on a test "
                                        f"input of {tuple(image.shape)}: {type(exc).__name__}: "
                                        f"{' '.join(str(exc).split())}") from None
                if problems:
                    raise BlockzooError(problems[0])
    finally:
        net.train(was_training)
        for handle in handles:
            handle.remove()


def resolve_device(device: str | torch.device) -> torch.device:
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
        raise BlockzooError("CUDA is not available on this machine (no GPU or a CPU-only torch); use device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise BlockzooError(f"device {device} does not exist: this machine has {count} GPU{'s' * (count != 1)} "
                            f"(cuda:0 to cuda:{count - 1}); use one of them, or cuda")
    return device


# the methods timm's reparameterize_model calls; a net with none of them has a deploy form equal to itself
_REPARAMETERIZE_HOOKS = ("fuse", "reparameterize", "switch_to_deploy")


def has_deploy_form(net: nn.Module) -> bool:
    """Whether re-parameterisation changes anything in `net`."""
    return any(hasattr(module, hook) for module in net.modules() for hook in _REPARAMETERIZE_HOOKS)


def deploy_form(net: nn.Module) -> nn.Module:
    """The re-parameterised inference form of `net` (a copy, in eval mode; `net` is untouched)."""
    return reparameterize_model(copy.deepcopy(net).eval(), inplace=True)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
