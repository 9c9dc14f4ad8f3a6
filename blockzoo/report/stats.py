"""The statistics of the leaderboard, in plain Python (no scipy): Student's t distribution, the 95% interval of
a mean over seeds, the test of a cell against the baseline, Holm's correction, rank ranges, the convergence
rule and the number of seeds a comparison needs. docs/statistics.md says what each means for a reader.

Paired or Welch: the training loader shuffles and augments from (seed, epoch) alone (blockzoo.data.loader), so
the same seed gives every cell the same data order; a cell and the baseline at its position are therefore
compared with a paired t-test over the seeds both completed. Where fewer than two seeds are shared, Welch's t.
"""
from __future__ import annotations

import math
from statistics import mean, stdev

ALPHA = 0.05


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz, Numerical Recipes 6.4)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """The regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with df degrees of freedom (df may be fractional, as Welch's is)."""
    tail = 0.5 * betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, by bisection on t_cdf (to 1e-10)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"t_quantile needs 0 < p < 1, got {p}")
    low, high = -1.0, 1.0
    while t_cdf(low, df) > p:
        low *= 2.0
    while t_cdf(high, df) < p:
        high *= 2.0
    while high - low > 1e-10:
        middle = (low + high) / 2.0
        low, high = (middle, high) if t_cdf(middle, df) < p else (low, middle)
    return (low + high) / 2.0


def mean_interval(values, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean: mean +- t_{(1+level)/2, n-1} * s / sqrt(n); NaNs with fewer than 2 values."""
    values = list(values)
    if len(values) < 2:
        return math.nan, math.nan
    return interval_from_std(mean(values), stdev(values), len(values), level)


def interval_from_std(mean_value: float, std: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """mean_interval from a summary (mean, sample std, n) rather than the values; NaNs with fewer than 2."""
    if n < 2 or std != std:
        return math.nan, math.nan
    half = t_quantile((1 + level) / 2, n - 1) * std / math.sqrt(n)
    return mean_value - half, mean_value + half


def compare(cell: dict, baseline: dict, level: float = 0.95) -> dict:
    """Test a cell against the baseline: {seed: accuracy} each. Paired t over the seeds both have when at least
    two are shared, else Welch's t. Returns test, diff (cell - baseline), its interval, df and the two-sided p;
    NaNs where either side has fewer than two seeds."""
    shared = sorted(set(cell) & set(baseline))
    if len(shared) >= 2:
        differences = [cell[s] - baseline[s] for s in shared]
        diff, spread = mean(differences), stdev(differences) / math.sqrt(len(shared))
        df, test = len(shared) - 1, "paired"
    elif len(cell) >= 2 and len(baseline) >= 2:
        a, b = list(cell.values()), list(baseline.values())
        va, vb = stdev(a) ** 2 / len(a), stdev(b) ** 2 / len(b)
        diff, spread, test = mean(a) - mean(b), math.sqrt(va + vb), "welch"
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb > 0 else len(a) + len(b) - 2
    else:
        diff = mean(cell.values()) - mean(baseline.values()) if cell and baseline else math.nan
        return {"test": None, "diff": diff, "low": math.nan, "high": math.nan, "df": math.nan, "p": math.nan}
    half = t_quantile((1 + level) / 2, df) * spread
    if spread > 0:
        p = 2.0 * (1.0 - t_cdf(abs(diff) / spread, df))
    else:
        p = 0.0 if diff != 0 else 1.0
    return {"test": test, "diff": diff, "low": diff - half, "high": diff + half, "df": df, "p": p}


def holm(p_values: dict, alpha: float = ALPHA) -> dict:
    """Holm's step-down correction: {name: p} -> {name: rejected?}. The k-th smallest p (k from 0) is compared with
    alpha / (m - k); the first that fails stops the procedure, it and every larger p are not rejected. NaN p: not
    rejected and not counted in m."""
    tested = sorted((p, name) for name, p in p_values.items() if p == p)
    rejected = dict.fromkeys(p_values, False)
    for k, (p, name) in enumerate(tested):
        if p > alpha / (len(tested) - k):
            break
        rejected[name] = True
    return rejected


def verdicts(comparisons: dict, alpha: float = ALPHA) -> dict:
    """{name: compare() result} -> {name: "better" | "worse" | "not resolved"} after Holm over all of them."""
    rejected = holm({name: c["p"] for name, c in comparisons.items()}, alpha)
    return {name: ("not resolved" if not rejected[name] else "better" if c["diff"] > 0 else "worse")
            for name, c in comparisons.items()}


def rank_ranges(intervals: dict) -> dict:
    """{name: (low, high) interval of its mean} -> {name: (best rank, worst rank)}, rank 1 the highest.

    Another cell is resolved above this one when its whole interval lies above this one's (low_j > high_i); the
    best rank is 1 + the cells resolved above, the worst is n - the cells resolved below. A NaN interval (one seed)
    resolves nothing: that cell's range, and no other's, is widened by it."""
    names = list(intervals)
    ranges = {}
    for name in names:
        low, high = intervals[name]
        above = sum(1 for other in names if other != name and intervals[other][0] > high)
        below = sum(1 for other in names if other != name and intervals[other][1] < low)
        ranges[name] = (1 + above, len(names) - below)
    return ranges


def still_improving(curves: dict) -> tuple[bool, float]:
    """Did validation accuracy still improve over the last quarter of the epochs by more than the seed noise?

    curves: {seed: per-epoch val_acc}. With E epochs and k = ceil(E / 4), a seed's late gain is
    val_acc[E-1] - val_acc[E-1-k] (its last k epochs); the cell's gain is the mean over seeds. The seed noise is the
    sample std over seeds of each seed's best validation accuracy (what the cell reports). Still improving when
    gain > noise; with one seed (noise unknown) when gain > 0; never with fewer than 2 epochs. Returns
    (still improving, gain)."""
    gains = []
    for values in curves.values():
        if len(values) >= 2:
            k = math.ceil(len(values) / 4)
            gains.append(values[-1] - values[-1 - k])
    if not gains:
        return False, math.nan
    finals = [max(values) for values in curves.values() if values]
    noise = stdev(finals) if len(finals) >= 2 else 0.0
    gain = mean(gains)
    return gain > noise, gain


def seeds_needed(diff: float, sd: float, alpha: float, power: float = 0.8, most: int = 1000) -> int | None:
    """Seeds per side for a paired t-test (sd: the std of the per-seed differences) to find `diff` at two-sided
    level alpha with the given power: the least n >= 2 with t_{1-alpha/2, n-1} + t_{power, n-1} <= |diff| sqrt(n)/sd
    (the usual iteration on the normal-approximation formula with t quantiles). None when diff is 0 or needs more
    than `most`."""
    if not diff or diff != diff or sd != sd:
        return None
    if sd == 0:
        return 2
    for n in range(2, most + 1):
        if t_quantile(1 - alpha / 2, n - 1) + t_quantile(power, n - 1) <= abs(diff) * math.sqrt(n) / sd:
            return n
    return None
