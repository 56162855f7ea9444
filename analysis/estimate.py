"""Per-cell estimates and paired comparisons over test items and seeds, with the run's own metric definition.

Every run-level metric is recomputed from the run's per-item records with
:func:`harness.evaluation.metrics.aggregate` (the function the run itself used). Its item-level
variation comes from the jackknife: ``aggregate_weighted`` with weights ``1 − e_i`` gives the metric
without item i, for every i at once, and the pseudo-values ``z_i = n·θ − (n−1)·θ₍₋ᵢ₎`` are the items'
contributions (exactly the per-item values for a mean such as ``acc``; the delta-method linearisation
for a ratio such as ``shortcut_rate`` = Σshortcut/Σacc). The pseudo-values of a run are shifted to
average to the run's own value, so the mean over seeds of a table is the cell's point estimate.

A *cell* is the runs of one (suite, setting, label, training data), one per seed, evaluated on the
same test items: its pseudo-values form a seeds × items table, analysed by the crossed random-effects
model of :class:`analysis.stats.TwoWay` (item and seed variation, Satterthwaite degrees of freedom,
Student-t interval). A difference A − B is always paired by items (the per-item differences); it is
also paired by seed when the two arms *share randomness*: the same seed list and the same training data,
so seed s of both saw the same prompts in the same order from the same RNG state (:func:`shares_randomness`).
Then the per-seed, per-item differences form one table (:class:`~analysis.stats.TwoWay`); otherwise
the per-item differences of the seed means plus each arm's seed component
(:class:`~analysis.stats.ItemDifference`). ``Comparison.pairing`` says which. The p-value comes from the
same t statistic as the interval. A difference without any variation (both arms constant, or identical
on every item and seed) is *not testable*: NaN interval and p.

Cells whose runs lack ``samples.jsonl`` (or whose seeds were evaluated on different items) fall back
to Student-t over seeds (:class:`~analysis.stats.SeedsOnly`; Welch or a paired t for differences);
``ci_method`` says so.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd

from analysis.collect import Methods, methods_of, ok_runs, read_items, run_suites, seed_key
from analysis.stats import (
    ALPHA,
    LEVEL,
    ItemDifference,
    SeedsOnly,
    Sum,
    TwoWay,
    VarianceModel,
    mde,
    seeds_needed,
    t_test,
)
from harness.evaluation.metrics import aggregate, aggregate_weighted, item_columns

log = logging.getLogger(__name__)

ITEMS_SEEDS = "t: items × seeds"
ITEMS_ONLY = "t: items (1 seed)"
T_SEEDS = "t over seeds (not in samples.jsonl)"
T_SEEDS_ITEMS_DIFFER = "t over seeds (seeds evaluated on different items)"
T_SEEDS_ONE_ITEM = "t over seeds (one test item)"
ONE_SEED_NOTE = "1 seed: the seed variation is not in the interval"
CONSISTENCY_TOL = 1e-6
#: leave-one-out replicates computed per ``aggregate_weighted`` call: at most this many weights at once
JACKKNIFE_CHUNK = 2_000_000


def pseudo_values(records: list[dict], info: dict) -> dict[str, np.ndarray]:
    """Jackknife pseudo-values of every metric of one run: metric name -> array (n items).

    ``z_i = n·θ − (n−1)·θ₍₋ᵢ₎`` with θ₍₋ᵢ₎ the metric without item i (``aggregate_weighted`` with weights
    ``1 − e_i``; all n at once, in chunks), shifted so that their mean is θ, the run's own value.
    """
    answerers, ladder, lambdas = info.get("answerers", ()), info.get("ladder", ()), info.get("lambdas", ())
    columns = item_columns(records, ladder)
    n = len(records)
    full = aggregate_weighted(columns, np.ones(n), answerers, ladder, lambdas)
    rows = max(1, JACKKNIFE_CHUNK // n)
    loo: dict[str, list[np.ndarray]] = {}
    for start in range(0, n, rows):
        stop = min(n, start + rows)
        weights = np.ones((stop - start, n))
        weights[np.arange(stop - start), np.arange(start, stop)] = 0.0
        for metric, values in aggregate_weighted(columns, weights, answerers, ladder, lambdas).items():
            loo.setdefault(metric, []).append(values)
    out = {}
    for metric, value in full.items():
        z = n * float(value) - (n - 1) * np.concatenate(loo[metric])
        out[metric] = z - z.mean() + float(value)
    return out


class Cell(NamedTuple):
    """Runs that are seeds of one condition: evaluated on ``suite``, trained on ``data``, in one setting."""

    suite: str
    setting: str
    label: str
    method: str
    data: str
    role: str = ""  # the arm of the paper's comparisons the method plays (collect.Methods)

    @property
    def display(self) -> str:
        return self.label if self.data == self.suite else f"{self.label} (data={self.data})"


def cell_key(cell: Cell, methods: Methods) -> tuple:
    """Sort key: suite, setting, label (in the methods' declared order), training data."""
    return cell.suite, cell.setting, methods.key(cell.label), cell.data


def shares_randomness(a: Cell, b: Cell, seeds_a: tuple, seeds_b: tuple) -> bool:
    """Whether seed s of ``a`` and seed s of ``b`` share their randomness, so the comparison pairs by seed:
    the same seed list and the same training data (research.md §2: the same base checkpoint, prompts in the
    same order, the same RNG state). A base arm trains on nothing: pairing it by seed changes nothing."""
    return seeds_a == seeds_b and a.data == b.data


@dataclass
class Estimate:
    """One cell's metrics: point estimates, intervals, and the per-item tables behind them."""

    cell: Cell
    runs: pd.DataFrame  # the cell's ok runs, sorted by seed
    point: dict[str, float] = field(default_factory=dict)
    lo: dict[str, float] = field(default_factory=dict)
    hi: dict[str, float] = field(default_factory=dict)
    se: dict[str, float] = field(default_factory=dict)
    df: dict[str, float] = field(default_factory=dict)
    ci_method: dict[str, str] = field(default_factory=dict)
    pseudo: dict[str, np.ndarray] = field(default_factory=dict)  # metric -> (seeds × items) pseudo-values
    seed_values: dict[str, list[float]] = field(default_factory=dict)
    item_ids: tuple[str, ...] | None = None  # the test items of every seed (None: no records, or they differ)
    n_items: int | None = None

    @property
    def seeds(self) -> tuple:
        return tuple(self.runs["seed"])

    def model(self, metric: str) -> VarianceModel:
        """The variance model of the cell mean of ``metric`` (items × seeds, or seeds only)."""
        if metric in self.pseudo:
            return TwoWay(self.pseudo[metric])
        return SeedsOnly(np.asarray(self.seed_values[metric], float))


class Comparison(NamedTuple):
    """A − B for one metric: difference, interval, p-value, power, and how the two arms were paired.

    ``mde``: the minimum detectable effect (80% power, two-sided α = 0.05) of this design;
    ``seeds_needed``: when not significant, the seeds per arm at which the MDE reaches |Δ| (NaN: see
    ``power_note``); ``status``: ``compared``, or ``not testable: …`` (no variation: NaN interval and p).
    """

    delta: float
    lo: float
    hi: float
    p: float
    pairing: str
    se: float = float("nan")
    df: float = float("nan")
    mde: float = float("nan")
    seeds_needed: float = float("nan")
    power_note: str = ""
    status: str = "compared"


def test_difference(delta: float, model: VarianceModel, pairing: str, level: float = LEVEL, alpha: float = ALPHA,
                    seeds: bool = True) -> Comparison:
    """The t interval, p-value, MDE and (with ``seeds``) the seeds needed for a difference ``delta`` with
    variance ``model``."""
    var, df = model.variance()
    test = t_test(delta, var, df, level)
    se, df = float(test.se), float(df)
    if np.isnan(test.p):
        if not np.isfinite(var):
            why = "one seed and no usable per-item records: no variance estimate"
        elif delta == 0:
            why = "A and B are identical on every item and seed: no variation to test against"
        else:
            why = "A − B is the same on every item and seed: no variation to test against"
        return Comparison(delta, np.nan, np.nan, np.nan, pairing, se, df, status=f"not testable: {why}")
    power = mde(se, df, alpha)
    p = float(test.p)
    if p < alpha:
        needed, note = np.nan, "significant"
    elif seeds:
        needed, note = seeds_needed(model, delta, alpha)
    else:
        needed, note = np.nan, ""
    if not model.seeds_estimated:
        note = "; ".join(filter(None, (note, ONE_SEED_NOTE)))
    return Comparison(delta, float(test.lo), float(test.hi), p, pairing, se, df, power, needed, note)


def shifted_splits(runs: pd.DataFrame) -> dict[str, str]:
    """Shifted test split -> the suite it shifts, as the runs record it (``thinking_eval.shifted``)."""
    out: dict[str, str] = {}
    for info in runs.get("thinking_eval", pd.Series(dtype=object)):
        if isinstance(info, dict) and isinstance(info.get("shifted"), dict):
            out |= info["shifted"]
    return out


class Estimator:
    """Per-cell estimates and paired comparisons for the ok runs of a sweep (see the module docstring).

    Per-run pseudo-values are computed once and shared by every table and figure. One base evaluation
    per (suite, setting): a base run trained on another suite (``base (data=micro_math)`` on micro_gqa)
    evaluates the same untrained model as the suite's own base runs; it is listed in ``duplicates`` and
    not used when the suite has its own. On a suite no run trains on (a shifted split such as
    ``micro_gqa_ood``) the first base cell stands for the others.
    """

    def __init__(self, runs: pd.DataFrame, level: float = LEVEL):
        self.level = level
        self.sweep_dir = Path(runs.attrs.get("sweep_dir", "."))
        self.ok = ok_runs(runs)
        self.methods = methods_of(runs)
        self.shifted = shifted_splits(self.ok)  # shifted test split -> the suite it shifts
        self.inconsistent: list[str] = []  # results.json metrics that samples.jsonl does not reproduce
        self.duplicates: list[str] = []  # base cells left out (another base evaluation of the same suite)
        self._records: dict[tuple[str, str], list[dict] | None] = {}
        self._point: dict[tuple[str, str], dict[str, float]] = {}
        self._pseudo: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        self._cells = self._find_cells()
        self._estimates: dict[Cell, Estimate] = {}

    # --- cells -------------------------------------------------------------------------------------
    def _find_cells(self) -> dict[Cell, pd.DataFrame]:
        members: dict[Cell, list[int]] = {}
        for i, row in self.ok.iterrows():
            for suite in run_suites(row):
                cell = Cell(suite, row["setting"], row["label"], str(row["method"]), str(row["data"]),
                            self.methods.role(row["method"]))
                members.setdefault(cell, []).append(i)
        ordered = sorted(members, key=lambda c: cell_key(c, self.methods))
        # the base cell kept per (suite, setting, label): the suite's own, else (a suite no run trains on, such
        # as a shifted split) the first
        kept: dict[tuple[str, str, str], Cell] = {}
        for cell in ordered:
            if cell.role == "base":
                slot = (cell.suite, cell.setting, cell.label)
                if slot not in kept or (cell.data == cell.suite and kept[slot].data != cell.suite):
                    kept[slot] = cell
        cells = {}
        for cell in ordered:
            if cell.role == "base" and kept[(cell.suite, cell.setting, cell.label)] != cell:
                where = f"{cell.suite} ({cell.setting})" if cell.setting else cell.suite
                same = kept[(cell.suite, cell.setting, cell.label)].display
                self.duplicates.append(f"`{cell.display}` on {where}: the same base model as `{same}` there; "
                                       "counted once")
                continue
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

    def _run_pseudo(self, run: pd.Series, suite: str) -> dict[str, np.ndarray]:
        key = (run["run"], suite)
        if key not in self._pseudo:
            self._pseudo[key] = pseudo_values(self.records(run, suite), run["thinking_eval"])
        return self._pseudo[key]

    # --- per cell ----------------------------------------------------------------------------------
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
        seed_method = T_SEEDS
        if all(r is not None for r in all_records):
            points = [self._point[(r["run"], cell.suite)] for _, r in runs.iterrows()]
            metrics = sorted(set.intersection(*(set(p) for p in points)))
            for metric in metrics:
                est.seed_values[metric] = [p[metric] for p in points]
            ids = {tuple(r["id"] for r in records) for records in all_records}
            est.n_items = len(all_records[0])
            if est.n_items < 2:
                seed_method = T_SEEDS_ONE_ITEM
            elif len(ids) == 1:
                est.item_ids = ids.pop()
                per_run = [self._run_pseudo(r, cell.suite) for _, r in runs.iterrows()]
                for metric in metrics:
                    est.pseudo[metric] = np.stack([pseudo[metric] for pseudo in per_run])
            else:
                seed_method = T_SEEDS_ITEMS_DIFFER
        for metric, values in sorted(est.seed_values.items()):
            est.point[metric] = float(np.mean(values))
            model = est.model(metric)
            var, df = model.variance()
            test = t_test(est.point[metric], var, df, self.level)
            est.se[metric], est.df[metric] = float(test.se), float(df)
            if metric in est.pseudo:
                est.ci_method[metric] = ITEMS_SEEDS if len(values) > 1 else ITEMS_ONLY
            else:
                est.ci_method[metric] = seed_method
            if len(values) < 2 and metric not in est.pseudo:
                est.lo[metric] = est.hi[metric] = est.point[metric]  # one seed, no items: no interval
            elif np.isnan(test.lo):  # no variation at all: the interval is the value itself
                est.lo[metric] = est.hi[metric] = est.point[metric]
            else:
                est.lo[metric], est.hi[metric] = float(test.lo), float(test.hi)
        return est

    def difference_model(self, a: Cell, b: Cell, metric: str) -> tuple[VarianceModel, str] | None:
        """The variance model of mean(A) − mean(B) on ``metric`` and its pairing; None if either lacks it."""
        ea, eb = self.estimate(a), self.estimate(b)
        if metric not in ea.point or metric not in eb.point:
            return None
        paired_seeds = shares_randomness(a, b, ea.seeds, eb.seeds)
        if metric in ea.pseudo and metric in eb.pseudo:
            if ea.item_ids != eb.item_ids:
                return Sum(ea.model(metric), eb.model(metric)), "none (different items)"
            if paired_seeds:
                return TwoWay(ea.pseudo[metric] - eb.pseudo[metric]), "items+seeds"
            model = ItemDifference(ea.pseudo[metric], eb.pseudo[metric])
            # an untrained base arm has no seed variation: its one evaluation stands for every seed
            model.seeds_estimated = all(arm.seeds_estimated or cell.role == "base"
                                        for arm, cell in zip(model.arms, (a, b), strict=True))
            return model, "items"
        va, vb = (np.asarray(e.seed_values[metric], float) for e in (ea, eb))
        if paired_seeds:
            return SeedsOnly(va - vb), "seeds (paired t over seeds)"
        return Sum(SeedsOnly(va), SeedsOnly(vb)), "none (Welch over seeds)"

    def compare(self, a: Cell, b: Cell, metric: str, seeds: bool = True) -> Comparison | None:
        """A − B on ``metric`` (see the module docstring); None if either cell lacks the metric. ``seeds``: also
        the seeds that would detect a non-significant Δ (a search; the comparison table skips it)."""
        found = self.difference_model(a, b, metric)
        if found is None:
            return None
        model, pairing = found
        delta = self.estimate(a).point[metric] - self.estimate(b).point[metric]
        return test_difference(delta, model, pairing, self.level, seeds=seeds)
