"""The verdicts on the paper's claims, on synthetic sweeps whose truth is planted.

A planted effect gives ``supported``, the opposite effect ``contradicted``, arms that do not differ
``inconclusive`` (with an MDE), and a sweep without the runs a claim needs ``not run``. The worlds are
written as run folders (base, rl and start on a math and a GQA suite, 3 seeds; RL trained on math also
evaluated on GQA), with :func:`records`: ``acc`` sets accuracy (around an item difficulty shared by every
run on a suite, as real test items are), ``nothink`` the accuracy without thinking, ``quality`` how often
the answerer ladder reaches gold from the thinking (so higher quality: higher xgen_score, lower
shortcut_rate); a share ``fresh`` of each run's draws is its own (seed-to-seed variation).
"""

from __future__ import annotations

import numpy as np
import pytest

from analysis.claims import CLAIMS, Test, claims_frame, few_seeds
from analysis.collect import load_runs
from analysis.compare import paired_frame
from analysis.estimate import Estimator
from analysis.report import analyze
from analysis.tables import claims_markdown
from analysis.wandb_log import read_table
from harness.evaluation.metrics import item_flags, lam_key, metric
from tests.test_analysis import ANSWERERS, GQA, LADDER, LAMBDAS, SUITE, write_run

# (method, trained on, evaluated on) -> (acc, nothink, quality)
PLANTED = {("base", SUITE, SUITE): (0.3, 0.2, 0.5), ("rl", SUITE, SUITE): (0.8, 0.2, 0.8),
           ("start", SUITE, SUITE): (0.8, 0.2, 0.8), ("base", GQA, GQA): (0.5, 0.3, 0.7),
           ("rl", GQA, GQA): (0.6, 0.5, 0.3), ("start", GQA, GQA): (0.8, 0.3, 0.9),
           ("rl", SUITE, GQA): (0.4, 0.3, 0.5)}
OPPOSITE = {("base", SUITE, SUITE): (0.3, 0.2, 0.5), ("rl", SUITE, SUITE): (0.15, 0.1, 0.5),
            ("start", SUITE, SUITE): (0.15, 0.1, 0.5), ("base", GQA, GQA): (0.5, 0.3, 0.7),
            ("rl", GQA, GQA): (0.75, 0.6, 0.95), ("start", GQA, GQA): (0.5, 0.0, 0.3),
            ("rl", SUITE, GQA): (0.95, 0.5, 0.7)}
NOISE = dict.fromkeys(PLANTED, (0.5, 0.3, 0.6))


COLUMNS = ("acc", "nothink_acc", *(f"xgen_acc/{a}" for a in ANSWERERS), *(f"xgen_nothink_acc/{a}" for a in ANSWERERS),
           *(f"p_trunc/{lam_key(lam)}" for lam in LAMBDAS))


def records(suite: str, run_key: int, n_items: int, acc: float, nothink: float, quality: float, fresh: float,
            xgen: bool = True) -> list[dict]:
    """Per-item records of one run. Every run on a suite reads the same uniform draws per item and column
    (common random numbers: the items' own difficulty), except a share ``fresh`` of them that the run draws
    anew (what differs between seeds); an arm sets the thresholds: accuracy around a shared item difficulty,
    ``nothink``, and the answerer ladder's success ``capability × quality + 0.05`` (as ``synth_records``)."""
    shared = np.random.default_rng(sum(map(ord, suite))).random((n_items, len(COLUMNS)))
    own = np.random.default_rng(run_key)
    u = np.where(own.random(shared.shape) < fresh, own.random(shared.shape), shared)
    difficulty = np.random.default_rng(len(suite)).beta(0.5, 0.5, n_items)
    p = np.clip(difficulty + acc - 0.5, 0.0, 1.0)
    out = []
    for i in range(n_items):
        thresholds = {"acc": p[i], "nothink_acc": nothink}
        for j, name in enumerate(ANSWERERS):
            thresholds[f"xgen_acc/{name}"] = min(1.0, (0.4 + 0.2 * j) * quality + 0.05)
            thresholds[f"xgen_nothink_acc/{name}"] = (0.4 + 0.2 * j) * 0.3
        for lam in LAMBDAS:
            thresholds[f"p_trunc/{lam_key(lam)}"] = nothink + lam * (p[i] - nothink)
        keep = COLUMNS if xgen else ("acc", "nothink_acc")
        r = {"id": f"{suite}-test-{i}", "think_tokens": 10, "no_think_close": 0.0, "empty_think": 0.0,
             **{c: float(u[i, COLUMNS.index(c)] < thresholds[c]) for c in keep}}
        r["reward"] = r["acc"]
        if xgen:
            r.update(item_flags(r, LADDER))
        out.append(r)
    return out


def world(sweep, arms: dict, n_items: int = 120, fresh: float = 0.2, transfer: bool = True, xgen: bool = True,
          seeds: tuple[int, ...] = (0, 1, 2)):
    for seed in seeds:
        for m, method in enumerate(("base", "rl", "start")):
            for d, data in enumerate((SUITE, GQA)):
                extra = {}
                if transfer and data != GQA and (method, data, GQA) in arms:
                    extra = {GQA: records(GQA, 1000 + 10 * seed + m, n_items, *arms[(method, data, GQA)], fresh, xgen)}
                write_run(sweep, method, seed, data=data, extra_suites=extra,
                          records=records(data, 100 * seed + 10 * m + d, n_items, *arms[(method, data, data)], fresh,
                                          xgen))
    return load_runs(sweep)


def verdicts(runs) -> dict[int, str]:
    frame = claims_frame(paired_frame(Estimator(runs)))
    return {int(c): g["verdict"].iloc[0] for c, g in frame.groupby("claim")}


def test_a_planted_effect_supports_every_claim(tmp_path):
    frame = claims_frame(paired_frame(Estimator(world(tmp_path / "sweep", PLANTED))))
    assert {int(c): g["verdict"].iloc[0] for c, g in frame.groupby("claim")} == dict.fromkeys((1, 2, 3, 4),
                                                                                               "supported")
    primary = frame[frame.role == "primary"]
    assert set(primary.outcome) <= {"agrees", "unresolved"}  # claim 4 needs one significant comparison, not all
    assert (primary[primary.claim < 4].outcome == "agrees").all()
    assert primary.p_holm.notna().all() and (primary.p_holm >= primary.p - 1e-12).all()
    assert primary.mde.notna().all()
    contrast = frame[frame.question == "RL gain on GQA vs RLVR gain on math"].iloc[0]
    assert contrast.delta == pytest.approx((0.6 - 0.5) - (0.8 - 0.3), abs=0.12) and contrast.ci_hi < 0
    # secondary comparisons are shown with unadjusted p and do not enter the Holm family
    assert frame[frame.role == "secondary"].p_holm.isna().all()


def test_the_opposite_effect_contradicts_every_claim(tmp_path):
    assert verdicts(world(tmp_path / "sweep", OPPOSITE)) == dict.fromkeys((1, 2, 3, 4), "contradicted")


def test_arms_that_do_not_differ_are_inconclusive_with_an_mde(tmp_path):
    runs = world(tmp_path / "sweep", NOISE, fresh=0.5)
    frame = claims_frame(paired_frame(Estimator(runs)))
    assert {int(c): g["verdict"].iloc[0] for c, g in frame.groupby("claim")} == dict.fromkeys((1, 2, 3, 4),
                                                                                               "inconclusive")
    assert frame[frame.verdict == "inconclusive"].reason.str.contains("MDE").all()
    text = claims_markdown(frame, "", 0.95)
    assert text.count("| **inconclusive** |") == 4 and text.count("\n**inconclusive**: ") == 4  # summary, sections


def test_a_sweep_without_the_runs_says_not_run(tmp_path):
    runs = world(tmp_path / "no_transfer", PLANTED, transfer=False)
    frame = claims_frame(paired_frame(Estimator(runs)))
    got = {int(c): g for c, g in frame.groupby("claim")}
    assert got[1].verdict.iloc[0] == "not run" and "evaluated on a GQA suite" in got[1].reason.iloc[0]
    assert got[2].verdict.iloc[0] == "supported" and got[3].verdict.iloc[0] == "supported"
    runs = world(tmp_path / "no_ladder", PLANTED, xgen=False)  # no Cross-Generation: no xgen_score, shortcut_rate
    assert verdicts(runs) == {1: "supported", 2: "not run", 3: "not run", 4: "not run"}


def test_one_seed_decides_nothing(tmp_path):
    """With one seed the intervals cover the items only: no comparison may support or contradict a claim."""
    frame = claims_frame(paired_frame(Estimator(world(tmp_path / "sweep", PLANTED, seeds=(0,)))))
    assert set(frame.verdict) == {"inconclusive"}
    primary = frame[frame.role == "primary"]
    assert (primary.outcome == "unresolved").all() and primary.p.min() < 0.001  # significant over items alone
    assert frame.reason.str.contains("1 seed: the seed variation is not in the interval").all()


def test_rules_are_stated_once():
    # every compared metric has a direction in the metric catalogue; every claim has primary comparisons
    for claim in CLAIMS:
        assert any(t.primary for t in claim.tests)
        for test in claim.tests:
            assert test.expect == "differs" or metric(test.metric).direction in ("higher", "lower")


def test_claims_in_every_analysis(tmp_path):
    world(tmp_path / "sweep", PLANTED, n_items=40)
    out = analyze(tmp_path / "sweep")
    claims = read_table(out / "claims.csv")
    assert set(claims.claim) == {1, 2, 3, 4} and {"verdict", "delta", "ci_lo", "ci_hi", "p", "mde"} <= set(claims)
    report = (out / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Sweep") and report.index("## The paper's claims") < report.index("## Accuracy")
    assert "Fewer than 5 seeds" in report and "Fewer than 5 seeds" in (out / "claims.md").read_text()
    assert few_seeds(read_table(out / "paired.csv")) == 3
    assert "MDE" in (out / "paired.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(("metric_name", "expect", "message"), [
    ("nothink_acc", "better", "direction 'neither'"),  # a diagnostic has no better side
    ("acc", "higher", "expect must be one of"),
])
def test_a_claim_test_that_cannot_be_signed_is_refused_where_it_is_written(metric_name, expect, message):
    with pytest.raises(ValueError, match=message):
        Test("RL vs base", metric_name, expect)
    assert Test("RL vs base", metric_name, "differs").sign == 0
