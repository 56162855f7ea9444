"""Simulated experiments with known truth (analysis/simulate.py): the intervals hold their coverage.

For k ∈ {3, 5, 10} seeds, 200 binary items, item-dominated and seed-dominated variation:
- a cell's nominal 95% interval covers the true mean 93–97% of the time, for a mean (accuracy) and for a
  ratio of sums (shortcut_rate-like, through its jackknife pseudo-values);
- a paired difference (by items and seeds, the runs sharing randomness) covers 93–97% of the time, and its
  test flags at most 6% of the experiments without a difference; with a planted difference its power is close
  to what the noncentral t predicts (the MDE is that prediction inverted);
- paired by items only (independent seeds), the Welch-like design: at most 6% false positives; conservative
  with 3 seeds (like Welch's test, about 0.965), so its coverage band is 93–98%;
- the check can fail: an interval that treats seeds as more items (ignores the seed variation) covers far
  less than 93% in the seed-dominated regime.
The full tables (more experiments) are in docs/analysis.md: ``python -m analysis.simulate --reps 20000``.
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.simulate import (
    PLANTED,
    REGIMES,
    SEEDS,
    cell_test,
    covers,
    difference_test,
    simulate_cell,
    simulate_pair,
    simulate_ratio_cell,
)
from analysis.stats import mde, power_t, t_test

REPS = 4000  # experiments per configuration for coverage and false positives (±0.0035 at 0.95)
REPS_POWER = 1000  # experiments per configuration with a planted difference (power ±0.015)
CASES = [(regime, k) for regime in REGIMES for k in SEEDS]




@pytest.mark.parametrize("regime,k", CASES)
def test_cell_interval_covers_the_true_mean(regime, k):
    rng = np.random.default_rng([k, len(regime), 1])
    y, truth = simulate_cell(rng, REGIMES[regime], k, REPS)
    coverage = covers(cell_test(y), truth).mean()
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("regime,k", CASES)
def test_cell_interval_of_a_ratio_metric_covers(regime, k):
    """shortcut_rate-like Σflag/Σacc: jackknife pseudo-values (the delta method) in the same model."""
    rng = np.random.default_rng([k, len(regime), 6])
    z, truth = simulate_ratio_cell(rng, REGIMES[regime], k, REPS)
    coverage = covers(cell_test(z), truth).mean()
    assert 0.93 <= coverage <= 0.97, coverage


@pytest.mark.parametrize("regime,k", CASES)
def test_paired_difference_covers_and_holds_its_level(regime, k):
    rng = np.random.default_rng([k, len(regime), 2])
    ya, yb, truth = simulate_pair(rng, REGIMES[regime], k, REPS, 0.0, shared=True)
    test = difference_test(ya, yb, shared=True)
    assert truth == 0.0
    assert 0.93 <= covers(test, truth).mean() <= 0.97
    assert (test.p < 0.05).mean() <= 0.06
    # p and the interval agree: p < 0.05 exactly when the interval excludes 0
    assert np.array_equal(test.p < 0.05, (test.lo > 0) | (test.hi < 0))


@pytest.mark.parametrize("regime,k", CASES)
def test_paired_difference_power_for_a_planted_difference(regime, k):
    rng = np.random.default_rng([k, len(regime), 3])
    ya, yb, truth = simulate_pair(rng, REGIMES[regime], k, REPS_POWER, PLANTED, shared=True)
    test = difference_test(ya, yb, shared=True)
    power = (test.p < 0.05).mean()
    delta = ya.mean(axis=(-2, -1)) - yb.mean(axis=(-2, -1))
    # what the MDE column assumes: the noncentral t at the true SE and the df (the interval is conservative with
    # 3 seeds and no seed variation, so the power falls a few points short of it there)
    predicted = power_t(truth, float(delta.std()), float(np.median(test.df)))
    assert -0.1 <= power - predicted <= 0.07, (power, predicted)
    if regime == "item":  # the planted +0.065 is found with 5 seeds when seeds do not vary
        assert power >= (0.6 if k == 3 else 0.95)
    else:  # and missed most of the time when they do: the MDE says so
        assert power <= 0.5 and mde(float(np.median(test.se)), float(np.median(test.df))) > 1.5 * truth


@pytest.mark.parametrize("regime,k", CASES)
def test_difference_paired_by_items_only(regime, k):
    rng = np.random.default_rng([k, len(regime), 4])
    ya, yb, truth = simulate_pair(rng, REGIMES[regime], k, REPS, 0.0, shared=False)
    test = difference_test(ya, yb, shared=False)
    assert 0.93 <= covers(test, truth).mean() <= 0.98  # Welch-like: conservative with 3 seeds
    assert (test.p < 0.05).mean() <= 0.06


def test_the_coverage_check_fails_an_interval_that_ignores_the_seeds():
    rng = np.random.default_rng(5)
    y, truth = simulate_cell(rng, REGIMES["seed"], 3, REPS)
    flat = y.reshape(REPS, 1, -1)  # every seed's answers as more items of one run
    naive = t_test(flat.mean(axis=(-2, -1)), flat.var(axis=-1, ddof=1)[..., 0] / flat.shape[-1], np.inf)
    assert covers(naive, truth).mean() < 0.7
    assert covers(cell_test(y), truth).mean() >= 0.93
