"""blockzoo.report and blockzoo.visualize: the Pareto frontier, draw_all on generated results, the fallback
without accuracy, the CLI."""
from __future__ import annotations

import csv
import itertools
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from figure_checks import assert_inside_axes, assert_labels_apart, assert_texts_on_canvas, marked, placed_labels

import blockzoo.report.position_figures as position_figures
import blockzoo.report.scatter as scatter
from blockzoo.errors import BlockzooError
from blockzoo.report.figures import draw_all, within_noise
from blockzoo.report.labels import DODGE_SPACING, dodge_offsets, freeze_layout
from blockzoo.report.leaderboard import leaderboard_table
from blockzoo.report.style import new_figure, si_axis, si_text, si_unit
from blockzoo.report.summary import pareto_front, summarize
from blockzoo.results import read_results, write_results_csv
from blockzoo.visualize import main

REPO = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BLOCKS = {"ResNetBasicBlock": (0.70, 2.0, 560), "RepMixer": (0.66, 1.2, 330), "EdgeResidual": (0.73, 2.6, 1050)}
POSITIONS = {"early": (-0.01, 1.5), "mid": (0.0, 1.0), "late": (0.01, 0.8)}
SEEDS = (0, 1, 2)
DIVERGED = ("RepMixer", "late", 1)


def _draw(frame: pd.DataFrame, curves: pd.DataFrame | None, out: Path) -> list[Path]:
    """draw_all as the aggregate stage calls it: with the leaderboard table of the same results."""
    return draw_all(frame, curves, out, leaderboard=leaderboard_table(frame, curves))


# --- pareto_front ----------------------------------------------------------------------------

def test_pareto_front_excludes_dominated_points():
    points = [(1, 1), (2, 2), (2, 1), (3, 3), (0.5, 0.5), (4, 2.5)]
    assert pareto_front(points).tolist() == [True, True, False, True, True, False]


def test_pareto_front_ties():
    # equal x: only the higher y; equal y: only the lower x; exact duplicates: both
    assert pareto_front([(1, 5), (1, 4)]).tolist() == [True, False]
    assert pareto_front([(1, 5), (2, 5)]).tolist() == [True, False]
    assert pareto_front([(1, 5), (1, 5), (2, 6)]).tolist() == [True, True, True]
    assert pareto_front([(1, 5), (1, 5), (0.5, 6)]).tolist() == [False, False, True]


def test_pareto_front_single_empty_and_nan():
    assert pareto_front([(3.0, 0.7)]).tolist() == [True]
    assert pareto_front(np.zeros((0, 2))).tolist() == []
    assert pareto_front([(1, math.nan), (2, 1), (math.nan, 9)]).tolist() == [False, True, False]
    with pytest.raises(ValueError):
        pareto_front([1, 2, 3])


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(0)
    points = np.round(rng.uniform(0, 5, size=(60, 2)))  # rounded: many ties
    expected = [not any(q[0] <= p[0] and q[1] >= p[1] and (q[0] < p[0] or q[1] > p[1]) for q in points) for p in points]
    assert pareto_front(points).tolist() == expected


# --- generated results -------------------------------------------------------------------------

def _records(trained: bool = True, blocks=tuple(BLOCKS), positions=tuple(POSITIONS)) -> list[dict]:
    records = []
    for block, position in itertools.product(blocks, positions):
        (acc, latency, mflops), (shift, scale) = BLOCKS[block], POSITIONS[position]
        base = {
            "cell": f"{block}-{position}", "block": block, "position": position,
            "profile": {"params_total": 3_000_000, "params_total_deploy": 3_000_000,
                        "flops_total": int(mflops * scale * 1e6), "flops_total_deploy": int(mflops * scale * 1e6)},
            "benchmark": {"device": "cpu", "dtype": "float32", "threads": 2, "batch_size": 64,
                          "latency_b1_ms": latency * scale, "latency_ms": latency * scale * 20,
                          "env": {"device": "cpu", "cpu_model": "Test CPU"}},
        }
        if not trained:
            records.append(base)
            continue
        for seed in SEEDS:
            diverged = (block, position, seed) == DIVERGED
            train = {"dataset": "cifar100", "epochs": 4, "status": "diverged" if diverged else "completed",
                     "test_acc": math.nan if diverged else acc + shift + 0.004 * seed,
                     "val_acc": math.nan if diverged else acc}
            records.append({**base, "seed": seed, "train": train})
    return records


def _curves(blocks=tuple(BLOCKS), positions=tuple(POSITIONS)) -> pd.DataFrame:
    rows = [{"block": b, "position": p, "seed": s, "epoch": e, "val_acc": BLOCKS[b][0] * (e + 1) / 4,
             "val_loss": 4.0 - e}
            for b, p, s, e in itertools.product(blocks, positions, SEEDS, range(4))]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def results_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("results") / "results.csv"
    write_results_csv(path, _records())
    _curves().to_csv(path.parent / "curves.csv", index=False)
    return path


@pytest.fixture(scope="module")
def drawn(results_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("plots")
    frame = read_results(results_csv)
    written = _draw(frame, pd.read_csv(results_csv.parent / "curves.csv"), out)
    return frame, out, written


def test_draw_all_writes_every_figure_and_its_data(drawn):
    _, out, written = drawn
    names = ["accuracy_vs_latency", "accuracy_vs_flops", "accuracy_by_position", "val_curves", "latency_vs_flops",
             "params_vs_flops"]
    for name in names:
        png, data = out / f"{name}.png", out / "data" / f"{name}.csv"
        assert png in written and data in written
        assert png.read_bytes()[:8] == PNG_MAGIC and png.stat().st_size > 10_000
    # no temp files left
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(p.name for p in written)
    columns = pd.read_csv(out / "data" / "accuracy_vs_latency.csv").columns.tolist()
    assert columns == ["cell", "block", "position", "latency_ms", "test_acc", "test_acc_ci95_low", "test_acc_ci95_high",
                       "verdict", "still_improving", "n_seeds", "pareto", "latency_p10", "latency_p90", "within_noise",
                       "busy"]
    assert pd.read_csv(out / "data" / "accuracy_vs_flops.csv").columns.tolist()[3] == "flops_m"
    curves = pd.read_csv(out / "data" / "val_curves.csv")
    assert ({"block", "position", "epoch", "val_acc_mean", "val_acc_min", "val_acc_max", "n_seeds"}
            <= set(curves.columns))
    assert len(curves) == len(BLOCKS) * len(POSITIONS) * 4


def test_draw_all_means_exclude_diverged_and_frontier_matches(drawn):
    frame, out, _ = drawn
    for name, x in (("accuracy_vs_latency", "latency_ms"), ("accuracy_vs_flops", "flops_m")):
        data = pd.read_csv(out / "data" / f"{name}.csv")
        assert len(data) == len(BLOCKS) * len(POSITIONS)
        assert data["pareto"].tolist() == pareto_front(data[[x, "test_acc"]].to_numpy()).tolist()
        assert data["pareto"].any()
    data = pd.read_csv(out / "data" / "accuracy_vs_latency.csv").set_index("cell")
    block, position, _ = DIVERGED
    kept = frame[(frame["block"] == block) & (frame["position"] == position) & (frame["train.status"] == "completed")]
    assert data.loc[f"{block}-{position}", "n_seeds"] == len(SEEDS) - 1
    assert data.loc[f"{block}-{position}", "test_acc"] == pytest.approx(kept["train.test_acc"].mean(), abs=1e-6)
    half = 12.706 * kept["train.test_acc"].std(ddof=1) / math.sqrt(2)  # t(0.975, 1 degree of freedom): 2 seeds
    interval = data.loc[f"{block}-{position}", ["test_acc_ci95_low", "test_acc_ci95_high"]].tolist()
    assert interval == pytest.approx([kept["train.test_acc"].mean() - half, kept["train.test_acc"].mean() + half],
                                     abs=1e-4)
    assert summarize(frame).diverged == [f"{block}-{position} seed {DIVERGED[2]}"]  # the figures' footnote
    bars = pd.read_csv(out / "data" / "accuracy_by_position.csv")
    assert bars["block"].iloc[0] == "EdgeResidual"  # sorted by mean accuracy, best first
    assert bars.groupby("block")["position"].apply(list).eq([list(POSITIONS)] * len(BLOCKS)).all()


def test_profile_benchmark_only_results_give_the_fallback_figures(tmp_path, capsys):
    path = tmp_path / "results.csv"
    write_results_csv(path, _records(trained=False))
    written = _draw(read_results(path), None, tmp_path / "plots")
    assert sorted(p.name for p in written) == sorted(
        ["latency_vs_flops.png", "latency_vs_flops.csv", "params_vs_flops.png", "params_vs_flops.csv"])
    assert all(p.stat().st_size > 0 for p in written)
    assert pd.read_csv(tmp_path / "plots" / "data" / "latency_vs_flops.csv").columns.tolist() == [
        "cell", "block", "position", "flops_m", "latency_ms", "latency_p10", "latency_p90", "busy"]
    printed = capsys.readouterr().out
    assert "no test accuracy" in printed and "val_curves skipped" in printed


def test_one_seed_and_partly_trained_results(tmp_path):
    records = [r for r in _records(blocks=("ResNetBasicBlock", "RepMixer"), positions=("mid",)) if r["seed"] == 0]
    records += _records(trained=False, blocks=("EdgeResidual",), positions=("mid",))
    path = tmp_path / "results.csv"
    write_results_csv(path, records)
    frame = read_results(path)
    summary = summarize(frame)
    assert summary.n_seeds == (1, 1) and summary.untrained == ["EdgeResidual-mid"]
    _draw(frame, None, tmp_path / "plots")
    data = pd.read_csv(tmp_path / "plots" / "data" / "accuracy_vs_flops.csv")
    assert data["cell"].tolist() == ["RepMixer-mid", "ResNetBasicBlock-mid"]
    assert data[["test_acc_ci95_low", "test_acc_ci95_high"]].isna().all(axis=None)  # one seed: no interval
    assert (tmp_path / "plots" / "accuracy_by_position.png").is_file()


def test_draw_all_rejects_a_frame_without_block_and_position(tmp_path):
    with pytest.raises(BlockzooError):
        draw_all(pd.DataFrame({"x": [1]}), None, tmp_path)
    with pytest.raises(BlockzooError, match="latency column"):
        draw_all(pd.DataFrame({"block": ["RepMixer"], "position": ["mid"]}), None, tmp_path,
                 latency_column="benchmark.throughput")
    assert not any(tmp_path.iterdir())


# --- readable figures: units, dodging, latency noise, busy machines ----------------------------

def test_si_ticks_pick_the_unit_from_the_data():
    assert si_unit(80_000) == (1e3, "K") and si_unit(999) == (1.0, "") and si_unit(3e9) == (1e9, "G")
    assert [si_text(v, si_unit(80_000)) for v in (40_000, 60_000, 80_000)] == ["40K", "60K", "80K"]
    assert si_text(500_000, si_unit(3e6)) == "0.5M" and si_text(1.2e9) == "1.2G" and si_text(0) == "0"
    assert si_text(1e6, si_unit(9e5)) == "1M"  # a tick past the data's range: never "1e+03K"
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.plot([0.04, 0.08], [1, 2])  # parameters in millions, as the summary holds them
    si_axis(ax, "x", [0.04, 0.08], 1e6)
    fig.draw_without_rendering()
    ticks = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert "60K" in ticks and all(t.endswith("K") for t in ticks)


def _display(fig, ax, xy) -> np.ndarray:
    return ax.transData.transform(np.asarray(xy, dtype=float)) / (fig.dpi / 72.0)  # in points


def test_dodge_spreads_points_on_the_same_spot_and_leaves_lone_ones():
    fig = new_figure(4, 3)
    ax = fig.add_subplot()
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 10)
    freeze_layout(fig, ax)
    xy = [(5, 5), (5, 5), (5, 5), (1, 1), (5.15, 5)]  # three equal, one alone, one near the row of the three
    offsets = dodge_offsets(ax, xy)
    assert offsets[3].tolist() == [0.0, 0.0]
    placed = _display(fig, ax, xy) + offsets
    moved = placed[[0, 1, 2, 4]]
    gaps = [np.hypot(*(a - b)) for i, a in enumerate(moved) for b in moved[:i]]
    assert min(gaps) >= DODGE_SPACING * 0.98
    assert np.allclose(moved[:, 1], moved[0, 1]) and placed[4, 0] == moved[:, 0].max()  # a row, x order kept
    assert np.allclose(dodge_offsets(ax, xy), offsets)  # deterministic


def test_within_noise_compares_each_frontier_point_with_the_next():
    assert within_noise([1, 2.5, 5], [3, 4, 6]).tolist() == [True, False, False]
    assert within_noise([1, math.nan], [2, math.nan]).tolist() == [False, False]
    assert within_noise([], []).tolist() == []


@pytest.fixture
def kept_figures(monkeypatch) -> dict:
    """The figures draw_all saves, by name, to look at their artists and captions."""
    kept, save = {}, scatter.save_png

    def keep(fig, path):
        kept[Path(path).stem] = fig
        return save(fig, path)

    for module in (scatter, position_figures):  # the two modules that draw and save the figures
        monkeypatch.setattr(module, "save_png", keep)
    return kept


def _caption(fig) -> str:
    return " ".join(" ".join(text.get_text().split()) for text in fig.texts)


def _noisy_records() -> list[dict]:
    """The generated records with a p10-p90 spread of the batch-1 latency: wide enough to overlap."""
    records = _records()
    for record in records:
        bench = record["benchmark"] = dict(record["benchmark"])
        latency = bench["latency_b1_ms"]
        bench["latency_b1_ms_p10"], bench["latency_b1_ms_p90"] = latency * 0.8, latency * 1.3
    return records


def test_latency_figures_draw_the_spread_mark_busy_cells_and_hollow_noisy_leads(tmp_path, kept_figures):
    path = tmp_path / "results.csv"
    write_results_csv(path, _noisy_records())
    frame = read_results(path)
    frame["benchmark.busy"] = frame["cell"] == "RepMixer-late"  # on the frontier if it were quiet
    _draw(frame, None, tmp_path / "plots")
    spread = pd.read_csv(tmp_path / "plots" / "data" / "latency_vs_flops.csv").set_index("cell")
    assert spread["busy"].to_dict() == {cell: cell == "RepMixer-late" for cell in spread.index}
    assert (spread["latency_p10"] < spread["latency_ms"]).all() and (spread["latency_p90"] > spread["latency_ms"]).all()
    for name, bars in (("latency_vs_flops", "Vertical bars"), ("accuracy_vs_latency", "Horizontal bars")):
        fig = kept_figures[name]
        caption = _caption(fig)
        assert f"{bars}: the latency's 10th-90th percentile" in caption
        assert "machine was busy" in caption and "RepMixer-late" in caption
        assert sum(line.get_marker() == "x" for line in fig.axes[0].lines) == 1  # one busy cell, one x
    data = pd.read_csv(tmp_path / "plots" / "data" / "accuracy_vs_latency.csv")
    assert data.set_index("cell")["busy"].sum() == 1  # RepMixer-late, on the frontier when quiet, is left out of it
    assert not data.loc[data["busy"], "pareto"].any() and data["pareto"].any()
    assert "left out of the Pareto frontier until `make retime`" in _caption(kept_figures["accuracy_vs_latency"])
    assert not data.loc[~data["pareto"], "within_noise"].any()  # only frontier points can be
    front = data[data["pareto"]].sort_values("latency_ms")
    assert front["within_noise"].tolist() == within_noise(front["latency_p10"], front["latency_p90"]).tolist()
    assert front["within_noise"].any()
    assert "Dotted ring on a frontier point" in _caption(kept_figures["accuracy_vs_latency"])
    rings = [c for c in kept_figures["accuracy_vs_latency"].axes[0].collections if c.get_linestyle()[0][1] is not None]
    assert sum(len(c.get_offsets()) for c in rings) == front["within_noise"].sum()  # one dotted ring per noisy lead


def test_without_busy_column_or_spread_nothing_is_marked(tmp_path, kept_figures):
    path = tmp_path / "results.csv"
    write_results_csv(path, _records(trained=False))
    _draw(read_results(path), None, tmp_path / "plots")
    fig = kept_figures["latency_vs_flops"]
    assert not any(line.get_marker() == "x" for line in fig.axes[0].lines)
    assert "busy" not in _caption(fig) and "percentile" not in _caption(fig).split("Latency:")[0]
    assert not pd.read_csv(tmp_path / "plots" / "data" / "latency_vs_flops.csv")["busy"].any()


def test_blocks_with_equal_costs_are_all_visible(tmp_path, kept_figures):
    records = _records(trained=False)
    for record in records:  # every block costs the same at a position: the markers would hide each other
        record["profile"] = {**record["profile"], "flops_total_deploy": 5_000_000, "params_total_deploy": 60_000}
    path = tmp_path / "results.csv"
    write_results_csv(path, records)
    _draw(read_results(path), None, tmp_path / "plots")
    fig = kept_figures["params_vs_flops"]
    ax = fig.axes[0]
    markers = [line for line in ax.lines if line.get_marker() in ("o", "s", "^") and len(line.get_xydata()) == 1]
    assert len(markers) == len(BLOCKS) * len(POSITIONS)
    placed = np.array([line.get_transform().transform(line.get_xydata())[0] for line in markers]) / (fig.dpi / 72)
    gaps = [np.hypot(*(a - b)) for i, a in enumerate(placed) for b in placed[:i]]
    assert min(gaps) >= DODGE_SPACING * 0.98
    assert "drawn side by side" in _caption(fig)
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert ticks and all(t.endswith("K") for t in ticks)  # 60 thousand parameters: "60K", not "0.06"


# --- the command line --------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blockzoo.visualize", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_cli_draws_from_a_results_file_with_curves_beside_it(tmp_path):
    small = {"blocks": ("ResNetBasicBlock", "RepMixer"), "positions": ("mid",)}  # small: the subprocess imports torch
    results_csv = tmp_path / "results" / "results.csv"
    write_results_csv(results_csv, _records(**small))
    _curves(**small).to_csv(results_csv.parent / "curves.csv", index=False)
    out = tmp_path / "plots"
    run = _cli(str(results_csv), "--out", str(out), "--latency-column", "benchmark.latency_ms")
    assert run.returncode == 0, run.stderr
    assert (out / "val_curves.png").is_file()  # curves.csv next to the results, found without --curves
    assert (out / "data" / "accuracy_vs_latency.csv").is_file()
    assert run.stdout.count("wrote ") == 12


def test_cli_rejects_a_file_that_is_not_results(tmp_path):
    bad = tmp_path / "other.csv"
    with open(bad, "w", newline="") as f:
        csv.writer(f).writerows([["name", "score"], ["a", "1"]])
    out = tmp_path / "plots"
    run = _cli(str(bad), "--out", str(out))
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "not a blockzoo results file" in lines[0]
    assert not out.exists()


def test_cli_one_line_errors_in_process(tmp_path, capsys, results_csv):
    assert main([str(tmp_path / "missing.csv"), "--out", str(tmp_path / "p")]) == 2
    assert main([str(results_csv), "--out", str(tmp_path / "p"), "--latency-column", "nope"]) == 2
    assert main([str(results_csv), "--out", str(tmp_path / "p"), "--curves", str(tmp_path / "missing.csv")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith("error:") for line in lines)
    assert "does not exist" in lines[0] and "unknown latency column" in lines[1] and "curves file" in lines[2]
    assert not (tmp_path / "p").exists()


def test_cli_empty_results_and_default_folder(tmp_path, capsys, results_csv, monkeypatch):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main([str(empty)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not a readable CSV" in err
    monkeypatch.chdir(tmp_path)
    assert main([str(results_csv)]) == 0
    assert (tmp_path / "figures" / "accuracy_vs_latency.png").is_file()  # ./figures, as the README says


def test_every_latency_timed_busy_draws_no_latency_frontier(tmp_path):
    path = tmp_path / "results.csv"
    write_results_csv(path, _noisy_records())
    frame = read_results(path)
    frame["benchmark.busy"] = True
    _draw(frame, None, tmp_path / "plots")
    data = pd.read_csv(tmp_path / "plots" / "data" / "accuracy_vs_latency.csv")
    assert len(data) and not data["pareto"].any()
    assert pd.read_csv(tmp_path / "plots" / "data" / "accuracy_vs_flops.csv")["pareto"].any()  # FLOPs are not timed


# --- the drawn figures, read back through their artists ----------------------------------------

def _with_outlier(records: list[dict]) -> list[dict]:
    """The generated records with one cell far below the others (as UniversalInvertedBottleneck-late was)."""
    out = []
    for record in records:
        if record["cell"] == "EdgeResidual-late" and "train" in record:
            record = {**record, "train": {**record["train"], "test_acc": 0.30 + 0.004 * record["seed"]}}
        out.append(record)
    return out


@pytest.mark.parametrize("name", ["accuracy_vs_latency", "accuracy_vs_flops", "accuracy_by_position"])
def test_drawn_figures_keep_texts_on_the_canvas_cells_in_the_axes_and_labels_apart(tmp_path, kept_figures, name):
    path = tmp_path / "results.csv"
    write_results_csv(path, _with_outlier(_noisy_records()))
    frame, curves = read_results(path), _curves()
    _draw(frame, curves, tmp_path / "plots")
    fig = kept_figures[name]
    assert_texts_on_canvas(fig)
    ax = fig.axes[0]
    cells = marked(ax, "cell:")
    assert sorted(a.get_gid() for a in cells) == sorted(f"cell:{c}" for c in leaderboard_table(frame)["cell"])
    assert_inside_axes(fig, ax, cells)
    assert placed_labels(ax) or name == "accuracy_by_position"  # the scatters label their frontier cells
    assert_labels_apart(fig, ax)
    assert ax.get_legend() is not None or fig.legends, "no legend"
    if name != "accuracy_by_position":  # the outlier is drawn at the edge with its value, not stretching the axis
        assert ax.get_ylim()[0] > 50 and any("EdgeResidual-late" in t.get_text() for t in ax.texts)


def test_intervals_past_the_axis_are_cut_and_marked(tmp_path, kept_figures):
    records = _with_outlier(_records())
    for record in records:  # one cell's seeds far apart: its interval runs well past the bulk's axis
        if record["cell"] == "RepMixer-mid" and "train" in record:
            record["train"] = {**record["train"], "test_acc": 0.40 + 0.25 * record["seed"]}
    path = tmp_path / "results.csv"
    write_results_csv(path, records)
    _draw(read_results(path), None, tmp_path / "plots")
    for name, forks in (("accuracy_vs_flops", ("1", "2")), ("accuracy_by_position", ("3", "4"))):
        fig = kept_figures[name]
        ax = fig.axes[0]
        marked = sum(len(line.get_xdata()) for line in ax.lines if line.get_marker() in forks)
        assert marked >= 1 and "marked with a small fork: " in _caption(fig)
        low, high = sorted(ax.get_ylim() if name == "accuracy_vs_flops" else ax.get_xlim())
        bars = [c for c in ax.collections if hasattr(c, "get_segments")]
        ends = np.concatenate([np.asarray(s).reshape(-1, 2) for c in bars for s in c.get_segments()])
        along = ends[:, 1] if name == "accuracy_vs_flops" else ends[:, 0]
        assert ((along >= low - 1e-9) & (along <= high + 1e-9)).all()  # every interval cut at the axis


def test_every_plot_dvc_yaml_lists_exists():
    import yaml

    plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    paths = []
    for plot in plots:  # a path, or {title: {y: {path: column}}}
        paths += [plot] if isinstance(plot, str) else [p for spec in plot.values() for p in spec["y"]]
    assert paths and [p for p in paths if not (REPO / p).is_file()] == []
