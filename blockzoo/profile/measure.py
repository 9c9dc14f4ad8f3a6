"""profile_cell(): one results record with the `profile` section of a cell.

Train form: the network as built. Deploy form: after timm's `reparameterize_model`, which fuses the
multi-branch blocks (MobileOne, RepMixer, ...) into their inference form. FLOPs are for one image, in
eval mode (blockzoo.profile.flops says how they are counted).
"""
from __future__ import annotations

import torch

from blockzoo.cell import Cell, count_parameters, deploy_form, has_deploy_form, resolve_device
from blockzoo.environment import collect_environment
from blockzoo.names import POSITIONS
from blockzoo.profile.flops import count_flops, format_ops
from blockzoo.profile.memory import forward_memory, train_step_memory
from blockzoo.results import with_active_stage
from blockzoo.settings import ProfileSettings

STAGES = ("stem", *POSITIONS, "head")
MEMORY_BATCH = {"cpu": 8, "cuda": 64}  # the default batch of the memory measurement, by device


def profile_cell(cell: Cell, settings: ProfileSettings | None = None) -> dict:
    """The `profile` record of `cell`: parameters and FLOPs of the whole network and of each stage, both
    forms, and the measured peak memory of a forward pass and of one training step (train form)."""
    settings = settings or ProfileSettings()
    device = resolve_device(settings.device)
    net = cell.build()
    spec = cell.scaffold
    image = torch.randn(1, spec.in_chans, spec.input_size, spec.input_size)
    flops = count_flops(net, image, STAGES)
    if has_deploy_form(net):
        deploy = deploy_form(net)
        deploy_flops = count_flops(deploy, image, STAGES)
    else:  # nothing to re-parameterise: the deploy form is the train form, no second trace
        deploy, deploy_flops = net, flops

    profile = {
        "params_total": count_parameters(net),
        "params_total_deploy": count_parameters(deploy),
        "flops_total": flops.total,
        "flops_total_deploy": deploy_flops.total,
        "flops_total_fvcore": flops.fvcore_total,
    }
    for stage in STAGES:
        profile[f"params_{stage}"] = count_parameters(getattr(net, stage))
        profile[f"params_{stage}_deploy"] = count_parameters(getattr(deploy, stage))
        profile[f"flops_{stage}"] = flops.stages[stage]
        profile[f"flops_{stage}_deploy"] = deploy_flops.stages[stage]
    profile["unsupported_ops"] = format_ops(flops.skipped)

    net.to(device)
    batch = settings.memory_batch_size or MEMORY_BATCH[device.type]
    images = torch.randn(batch, spec.in_chans, spec.input_size, spec.input_size, device=device)
    profile.update(
        memory_device=device.type,
        memory_batch_size=batch,
        memory_forward_bytes=forward_memory(net, images),
        memory_train_step_bytes=train_step_memory(net, images, spec.num_classes),
        env=collect_environment(device),
    )
    return cell.record("profile", with_active_stage(profile, cell.position))

