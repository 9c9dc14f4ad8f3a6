"""FLOPs of a network for one image, by fvcore's tracer, with the elementwise work counted too.

Convention: one multiply-add is one FLOP (fvcore's, and BlockZoo's), and one elementwise operation
(an activation, an add, a multiply, a max) is one FLOP per output element. fvcore's own handles
count convolutions, matrix products, norms and pooling and skip or ignore the elementwise ops, which
undercounts blocks whose work is elementwise (DYMicroBlock's dynamic Shift-Max, squeeze-excite
gates, GELU). Every total is therefore reported twice: all ops (`flops_*`) and fvcore's default op
set only (`flops_total_fvcore`: comparable with BlockZoo 0.3.0 and blockzoo <= 0.4).
"""
from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

with warnings.catch_warnings():  # fvcore scripts a loss function at import; torch warns that jit.script is deprecated
    warnings.simplefilter("ignore", FutureWarning)
    from fvcore.nn import FlopCountAnalysis
    from fvcore.nn.jit_handles import elementwise_flop_counter, get_shape

# one FLOP per output element
ELEMENTWISE_OPS = (
    "aten::add", "aten::add_", "aten::sub", "aten::sub_", "aten::rsub", "aten::mul", "aten::mul_", "aten::div",
    "aten::div_", "aten::maximum", "aten::minimum", "aten::relu", "aten::relu_", "aten::relu6", "aten::hardtanh",
    "aten::hardtanh_", "aten::gelu", "aten::gelu_", "aten::silu", "aten::silu_", "aten::sigmoid", "aten::sigmoid_",
    "aten::hardsigmoid", "aten::hardsigmoid_", "aten::hardswish", "aten::hardswish_", "aten::tanh", "aten::tanh_",
    "aten::clamp", "aten::clamp_", "aten::exp", "aten::sqrt", "aten::rsqrt", "aten::pow", "aten::abs",
)
# one FLOP per input element (each input element is added once into its window or its mean)
REDUCTION_OPS = ("aten::avg_pool2d", "aten::mean", "aten::sum", "aten::max_pool2d", "aten::amax")
# data movement, no arithmetic
MOVEMENT_OPS = ("aten::unflatten", "aten::roll", "aten::pad", "aten::repeat", "aten::channel_shuffle")


_ADDED = {op.removeprefix("aten::") for op in ELEMENTWISE_OPS + REDUCTION_OPS}  # not in fvcore's default set


def _per_output_element(inputs, outputs) -> int:
    shape = get_shape(outputs[0])
    count = 1
    for size in shape or ():
        count *= size
    return count


@dataclass(frozen=True)
class FlopCount:
    total: int  # every op
    fvcore_total: int  # fvcore's default op set only
    stages: dict[str, int]  # {module name: total}
    skipped: Counter  # ops nobody counted: {op: calls}


def count_flops(model: nn.Module, inputs: torch.Tensor, module_names: Iterable[str] = ()) -> FlopCount:
    """FLOPs of `model` (eval mode) and of the named submodules, all from ONE trace."""
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, inputs).unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        analysis.set_op_handle(**{op: _per_output_element for op in ELEMENTWISE_OPS})
        analysis.set_op_handle(**{op: elementwise_flop_counter(1, 0) for op in REDUCTION_OPS})
        analysis.set_op_handle(**{op: None for op in MOVEMENT_OPS})
        by_module = analysis.by_module_and_operator()  # traces once; every submodule comes from it
        total = sum(by_module[""].values())
        fvcore_total = sum(count for op, count in by_module[""].items() if op not in _ADDED)
        stages = {name: sum(by_module[name].values()) for name in module_names}
        return FlopCount(total, fvcore_total, stages, analysis.unsupported_ops())
    finally:
        model.train(was_training)


def format_ops(ops: Counter) -> str:
    """Skipped ops as 'op:count;op:count', by name."""
    return ";".join(f"{op}:{count}" for op, count in sorted(ops.items()))
