"""The macro and dynamic figures, drawn from generated results and read back through their artists: texts on
the canvas, every point inside the axes, labels apart, an outlier drawn at the edge with its value."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from figure_checks import assert_inside_axes, assert_labels_apart, assert_texts_on_canvas, marked, placed_labels

import blockzoo.dynamic.report as dynamic_report
import blockzoo.macro.figures as macro_figures
from blockzoo.macro.dataset import MacroDataset
from blockzoo.report.stats import interval_from_std, mean_interval


@pytest.fixture
def kept(monkeypatch) -> dict:
    """The figures the two modules save, by file name."""
    figures = {}
    for module in (macro_figures, dynamic_report):
        save = module.save_png

        def keep(fig, path, save=save):
            figures[Path(path).stem] = fig
            return save(fig, path)

        monkeypatch.setattr(module, "save_png", keep)
    return figures


def macro_dataset() -> MacroDataset:
    """Six zoo and six BLOX architectures, two seeds each; one zoo architecture far below the rest."""
    rows = []
    zoo = [["ResNetBasicBlock"] * 3, ["MobileOneBlock"] * 3, ["RepMixer", "ResNetBasicBlock", "MobileOneBlock"],
           ["MobileOneBlock", "RepMixer", "ResNetBasicBlock"], ["RepMixer"] * 3,
           ["ResNetBasicBlock", "MobileOneBlock", "RepMixer"]]
    for i, arch in enumerate(zoo):
        ident = "ResNetBasicBlock" if i == 0 else "+".join(arch)
        acc = 0.30 if i == 4 else 0.74 + 0.01 * i
        rows += [{"id": ident, "space": "zoo", "arch": json.dumps(arch), "seed": s, "params": 4e4 + 5e3 * i,
                  "flops": 6e6 + 1.3e6 * i, "test_acc": acc + 0.004 * s, "dataset": "fashion-mnist", "recipe": "sgd"}
                 for s in (0, 1)]
    for i in range(6):
        arch = [[[i % 3], [1, 0, i % 2, 1]]] * (1 if i == 0 else 3)
        arch = arch * 3 if i == 0 else [[[i % 3], [1, 0, 1, 1]], [[0], [1, 1, i % 2, 0]], [[1], [0, 1, 1, 1]]]
        rows += [{"id": f"blox-{i:02d}-00-00", "space": "blox", "arch": json.dumps(arch), "seed": s,
                  "params": 6e4 + 4e3 * i, "flops": 14e6 + 0.9e6 * i, "test_acc": 0.77 + 0.003 * i - 0.006 * s,
                  "dataset": "fashion-mnist", "recipe": "sgd"} for s in (0, 1)]
    return MacroDataset(pd.DataFrame(rows))


def test_the_interval_from_a_summary_is_the_interval_of_the_values():
    values = [0.71, 0.74, 0.73]
    frame = pd.Series(values)
    assert interval_from_std(frame.mean(), frame.std(ddof=1), 3) == pytest.approx(mean_interval(values))


@pytest.mark.parametrize("cost", ["flops", "params"])
def test_macro_accuracy_figure_reads_back(tmp_path, kept, cost):
    dataset = macro_dataset()
    data = macro_figures.accuracy_vs_cost(dataset, cost, tmp_path / f"macro_{cost}.png")
    fig = kept[f"macro_{cost}"]
    assert_texts_on_canvas(fig)
    ax = fig.axes[0]
    points = marked(ax, "arch:")
    assert sorted(a.get_gid().removeprefix("arch:") for a in points) == sorted(dataset.table()["id"])
    assert_inside_axes(fig, ax, points)
    assert_labels_apart(fig, ax)
    labels = " ".join(t.get_text() for t in placed_labels(ax))
    assert "ResNetBasicBlock" in labels and "MobileOneBlock+MobileOneBlock+MobileOneBlock" in labels  # uniform ones
    assert "▼ 30.2%: RepMixer+RepMixer+RepMixer" in labels  # the outlier: at the edge, its value written
    assert ax.get_ylim()[0] > 60
    assert (data["test_acc_ci95_low"] < data["test_acc"]).all()
    assert (data["test_acc"] < data["test_acc_ci95_high"]).all()
    assert "95% t-interval" in " ".join(t.get_text() for t in fig.texts)
    assert ax.get_legend() is not None


def test_macro_search_figure_reads_back(tmp_path, kept):
    macro_figures.search_trajectories(macro_dataset(), "blox", tmp_path / "macro_search_blox.png", runs=4)
    fig = kept["macro_search_blox"]
    assert_texts_on_canvas(fig)
    assert fig.axes[0].get_legend() is not None and fig.axes[0].get_title(loc="left")


def dynamic_runs() -> pd.DataFrame:
    """Two cells, three gammas each; one run fell to chance."""
    rows = []
    for cell, block, static_acc, flops in (("ResNetBasicBlock", "ResNetBasicBlock", 0.88, 28e6),
                                           ("GhostBottleneckV3-mid", "GhostBottleneckV3", 0.86, 22e6)):
        for gamma, used, acc in ((1.0, 4.2, 0.86), (5.0, 5.1, 0.875), (10.0, 5.8, 0.10 if cell == "ResNetBasicBlock"
                                                                       else 0.858)):
            rows.append({"cell": cell, "block": block, "seed": 0, "gamma": gamma, "test_acc": acc,
                         "static_test_acc": static_acc, "blocks_used": used, "k": 6, "flops": flops * used / 6 + 0.8e6,
                         "flops_static": flops, "distinct_policies": 1 + int(gamma),
                         "drop_rates": ";".join(f"{s}.{i}:{(0.1 * i * gamma) % 1:.2f}"
                                                for s in ("early", "mid", "late") for i in (0, 1))})
    return pd.DataFrame(rows)


def test_dynamic_figures_read_back(tmp_path, kept):
    dynamic_report.draw_dynamic(dynamic_runs(), tmp_path)
    fig = kept["dynamic_accuracy_vs_flops"]
    assert_texts_on_canvas(fig)
    ax = fig.axes[0]
    runs, static = marked(ax, "run:"), marked(ax, "static:")
    assert len(runs) == 6 and sorted(a.get_gid() for a in static) == ["static:GhostBottleneckV3-mid",
                                                                       "static:ResNetBasicBlock"]
    assert_inside_axes(fig, ax, runs + static)
    assert_labels_apart(fig, ax)
    labels = [t.get_text() for t in placed_labels(ax)]
    assert len([t for t in labels if "γ=" in t]) == 6
    assert "▼ 10.0%: γ=10: 5.8/6 blocks, 11 policies" in labels  # at chance: at the edge, its value written
    assert ax.get_ylim()[0] > 50

    heat = kept["dynamic_drop_rates"]
    assert_texts_on_canvas(heat)  # the title and the run names stay on the canvas
    assert heat.axes[0].get_title(loc="left") == "How often each block is dropped, per run"
