"""Statistics over test items and seeds: variance components, Student-t intervals and tests, power; budget checks.

Every estimate in the tables is a mean over seeds of a run-level metric. Its variance is written as a
linear combination of mean squares, ``V = Σ c_j · MS_j`` (each ``MS_j`` with ``df_j`` degrees of
freedom), by one of the models below; the interval is ``estimate ± t_{df} · √V`` with Satterthwaite's
degrees of freedom ``df = V'² / Σ (c_j MS'_j)² / df_j``, each mean square taken at its upper 75%
confidence limit ``MS'_j = MS_j · df_j / χ²_{df_j}(0.25)`` for the df only (:data:`DF_QUANTILE`: the
plain plug-in df are too large exactly when the seed mean square is small by chance, and 3-seed
intervals under-covered, 0.92, in simulations; docs/analysis.md). The two-sided p-value comes from the
same t statistic, so p < 1 − level exactly when the interval excludes 0.

- :class:`TwoWay`: a crossed items × seeds random-effects model ``z_si = μ + a_i + b_s + e_si`` for a
  table of per-item values (one row per seed, the same test items in every row): a cell, or the
  per-item differences of two arms paired by seed. ``Var(mean) = σa²/n + σb²/k + σe²/(nk)``, estimated
  without bias by ``(MS_items + MS_seeds − MS_resid)/(nk)`` (components truncated at 0 only when that
  is not positive, and for projections). With one seed the seed component cannot be estimated: the
  variance is the items' alone.
- :class:`ItemDifference`: two arms on the same items but not paired by seed: the variance of the
  per-item differences of the seed means plus each arm's seed component (Welch–Satterthwaite-like).
- :class:`SeedsOnly`: seed-level values without per-item records: Student-t over seeds (Welch for a
  difference of two arms, a paired t for per-seed differences).
- :class:`Sum`: independent estimates added (the difference of two gains measured on different suites).

Each model also gives its variance and degrees of freedom for another number of seeds ``k`` (the
estimated components kept), which is what :func:`seeds_needed` uses. :func:`mde` is the minimum
detectable effect of the two-sided t test (noncentral t). Distributions and quantiles: ``scipy.stats``.

Budgets: runs are comparable only when they start from the same base checkpoint and, where both
train, take the same optimizer steps on the same prompts and, where both sample, the same number of
completions (``research.md`` §2). :func:`budgets_matched` checks a whole sweep, :func:`pair_mismatch`
one comparison.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, stats

from analysis.collect import methods_of, ok_runs, seed_key

NAN = math.nan
LEVEL = 0.95
ALPHA = 0.05
POWER = 0.80
#: the most seeds :func:`seeds_needed` considers; an effect not detectable with them is "not reachable"
MAX_SEEDS = 1000
#: a standard error below this is no variation at all (float rounding of equal values): nothing to test
NO_VARIATION = 1e-9
#: Satterthwaite's df from mean squares at their upper 75% confidence limits (see :func:`satterthwaite`); chosen by
#: the simulations of analysis/simulate.py (None: plain Satterthwaite)
DF_QUANTILE: float | None = 0.25

Term = tuple[np.ndarray, np.ndarray, np.ndarray]  # (coefficient, mean square, degrees of freedom)


class Interval(NamedTuple):
    """A mean with its confidence interval; ``n`` is the number of values (seeds) behind it."""

    mean: float
    lo: float
    hi: float
    n: int


def t_quantile(level: float, df) -> np.ndarray | float:
    """Two-sided Student-t critical value: the t with P(|T| <= t) = level for ``df`` degrees of freedom."""
    return stats.t.ppf((1.0 + level) / 2.0, df)


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values: Iterable[float], level: float = LEVEL) -> Interval:
    """Mean and Student-t interval over seeds; n=1 gives lo=hi=mean, n=0 gives NaNs (NaN values are ignored)."""
    arr = _finite(values)
    if arr.size == 0:
        return Interval(NAN, NAN, NAN, 0)
    mean = float(arr.mean())
    if arr.size == 1:
        return Interval(mean, mean, mean, 1)
    half = float(t_quantile(level, arr.size - 1)) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return Interval(mean, mean - half, mean + half, int(arr.size))


# --- variance models ---------------------------------------------------------------------------------
class VarianceModel:
    """The variance of an estimate as mean-square terms, for the seeds run (``k=None``) or for ``k`` seeds per arm."""

    #: whether the seed components are estimated (False with one seed: the projection to more seeds is unknown)
    seeds_estimated: bool = True

    def terms(self, k: float | None = None) -> list[Term]:
        raise NotImplementedError

    def variance(self, k: float | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(V, Satterthwaite df) for the seeds run, or projected to ``k`` seeds per arm."""
        return satterthwaite(self.terms(k), DF_QUANTILE)


def satterthwaite(terms: list[Term], quantile: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``V = Σ c·MS`` and Satterthwaite's ``df = V'² / Σ (c·MS')²/df`` (terms with c·MS = 0 do not count; df = inf
    without any). ``MS' = MS`` by default; with ``quantile`` q, each mean square is taken at its one-sided upper
    (1 − q) confidence limit ``MS · df / χ²_df(q)`` for the df only (:data:`DF_QUANTILE`)."""
    var = sum(np.asarray(c, float) * ms for c, ms, _ in terms)
    num, denom = 0.0, 0.0
    for c, ms, df in terms:
        part = np.asarray(c, float) * ms
        if quantile is not None:
            part = part * np.asarray(df, float) / stats.chi2.ppf(quantile, np.maximum(df, 1e-12))
        num = num + part
        denom = denom + np.divide(part**2, df, out=np.zeros(np.broadcast(part, df).shape), where=part != 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = np.where(denom > 0, np.asarray(num) ** 2 / np.where(denom > 0, denom, 1.0), np.inf)
    return np.asarray(var, float), df


class TwoWay(VarianceModel):
    """Crossed items × seeds: ``z[..., s, i]`` (seed s, item i; the same items in every row).

    Mean squares (items, seeds, residual) with n−1, k−1 and (n−1)(k−1) df. The variance of the grand mean
    is the unbiased ``(MS_items + MS_seeds − MS_resid)/(nk)``; only when that is not positive do the
    components ``σa² = (MS_items − MS_resid)/k`` and ``σb² = (MS_seeds − MS_resid)/n`` enter truncated at 0
    (``σa²/n + σb²/k + σe²/(nk)``). Truncating them always would bias the variance up by about 7% of the
    standard error with 3 seeds when there is no seed variation, and over-cover. For another number of
    seeds (:meth:`terms` with ``k``) the truncated components give the expected mean squares. With one
    seed: the items' variance alone (``seeds_estimated`` False). Leading axes are independent tables.
    """

    def __init__(self, z: np.ndarray):
        z = np.asarray(z, float)
        self.k, self.n = z.shape[-2:]
        self.mean = z.mean(axis=(-2, -1))
        item_means = z.mean(axis=-2)
        ss_items = ((item_means - self.mean[..., None]) ** 2).sum(-1)
        if self.k == 1:
            self.seeds_estimated = False
            self.ms_items = ss_items / (self.n - 1)
            self.ms_seeds = self.ms_resid = self.sa = self.sb = np.zeros_like(self.ms_items)
            return
        seed_means = z.mean(axis=-1)
        self.ms_items = self.k * ss_items / (self.n - 1)
        self.ms_seeds = self.n * ((seed_means - self.mean[..., None]) ** 2).sum(-1) / (self.k - 1)
        resid = z - item_means[..., None, :] - seed_means[..., :, None] + self.mean[..., None, None]
        self.ms_resid = (resid**2).sum(axis=(-2, -1)) / ((self.n - 1) * (self.k - 1))
        self.sa = np.maximum(0.0, (self.ms_items - self.ms_resid) / self.k)
        self.sb = np.maximum(0.0, (self.ms_seeds - self.ms_resid) / self.n)

    @property
    def se(self) -> np.ndarray:
        """σe², the residual (item × seed) variance component."""
        return self.ms_resid

    def terms(self, k: float | None = None) -> list[Term]:
        n = self.n
        if self.k == 1 and k in (None, 1):
            return [(np.float64(1.0 / n), self.ms_items, np.float64(n - 1))]
        pa, pb = (self.sa > 0).astype(float), (self.sb > 0).astype(float)
        if k is None or k == self.k:
            k, ms = self.k, (self.ms_items, self.ms_seeds, self.ms_resid)
            unbiased = self.ms_items + self.ms_seeds - self.ms_resid > 0
            pa, pb = np.where(unbiased, 1.0, pa), np.where(unbiased, 1.0, pb)
        else:
            ms = (self.se + k * self.sa, self.se + n * self.sb, self.se)
        return [(pa / (n * k), ms[0], np.float64(n - 1)), (pb / (n * k), ms[1], np.float64(k - 1)),
                ((1.0 - pa - pb) / (n * k), ms[2], np.float64((n - 1) * (k - 1)))]


class ItemDifference(VarianceModel):
    """Arm A − arm B on the same items, not paired by seed: ``za[..., s, i]``, ``zb[..., t, i]``.

    ``V = S_d²/n + σb²(A)/k_A + σb²(B)/k_B``: ``S_d²`` is the variance over items of the per-item
    difference of the seed means (it holds the item × method variation and both residuals), each arm's
    seed component ``(MS_seeds − MS_resid)/n`` comes from its :class:`TwoWay` (unbiased; truncated at 0
    only if the sum is not positive, and for another number of seeds). An arm with one seed adds no seed
    term (``seeds_estimated`` False).
    """

    def __init__(self, za: np.ndarray, zb: np.ndarray):
        self.arms = (TwoWay(za), TwoWay(zb))
        self.n = self.arms[0].n
        d = np.asarray(za, float).mean(axis=-2) - np.asarray(zb, float).mean(axis=-2)
        self.ms_d = d.var(axis=-1, ddof=1)
        self.k = max(arm.k for arm in self.arms)
        self.seeds_estimated = all(arm.seeds_estimated for arm in self.arms)

    def terms(self, k: float | None = None) -> list[Term]:
        n, arms = self.n, [arm for arm in self.arms if arm.seeds_estimated]
        if k is None:
            seed = [(1.0 / (n * a.k), a.ms_seeds - a.ms_resid) for a in arms]
            unbiased = self.ms_d / n + sum(c * x for c, x in seed) > 0
            out = [(np.float64(1.0 / n), self.ms_d, np.float64(n - 1))]
            for a in arms:
                keep = np.where(unbiased, 1.0, (a.sb > 0).astype(float)) / (n * a.k)
                out += [(keep, a.ms_seeds, np.float64(a.k - 1)), (-keep, a.ms_resid, np.float64((n - 1) * (a.k - 1)))]
            return out
        # k seeds per arm: the residual share of S_d² scales with 1/k, the seed components with the truncated σb²
        ms_d = np.maximum(0.0, self.ms_d - sum(a.se / a.k for a in arms)) + sum(a.se / k for a in arms)
        out = [(np.float64(1.0 / n), ms_d, np.float64(n - 1))]
        for a in arms:
            pb = (a.sb > 0).astype(float) / (n * k)
            out += [(pb, a.se + n * a.sb, np.float64(k - 1)), (-pb, a.se, np.float64((n - 1) * (k - 1)))]
        return out


class SeedsOnly(VarianceModel):
    """Seed-level values ``x[..., s]`` without per-item records: ``V = s²/k`` with k−1 df (none with one seed)."""

    def __init__(self, x: np.ndarray):
        x = np.asarray(x, float)
        self.k = x.shape[-1]
        self.seeds_estimated = self.k > 1
        self.s2 = x.var(axis=-1, ddof=1) if self.k > 1 else np.full(x.shape[:-1], np.nan)

    def terms(self, k: float | None = None) -> list[Term]:
        k = self.k if k is None else k
        return [(np.float64(1.0 / k), self.s2, np.float64(k - 1))]


class Sum(VarianceModel):
    """Independent estimates added or subtracted: the variances add."""

    def __init__(self, *models: VarianceModel):
        self.models = models
        self.k = max(m.k for m in models)
        self.seeds_estimated = all(m.seeds_estimated for m in models)

    def terms(self, k: float | None = None) -> list[Term]:
        return [t for m in self.models for t in m.terms(k)]


# --- tests and power ---------------------------------------------------------------------------------
class TTest(NamedTuple):
    """Estimate ± t·SE and the two-sided p-value of estimate = 0 from the same t statistic (NaN: not testable)."""

    estimate: float
    se: float
    df: float
    lo: float
    hi: float
    p: float


def t_test(estimate, var, df, level: float = LEVEL) -> TTest:
    """Interval and p-value (vectorised); a standard error below :data:`NO_VARIATION` gives NaN interval and p."""
    estimate, var, df = np.asarray(estimate, float), np.asarray(var, float), np.asarray(df, float)
    se = np.sqrt(np.maximum(var, 0.0))
    ok = se > NO_VARIATION
    safe_se = np.where(ok, se, 1.0)
    half = t_quantile(level, df) * safe_se
    p = 2.0 * stats.t.sf(np.abs(estimate) / safe_se, df)
    nan = np.full(np.broadcast(estimate, se).shape, np.nan)
    return TTest(estimate, se, df, np.where(ok, estimate - half, nan), np.where(ok, estimate + half, nan),
                 np.where(ok, np.minimum(p, 1.0), nan))


def _power(nc: float, crit: float, df: float) -> float:
    """P(|T| > crit) for T noncentral t with ``df`` and noncentrality ``nc`` (normal for very large df)."""
    if not math.isfinite(df) or df > 1e5:
        return float(stats.norm.sf(crit - nc) + stats.norm.cdf(-crit - nc))
    upper, lower = float(stats.nct.sf(crit, df, nc)), float(stats.nct.cdf(-crit, df, nc))
    # far in the tails scipy's noncentral t may return NaN: the probability there is 1 (upper) or 0 (lower)
    upper = upper if math.isfinite(upper) else float(nc > crit)
    return upper + (lower if math.isfinite(lower) else 0.0)


def power_t(effect: float, se: float, df: float, alpha: float = ALPHA) -> float:
    """Power of the two-sided level-``alpha`` t test when the true difference is ``effect`` (noncentral t)."""
    if not se > 0:
        return NAN
    return _power(abs(effect) / se, float(t_quantile(1 - alpha, df)), df)


def mde(se: float, df: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect: the |difference| the two-sided t test (``df``, level ``alpha``) detects
    with probability ``power`` when the standard error is ``se`` (noncentral t; NaN without a standard error).
    For large df it is ``(z_{1−α/2} + z_power)·se`` ≈ 2.80·se; with 2 df about 5.7·se."""
    if not (se > NO_VARIATION and df > 0):
        return NAN
    crit = float(t_quantile(1 - alpha, df))
    hi = crit + float(stats.t.ppf(power, df))
    while _power(hi, crit, df) < power:  # power grows with the noncentrality: bracket the root
        hi *= 1.5
    return se * float(optimize.brentq(lambda nc: _power(nc, crit, df) - power, 0.0, hi, xtol=1e-8))


class SeedsNeeded(NamedTuple):
    """Seeds per arm at which the MDE falls to the observed |Δ| (``seeds`` NaN when none) and why."""

    seeds: float
    note: str


def seeds_needed(model: VarianceModel, effect: float, alpha: float = ALPHA, power: float = POWER,
                 max_seeds: int = MAX_SEEDS) -> SeedsNeeded:
    """The fewest seeds per arm whose design detects ``|effect|`` with ``power``, the estimated variance
    components kept (:meth:`VarianceModel.variance` at k seeds); or why there is no such number."""
    if not model.seeds_estimated:
        return SeedsNeeded(NAN, "unknown: the seed variation of an arm with 1 seed is not estimated")

    def enough(k: int) -> bool:
        var, df = model.variance(k)
        return mde(math.sqrt(max(float(var), 0.0)), float(df), alpha, power) <= abs(effect)

    if not abs(effect) > NO_VARIATION:
        return SeedsNeeded(NAN, "Δ = 0: nothing to detect")
    if not enough(max_seeds):
        return SeedsNeeded(NAN, f"item-limited: not reachable with {max_seeds} seeds; needs more test items")
    lo, hi = model.k, max_seeds  # enough(hi); find the smallest k in (lo, hi] with enough(k)
    if enough(lo):
        return SeedsNeeded(float(lo), f"{lo} seeds")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return SeedsNeeded(float(hi), f"{hi} seeds")


def holm(pvalues: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN entries stay NaN and are not counted)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted


# --- budgets -----------------------------------------------------------------------------------------
def _show(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "missing" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _mismatch(rows: pd.DataFrame, field: str, scope: str) -> list[str]:
    """A problem line when ``budget.<field>`` takes more than one value among ``rows``, naming who has which."""
    shown = rows[f"budget.{field}"].map(_show)
    if shown.nunique() <= 1:
        return []
    parts, methods = [], methods_of(rows)
    for value, g in rows.groupby(shown, sort=True):
        who = ", ".join(f"{label} seed {','.join(map(_show, sorted(m['seed'], key=seed_key)))}"
                        for label, m in sorted(g.groupby("label"), key=lambda kv: methods.key(kv[0])))
        parts.append(f"{value} ({who})")
    return [f"{scope}: `{field}` differs: " + "; ".join(parts)]


def _numeric(rows: pd.DataFrame, field: str) -> pd.Series:
    return pd.to_numeric(rows[f"budget.{field}"], errors="coerce")


def budgets_matched(runs: pd.DataFrame) -> list[str]:
    """Human-readable budget mismatches among the ok runs, per data suite and setting (empty when matched).

    Within a (data, setting) group: every run shares ``base_checkpoint_hash``; training runs
    (``optimizer_steps > 0``) share ``optimizer_steps`` and ``prompt_ids_hash``; sampling runs
    (``completions_sampled > 0``: rl, start) share ``completions_sampled``.
    """
    problems = []
    for (data, setting), group in ok_runs(runs).groupby(["data", "setting"], sort=True):
        scope = f"{data} ({setting})" if setting else str(data)
        training = group[_numeric(group, "optimizer_steps") > 0]
        problems += _mismatch(group, "base_checkpoint_hash", f"{scope}, all runs")
        problems += _mismatch(training, "optimizer_steps", f"{scope}, training runs")
        problems += _mismatch(training, "prompt_ids_hash", f"{scope}, training runs")
        problems += _mismatch(group[_numeric(group, "completions_sampled") > 0], "completions_sampled",
                              f"{scope}, sampling runs")
    return problems


def pair_mismatch(a: pd.DataFrame, b: pd.DataFrame) -> list[str]:
    """Why the runs of arm ``a`` and arm ``b`` may not be compared (empty when their budgets match).

    Within each arm (its seeds): one value of every budget field but tokens and wall time. Both arms:
    one base checkpoint. Where both train: the same optimizer steps, and the same prompts if both train
    on the same data. Where both sample completions: the same number of completions.
    """
    both = pd.concat([a, b])
    problems = _mismatch(both, "base_checkpoint_hash", "base model")
    for arm in (a, b):
        for field in ("optimizer_steps", "prompt_ids_hash", "completions_sampled"):
            problems += _mismatch(arm, field, "between seeds")
    if (_numeric(a, "optimizer_steps") > 0).all() and (_numeric(b, "optimizer_steps") > 0).all():
        problems += _mismatch(both, "optimizer_steps", "training")
        if set(a["data"]) == set(b["data"]):
            problems += _mismatch(both, "prompt_ids_hash", "training")
    if (_numeric(a, "completions_sampled") > 0).all() and (_numeric(b, "completions_sampled") > 0).all():
        problems += _mismatch(both, "completions_sampled", "sampling")
    return problems
