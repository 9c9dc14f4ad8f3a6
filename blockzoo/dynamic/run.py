"""train_dynamic(): BlockDrop on one trained cell, then its honest test-time measurement.

Under out_dir: config.json (the run's fingerprint), live/ (dvclive curves of reward, accuracy and blocks
used), checkpoints/best.ckpt (the best greedy validation reward once the policy decides every block) and
last.ckpt (every epoch, to resume a killed run of the same fingerprint), record.json (the results record,
section `dynamic`), and images_by_blocks.png (test images grouped by how many blocks they used).
"""
from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from blockzoo import results
from blockzoo.cell import resolve_device
from blockzoo.data.loader import DeviceLoader
from blockzoo.data.splits import load_splits
from blockzoo.dynamic.droppable import DroppableNet
from blockzoo.dynamic.measure import measure
from blockzoo.dynamic.module import BlockDropModule, Schedule
from blockzoo.dynamic.policy import PolicyNet
from blockzoo.environment import collect_environment, loaded_code
from blockzoo.errors import BlockzooError
from blockzoo.settings import DataSettings, DynamicSettings
from blockzoo.train.module import EpochLoader, LiveLogger
from blockzoo.train.run import prepare_out_dir, quiet_lightning


def load_trained(cell, checkpoint: Path, device: torch.device) -> torch.nn.Module:
    """The trained network of `cell` from its training run's best checkpoint."""
    if not checkpoint.is_file():
        raise BlockzooError(f"{checkpoint} does not exist: train the cell first (`dvc repro train@{cell.name}-<seed>`, "
                            f"or python -m blockzoo.train {cell.block} --position {cell.position} --out-dir ...)")
    net = cell.build()
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    state = {key.removeprefix("net."): value for key, value in saved["state_dict"].items() if key.startswith("net.")}
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise BlockzooError(f"{checkpoint} is not a checkpoint of {cell.name} at this scaffold (missing "
                            f"{len(missing)}, unexpected {len(unexpected)} weights); train the cell again")
    return net.to(device)


def train_dynamic(cell, checkpoint: str | Path, settings: DynamicSettings, data: DataSettings, *, gamma: float,
                  seed: int = 0, out_dir: str | Path, data_dir: str | Path | None = None, progress: bool = True,
                  callbacks: list | tuple = ()) -> dict:
    """BlockDrop on `cell` trained with `seed` (its best checkpoint at `checkpoint`); the record is also written
    to out_dir/record.json."""
    device = resolve_device(settings.device)
    L.seed_everything(seed, workers=True, verbose=False)
    net = load_trained(cell, Path(checkpoint), device)
    droppable = DroppableNet(net, settings.fallback)
    if droppable.num_droppable == 0:
        raise BlockzooError(f"no block of {cell.name} can be skipped (none has a separable shortcut); "
                            "set dynamic.fallback: parameter-free to let them fall back to a parameter-free one")
    quiet_lightning()
    data_dir = Path(data_dir) if data_dir is not None else Path(data.root) / data.dataset
    splits = load_splits(data.dataset, data_dir, val_size=data.val_size, split_seed=data.split_seed,
                         **data.fetch_options())
    schedule = Schedule(settings.curriculum_epochs, settings.finetune_epochs, gamma, settings.curriculum_gamma,
                        settings.alpha, settings.entropy_weight, settings.curriculum_lr, settings.finetune_lr)
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
    policy = PolicyNet(droppable.num_droppable, info.in_chans).to(device)
    module = BlockDropModule(droppable, policy, schedule)
    steps = min(len(train_data), settings.limit_train_batches or len(train_data))
    best = ModelCheckpoint(dirpath=out / "checkpoints", filename="best", monitor="val_score", mode="max",
                           save_top_k=1, auto_insert_metric_name=False, enable_version_counter=False)
    latest = ModelCheckpoint(dirpath=out / "checkpoints", filename="last", monitor=None, save_top_k=1,
                             enable_version_counter=False)
    logger = LiveLogger(dir=str(out / "live"), resume=resume, dvcyaml=None, save_dvc_exp=False, report=None)
    trainer = L.Trainer(accelerator=device.type, devices=[device.index or 0] if device.type == "cuda" else 1,
                        max_epochs=schedule.epochs, limit_train_batches=steps, logger=logger,
                        callbacks=[best, latest, *callbacks], num_sanity_val_steps=0, enable_model_summary=False,
                        enable_progress_bar=progress, default_root_dir=out, log_every_n_steps=steps)
    try:
        trainer.fit(module, train_dataloaders=EpochLoader(train_data, module), val_dataloaders=val_data,
                    ckpt_path=str(out / "checkpoints" / "last.ckpt") if resume else None, weights_only=True)
    except SystemExit:
        if trainer.interrupted:
            raise KeyboardInterrupt from None
        raise
    saved = torch.load(out / "checkpoints" / "best.ckpt", map_location=device, weights_only=True)
    module.load_state_dict(saved["state_dict"])
    module.history = list(saved.get("blockzoo", {}).get("history", module.history))

    test = DeviceLoader(splits.test_x, splits.test_y, **loader)
    images = torch.cat([x for x, _ in test])
    labels = torch.cat([y for _, y in test])
    static_net = load_trained(cell, Path(checkpoint), device)  # the base network as trained, before fine-tuning
    figures, keep = measure(droppable, policy, static_net, images, labels, settings.latency_images)
    draw_images_by_blocks(splits.test_x, keep, out / "images_by_blocks.png", cell.name, gamma)
    chosen = module.history[-1] if module.history else {}
    record = cell.record("dynamic", {
        "gamma": float(gamma), "fallback": settings.fallback, "epochs": schedule.epochs,
        "best_epoch": chosen.get("epoch"), "val_reward": chosen.get("val_reward"),
        "val_acc": chosen.get("val_acc"), **figures, "env": collect_environment(device),
    }, seed=seed)
    results.write_record(out / "record.json", record)
    f = figures
    print(f"{cell.name}, seed {seed}, gamma {gamma:g}: test accuracy {f['test_acc']:.4f} (static "
          f"{f['test_acc_static']:.4f}) with {f['blocks_used_mean']:.2f} of {f['blocks_droppable']} blocks, "
          f"{f['flops_per_image_mean'] / 1e6:.1f} of {f['flops_static'] / 1e6:.1f} MFLOPs per image", file=sys.stderr)
    return record


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
