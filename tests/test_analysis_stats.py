"""The statistics on synthetic per-item data with known answers (simulated coverage: test_analysis_simulation.py).

- pseudo-values: the per-item values of a mean, the delta-method linearisation of a ratio, from the
  harness's own ``aggregate_weighted`` (so they cannot drift from the metric definition);
- the variance models against hand and scipy computations: one seed = a t test over items, a seed-only
  difference = a paired t (same seeds) or Welch (independent), per-seed deltas = the paired t over seeds;
- no variation: not testable, not p = 0; MDE and the seeds that would detect Δ; Holm;
- one base evaluation per suite (no duplicated base rows).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from analysis.claims import claims_frame
from analysis.collect import load_runs, read_items
from analysis.compare import comparison_frame, paired_frame
from analysis.estimate import Estimator, pseudo_values
from analysis.report import status_markdown
from analysis.simulate import ratio_pseudo_values
from analysis.stats import (
    ItemDifference,
    SeedsOnly,
    Sum,
    TwoWay,
    holm,
    mde,
    power_t,
    seeds_needed,
    t_quantile,
    t_test,
)
from harness.evaluation.metrics import aggregate
from tests.test_analysis import ANSWERERS, GQA, LADDER, LAMBDAS, SUITE, synth_records, write_run


def test_pseudo_values_are_the_items_of_a_mean_and_linearise_a_ratio():
    records = synth_records(3, 80, 0.6)
    info = {"answerers": ANSWERERS, "ladder": LADDER, "lambdas": LAMBDAS}
    z = pseudo_values(records, info)
    value = aggregate(records, ANSWERERS, LADDER, LAMBDAS)
    assert set(z) == set(value)
    for metric in value:
        assert z[metric].mean() == pytest.approx(value[metric], abs=1e-12), metric
    acc = np.array([r["acc"] for r in records])
    assert np.allclose(z["acc"], acc, atol=1e-12)  # a mean: exactly the items' values
    gain = acc - np.array([r["nothink_acc"] for r in records])
    assert np.allclose(z["thinking_gain"], gain, atol=1e-12)
    # a ratio Σshortcut/Σacc: the jackknife pseudo-values (as analysis/simulate.py computes them in closed form)
    # approach the delta-method influence values
    shortcut = np.array([r["shortcut"] for r in records])
    assert np.allclose(z["shortcut_rate"], ratio_pseudo_values(shortcut, acc), atol=1e-12)
    ratio = value["shortcut_rate"]
    influence = ratio + (shortcut - ratio * acc) / acc.mean()
    assert np.abs(z["shortcut_rate"] - influence).max() < 0.05
    assert np.corrcoef(z["shortcut_rate"], influence)[0, 1] > 0.999


def test_estimate_uses_the_runs_metric_definition(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(sweep, "rl", seed, data=GQA, records=synth_records(seed, 50, 0.6))
    runs = load_runs(sweep)
    est = Estimator(runs)
    (cell,) = est.cells()
    e = est.estimate(cell)
    per_run = [aggregate(read_items(sweep / r, GQA, GQA), ANSWERERS, LADDER, LAMBDAS) for r in runs["run"]]
    for metric in ("acc", "shortcut_rate", "xgen_score", "trace", "independence_rate", "xgen_gain/strong"):
        assert e.point[metric] == pytest.approx(np.mean([m[metric] for m in per_run]), abs=1e-12)
        assert e.point[metric] == pytest.approx(runs[f"{GQA}/{metric}"].mean(), abs=1e-12)
        assert e.pseudo[metric].shape == (2, 50) and e.lo[metric] < e.point[metric] < e.hi[metric]
    assert est.inconsistent == []


def test_two_way_variance_by_hand():
    rng = np.random.default_rng(0)
    z = rng.random((3, 40)) + rng.normal(0, 0.2, (3, 1))
    model = TwoWay(z)
    n, k, grand = 40, 3, z.mean()
    ms_items = k * ((z.mean(0) - grand) ** 2).sum() / (n - 1)
    ms_seeds = n * ((z.mean(1) - grand) ** 2).sum() / (k - 1)
    resid = z - z.mean(0) - z.mean(1)[:, None] + grand
    ms_resid = (resid**2).sum() / ((n - 1) * (k - 1))
    var, df = model.variance()
    assert var == pytest.approx((ms_items + ms_seeds - ms_resid) / (n * k))
    assert 1 < df < n * k
    # the interval is mean ± t·SE and p comes from the same t: p < 0.05 exactly when 0 is outside
    test = t_test(grand, var, df)
    assert test.hi - grand == pytest.approx(t_quantile(0.95, df) * math.sqrt(var))
    assert test.p == pytest.approx(2 * stats.t.sf(grand / math.sqrt(var), df))


def test_one_seed_is_a_t_test_over_items_and_seed_level_fallbacks_are_scipys():
    x = np.array([1.0, 0, 1, 1, 0, 1, 1, 1, 0, 1])
    model = TwoWay(x[None, :])
    var, df = model.variance()
    assert not model.seeds_estimated and df == 9
    assert t_test(x.mean() - 0.5, var, df).p == pytest.approx(stats.ttest_1samp(x, 0.5).pvalue)
    a, b = np.array([0.61, 0.65, 0.7]), np.array([0.5, 0.57, 0.52])
    var, df = SeedsOnly(a - b).variance()  # same seeds, shared randomness: the paired t
    assert t_test((a - b).mean(), var, df).p == pytest.approx(stats.ttest_rel(a, b).pvalue)
    var, df = Sum(SeedsOnly(a), SeedsOnly(b)).variance()  # independent seeds: Welch
    assert t_test(a.mean() - b.mean(), var, df).p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)


def test_per_seed_deltas_set_the_width_when_seeds_dominate():
    # the example: START − RL per seed +0.025, −0.100, −0.015 on 200 items; the t interval over the
    # three deltas has half-width ≈ 0.16, and the paired interval may not be narrower
    rng = np.random.default_rng(1)
    rl = (rng.random((3, 200)) < 0.85).astype(float)
    start = rl.copy()
    for seed, flips in enumerate((5, -20, -3)):  # +0.025, −0.100, −0.015
        items = np.flatnonzero(rl[seed] == (0.0 if flips > 0 else 1.0))[:abs(flips)]
        start[seed, items] = 1.0 - start[seed, items]
    deltas = start.mean(1) - rl.mean(1)
    assert deltas == pytest.approx([0.025, -0.100, -0.015])
    seed_half = stats.t.ppf(0.975, 2) * deltas.std(ddof=1) / math.sqrt(3)
    assert seed_half == pytest.approx(0.158, abs=0.001)
    var, df = TwoWay(start - rl).variance()
    test = t_test(deltas.mean(), var, df)
    assert (test.hi - test.lo) / 2 == pytest.approx(seed_half, rel=0.01)  # the items add next to nothing here
    assert test.p > 0.05 and df == pytest.approx(2, abs=0.05)


def test_no_variation_is_not_testable(tmp_path):
    var, df = TwoWay(np.zeros((3, 50))).variance()
    test = t_test(0.0, var, df)
    assert math.isnan(test.p) and math.isnan(test.lo)  # not p = 0 with a zero-width interval
    sweep = tmp_path / "sweep"
    for seed in (0, 1, 2):
        same = synth_records(seed, 150, 0.5)
        write_run(sweep, "base", seed, data=GQA, records=synth_records(50 + seed, 150, 0.3))
        write_run(sweep, "rl", seed, data=GQA, records=same)
        write_run(sweep, "start", seed, data=GQA, records=same)  # START ≡ RL item by item
        write_run(sweep, "sft", seed, data=GQA, records=synth_records(70 + seed, 150, 0.2))
    paired = paired_frame(Estimator(load_runs(sweep)))
    start_rl = paired[paired.question == "START vs RL on GQA"].set_index("metric")
    assert (start_rl["delta"] == 0).all() and start_rl["p"].isna().all() and start_rl["ci_lo"].isna().all()
    assert start_rl["status"].str.startswith("not testable: A and B are identical").all()
    assert start_rl["p_holm"].isna().all()  # not in the Holm family
    rl_sft = paired[(paired.question == "RL vs SFT")].set_index("metric").loc["acc"]
    assert rl_sft["delta"] == pytest.approx(0.3, abs=0.08) and rl_sft["ci_lo"] > 0 and rl_sft["p"] < 0.01
    assert rl_sft["pairing"] == "items+seeds" and rl_sft["p_holm"] >= rl_sft["p"]
    assert rl_sft["mde"] < rl_sft["delta"] and math.isnan(rl_sft["seeds_needed"])


def test_mde_and_seeds_needed():
    assert mde(1.0, math.inf) == pytest.approx(stats.norm.ppf(0.975) + stats.norm.ppf(0.8), abs=1e-5)
    for df in (1.5, 2, 4, 30):
        assert power_t(mde(0.1, df), 0.1, df) == pytest.approx(0.8, abs=1e-6)
        assert mde(0.1, df) > mde(0.1, 2 * df)
    rng = np.random.default_rng(2)
    seedy = TwoWay((rng.random((3, 200)) < 0.7) + rng.normal(0, 0.1, (3, 1)))  # seeds dominate
    var, df = seedy.variance()
    effect = 0.5 * mde(math.sqrt(var), df)
    needed, note = seeds_needed(seedy, effect)
    assert needed > 3 and note == f"{int(needed)} seeds"
    var, df = seedy.variance(int(needed))
    assert mde(math.sqrt(var), df) <= effect  # with that many seeds the MDE reaches |Δ|
    var, df = seedy.variance(int(needed) - 1)
    assert mde(math.sqrt(var), df) > effect  # and not with one fewer
    items = ItemDifference((rng.random((3, 200)) < 0.7).astype(float), (rng.random((3, 200)) < 0.7).astype(float))
    assert seeds_needed(items, 0.001).note.startswith("item-limited")  # seeds cannot shrink the item variation
    assert seeds_needed(items, 0.0).note.startswith("Δ = 0")
    assert seeds_needed(TwoWay(np.ones((1, 20))), 0.1).note.startswith("unknown")


def test_holm():
    assert holm([0.01, 0.04, math.nan, 0.03]) == pytest.approx([0.03, 0.06, math.nan, 0.06], nan_ok=True)


def test_one_base_evaluation_per_suite(tmp_path):
    """A base run trained on math and also evaluated on GQA is the same model as GQA's base: counted once."""
    sweep = tmp_path / "sweep"
    for seed in (0, 1, 2):
        base_gqa = synth_records(seed, 60, 0.3)
        write_run(sweep, "base", seed, data=GQA, records=base_gqa)
        write_run(sweep, "base", seed, data=SUITE, records=synth_records(5, 60, 0.2, suite=SUITE),
                  extra_suites={GQA: base_gqa})
        write_run(sweep, "rl", seed, data=GQA, records=synth_records(10 + seed, 60, 0.8))
        write_run(sweep, "rl", seed, data=SUITE, records=synth_records(20 + seed, 60, 0.9, suite=SUITE),
                  extra_suites={GQA: synth_records(30 + seed, 60, 0.4)})
    est = Estimator(load_runs(sweep))
    table = comparison_frame(est)
    assert sorted(set(table[table.suite == GQA].method + "/" + table[table.suite == GQA].trained_on)) == [
        f"base/{GQA}", f"rl/{GQA}", f"rl/{SUITE}"]
    paired = paired_frame(est)
    transfer = paired[paired.question.str.startswith("RLVR transfer to GQA") & (paired.metric == "acc")]
    assert list(transfer.b) == ["base"]  # one row, not one per base evaluation
    assert est.duplicates == [f"`base (data={SUITE})` on {GQA}: the same base model as `base` there; counted once"]
    assert "counted once" in status_markdown(est.ok, [], est.duplicates)


def test_one_base_evaluation_on_a_suite_no_run_trains_on(tmp_path):
    """A shifted split (micro_gqa_ood) is evaluated by the base runs of every suite: the first stands for all."""
    sweep, ood = tmp_path / "sweep", "micro_gqa_ood"
    for seed in (0, 1, 2):
        base_ood = synth_records(7, 60, 0.2, suite=ood, xgen=False)
        for data in (GQA, SUITE):
            write_run(sweep, "base", seed, data=data, records=synth_records(seed, 60, 0.3, suite=data),
                      extra_suites={ood: base_ood})
        write_run(sweep, "rl", seed, data=SUITE, records=synth_records(20 + seed, 60, 0.9, suite=SUITE),
                  extra_suites={ood: synth_records(30 + seed, 60, 0.4, suite=ood, xgen=False)})
    est = Estimator(load_runs(sweep))
    bases = [c for c in est.cells() if c.suite == ood and c.role == "base"]
    assert len(bases) == 1
    transfer = paired_frame(est)
    transfer = transfer[transfer.question.str.startswith("RLVR transfer to GQA") & (transfer.metric == "acc")]
    assert list(transfer.suite) == [ood] and list(transfer.b) == [bases[0].display]  # one row
    assert len(est.duplicates) == 1 and est.duplicates[0].startswith("`base (data=") and ood in est.duplicates[0]


def test_runs_are_compared_on_the_shifted_split_of_the_suite_they_trained_on(tmp_path):
    """The i.i.d. vs o.o.d. protocol: START and RL trained on a GQA suite, compared on its shifted split (as the
    runs record in thinking_eval.shifted) in a question of their own, secondary in claims 2 and 3; the
    questions and verdicts on the suites themselves do not change."""
    sweep, ood = tmp_path / "sweep", "micro_gqa_ood"
    for seed in (0, 1, 2):
        base_ood = synth_records(7, 80, 0.2, suite=ood, xgen=False)
        write_run(sweep, "base", seed, data=GQA, records=synth_records(seed, 80, 0.5), extra_suites={ood: base_ood},
                  shifted={ood: GQA})
        for method, acc_ood in (("rl", 0.1), ("start", 0.6)):
            write_run(sweep, method, seed, data=GQA, records=synth_records(40 + seed, 80, 0.7),
                      extra_suites={ood: synth_records(50 + seed, 80, acc_ood, suite=ood, xgen=False)},
                      shifted={ood: GQA})
    est = Estimator(load_runs(sweep))
    assert est.shifted == {ood: GQA}
    paired = paired_frame(est)
    acc = paired[paired.metric == "acc"].set_index("question")
    assert acc.loc["START vs RL on the shifted split", "suite"] == ood
    assert acc.loc["START vs RL on the shifted split", "delta"] > 0.3
    assert acc.loc["RL vs base on the shifted split", "delta"] < -0.02
    assert acc.loc["START vs RL on GQA", "suite"] == GQA  # (not also on the shifted split)
    claims = claims_frame(paired)
    shifted = claims[claims.test.str.contains("shifted split")].set_index("claim")
    assert set(shifted.role) == {"secondary"} and shifted.loc[3, "outcome"] == "agrees"
    assert shifted.loc[2, "suite"] == ood


def test_without_a_recorded_shifted_split_the_shifted_questions_say_what_they_need(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        for method in ("base", "rl", "start"):
            write_run(sweep, method, seed, data=GQA, records=synth_records(seed, 40, 0.5))
    paired = paired_frame(Estimator(load_runs(sweep)))
    row = paired[paired.question == "START vs RL on the shifted split"]
    assert list(row.status) == ["not available: the sweep has no method=start and method=rl runs evaluated on a "
                                "shifted test split of the suite they trained on"]
