"""The results schema, the baseline at every position, the leaderboard, the curves table and atomic writes."""
from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from blockzoo import atomic, results
from blockzoo.errors import BlockzooError
from blockzoo.report.curves import curves_table, read_curves
from blockzoo.report.leaderboard import HEADLINE, build_leaderboard, leaderboard_table, noise_check, noise_line

STAGE_COLUMNS = {f"{kind}_{stage}{form}": value
                 for stage, value in (("stem", 1), ("early", 10), ("mid", 20), ("late", 30), ("head", 2))
                 for kind in ("params", "flops") for form in ("", "_deploy")}


def board_of(frame) -> dict:
    """The leaderboard dict of a results frame, as the aggregate stage builds it."""
    return build_leaderboard(leaderboard_table(frame), noise_check(frame))


def profile_record(cell="ResNetBasicBlock", block="ResNetBasicBlock", position=None) -> dict:
    profile = {"params_total": 63, "params_total_deploy": 63, "flops_total": 63, "flops_total_deploy": 63,
               **STAGE_COLUMNS}
    return {"cell": cell, "block": block, "position": position, "profile": results.with_active_stage(profile, position)}


def train_record(block, position, seed, acc, status="completed") -> dict:
    cell = block if block == "ResNetBasicBlock" else f"{block}-{position}"  # the baseline network is one cell
    return {"cell": cell, "block": block, "position": position, "seed": seed,
            "train": {"status": status, "test_acc": acc, "val_acc": acc, "dataset": "cifar10"}}


def test_validate_lists_every_problem_in_one_line():
    with pytest.raises(BlockzooError) as info:
        results.validate({"cell": "x", "block": "x", "seed": "zero", "profile": {"params_totl": 1}})
    message = str(info.value)
    assert "unknown column 'profile.params_totl'" in message and "column 'seed' must be int" in message
    assert "\n" not in message
    with pytest.raises(BlockzooError, match="missing required column 'cell'"):
        results.validate({"block": "x"})


def test_records_round_trip_through_json_and_csv(tmp_path):
    record = profile_record(cell="RepMixer-mid", block="RepMixer", position="mid")
    results.write_record(tmp_path / "r.json", record)
    assert results.read_record(tmp_path / "r.json") == record
    text = results.write_results_csv(tmp_path / "results.csv", [record])
    frame = results.read_results(tmp_path / "results.csv")
    assert frame.equals(results.parse_results(text))
    assert frame.loc[0, "profile.params_active"] == 20 and str(frame["profile.params_active"].dtype) == "Int64"


def test_a_nan_loss_is_written_as_null(tmp_path):
    record = train_record("RepMixer", "mid", 0, 0.5, status="diverged")
    record["train"]["test_acc"] = math.nan
    results.write_record(tmp_path / "r.json", record)
    assert json.loads((tmp_path / "r.json").read_text())["train"]["test_acc"] is None


def test_the_baseline_network_stands_at_every_position():
    record = profile_record()
    assert "params_active" not in record["profile"]
    late = results.at_position(record, "late")
    assert late["position"] == "late" and late["profile"]["params_active"] == 30
    assert late["profile"]["flops_active_deploy"] == 30 and record["position"] is None  # the original is untouched


def test_merge_joins_sections_by_block_position_and_seed():
    merged = results.merge_records([
        results.at_position(profile_record(), "mid"),
        train_record("ResNetBasicBlock", "mid", 1, 0.6), train_record("ResNetBasicBlock", "mid", 0, 0.5),
    ])
    assert [r["seed"] for r in merged] == [0, 1]
    assert all(r["profile"]["params_active"] == 20 for r in merged)


def test_read_results_errors_are_one_line(tmp_path):
    for text, message in (("", "is not a readable CSV"), ("name,score\na,1\n", "is not a blockzoo results file")):
        path = tmp_path / "bad.csv"
        path.write_text(text)
        with pytest.raises(BlockzooError, match=message) as info:
            results.read_results(path)
        assert "\n" not in str(info.value)
    with pytest.raises(BlockzooError, match="does not exist"):
        results.read_results(tmp_path / "missing.csv")


def leaderboard_of(records) -> dict:
    return board_of(results.parse_results(results.results_csv(records)))


def test_leaderboard_accuracy_ranks_and_position_sensitivity():
    records = [
        train_record("ResNetBasicBlock", "early", 0, 0.60), train_record("ResNetBasicBlock", "late", 0, 0.60),
        train_record("RepMixer", "early", 0, 0.50), train_record("RepMixer", "early", 1, 0.70),
        train_record("RepMixer", "early", 2, 0.10, status="diverged"),
        train_record("RepMixer", "late", 0, 0.65),
    ]
    board = leaderboard_of(records)
    cells = board["cells"]
    assert cells["RepMixer-early"]["test_acc_mean"] == pytest.approx(0.6)  # the diverged seed left out
    assert cells["RepMixer-early"]["test_acc_std"] == pytest.approx(math.sqrt(0.02), abs=1e-4)  # 4 digits kept
    # one seed at most beside the baseline's one: nothing is resolved, every rank is 1-4
    assert {(c["rank_best"], c["rank_worst"]) for c in cells.values()} == {(1, 4)}
    assert cells["RepMixer-late"]["verdict"] == "not resolved" and cells["RepMixer-late"]["p_value"] is None
    assert cells["ResNetBasicBlock-early"]["verdict"] == cells["ResNetBasicBlock-late"]["verdict"] == "baseline"
    assert board["blocks"]["ResNetBasicBlock"]["position_sensitivity"] == 0
    # gain over the baseline: 0.0 early, +0.05 late -> 5 points
    assert board["blocks"]["RepMixer"]["position_sensitivity"] == pytest.approx(5.0)
    assert board["trained_runs"] == 4  # the baseline's one run (shown at two positions), RepMixer's three completed
    # every column of a cell is in the table (results/leaderboard.csv), seed counts included
    table = leaderboard_table(results.parse_results(results.results_csv(records))).set_index("cell")
    assert (table.loc["RepMixer-early", "seeds_completed"], table.loc["RepMixer-early", "seeds_diverged"]) == (2, 1)
    late = table.loc["RepMixer-late"]
    assert pd.isna(late["test_acc_std"]) and pd.isna(late["test_acc_ci95_low"])  # one seed: no std, no interval


def benchmark_record(position, latency, p10=None, p90=None, busy=None) -> dict:
    cell = "ResNetBasicBlock" if position is None else f"ResNetBasicBlock-{position}"
    bench = {"latency_b1_ms": latency, "latency_b1_ms_p10": p10, "latency_b1_ms_p90": p90,
             "latency_ms": latency * 20, "throughput": 100.0}
    if busy is not None:
        bench["busy"] = busy
    return {"cell": cell, "block": "ResNetBasicBlock", "position": position,
            "benchmark": {k: v for k, v in bench.items() if v is not None}}


def test_the_tracked_leaderboard_is_small_and_the_table_has_every_column():
    positions = ("early", "mid", "late")
    records = [results.at_position(record, p) for p in positions
               for record in (profile_record(), benchmark_record(None, 41.23456, 40.0, 45.0))]
    records += [train_record("ResNetBasicBlock", p, s, 0.6 + 0.01 * s) for p in positions for s in (0, 1)]
    frame = results.parse_results(results.results_csv(results.merge_records(records)))
    board = board_of(frame)
    assert all(set(cell) == set(HEADLINE) for cell in board["cells"].values())
    early = board["cells"]["ResNetBasicBlock-early"]
    # 0.60, 0.61: half-width t_{0.975,1} * 0.00707 / sqrt(2) = 12.706 * 0.005 = 0.0635
    assert early == {"test_acc_mean": 0.605, "test_acc_std": 0.0071, "test_acc_ci95_low": 0.5415,
                     "test_acc_ci95_high": 0.6685, "diff_vs_baseline": 0.0, "p_value": None, "verdict": "baseline",
                     "rank_best": 1, "rank_worst": 3, "still_improving": False, "latency_b1_ms": 41.23, "mflops": 0.0,
                     "params_m": 0.0}
    # a zoo of 33 cells stays a few KB (it was 17 KB)
    assert len(json.dumps(board)) < 400 * len(board["cells"]) + 1000
    table = leaderboard_table(frame)
    assert {"seeds_completed", "val_acc_mean", "params", "flops_deploy", "latency_b1_ms_p10", "latency_ms",
            "throughput", "busy"} <= set(table.columns)
    assert table["latency_b1_ms_p90"].tolist() == [45.0] * 3


def test_a_latency_timed_busy_is_kept_apart_from_the_headline_latencies():
    records = [benchmark_record(None, 816.0, busy=True), benchmark_record(None, 1.6, busy=False)
               | {"block": "RepMixer", "cell": "RepMixer-mid", "position": "mid"}]
    records = [results.at_position(records[0], "mid"), records[1]]
    records += [train_record("ResNetBasicBlock", "mid", 0, 0.6), train_record("RepMixer", "mid", 0, 0.5)]
    cells = board_of(results.parse_results(results.results_csv(results.merge_records(records))))["cells"]
    assert cells["ResNetBasicBlock-mid"]["latency_b1_ms"] is None
    assert cells["ResNetBasicBlock-mid"]["latency_b1_ms_busy"] == 816.0
    assert cells["RepMixer-mid"]["latency_b1_ms"] == 1.6 and "latency_b1_ms_busy" not in cells["RepMixer-mid"]


def test_noise_check_of_the_baseline_measured_at_every_position():
    records = [benchmark_record("early", 41.2), benchmark_record("mid", 44.0), benchmark_record("late", 42.5),
               benchmark_record(None, 1.0) | {"block": "RepMixer", "cell": "RepMixer-mid", "position": "mid"}]
    frame = results.parse_results(results.results_csv(records))
    check = noise_check(frame)
    assert check["measurements"] == 3 and check["spread_pct"] == pytest.approx((44.0 - 41.2) / 41.2 * 100)
    assert noise_line(check) == ("noise check: the baseline network measured 3 times (latency_b1_ms): "
                                 "latency 41.2-44 ms (spread 6.8%)")
    assert board_of(frame)["noise_check"] == {"measurements": 3, "spread_pct": 6.8}


def test_noise_check_of_one_measurement_uses_its_own_spread_and_needs_a_baseline():
    one = [results.at_position(benchmark_record(None, 40.0, 38.0, 46.0), p) for p in ("early", "late")]
    check = noise_check(results.parse_results(results.results_csv(one)))
    assert check["measurements"] == 1 and check["spread_pct"] == pytest.approx(20.0)
    assert "measured once" in noise_line(check) and "38-46 ms (spread 20.0%)" in noise_line(check)
    no_spread = noise_check(results.parse_results(results.results_csv([benchmark_record("mid", 40.0)])))
    assert no_spread["spread_pct"] is None and "measured once" in noise_line(no_spread)
    json.dumps(no_spread, allow_nan=False)  # written to results/noise_check.json: valid JSON
    other = results.parse_results(results.results_csv([train_record("RepMixer", "mid", 0, 0.5)]))
    assert noise_check(other) is None and "noise_check" not in board_of(other)


def test_curves_table_reads_dvclive_tsvs(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "val_acc.tsv").write_text("timestamp\tstep\tval_acc\n1\t1\t0.5\n0\t0\t0.25\n")
    table = curves_table([("RepMixer", "mid", 0, folder)])
    assert table[["epoch", "val_acc"]].values.tolist() == [[0, 0.25], [1, 0.5]]
    table.to_csv(tmp_path / "curves.csv", index=False)
    assert read_curves(tmp_path / "curves.csv")["val_acc"].tolist() == [0.25, 0.5]
    pd.DataFrame({"x": [1]}).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(BlockzooError, match="is not a curves file"):
        read_curves(tmp_path / "bad.csv")


def test_atomic_writes_keep_the_old_file_on_failure_and_the_umask(tmp_path):
    target = tmp_path / "out.json"
    atomic.write_json(target, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]  # no temporary file left behind
    old = os.umask(0o027)
    try:
        atomic.write_text(tmp_path / "group.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "group.txt").stat().st_mode) == 0o640


def three_seed_frame():
    """The baseline and three cells at mid over seeds 0-2 (the statistics are worked out in the test below)."""
    accuracies = {"ResNetBasicBlock": (0.70, 0.71, 0.72), "RepMixer": (0.75, 0.76, 0.77),
                  "MobileOneBlock": (0.60, 0.62, 0.61), "EdgeResidual": (0.69, 0.73, 0.71)}
    records = [train_record(block, "mid", seed, acc) for block, accs in accuracies.items()
               for seed, acc in enumerate(accs)]
    return results.parse_results(results.results_csv(records))


def test_the_table_says_which_differences_are_resolved(tmp_path):
    # paired over seeds 0-2 against the baseline 0.70, 0.71, 0.72:
    #   RepMixer +0.05 each seed (sd 0: p 0); MobileOneBlock -0.10, -0.09, -0.11 (t = 0.10 / (0.01 / sqrt 3) = 17.32,
    #   df 2, p = 0.0033); EdgeResidual -0.01, +0.02, -0.01 (mean 0, p 1). Holm over m = 3: 0 <= 0.05/3,
    #   0.0033 <= 0.05/2, 1 > 0.05: better, worse, not resolved.
    # intervals of the means (half = 4.3027 s / sqrt 3): baseline (0.6852, 0.7348), RepMixer (0.7352, 0.7848),
    #   MobileOneBlock (0.5852, 0.6348), EdgeResidual 0.71 +- 0.0497 = (0.6603, 0.7597). MobileOneBlock lies below
    #   all: 4. RepMixer lies above the baseline and MobileOneBlock: 1-2; the baseline has RepMixer above it and
    #   MobileOneBlock below: 2-3; EdgeResidual overlaps RepMixer and the baseline: 1-3
    from blockzoo.report.__main__ import seeds_plan, seeds_text
    from blockzoo.report.metrics import CELL_KEYS, write_metrics

    table = leaderboard_table(three_seed_frame()).set_index("cell")
    assert table["verdict"].to_dict() == {"EdgeResidual-mid": "not resolved", "MobileOneBlock-mid": "worse",
                                          "RepMixer-mid": "better", "ResNetBasicBlock-mid": "baseline"}
    assert table.loc["MobileOneBlock-mid", "p_value"] == pytest.approx(0.0033, abs=1e-4)
    assert table.loc["RepMixer-mid", "test_acc_ci95_low"] == pytest.approx(0.76 - 0.024841, abs=1e-6)
    assert table.loc["MobileOneBlock-mid", "diff_ci95_high"] == pytest.approx(-0.10 + 0.024841, abs=1e-6)
    ranks = {cell: (int(b), int(w)) for cell, b, w in zip(table.index, table["rank_best"], table["rank_worst"],
                                                             strict=True)}
    assert ranks == {"EdgeResidual-mid": (1, 3), "MobileOneBlock-mid": (4, 4), "RepMixer-mid": (1, 2),
                     "ResNetBasicBlock-mid": (2, 3)}
    # the metrics files: the same few keys per cell, the rank range printed "1-2"
    frame = three_seed_frame()
    table = leaderboard_table(frame)
    written = write_metrics(tmp_path, table, build_leaderboard(table, None))
    cell = json.loads((tmp_path / "cells" / "RepMixer-mid.json").read_text())
    assert list(cell) == list(CELL_KEYS) and cell["rank"] == "1-2" and cell["verdict"] == "better"
    assert json.loads((tmp_path / "cells" / "MobileOneBlock-mid.json").read_text())["rank"] == "4"
    assert len(written) == 4 + 4  # 4 cells, 4 blocks
    # seeds: the one unresolved comparison has a zero difference: no number of seeds resolves it
    plan, have, m = seeds_plan(frame)
    assert [(e["cell"], e["seeds_needed"]) for e in plan] == [("EdgeResidual-mid", None)] and have == [0, 1, 2]
    assert m == 3 and ">1000" in seeds_text(plan, have, m, 0.8, 0.05)


def test_a_one_block_architecture_has_a_short_metrics_file_name():
    from blockzoo.report.metrics import metrics_file_name

    assert metrics_file_name("InvertedResidual+InvertedResidual+InvertedResidual") == "3xInvertedResidual"
    mixed = "ResNetBottleneck+EdgeResidual+EdgeResidual"
    assert metrics_file_name(mixed) == mixed
    assert metrics_file_name("ResNetBasicBlock-mid") == "ResNetBasicBlock-mid"


def test_dvc_metrics_show_fits_200_columns_and_every_committed_leaderboard_is_strict_json():
    root = Path(__file__).resolve().parent.parent

    def no_nan(constant):
        raise ValueError(f"{constant} is not JSON")

    for board in sorted(root.glob("reference/*/leaderboard.json")):
        json.loads(board.read_text(), parse_constant=no_nan)
    shown = subprocess.run([sys.executable, "-m", "dvc", "metrics", "show"], cwd=root, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert len(shown) > 33 and max(map(len, shown)) <= 200, max(shown, key=len)
