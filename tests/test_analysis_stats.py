"""The statistics on synthetic per-item data with known answers.

- the bootstrap recomputes every metric with the harness's own ``aggregate`` (so it cannot drift);
- its CI contains the true mean at (at least) the nominal rate, and is not absurdly wide;
- its paired test detects a planted difference and does not flag a null one;
- identical arms give Δ = 0 exactly; p-values, Holm and Welch match hand or scipy values.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.bootstrap import (
    Estimator,
    bootstrap_p,
    holm,
    percentile_interval,
    replicates,
    rng_for,
    seed_average,
    welch_p,
)
from analysis.collect import load_runs, read_items
from analysis.compare import paired_frame
from harness.evaluation.metrics import aggregate
from tests.test_analysis import ANSWERERS, GQA, LADDER, LAMBDAS, synth_records, write_run


def crossed_data(rep: int, n_items: int, k: int, shift: float = 0.0, tau: float = 0.05,
                 item_p: np.ndarray | None = None) -> tuple[list[list[dict]], np.ndarray]:
    """k seeds × n items of 0/1 accuracy: item difficulty shared by the seeds (true mean 0.5 + shift),
    plus a seed effect in [-tau, tau]."""
    rng = np.random.default_rng(rep)
    item_p = rng.uniform(0.2, 0.8, n_items) if item_p is None else item_p
    seed_effect = rng.uniform(-tau, tau, k)
    return [[{"acc": float(rng.random() < item_p[i] + seed_effect[s] + shift)} for i in range(n_items)]
            for s in range(k)], item_p


def bootstrap_acc(arms: list[list[list[dict]]], rep: int, n_boot: int = 200) -> list[np.ndarray]:
    """Replicates of mean acc for each arm, with the same (paired) item and seed draws, as the Estimator draws them."""
    k, n = len(arms[0]), len(arms[0][0])
    items = rng_for("items", rep).integers(0, n, size=(n_boot, n))
    seeds = rng_for("seeds", rep).integers(0, k, size=(n_boot, k))
    return [seed_average([replicates(records, {}, items)["acc"] for records in arm], seeds) for arm in arms]


def test_bootstrap_uses_the_runs_metric_definition(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(sweep, "rl", seed, data=GQA, records=synth_records(seed, 50, 0.6))
    runs = load_runs(sweep)
    est = Estimator(runs, n_boot=50)
    (cell,) = est.cells()
    e = est.estimate(cell)
    per_run = [aggregate(read_items(sweep / r, GQA, GQA), ANSWERERS, LADDER, LAMBDAS) for r in runs["run"]]
    for metric in ("acc", "shortcut_rate", "xgen_score", "trace", "independence_rate", "xgen_gain/strong"):
        assert e.point[metric] == pytest.approx(np.mean([m[metric] for m in per_run]), abs=1e-12)
        assert e.point[metric] == pytest.approx(runs[f"{GQA}/{metric}"].mean(), abs=1e-12)
    assert est.inconsistent == []
    # a replicate is aggregate() on resampled items: shortcut_rate is a ratio of sums, not a mean of ratios
    # (all replicates at once, from how often each item was drawn: every metric as on the listed records)
    records = read_items(sweep / runs["run"].iloc[0], GQA, GQA)
    draws = rng_for("x").integers(0, len(records), size=(5, len(records)))
    reps = replicates(records, runs["thinking_eval"].iloc[0], draws)
    for b, draw in enumerate(draws):
        expected = aggregate([records[i] for i in draw], ANSWERERS, LADDER, LAMBDAS)
        assert set(reps) == set(expected)
        for metric, value in expected.items():
            assert reps[metric][b] == pytest.approx(value, abs=1e-12), metric
        shortcut = sum(records[i]["shortcut"] for i in draw) / sum(records[i]["acc"] for i in draw)
        assert reps["shortcut_rate"][b] == pytest.approx(shortcut)


def test_bootstrap_p_counts_rounding_differences_as_ties():
    # 0.1 + 0.2 - 0.3 is 5.6e-17, not 0: a difference of float rounding must not decide a test
    rounding = np.array([0.1 + 0.2 - 0.3] * 9 + [0.5])
    assert bootstrap_p(rounding) == 1.0
    assert bootstrap_p(np.array([0.01] * 99 + [-0.01])) == pytest.approx(2 * 2 / 101)


def test_ci_contains_the_true_mean_at_the_nominal_rate():
    covered, widths, points = [], [], []
    for rep in range(200):
        seeds, _ = crossed_data(rep, n_items=60, k=4)
        (reps,) = bootstrap_acc([seeds], rep)
        lo, hi = percentile_interval(reps, 0.95)
        covered.append(lo <= 0.5 <= hi)
        widths.append(hi - lo)
        points.append(np.mean([[r["acc"] for r in s] for s in seeds]))
    coverage = np.mean(covered)
    assert 0.92 <= coverage <= 0.995, coverage
    # not trivially wide: close to the width a normal interval with the true standard error would have
    assert 0.85 <= np.mean(widths) / (2 * 1.96 * np.std(points)) <= 1.4


def test_paired_test_detects_a_planted_difference_and_flags_no_null_one():
    def rejects(shift: float, rep: int) -> bool:
        a, item_p = crossed_data(rep, n_items=200, k=3, shift=shift)
        b, _ = crossed_data(10_000 + rep, n_items=200, k=3, item_p=item_p)  # same items, other seeds
        reps_a, reps_b = bootstrap_acc([a, b], rep, n_boot=100)  # smallest p: 2/101, below 0.05
        return bootstrap_p(reps_a - reps_b) < 0.05

    assert np.mean([rejects(0.0, rep) for rep in range(60)]) <= 0.05
    assert np.mean([rejects(0.15, rep) for rep in range(60)]) >= 0.8


def test_identical_arms_and_a_planted_difference_through_the_run_folders(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1, 2):
        same = synth_records(seed, 150, 0.5)
        write_run(sweep, "base", seed, data=GQA, records=synth_records(50 + seed, 150, 0.3))
        write_run(sweep, "rl", seed, data=GQA, records=same)
        write_run(sweep, "start", seed, data=GQA, records=same)  # START ≡ RL item by item
        write_run(sweep, "sft", seed, data=GQA, records=synth_records(70 + seed, 150, 0.2))
    paired = paired_frame(Estimator(load_runs(sweep), n_boot=300))
    start_rl = paired[paired.question == "START vs RL on GQA"].set_index("metric")
    assert (start_rl["delta"] == 0).all() and (start_rl["ci_lo"] == 0).all() and (start_rl["p"] == 1).all()
    rl_sft = paired[(paired.question == "RL vs SFT")].set_index("metric").loc["acc"]
    assert rl_sft["delta"] == pytest.approx(0.3, abs=0.08) and rl_sft["ci_lo"] > 0 and rl_sft["p"] < 0.01
    assert rl_sft["pairing"] == "items+seeds" and rl_sft["p_holm"] >= rl_sft["p"]


def test_p_values_holm_and_welch():
    assert bootstrap_p(np.zeros(99)) == 1.0
    assert bootstrap_p(np.full(99, 0.1)) == pytest.approx(2 / 100)
    assert bootstrap_p(np.array([-1.0] * 25 + [1.0] * 75)) == pytest.approx(2 * 26 / 101)
    assert holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.06, math.nan, 0.06], nan_ok=True)
    scipy_stats = pytest.importorskip("scipy.stats")
    a, b = [0.61, 0.65, 0.7, 0.58], [0.5, 0.57, 0.52]
    assert welch_p(a, b) == pytest.approx(scipy_stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-6)
    assert math.isnan(welch_p([0.5], [0.4, 0.3]))
