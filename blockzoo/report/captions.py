"""Words for the figures' captions and labels: what was measured, where, over how many seeds."""
from __future__ import annotations

import pandas as pd

from blockzoo.report.summary import Summary, column, numeric


def unique(frame: pd.DataFrame, name: str) -> list[str]:
    return sorted({str(v) for v in column(frame, name).dropna() if str(v) != ""})


def device_text(frame: pd.DataFrame, latency_column: str) -> tuple[str, str]:
    """Where the latency was measured: (short, full), e.g.
    ('NVIDIA H100 80GB HBM3', 'cuda, NVIDIA H100 80GB HBM3, float32').

    Rows measured on different devices or settings are flagged: their latencies are not comparable."""
    def text(value) -> str:
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)

    bench = frame[numeric(frame, latency_column).notna().to_numpy()]
    variants: dict[str, str] = {}
    for _, row in bench.iterrows():
        device = text(row.get("benchmark.device")) or text(row.get("benchmark.env.device")) or "unknown device"
        model = text(row.get("benchmark.env.gpu_model" if device == "cuda" else "benchmark.env.cpu_model"))
        parts = [device, model, text(row.get("benchmark.dtype"))]
        if device == "cpu" and text(row.get("benchmark.threads")):
            parts.append(f"{text(row.get('benchmark.threads'))} threads")
        variants[", ".join(part for part in parts if part)] = model or device
    if not variants:
        return "device not recorded", "device not recorded"
    if len(variants) == 1:
        full, short = variants.popitem()
        return short, full
    return "MIXED devices", "MIXED devices, latencies not comparable: " + " | ".join(sorted(variants))


def latency_text(frame: pd.DataFrame, column: str) -> tuple[str, str]:
    """(short axis phrase, batch phrase) for a latency column, e.g. ('median, deploy form', 'batch 1')."""
    name = column.removeprefix("benchmark.")
    form = "train form" if name.startswith("train_form_") else "deploy form"
    stat = "10th percentile" if name.endswith("_p10") else "90th percentile" if name.endswith("_p90") else "median"
    if "_b1_" in name + "_":
        batch = "batch 1"
    else:
        sizes = unique(frame, "benchmark.batch_size")
        batch = f"batch {'/'.join(sizes)}" if sizes else "large batch"
    return f"{stat}, {form}", batch


def seeds_text(summary: Summary) -> str:
    low, high = summary.n_seeds
    return f"{low} seed{'s' * (low != 1)}" if low == high else f"{low}-{high} seeds"


def excluded_lines(summary: Summary, with_untrained: bool = True) -> list[str]:
    lines = []
    if summary.diverged:
        lines.append(f"Excluded, diverged ({len(summary.diverged)}): " + ", ".join(summary.diverged) + ".")
    if with_untrained and summary.untrained:
        lines.append(f"Not trained yet, not shown ({len(summary.untrained)}): " + ", ".join(summary.untrained) + ".")
    return lines
