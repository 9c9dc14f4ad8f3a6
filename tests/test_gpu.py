"""The CUDA paths, end to end; skipped on a machine without CUDA (scripts/gpu_check.sh runs them on a lent GPU).

bf16 autocast and channels-last in train(), CUDA-event latency in the benchmark, and a GPU-resource cell on a local
Ray cluster (skipped where Ray is not installed: its wheel is not pure Python and is not carried).
"""
from __future__ import annotations

import importlib.util

import lightning as L
import pytest
import torch

from blockzoo import results
from blockzoo.benchmark.measure import benchmark_cell
from blockzoo.cell import Cell
from blockzoo.settings import BenchmarkSettings, DataSettings, ScaffoldSpec, TrainSettings
from blockzoo.train.run import train

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (scripts/gpu_check.sh on a GPU)")
SMALL = ScaffoldSpec(num_blocks=1, base_channels=8)


class Seen(L.Callback):
    """What the training steps on the GPU see: device, dtype of the logits (autocast), memory formats."""

    def __init__(self):
        self.steps: list[tuple] = []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        x = batch[0]
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=trainer.precision == "bf16-mixed"):
            logits = module(x)
        self.steps.append((x.device.type, logits.dtype, x.is_contiguous(memory_format=torch.channels_last),
                           module.net.stem[0].weight.is_contiguous(memory_format=torch.channels_last)))


def tiny_cuda_run(tmp_path, fake, **overrides) -> tuple[dict, Seen]:
    seen = Seen()
    data = DataSettings(archive=str(fake.path), md5=fake.md5, val_size=200)
    settings = TrainSettings(**{"epochs": 2, "batch_size": 32, "limit_train_batches": 2, "device": "cuda",
                                **overrides})
    record = train(Cell("ResNetBasicBlock", "mid", SMALL), settings, data, out_dir=tmp_path / "run",
                   data_dir=tmp_path / "data", progress=False, callbacks=[seen])
    return record, seen


def test_bf16_autocast_and_channels_last_on_the_gpu_by_default(tmp_path, fake_cifar100):
    record, seen = tiny_cuda_run(tmp_path, fake_cifar100)
    results.validate(record)
    t = record["train"]
    expected = "bf16-mixed" if torch.cuda.is_bf16_supported() else "32-true"
    assert (t["status"], t["precision"], t["env"]["device"]) == ("completed", expected, "cuda")
    assert t["env"]["gpu_model"] == torch.cuda.get_device_name(0) and t["throughput"] > 0
    dtype = torch.bfloat16 if expected == "bf16-mixed" else torch.float32
    assert seen.steps and all(step == ("cuda", dtype, True, True) for step in seen.steps)


def test_fp32_contiguous_on_the_gpu_when_asked(tmp_path, fake_cifar100):
    record, seen = tiny_cuda_run(tmp_path, fake_cifar100, precision="32-true", channels_last=False)
    assert record["train"]["precision"] == "32-true"
    assert all(step == ("cuda", torch.float32, False, False) for step in seen.steps)


def test_cuda_event_latency(monkeypatch):
    events = []
    real_event = torch.cuda.Event

    def counting_event(*args, **kwargs):
        events.append(kwargs.get("enable_timing"))
        return real_event(*args, **kwargs)

    monkeypatch.setattr(torch.cuda, "Event", counting_event)
    record = benchmark_cell(Cell("ResNetBasicBlock", "mid", SMALL),
                            BenchmarkSettings(device="cuda", dtype="bf16", batch_size=8, warmup=2, repeats=5))
    results.validate(record)
    benchmark = record["benchmark"]
    assert benchmark["device"] == "cuda" and benchmark["env"]["gpu_model"] == torch.cuda.get_device_name(0)
    assert events and all(events)  # timed with CUDA events, not the host clock
    assert benchmark["latency_ms_p10"] <= benchmark["latency_ms"] <= benchmark["latency_ms_p90"]
    assert benchmark["latency_b1_ms"] > 0


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="Ray is not installed here")
def test_a_gpu_resource_cell_on_a_local_ray_cluster(tmp_path, fake_cifar100):
    import ray

    from blockzoo_cluster.settings import ClusterSettings

    ask = ClusterSettings(train_gpus=1.0).resources("train@ResNetBasicBlock-mid-0", cluster_has_gpus=True)
    assert ask["num_gpus"] == 1.0
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False)
    try:
        @ray.remote
        def cell(out_dir: str) -> tuple[list, dict]:
            data = DataSettings(archive=str(fake_cifar100.path), md5=fake_cifar100.md5, val_size=200)
            settings = TrainSettings(epochs=1, batch_size=32, limit_train_batches=2, device="cuda")
            record = train(Cell("ResNetBasicBlock", "mid", SMALL), settings, data, out_dir=out_dir,
                           data_dir=f"{out_dir}/data", progress=False)
            return ray.get_gpu_ids(), record

        gpu_ids, record = ray.get(cell.options(num_cpus=1, num_gpus=ask["num_gpus"]).remote(str(tmp_path / "run")))
    finally:
        ray.shutdown()
    assert len(gpu_ids) == 1
    assert record["train"]["status"] == "completed" and record["train"]["env"]["device"] == "cuda"
