"""train_dynamic(): BlockDrop on one trained cell, then its honest test-time measurement.

Under out_dir: config.json (the run's fingerprint), live/ (curves of reward, accuracy and blocks
used), checkpoints/best.ckpt (the best greedy validation reward at the run's gamma, curriculum and fine-tuning
epochs alike, once the policy decides every block) and last.ckpt (every epoch, to resume a killed run of the
same fingerprint), record.json (the results record, section `dynamic`: which epoch and stage were selected,
and every epoch's validation reward, accuracy and blocks used), and images_by_blocks.png (test images grouped
by how many blocks they used).

Before any training, one line says what the policy costs against what it can save (both FLOP conventions),
and a warning when it cannot pay for itself (break-even above BREAK_EVEN_WARNING); at the end, a warning when
the selected policy loses more than ACCURACY_MARGIN of test accuracy against the static network.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from blockzoo import results
from blockzoo.cell import resolve_device
from blockzoo.checks import non_negative_number
from blockzoo.data.loader import DeviceLoader
from blockzoo.data.splits import load_splits
from blockzoo.dynamic.droppable import DroppableNet
from blockzoo.dynamic.measure import costs, describe_costs, measure
from blockzoo.dynamic.module import BlockDropModule, Schedule, selected_entry
from blockzoo.dynamic.policy import PolicyNet
from blockzoo.environment import collect_environment, loaded_code
from blockzoo.errors import BlockzooError
from blockzoo.settings import DataSettings, DynamicSettings
from blockzoo.train.curve_log import CurveLogger
from blockzoo.train.module import EpochLoader
from blockzoo.train.run import prepare_out_dir, quiet_lightning

BREAK_EVEN_WARNING = 0.5  # a policy that must skip more than half of what it can save to pay for itself
ACCURACY_MARGIN = 0.05  # test accuracy lost against the static network beyond which a run warns


def load_trained(cell, checkpoint: Path, device: torch.device) -> torch.nn.Module:
    """The trained network of `cell` from its training run's best checkpoint."""
    if not checkpoint.is_file():
        raise BlockzooError(f"{checkpoint} does not exist: train the cell first (`dvc repro train@{cell.name}-<seed>`, "
                            f"or python -m blockzoo.train {cell.block} --position {cell.position} --out-dir ...)")
    net = cell.build()
    try:
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        state = saved["state_dict"]
        if not isinstance(state, dict):
            raise TypeError
    except Exception:  # noqa: BLE001 - anything that is not a Lightning checkpoint: one line
        raise BlockzooError(f"{checkpoint} is not a training checkpoint (a best.ckpt written by blockzoo.train); "
                            "pass --checkpoint <runs>/<cell>-s<seed>/checkpoints/best.ckpt") from None
    state = {key.removeprefix("net."): value for key, value in state.items() if key.startswith("net.")}
    own = net.state_dict()
    missing = [key for key in own if key not in state]
    unexpected = [key for key in state if key not in own]
    resized = [key for key in own if key in state and tuple(state[key].shape) != tuple(own[key].shape)]
    if missing or unexpected or resized:
        example = (f"e.g. {resized[0]} is {tuple(state[resized[0]].shape)} there, {tuple(own[resized[0]].shape)} here"
                   if resized else f"missing {len(missing)}, unexpected {len(unexpected)} weights")
        raise BlockzooError(f"{checkpoint} is not a checkpoint of {cell.name} at this scaffold "
                            f"({cell.scaffold.num_blocks} blocks per stage, {cell.scaffold.base_channels} channels, "
                            f"{cell.scaffold.num_classes} classes, {cell.scaffold.in_chans} input channels; "
                            f"{example}): "
                            "give the scaffold and dataset it was trained with (--num-blocks, --base-channels, "
                            "--dataset), or train the cell again")
    net.load_state_dict(state)
    return net.to(device)


def plan(cell, settings: DynamicSettings, in_chans: int, net: torch.nn.Module | None = None) -> dict:
    """What BlockDrop on `cell` costs and can save, before any training: K, the policy's FLOPs, the droppable
    blocks' FLOPs and the break-even, in both FLOP conventions (blockzoo.dynamic.measure.costs)."""
    net = net if net is not None else cell.build()
    droppable = DroppableNet(net, settings.fallback)
    policy = PolicyNet(max(1, droppable.num_droppable), in_chans, settings.policy_widths, settings.policy_input_size)
    size = cell.scaffold.input_size
    return costs(droppable, policy, torch.zeros(1, cell.scaffold.in_chans, size, size))


def cost_lines(c: dict) -> list[str]:
    """The plan's line, and the warning line when the policy cannot pay for itself."""
    lines = [describe_costs(c)]
    if c["break_even"] > BREAK_EVEN_WARNING:
        lines.append(f"warning: the policy must skip {c['break_even']:.0%} of the droppable blocks' FLOPs just to pay "
                     "for itself: this configuration cannot save FLOPs in practice; use a deeper base, or a smaller "
                     "policy (dynamic.policy_widths, dynamic.policy_input_size)")
    return lines


def train_dynamic(cell, checkpoint: str | Path, settings: DynamicSettings, data: DataSettings, *, gamma: float,
                  seed: int = 0, out_dir: str | Path, data_dir: str | Path | None = None, progress: bool = True,
                  callbacks: list | tuple = ()) -> dict:
    """BlockDrop on `cell` trained with `seed` (its best checkpoint at `checkpoint`); the record is also written
    to out_dir/record.json."""
    problem = non_negative_number(gamma)
    if problem:
        raise BlockzooError(f"gamma (the penalty of a wrong prediction) {problem}, got {gamma!r}")
    device = resolve_device(settings.device)
    L.seed_everything(seed, workers=True, verbose=False)
    net = load_trained(cell, Path(checkpoint), device)
    droppable = DroppableNet(net, settings.fallback)
    if droppable.num_droppable == 0:
        raise BlockzooError(f"no block of {cell.name} can be skipped (none has a separable shortcut); "
                            "set dynamic.fallback: parameter-free to let them fall back to a parameter-free one")
    planned = plan(cell, settings, cell.scaffold.in_chans)
    for line in cost_lines(planned):
        print(f"{cell.name}: {line}", file=sys.stderr)
    quiet_lightning()
    data_dir = Path(data_dir) if data_dir is not None else Path(data.root) / data.dataset
    splits = load_splits(data.dataset, data_dir, val_size=data.val_size, split_seed=data.split_seed,
                         **data.fetch_options())
    schedule = Schedule(settings.curriculum_epochs, settings.finetune_epochs, gamma, settings.curriculum_gamma,
                        settings.alpha, settings.entropy_weight, settings.curriculum_lr, settings.finetune_lr,
                        settings.lr_decay_at)
    if schedule.epochs < 1:
        raise BlockzooError("dynamic.curriculum_epochs + dynamic.finetune_epochs is 0: train at least one epoch")
    out = Path(out_dir)
    identity = {"cell": cell.name, "seed": seed, "checkpoint": _digest(Path(checkpoint)), "gamma": gamma,
                "dynamic": settings.to_dict(), "data": data.to_dict(), "code": loaded_code(),
                "versions": {"torch": torch.__version__, "lightning": L.__version__}}
    resume = prepare_out_dir(out, identity)
    info = data.info
    loader = dict(batch_size=settings.batch_size, mean=info.mean, std=info.std, device=device)
    train_data = DeviceLoader(splits.train_x, splits.train_y, train=True, seed=seed, **loader)
    val_data = DeviceLoader(splits.val_x, splits.val_y, **loader)
    policy = PolicyNet(droppable.num_droppable, info.in_chans, settings.policy_widths,
                       settings.policy_input_size).to(device)
    module = BlockDropModule(droppable, policy, schedule)
    steps = min(len(train_data), settings.limit_train_batches or len(train_data))
    history = fit(module, EpochLoader(train_data, module), val_data, out, steps=steps, resume=resume,
                  progress=progress, callbacks=callbacks, device=device)

    test = DeviceLoader(splits.test_x, splits.test_y, **loader)
    images = torch.cat([x for x, _ in test])
    labels = torch.cat([y for _, y in test])
    static_net = load_trained(cell, Path(checkpoint), device)  # the base network as trained, before fine-tuning
    figures, keep = measure(droppable, policy, static_net, images, labels, settings.latency_images)
    draw_images_by_blocks(splits.test_x, keep, out / "images_by_blocks.png", cell.name, gamma)
    chosen = selected_entry(history, droppable.num_droppable)
    lost = figures["test_acc_static"] - figures["test_acc"]
    warning = (f"the selected policy loses {lost:.1%} of test accuracy against the static network "
               f"({figures['test_acc_static']:.1%} -> {figures['test_acc']:.1%}, more than {ACCURACY_MARGIN:.0%}) with "
               f"{figures['blocks_used_mean']:.2f} of {figures['blocks_droppable']} blocks: a worse trade than its "
               "gamma asks for; try a larger gamma or more epochs") if lost > ACCURACY_MARGIN else ""
    record = cell.record("dynamic", {
        "gamma": float(gamma), "fallback": settings.fallback, "epochs": schedule.epochs,
        "best_epoch": chosen.get("epoch"), "selected_stage": chosen.get("stage"),
        "val_reward": chosen.get("val_reward"), "val_acc": chosen.get("val_acc"),
        "val_blocks_used": chosen.get("val_blocks_used"),
        "history": json.dumps([{key: entry[key] for key in ("epoch", "stage", "decided", "val_reward", "val_acc",
                                                             "val_blocks_used")} for entry in history]),
        "policy_widths": ",".join(str(w) for w in settings.policy_widths),
        "policy_input_size": settings.policy_input_size or cell.scaffold.input_size,
        **{key: planned[key] for key in ("flops_droppable", "break_even", "flops_policy_blockdrop",
                                         "flops_droppable_blockdrop", "break_even_blockdrop")},
        **figures, "accuracy_warning": warning, "env": collect_environment(device),
    }, seed=seed)
    results.write_record(out / "record.json", record)
    f = figures
    print(f"{cell.name}, seed {seed}, gamma {gamma:g}: test accuracy {f['test_acc']:.4f} (static "
          f"{f['test_acc_static']:.4f}) with {f['blocks_used_mean']:.2f} of {f['blocks_droppable']} blocks, "
          f"{f['flops_per_image_with_policy_mean'] / 1e6:.2f} of {f['flops_static'] / 1e6:.2f} MFLOPs per image, "
          f"policy included ({f['flops_blockdrop_per_image_with_policy_mean'] / 1e6:.2f} of "
          f"{f['flops_blockdrop_static'] / 1e6:.2f} M by BlockDrop's rule); selected: epoch {chosen.get('epoch')} "
          f"({chosen.get('stage')})", file=sys.stderr)
    if warning:
        print(f"warning: {cell.name}, gamma {gamma:g}: {warning}", file=sys.stderr)
    return record


def fit(module: BlockDropModule, train_data, val_data, out: Path, *, steps: int, resume: bool = False,
        progress: bool = False, callbacks: list | tuple = (), device: torch.device | None = None) -> list[dict]:
    """Train `module` (its schedule's epochs), keep its best epoch by selection_score in
    out/checkpoints/best.ckpt and load it into the module; return the history of every epoch."""
    device = device or torch.device("cpu")
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_score", mode="max",
                           save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False)
    latest = ModelCheckpoint(dirpath=out / "checkpoints", filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    logger = CurveLogger(out / "live", resume=resume)
    trainer = L.Trainer(accelerator=device.type, devices=[device.index or 0] if device.type == "cuda" else 1,
                        max_epochs=module.schedule.epochs, limit_train_batches=steps, logger=logger,
                        callbacks=[best, latest, *callbacks], num_sanity_val_steps=0, enable_model_summary=False,
                        enable_progress_bar=progress, default_root_dir=out, log_every_n_steps=steps)
    try:
        trainer.fit(module, train_dataloaders=train_data, val_dataloaders=val_data,
                    ckpt_path=str(out / "checkpoints" / "last.ckpt") if resume else None, weights_only=True)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    history = list(module.history)  # every epoch, before the best checkpoint's (shorter) history is loaded
    saved = torch.load(out / "checkpoints" / "best.ckpt", map_location=device, weights_only=True)
    module.load_state_dict(saved["state_dict"])
    module.history = history
    return history


def draw_images_by_blocks(images: torch.Tensor, keep: torch.Tensor, path: Path, cell: str, gamma: float,
                          per_row: int = 8) -> Path:
    """Test images in rows by how many blocks the policy used for them (BlockDrop's paper, figure 5)."""
    import matplotlib

    from blockzoo.report.style import FONT, caption, new_figure, save_png

    used = keep.sum(1).long().cpu()
    counts = sorted(set(used.tolist()))
    rows = counts if len(counts) <= 8 else [counts[round(i * (len(counts) - 1) / 7)] for i in range(8)]
    with matplotlib.rc_context(FONT):
        fig = new_figure(1.0 + per_row * 0.9, 0.6 + len(rows) * 1.0)
        axes = fig.subplots(len(rows), per_row, squeeze=False)
        for r, count in enumerate(rows):
            chosen = torch.nonzero(used == count).flatten()[:per_row]
            for c in range(per_row):
                ax = axes[r][c]
                ax.axis("off")
                if c < len(chosen):
                    image = images[chosen[c]].float() / 255
                    ax.imshow(image.permute(1, 2, 0).squeeze(-1).numpy(), cmap="gray" if image.shape[0] == 1 else None)
            axes[r][0].set_title(f"{count} blocks ({int((used == count).sum())} images)", loc="left", fontsize=8)
        fig.suptitle(f"{cell}, gamma {gamma:g}: test images by the number of blocks the policy ran", x=0.01,
                     ha="left", fontweight="bold", fontsize=10)
        caption(fig, [f"Rows: images for which the greedy policy executed that many of the {keep.shape[1]} droppable "
                      "blocks (the first of each group in test-set order)."])
        return save_png(fig, path)


def _digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]
