"""Confidence intervals and paired tests over items and seeds, with the run's own metric definition.

Every run-level metric is recomputed from the run's per-item records with
:func:`harness.evaluation.metrics.aggregate` (the function the run itself used), so a bootstrap
replicate of ``shortcut_rate`` is the ratio Σshortcut/Σacc on resampled items, not a mean of ratios.

Resampling (B replicates): a *cell* is the runs of one (suite, setting, label, training data), one per
seed. Replicate b draws one multiset of test items and one multiset of the cell's seeds, both with
replacement, and averages ``aggregate`` over the drawn seeds, each on the drawn items (computed as
``aggregate_weighted`` with the number of times each item was drawn). Items are
crossed with seeds (every seed is evaluated on the same test items), so one item draw serves every
seed: the two-way "pigeonhole" bootstrap (Owen 2007), mildly conservative because the item × seed
interaction enters twice. Draws come from RNGs keyed by the list of test items and by the list of
seeds, so two cells evaluated on the same items with the same seeds get the same draws: their
difference is paired over items and seeds for free (``Comparison.pairing`` says what was paired).

Intervals are percentile intervals of the replicates; the two-sided p-value of a difference is
``2 · min(P*(Δ ≤ 0), P*(Δ ≥ 0))`` with the usual +1 correction (|Δ| ≤ 1e-9 counts as 0). A cell whose runs lack
``samples.jsonl`` falls back to a Student-t interval over seeds (and Welch for differences): its
``ci_method`` says so. With few seeds the seed half of any interval is rough; the seed count is always
reported next to it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from analysis.collect import method_key, ok_runs, read_items, run_suites, seed_key
from analysis.stats import betainc, diff_ci, mean_ci
from harness.evaluation.metrics import aggregate, aggregate_weighted, item_columns

log = logging.getLogger(__name__)

N_BOOT = 1000
LEVEL = 0.95
BOOTSTRAP = "bootstrap (items × seeds)"
T_SEEDS = "t over seeds (not in samples.jsonl)"
CONSISTENCY_TOL = 1e-6
#: a replicate of Δ this close to 0 is a tie (a difference of float rounding, not of items: one item of
#: 10^5 moves a mean by 1e-5)
TIE = 1e-9


def rng_for(*key: Any) -> np.random.Generator:
    """A numpy Generator determined by ``key`` alone (same key, same draws, on every machine)."""
    digest = hashlib.sha256(json.dumps(key, default=str, sort_keys=True).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def percentile_interval(reps: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates."""
    lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def bootstrap_p(deltas: np.ndarray) -> float:
    """Two-sided bootstrap p-value of H0: Δ = 0 from the replicates of Δ (percentile-interval inversion)."""
    n = deltas.size
    below, above = int(np.sum(deltas <= TIE)), int(np.sum(deltas >= -TIE))
    return min(1.0, 2 * min(below + 1, above + 1) / (n + 1))


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided Welch t-test p-value of mean(a) = mean(b); NaN with fewer than two values on a side."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    if x.size < 2 or y.size < 2:
        return math.nan
    vx, vy = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    diff = float(x.mean() - y.mean())
    if vx + vy == 0:
        return 1.0 if diff == 0 else 0.0
    df = (vx + vy) ** 2 / (vx**2 / (x.size - 1) + vy**2 / (y.size - 1))
    t = diff / math.sqrt(vx + vy)
    return betainc(df / 2, 0.5, df / (df + t * t))


def holm(pvalues: list[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (NaN entries stay NaN and are not counted)."""
    order = sorted((p, i) for i, p in enumerate(pvalues) if not math.isnan(p))
    adjusted, running = [math.nan] * len(pvalues), 0.0
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p))
        adjusted[i] = running
    return adjusted


def replicates(records: list[dict], info: dict, item_draws: np.ndarray) -> dict[str, np.ndarray]:
    """The run's metrics on each row of item indices (B × n draws): metric name -> array of B replicates.

    Row b counts how often it drew each item and calls ``aggregate_weighted`` with those counts: the
    metrics of ``aggregate([records[i] for i in draw_b])``, all B replicates in one pass.
    """
    ladder = info.get("ladder", ())
    n_boot, n = item_draws.shape
    flat = (item_draws + n * np.arange(n_boot)[:, None]).ravel()
    counts = np.bincount(flat, minlength=n_boot * n).reshape(n_boot, n).astype(float)
    return aggregate_weighted(item_columns(records, ladder), counts, info.get("answerers", ()), ladder,
                              info.get("lambdas", ()))


def seed_average(per_seed: list[np.ndarray], seed_draws: np.ndarray) -> np.ndarray:
    """Replicate b = mean over the drawn seeds of that seed's replicate b (per_seed: k arrays of length B)."""
    stacked = np.stack(per_seed)  # (k, B)
    return stacked[seed_draws, np.arange(stacked.shape[1])[:, None]].mean(axis=1)


class Cell(NamedTuple):
    """Runs that are seeds of one condition: evaluated on ``suite``, trained on ``data``, in one setting."""

    suite: str
    setting: str
    label: str
    method: str
    data: str

    @property
    def display(self) -> str:
        return self.label if self.data == self.suite else f"{self.label} (data={self.data})"


def cell_key(cell: Cell) -> tuple:
    """Sort key: suite, setting, label (base, sft, rl, start first), training data."""
    return cell.suite, cell.setting, method_key(cell.label), cell.data


@dataclass
class Estimate:
    """One cell's metrics: point estimates, intervals, and the bootstrap replicates behind them."""

    cell: Cell
    runs: pd.DataFrame  # the cell's ok runs, sorted by seed
    point: dict[str, float] = field(default_factory=dict)
    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)
    ci_method: dict[str, str] = field(default_factory=dict)
    reps: dict[str, np.ndarray] = field(default_factory=dict)
    seed_values: dict[str, list[float]] = field(default_factory=dict)
    item_ids: tuple[str, ...] | None = None  # the test items of every seed (None: no records, or they differ)
    n_items: int | None = None

    @property
    def seeds(self) -> tuple:
        return tuple(self.runs["seed"])


class Comparison(NamedTuple):
    """A − B for one metric: difference, interval, p-value and how the two arms were paired."""

    delta: float
    lo: float
    hi: float
    p: float
    pairing: str


class Estimator:
    """Per-cell estimates and paired comparisons for the ok runs of a sweep (see the module docstring).

    Per-run replicates are computed once and shared by every table and figure.
    """

    def __init__(self, runs: pd.DataFrame, n_boot: int = N_BOOT, level: float = LEVEL):
        self.n_boot, self.level = n_boot, level
        self.sweep_dir = Path(runs.attrs.get("sweep_dir", "."))
        self.ok = ok_runs(runs)
        self.inconsistent: list[str] = []  # results.json metrics that samples.jsonl does not reproduce
        self._records: dict[tuple[str, str], list[dict] | None] = {}
        self._point: dict[tuple[str, str], dict[str, float]] = {}
        self._reps: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._cells = self._find_cells()
        self._estimates: dict[Cell, Estimate] = {}

    # --- cells -------------------------------------------------------------------------------------
    def _find_cells(self) -> dict[Cell, pd.DataFrame]:
        members: dict[Cell, list[int]] = {}
        for i, row in self.ok.iterrows():
            for suite in run_suites(row):
                cell = Cell(suite, row["setting"], row["label"], str(row["method"]), str(row["data"]))
                members.setdefault(cell, []).append(i)
        cells = {}
        for cell in sorted(members, key=cell_key):
            rows = self.ok.loc[members[cell]]
            cells[cell] = rows.iloc[sorted(range(len(rows)), key=lambda j: seed_key(rows.iloc[j]["seed"]))]
        return cells

    def cells(self) -> list[Cell]:
        """Every cell with at least one ok run, sorted by :func:`cell_key`."""
        return list(self._cells)

    def block(self, suite: str, setting: str) -> list[Cell]:
        """The cells evaluated on ``suite`` in ``setting``."""
        return [c for c in self._cells if (c.suite, c.setting) == (suite, setting)]

    def blocks(self) -> list[tuple[str, str]]:
        """The (suite, setting) pairs, sorted."""
        return list(dict.fromkeys((c.suite, c.setting) for c in self._cells))

    def runs_of(self, cell: Cell) -> pd.DataFrame:
        return self._cells[cell]

    # --- per run -----------------------------------------------------------------------------------
    def records(self, run: pd.Series, suite: str) -> list[dict] | None:
        """The run's per-item records for ``suite`` (cached; None when absent or not aggregatable)."""
        key = (run["run"], suite)
        if key not in self._records:
            records = read_items(self.sweep_dir / run["run"], suite, str(run["data"]))
            if records is not None:
                try:
                    self._point[key] = self._aggregate(records, run["thinking_eval"])
                except (KeyError, ValueError, TypeError) as e:
                    log.warning("%s: samples.jsonl cannot be aggregated (%s: %s); seed-level CI used",
                                run["run"], type(e).__name__, e)
                    records = None
            self._records[key] = records
            if records is not None:
                self._check_consistency(run, suite, self._point[key])
        return self._records[key]

    @staticmethod
    def _aggregate(records: list[dict], info: dict) -> dict[str, float]:
        return aggregate(records, info.get("answerers", ()), info.get("ladder", ()), info.get("lambdas", ()))

    def _check_consistency(self, run: pd.Series, suite: str, recomputed: dict[str, float]) -> None:
        for metric, value in sorted(recomputed.items()):
            recorded = run.get(f"{suite}/{metric}")
            if recorded is not None and not pd.isna(recorded) and abs(recorded - value) > CONSISTENCY_TOL:
                self.inconsistent.append(f"`{run['run']}` {suite}/{metric}: results.json {recorded:.6f}, "
                                         f"samples.jsonl {value:.6f}")

    def _item_draws(self, ids: tuple[str, ...]) -> np.ndarray:
        """Item indices (B × n), a function of the test items only: runs on the same items get the same draws."""
        return rng_for("items", ids).integers(0, len(ids), size=(self.n_boot, len(ids)))

    def _run_reps(self, run: pd.Series, suite: str) -> dict[str, np.ndarray]:
        key = (run["run"], suite)
        if key not in self._reps:
            records = self.records(run, suite)
            draws = self._item_draws(tuple(r["id"] for r in records))
            self._reps[key] = replicates(records, run["thinking_eval"], draws)
        return self._reps[key]

    # --- per cell ----------------------------------------------------------------------------------
    def seed_draws(self, seeds: tuple) -> np.ndarray:
        """Seed indices (B × k), a function of the seed list only (so equal seed lists are paired)."""
        return rng_for("seeds", [str(s) for s in seeds]).integers(0, len(seeds), size=(self.n_boot, len(seeds)))

    def estimate(self, cell: Cell) -> Estimate:
        """Point estimates and intervals of every metric of ``cell`` (cached)."""
        if cell not in self._estimates:
            self._estimates[cell] = self._estimate(cell)
        return self._estimates[cell]

    def _estimate(self, cell: Cell) -> Estimate:
        runs = self._cells[cell]
        est = Estimate(cell, runs)
        recorded = {m.split("/", 1)[1]: [float(v) for v in runs[m] if not pd.isna(v)]
                    for m in runs.columns if m.startswith(f"{cell.suite}/")}
        est.seed_values = {k: v for k, v in recorded.items() if v}
        all_records = [self.records(r, cell.suite) for _, r in runs.iterrows()]
        if all(r is not None for r in all_records):
            per_run = [self._run_reps(r, cell.suite) for _, r in runs.iterrows()]
            points = [self._point[(r["run"], cell.suite)] for _, r in runs.iterrows()]
            ids = {tuple(r["id"] for r in records) for records in all_records}
            est.item_ids = ids.pop() if len(ids) == 1 else None
            est.n_items = len(all_records[0])
            draws = self.seed_draws(est.seeds)
            for metric in sorted(set.intersection(*(set(p) for p in points))):
                est.seed_values[metric] = [p[metric] for p in points]
                est.point[metric] = float(np.mean(est.seed_values[metric]))
                est.reps[metric] = seed_average([reps[metric] for reps in per_run], draws)
                est.lo[metric], est.hi[metric] = percentile_interval(est.reps[metric], self.level)
                est.ci_method[metric] = BOOTSTRAP
        for metric, values in sorted(est.seed_values.items()):
            if metric not in est.point:
                est.point[metric], est.lo[metric], est.hi[metric], _ = mean_ci(values, self.level)
                est.ci_method[metric] = T_SEEDS
        return est

    def compare(self, a: Cell, b: Cell, metric: str) -> Comparison | None:
        """A − B on ``metric``: paired bootstrap when both have replicates, else Welch over seeds; None if absent."""
        ea, eb = self.estimate(a), self.estimate(b)
        if metric not in ea.point or metric not in eb.point:
            return None
        if metric in ea.reps and metric in eb.reps:
            deltas = ea.reps[metric] - eb.reps[metric]
            lo, hi = percentile_interval(deltas, self.level)
            items = ea.item_ids is not None and ea.item_ids == eb.item_ids
            seeds = ea.seeds == eb.seeds
            pairing = {(True, True): "items+seeds", (True, False): "items", (False, True): "seeds"}.get(
                (items, seeds), "none")
            return Comparison(ea.point[metric] - eb.point[metric], lo, hi, bootstrap_p(deltas), pairing)
        va, vb = ea.seed_values.get(metric, []), eb.seed_values.get(metric, [])
        delta, lo, hi, _ = diff_ci(va, vb, self.level)
        return Comparison(delta, lo, hi, welch_p(va, vb), "none (Welch over seeds)")
