"""Simulated experiments with known truth: the coverage, false-positive rate and power of the analysis's intervals.

``python -m analysis.simulate [--reps N]`` prints the tables of docs/analysis.md; tests/test_analysis_simulation.py
runs the same simulations with fewer replicates. Everything is vectorised over replicates (numpy), so a
configuration of 2000 experiments × 10 seeds × 200 items takes a fraction of a second.

The world: n test items (binary accuracy, like ``acc``), k seeds per arm. A run answers item i right with
probability ``expit(c + a_i + b_s + g_si (+ η_i + u_s + w_si for a method) + δ)``: item difficulty ``a_i``
(shared by every seed and method: the same test items), a seed effect ``b_s`` (what training seed s did),
an item × seed interaction ``g_si``. A second arm adds its own item × method (``η_i``), seed (``u_s``) and
residual (``w_si``) deviations and the planted logit shift δ. Where the two arms *share randomness* (same
seed list and training data), seed s of both has the same ``b_s``, ``g_si`` and the same uniform draws
(common random numbers): with δ = 0 and no arm deviations they give identical answers, as RL and START do
in their first steps. Otherwise everything of the two arms is independent. The truth is the expectation
over the item and seed populations, ``E expit(c + σZ)`` by Gauss–Hermite quadrature; under δ = 0 the two
arms have the same truth.

Regimes: ``item`` (no seed effect: the spread of seed means is the items' Bernoulli noise alone) and
``seed`` (a seed effect whose seed-to-seed SD of accuracy is ≈ 0.10, far above the item noise of a mean
of 200 items). Intervals come from :mod:`analysis.stats` exactly as :class:`analysis.estimate.Estimator`
builds them (for a mean metric the jackknife pseudo-values are the per-item values).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
from scipy.special import expit

from analysis.stats import LEVEL, ItemDifference, TTest, TwoWay, mde, power_t, t_test

N_ITEMS = 200
SEEDS = (3, 5, 10)
PLANTED = 0.4  # logit shift of the planted difference (≈ +0.065 accuracy here)
_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)


def expit_mean(centre: float, sd: float) -> float:
    """E[expit(centre + sd·Z)], Z standard normal (Gauss–Hermite)."""
    return float((_GH_W * expit(centre + sd * _GH_X)).sum() / _GH_W.sum())


@dataclass(frozen=True)
class Regime:
    """Standard deviations (logit scale) of the effects of the simulated world (see the module docstring)."""

    name: str
    seed_sd: float  # b_s: shared by the arms that share randomness
    arm_seed_sd: float  # u_s: an arm's own seed deviation (differences only)
    item_sd: float = 1.5  # a_i
    interaction_sd: float = 0.5  # g_si
    method_item_sd: float = 0.5  # η_i
    method_noise_sd: float = 0.3  # w_si
    centre: float = 0.3

    def total_sd(self, arm: bool) -> float:
        parts = [self.item_sd, self.seed_sd, self.interaction_sd]
        parts += [self.method_item_sd, self.arm_seed_sd, self.method_noise_sd] if arm else []
        return float(np.sqrt(np.sum(np.square(parts))))


REGIMES = {"item": Regime("item", seed_sd=0.0, arm_seed_sd=0.0),
           "seed": Regime("seed", seed_sd=0.6, arm_seed_sd=0.5)}


def _normal(rng: np.random.Generator, sd: float, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32) * np.float32(sd)


def simulate_cell(rng: np.random.Generator, regime: Regime, k: int, reps: int, n: int = N_ITEMS
                  ) -> tuple[np.ndarray, float]:
    """``reps`` experiments of one cell: (reps, k, n) 0/1 answers and the true mean accuracy."""
    logit = (np.float32(regime.centre) + _normal(rng, regime.item_sd, (reps, 1, n))
             + _normal(rng, regime.seed_sd, (reps, k, 1)) + _normal(rng, regime.interaction_sd, (reps, k, n)))
    y = (rng.random((reps, k, n), dtype=np.float32) < expit(logit)).astype(np.float64)
    return y, expit_mean(regime.centre, regime.total_sd(arm=False))


def simulate_pair(rng: np.random.Generator, regime: Regime, k: int, reps: int, delta: float, shared: bool,
                  n: int = N_ITEMS) -> tuple[np.ndarray, np.ndarray, float]:
    """``reps`` experiments of arms A (logit shift ``delta``) and B on the same items: (reps, k, n) answers
    each and the true difference of their mean accuracies. ``shared``: seed s of both arms shares randomness."""
    logit = (np.float32(regime.centre) + _normal(rng, regime.item_sd, (reps, 1, n))
             + _normal(rng, regime.method_item_sd, (2, reps, 1, n)) + _normal(rng, regime.arm_seed_sd, (2, reps, k, 1))
             + np.array([delta, 0.0], np.float32).reshape(2, 1, 1, 1))
    if shared:  # the same seed effect, item × seed interaction and uniforms for both arms; their own noise apart
        logit = logit + _normal(rng, regime.seed_sd, (reps, k, 1)) + _normal(rng, regime.interaction_sd, (reps, k, n))
        logit = logit + _normal(rng, regime.method_noise_sd, (2, reps, k, n))
        uniform = rng.random((reps, k, n), dtype=np.float32)
    else:  # independent: the interaction and the arm's own noise are one normal per arm
        logit = logit + _normal(rng, regime.seed_sd, (2, reps, k, 1))
        logit = logit + _normal(rng, float(np.hypot(regime.interaction_sd, regime.method_noise_sd)), (2, reps, k, n))
        uniform = rng.random((2, reps, k, n), dtype=np.float32)
    y = (uniform < expit(logit)).astype(np.float64)
    sd = regime.total_sd(arm=True)
    return y[0], y[1], expit_mean(regime.centre + delta, sd) - expit_mean(regime.centre, sd)


def ratio_pseudo_values(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Jackknife pseudo-values of the ratio Σnum/Σden over the last axis (what :func:`analysis.estimate.pseudo_values`
    computes for ``shortcut_rate`` = Σshortcut/Σacc), shifted to average to the ratio."""
    n = num.shape[-1]
    total_num, total_den = num.sum(-1, keepdims=True), den.sum(-1, keepdims=True)
    ratio = total_num / total_den
    z = n * ratio - (n - 1) * (total_num - num) / (total_den - den)
    return z - z.mean(-1, keepdims=True) + ratio


def simulate_ratio_cell(rng: np.random.Generator, regime: Regime, k: int, reps: int, n: int = N_ITEMS
                        ) -> tuple[np.ndarray, float]:
    """``reps`` experiments of one cell of a ratio metric like ``shortcut_rate``: among the right answers
    (:func:`simulate_cell`'s), the share flagged, with probability ``expit(c + h_i + f_s)`` (item sd 1.0; seed
    sd = the regime's seed sd). Returns the (reps, k, n) pseudo-values and the true mean over seeds of the
    ratio (the flag is independent of being right, so it is ``E expit(c + σZ)``)."""
    right, _ = simulate_cell(rng, regime, k, reps, n)
    logit = (np.float32(-1.0) + _normal(rng, 1.0, (reps, 1, n)) + _normal(rng, regime.seed_sd, (reps, k, 1)))
    flagged = right * (rng.random((reps, k, n), dtype=np.float32) < expit(logit))
    return ratio_pseudo_values(flagged, right), expit_mean(-1.0, float(np.hypot(1.0, regime.seed_sd)))


def cell_test(y: np.ndarray, level: float = LEVEL) -> TTest:
    """The interval of each experiment's cell mean (:class:`analysis.stats.TwoWay`), as the Estimator builds it."""
    model = TwoWay(y)
    var, df = model.variance()
    return t_test(model.mean, var, df, level)


def difference_test(ya: np.ndarray, yb: np.ndarray, shared: bool, level: float = LEVEL) -> TTest:
    """The interval and p-value of A − B: paired by items always, by seed when ``shared`` (as the Estimator)."""
    model = TwoWay(ya - yb) if shared else ItemDifference(ya, yb)
    var, df = model.variance()
    return t_test(ya.mean(axis=(-2, -1)) - yb.mean(axis=(-2, -1)), var, df, level)


def covers(test: TTest, truth: float) -> np.ndarray:
    return (test.lo <= truth) & (truth <= test.hi)


@dataclass(frozen=True)
class DifferenceResult:
    coverage_null: float  # coverage of the true Δ = 0 (1 − false-positive rate)
    false_positive: float  # P(p < 0.05) with no difference planted
    coverage_planted: float
    power: float  # P(p < 0.05) with the planted difference
    predicted_power: float  # noncentral t at the true Δ, the empirical SE of Δ̂ and the median df
    median_mde: float  # the MDE at the median standard error and df of the experiments
    planted: float  # the true Δ of the planted difference


def difference_result(rng: np.random.Generator, regime: Regime, k: int, reps: int, shared: bool) -> DifferenceResult:
    ya, yb, _ = simulate_pair(rng, regime, k, reps, 0.0, shared)
    null = difference_test(ya, yb, shared)
    ya, yb, truth = simulate_pair(rng, regime, k, reps, PLANTED, shared)
    planted = difference_test(ya, yb, shared)
    delta = ya.mean(axis=(-2, -1)) - yb.mean(axis=(-2, -1))
    df = float(np.median(planted.df))
    return DifferenceResult(float(covers(null, 0.0).mean()), float((null.p < 0.05).mean()),
                            float(covers(planted, truth).mean()), float((planted.p < 0.05).mean()),
                            power_t(truth, float(delta.std()), df), mde(float(np.median(planted.se)), df), truth)


def tables(reps: int, seed: int = 0) -> str:
    """The coverage / false-positive / power tables of docs/analysis.md, as Markdown."""
    rng = np.random.default_rng(seed)
    lines = [f"Cells ({reps} experiments each, {N_ITEMS} binary items): coverage of the nominal 95% interval",
             "", "| regime | " + " | ".join(f"k={k}" for k in SEEDS) + " |", "| --- |" + " --- |" * len(SEEDS)]
    for name, regime in REGIMES.items():
        cells = [covers(cell_test(y), truth).mean() for y, truth in (simulate_cell(rng, regime, k, reps)
                                                                      for k in SEEDS)]
        lines.append(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for name, regime in REGIMES.items():
        cells = [covers(cell_test(z), truth).mean() for z, truth in (simulate_ratio_cell(rng, regime, k, reps)
                                                                      for k in SEEDS)]
        lines.append(f"| {name}, ratio (Σflag/Σacc) | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    for shared, title in ((True, "paired by items and seeds (shared randomness)"),
                          (False, "paired by items only (independent seeds)")):
        lines += ["", f"Differences A − B, {title}: coverage with no difference / false-positive rate at α = 0.05 "
                  f"/ coverage with a planted difference / power for it (predicted by the noncentral t) / median MDE",
                  "", "| regime | k | coverage (Δ = 0) | false positives | coverage (planted) | planted Δ | power "
                  "| predicted | median MDE |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
        for name, regime in REGIMES.items():
            for k in SEEDS:
                r = difference_result(rng, regime, k, reps, shared)
                lines.append(f"| {name} | {k} | {r.coverage_null:.3f} | {r.false_positive:.3f} | "
                             f"{r.coverage_planted:.3f} | {r.planted:+.3f} | {r.power:.3f} | {r.predicted_power:.3f} | "
                             f"{r.median_mde:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis.simulate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=2000, help="experiments per configuration (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="RNG seed (default 0)")
    args = parser.parse_args(argv)
    print(tables(args.reps, args.seed), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
