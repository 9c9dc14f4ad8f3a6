"""BLOX's training protocol (the recipe blox, data.split blox, setting=blox), on CPU: its split pinned against
numpy's permutation, its augmentation order, its tie rule for the best epoch, a shortened run."""
from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torchvision.transforms.functional as TF

from fake_cifar import make_cifar_archive

from blockzoo.data.catalogue import BLOX_NORMALISATION
from blockzoo.data.loader import DeviceLoader
from blockzoo.data.splits import blox_split, load_splits
from blockzoo.macro.networks import macro_cell
from blockzoo.settings import DataSettings, ScaffoldSpec, TrainSettings
from blockzoo.train.recipes import RECIPES
from blockzoo.train.run import BestOfTies, better_epoch, resolve, train

ROOT = Path(__file__).resolve().parents[1]


def test_blox_split_is_numpys_permutation_with_seed_0():
    train_idx, val_idx = blox_split(50000, 5000, 0)
    np.random.seed(0)  # BLOX's trainer, verbatim
    order = np.random.permutation(range(50000))
    assert np.array_equal(train_idx, order[:45000]) and np.array_equal(val_idx, order[45000:])
    assert train_idx[:4].tolist() == [11841, 19602, 45519, 25747]  # pinned: numpy's MT19937 stream
    assert val_idx[:4].tolist() == [43726, 16118, 49381, 35715] and val_idx[-1] == 2732
    assert len(set(train_idx) | set(val_idx)) == 50000


def test_load_splits_takes_blox_split(fake_cifar100, tmp_path):
    data = dict(archive=str(fake_cifar100.path), md5=fake_cifar100.md5)
    everything = load_splits("cifar100", tmp_path, val_size=0, **data)
    splits = load_splits("cifar100", tmp_path, val_size=200, split="blox", **data)
    train_idx, val_idx = blox_split(2000, 200, 0)
    assert torch.equal(splits.val_x, everything.train_x[torch.from_numpy(val_idx)])
    assert torch.equal(splits.train_y, everything.train_y[torch.from_numpy(train_idx)])


def test_blox_augmentation_is_flip_then_crop_then_normalise_then_cutout():
    """With RandAugment replaced by the identity, each sample is exactly torchvision's functional hflip -> pad 4 ->
    crop at the drawn offset -> /255 -> normalise -> Cutout(16) at the drawn centre."""
    images = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    mean, std = BLOX_NORMALISATION["cifar100"]
    loader = DeviceLoader(images, torch.zeros(64, dtype=torch.int64), batch_size=64, mean=mean, std=std, train=True,
                          seed=3, augment="blox", drop_last=False)
    loader._rand_augment = lambda image: image
    order, offsets, flips, centres = loader._epoch_plan(0)
    (x, _), = list(loader)
    for k in range(64):
        image = images[order[k]]
        flipped = bool(flips[k])
        left = 8 - int(offsets[k, 1]) if flipped else int(offsets[k, 1])  # the offset of the crop after the flip
        reference = TF.hflip(image) if flipped else image
        reference = TF.crop(TF.pad(reference, [4]), int(offsets[k, 0]), left, 32, 32)
        reference = TF.normalize(reference.float() / 255, mean, std)
        cy, cx = (int(c) for c in centres[k])
        reference[:, max(0, cy - 8):cy + 8, max(0, cx - 8):cx + 8] = 0
        torch.testing.assert_close(x[k], reference, atol=1e-5, rtol=0)
    assert flips.float().mean().item() == pytest.approx(0.5, abs=0.2) and 0 < int((offsets[:, 1] != 4).sum())


def test_the_best_epoch_ties_to_the_lower_validation_loss():
    history = [{"val_acc": 0.5, "val_loss": 2.0}, {"val_acc": 0.6, "val_loss": 1.5}]
    checkpoint = BestOfTies(monitor="val_acc", mode="max")
    trainer = SimpleNamespace(lightning_module=SimpleNamespace(history=history))
    for entry, saved in (({"val_acc": 0.6, "val_loss": 1.6}, False), ({"val_acc": 0.6, "val_loss": 1.4}, True),
                         ({"val_acc": 0.6, "val_loss": 1.5}, True), ({"val_acc": 0.55, "val_loss": 0.1}, False),
                         ({"val_acc": 0.61, "val_loss": 9.0}, True)):
        trainer.lightning_module.history = [*history, entry]
        assert checkpoint.check_monitor_top_k(trainer, torch.tensor(entry["val_acc"])) is saved, entry
    assert better_epoch({"val_acc": 0.6, "val_loss": 1.5}, {"val_acc": 0.6, "val_loss": 1.5})  # BLOX: the later


def test_the_blox_recipe_is_blox_protocol():
    recipe = RECIPES["blox"]
    assert (recipe.optimizer, recipe.lr, recipe.lr_batch_size, recipe.momentum, recipe.nesterov, recipe.weight_decay,
            recipe.decay_all, recipe.schedule, recipe.label_smoothing) == (
        "sgd", 0.01, 256, 0.9, False, 5e-4, True, "cosine", 0.0)
    assert (recipe.augment, recipe.drop_last, recipe.precision, recipe.deterministic, recipe.best_ties,
            recipe.normalise) == ("blox", False, "32-true", True, "lower-val-loss", "blox")
    assert resolve(TrainSettings(recipe="blox", device="cpu")).precision == "32-true"
    images = torch.zeros((45000, 3, 1, 1), dtype=torch.uint8)
    kept = DeviceLoader(images, torch.zeros(45000), batch_size=256, mean=(0,) * 3, std=(1,) * 3, train=True,
                        pad=0, drop_last=recipe.drop_last)
    assert len(kept) == math.ceil(45000 / 256) == 176  # BLOX's 175 full batches and its last one of 200


def test_a_shortened_blox_protocol_run(tmp_path):
    """setting=blox's training on CPU, shortened: a narrow BLOX network, a small fake CIFAR-100, 2 epochs of 2
    batches."""
    before = torch.are_deterministic_algorithms_enabled()
    archive = tmp_path / "cifar-100-python.tar.gz"
    md5 = make_cifar_archive(archive, "cifar100", n_train=300, n_test=64)
    data = DataSettings(archive=str(archive), md5=md5, val_size=64, split="blox")
    settings = TrainSettings(recipe="blox", epochs=2, batch_size=32, limit_train_batches=2, device="cpu")
    cell = macro_cell("blox-10-22-04", ScaffoldSpec(), blox_width=2)
    record = train(cell, settings, data, seed=0, out_dir=tmp_path / "run", data_dir=tmp_path / "data",
                   progress=False)["train"]
    assert record["status"] == "completed" and record["recipe"] == "blox" and record["precision"] == "32-true"
    assert record["epochs_run"] == 2 and record["best_epoch"] in (0, 1)
    assert torch.are_deterministic_algorithms_enabled() == before  # train() leaves torch's mode as it found it


def test_setting_blox_composes_into_valid_params(tmp_path):
    import importlib.util

    import yaml

    from blockzoo.params import PipelineSettings

    spec = importlib.util.spec_from_file_location("compose_params", ROOT / "scripts" / "compose_params.py")
    composer = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(composer)
    out = tmp_path / "params.yaml"
    composer.compose(["setting=blox"], output=out)
    params = yaml.safe_load(out.read_text())
    settings = PipelineSettings.from_params(params)
    assert params["train"] == {**params["train"], "recipe": "blox", "epochs": 200, "batch_size": 256}
    assert params["data"]["split"] == "blox" and params["seeds"] == [0] and params["cells"] == ["ResNetBasicBlock"]
    assert "blox-10-22-04" in params["macro_cells"] and len(params["macro_cells"]) == 9
    assert settings.train_settings(None).recipe == "blox"
