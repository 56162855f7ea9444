"""Seed-level statistics (Student-t and Welch intervals) and the budget-matching checks.

The t-intervals serve what has no per-item records (training curves, runs without ``samples.jsonl``);
everything else uses :mod:`analysis.bootstrap`. Pure numpy + math: the Student-t quantile comes from
the regularized incomplete beta function. An interval over a single seed has ``lo == hi == mean``
and ``n == 1``.

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

from analysis.collect import method_key, ok_runs, seed_key

NAN = math.nan


class Interval(NamedTuple):
    """A mean with its confidence interval; ``n`` is the number of values (seeds) behind it."""

    mean: float
    lo: float
    hi: float
    n: int


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, c, d = 1e-300, 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        for num in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                    -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d, c = 1.0 + num * d, 1.0 + num / c
            d, c = 1.0 / (d if abs(d) > tiny else tiny), (c if abs(c) > tiny else tiny)
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta function I_x(a, b)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_quantile(level: float, df: float) -> float:
    """Two-sided Student-t critical value: the t with P(|T| <= t) = level for ``df`` degrees of freedom."""
    tail = 1.0 - level  # P(|T| > t) = I_{df/(df+t^2)}(df/2, 1/2), decreasing in t

    def excess(t: float) -> float:
        return betainc(df / 2.0, 0.5, df / (df + t * t)) - tail

    lo, hi = 0.0, 1.0
    while excess(hi) > 0:
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = (lo + hi) / 2.0
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
        if hi - lo < 1e-14 * hi:
            break
    return (lo + hi) / 2.0


def _finite(values: Iterable[float]) -> np.ndarray:
    arr = np.asarray(list(values), dtype=float)
    return arr[np.isfinite(arr)]


def mean_ci(values: Iterable[float], level: float = 0.95) -> Interval:
    """Mean and Student-t interval over seeds; n=1 gives lo=hi=mean, n=0 gives NaNs (NaN values are ignored)."""
    arr = _finite(values)
    if arr.size == 0:
        return Interval(NAN, NAN, NAN, 0)
    mean = float(arr.mean())
    if arr.size == 1:
        return Interval(mean, mean, mean, 1)
    half = t_quantile(level, arr.size - 1) * float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return Interval(mean, mean - half, mean + half, int(arr.size))


def diff_ci(a: Iterable[float], b: Iterable[float], level: float = 0.95) -> Interval:
    """mean(a) - mean(b) with a Welch interval; ``n`` is the smaller sample size (no CI when it is below 2)."""
    x, y = _finite(a), _finite(b)
    n = int(min(x.size, y.size))
    if n == 0:
        return Interval(NAN, NAN, NAN, 0)
    diff = float(x.mean() - y.mean())
    if n == 1:
        return Interval(diff, diff, diff, 1)
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if vx + vy == 0:
        return Interval(diff, diff, diff, n)
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    half = t_quantile(level, df) * math.sqrt(vx + vy)
    return Interval(diff, diff - half, diff + half, n)


def _show(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "missing" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _mismatch(rows: pd.DataFrame, field: str, scope: str) -> list[str]:
    """A problem line when ``budget.<field>`` takes more than one value among ``rows``, naming who has which."""
    shown = rows[f"budget.{field}"].map(_show)
    if shown.nunique() <= 1:
        return []
    parts = []
    for value, g in rows.groupby(shown, sort=True):
        who = ", ".join(f"{label} seed {','.join(map(_show, sorted(m['seed'], key=seed_key)))}"
                        for label, m in sorted(g.groupby("label"), key=lambda kv: method_key(kv[0])))
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
