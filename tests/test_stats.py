"""blockzoo.report.stats against cases computed by hand (the arithmetic is in each test's comments)."""
import math

import pytest

from blockzoo.report import stats

# Student's t quantiles from a printed table (two-sided 95%: p = 0.975; one-sided 80%: p = 0.8)
T_TABLE = [(1, 0.975, 12.706), (2, 0.975, 4.303), (4, 0.975, 2.776), (10, 0.975, 2.228), (30, 0.975, 2.042),
           (1, 0.8, 1.376), (2, 0.8, 1.061), (9, 0.8, 0.883), (9, 0.975, 2.262)]


@pytest.mark.parametrize(("df", "p", "t"), T_TABLE)
def test_t_quantile_matches_the_printed_table(df, p, t):
    assert stats.t_quantile(p, df) == pytest.approx(t, abs=1e-3)
    assert stats.t_cdf(t, df) == pytest.approx(p, abs=2e-4)


def test_t_cdf_matches_the_closed_form_for_two_degrees_of_freedom():
    # df = 2: F(t) = 1/2 + t / (2 sqrt(2 + t^2))
    for t in (-3.0, -0.5, 0.0, 1.0, 5.19615):
        assert stats.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)


def test_mean_interval_by_hand():
    # 0.80, 0.82, 0.84: mean 0.82, s = 0.02, n = 3; t_{0.975, 2} = 4.302653; half = 4.302653 * 0.02 / sqrt(3)
    # = 0.049683 -> (0.770317, 0.869683)
    low, high = stats.mean_interval([0.80, 0.82, 0.84])
    assert (low, high) == pytest.approx((0.770317, 0.869683), abs=1e-6)
    assert all(math.isnan(v) for v in stats.mean_interval([0.8]))


def test_paired_comparison_by_hand():
    # same seeds: differences 0.02, 0.03, 0.04 -> mean 0.03, s_d = 0.01, se = 0.01 / sqrt(3) = 0.0057735, df 2
    # t = 0.03 / 0.0057735 = 5.19615; p = 2 (1 - F_2(t)) with F_2(t) = 1/2 + t / (2 sqrt(2 + t^2)) = 0.982451
    # -> p = 0.035098; interval 0.03 +- 4.302653 * 0.0057735 = 0.03 +- 0.024841
    found = stats.compare({0: 0.80, 1: 0.82, 2: 0.84}, {0: 0.78, 1: 0.79, 2: 0.80})
    assert found["test"] == "paired" and found["df"] == 2
    assert found["diff"] == pytest.approx(0.03)
    assert found["p"] == pytest.approx(0.035098, abs=1e-6)
    assert (found["low"], found["high"]) == pytest.approx((0.005159, 0.054841), abs=1e-6)


def test_welch_comparison_by_hand():
    # no shared seed: a = 0.80, 0.82, 0.84 (s^2 = 0.0004, n 3), b = 0.70, 0.74 (s^2 = 0.0008, n 2)
    # va = 0.0004/3 = 1.3333e-4, vb = 0.0008/2 = 4e-4; se = sqrt(5.3333e-4) = 0.023094; t = 0.10 / se = 4.3301
    # Welch df = (va + vb)^2 / (va^2/2 + vb^2/1) = 2.8444e-7 / 1.68889e-7 = 1.68421
    found = stats.compare({0: 0.80, 1: 0.82, 2: 0.84}, {5: 0.70, 6: 0.74})
    assert found["test"] == "welch"
    assert found["df"] == pytest.approx(1.68421, abs=1e-5)
    assert found["diff"] == pytest.approx(0.10)
    assert found["p"] == pytest.approx(2 * (1 - stats.t_cdf(0.10 / math.sqrt(0.0004 / 3 + 0.0004), 1.68421)),
                                       abs=1e-5)
    assert found["high"] - found["diff"] == pytest.approx(stats.t_quantile(0.975, 1.68421) * 0.023094, abs=1e-5)


def test_one_seed_gives_no_test():
    found = stats.compare({0: 0.8}, {0: 0.7})
    assert found["test"] is None and math.isnan(found["p"]) and found["diff"] == pytest.approx(0.1)


def test_holm_steps_by_hand():
    # m = 4, alpha 0.05, p sorted: d 0.005 <= 0.05/4 = 0.0125 rejected; a 0.01 <= 0.05/3 = 0.0167 rejected;
    # c 0.03 > 0.05/2 = 0.025: stop; c and b (0.04, which alone would pass 0.05/1) are not rejected
    assert stats.holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005}) == {"a": True, "b": False, "c": False, "d": True}
    comparisons = {"a": {"p": 0.01, "diff": -0.02}, "b": {"p": 0.04, "diff": 0.01}, "d": {"p": 0.005, "diff": 0.03},
                   "e": {"p": math.nan, "diff": 0.05}}
    # NaN is not counted: m = 3; d 0.005 <= 0.0167, a 0.01 <= 0.025, b 0.04 <= 0.05
    assert stats.verdicts(comparisons) == {"a": "worse", "b": "better", "d": "better", "e": "not resolved"}


def test_rank_ranges_by_hand():
    # A (0.80, 0.90), B (0.78, 0.82), C (0.70, 0.75), D one seed (no interval). Only C is resolved from others:
    # A and B lie wholly above C, so A and B rank at worst 3 and C at best 3; D resolves nothing: 1-4
    ranges = stats.rank_ranges({"A": (0.80, 0.90), "B": (0.78, 0.82), "C": (0.70, 0.75), "D": (-math.inf, math.inf)})
    assert ranges == {"A": (1, 3), "B": (1, 3), "C": (3, 4), "D": (1, 4)}


def test_still_improving_by_hand():
    # 4 epochs: k = ceil(4/4) = 1; gains 0.75 - 0.70 = 0.05 and 0.77 - 0.69 = 0.08 -> 0.065; seed noise: the
    # std of the best values 0.75, 0.77 = 0.01414; 0.065 > 0.01414 -> still improving
    improving, gain = stats.still_improving({0: [0.5, 0.6, 0.7, 0.75], 1: [0.5, 0.62, 0.69, 0.77]})
    assert improving and gain == pytest.approx(0.065)
    # gains 0 and -0.10: not improving
    assert not stats.still_improving({0: [0.5, 0.7, 0.72, 0.72], 1: [0.5, 0.6, 0.8, 0.70]})[0]
    # a gain smaller than the seed noise (std of 0.70, 0.80 = 0.0707) is not enough: gains 0.02, 0.02
    assert not stats.still_improving({0: [0.5, 0.6, 0.68, 0.70], 1: [0.5, 0.7, 0.78, 0.80]})[0]
    assert stats.still_improving({0: [0.5]}) == (False, pytest.approx(math.nan, nan_ok=True))


def test_seeds_needed_by_hand():
    # diff = sd = 0.01, alpha 0.05, power 0.8: n = 9: t_{.975,8} + t_{.8,8} = 2.306 + 0.889 = 3.195 > sqrt(9) = 3;
    # n = 10: 2.262 + 0.883 = 3.145 <= sqrt(10) = 3.162 -> 10
    assert stats.seeds_needed(0.01, 0.01, 0.05, 0.8) == 10
    assert stats.seeds_needed(0.0, 0.01, 0.05) is None
