"""A verdict on each of the paper's four claims (``research.md`` §1) from the rows of the paired table.

Each claim is tested by named comparisons (:class:`Test`): a question of :mod:`analysis.compare`, a
metric, the kind of suite, and what the claim expects of A − B in that metric's direction (``better``,
``worse``, or ``differs``). Primary comparisons decide the verdict; secondary ones are shown beside them.

Rules (per claim and setting; docs/analysis.md "Verdicts"):

- The primary comparisons of all claims in a setting are one family: their p-values are Holm-adjusted
  together (a comparison used by two claims counts once). A comparison *agrees* when its adjusted p is
  below α = 0.05 and Δ has the expected sign (any sign for ``differs``), *opposes* when it is
  significant with the other sign, and is *unresolved* otherwise (not testable included, and a trained
  arm with one seed: its interval leaves out the seed variation). Secondary comparisons are judged the
  same way on their unadjusted p, for context only.
- ``all`` claims (1–3): **contradicted** if any primary comparison opposes; else **not run** if the sweep
  lacks the runs of any primary comparison (or their budgets are not matched); else **supported** if
  every primary comparison agrees; else **inconclusive**, quoting each unresolved comparison's MDE and
  the seeds that would detect its Δ.
- ``any`` claim (4, Cross-Generation tells thinking quality apart: xgen_score differs between trained
  and base thinking, or between methods): **contradicted** if for some pair xgen_score is significant
  (adjusted) and the pair's thinking_gain (the policy's own gain from its thinking) is significant
  (unadjusted) with the opposite sign — the ladder ranks the thinking against the policy's own use of
  it; else **supported** if any primary comparison is significant; else **not run** without any primary
  comparison; else **inconclusive** with the smallest MDE.

Arms come from :class:`analysis.compare.Arm` through the questions; metric directions from the metric
catalogue (``harness.evaluation.metrics``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.compare import RL_BASE_SHIFTED, START_RL_SHIFTED, suite_kind
from analysis.estimate import ONE_SEED_NOTE
from analysis.stats import ALPHA, holm
from harness.evaluation.metrics import metric

VERDICTS = ("supported", "contradicted", "inconclusive", "not run")
#: fewer seeds than this per arm: the report warns (t with about k − 1 df, wide intervals, large MDE)
FEW_SEEDS = 5
CLAIM_COLUMNS = ["claim", "statement", "setting", "verdict", "reason", "role", "test", "question", "suite", "a", "b",
                 "metric", "expected", "delta", "ci_lo", "ci_hi", "p", "p_holm", "mde", "seeds_needed", "seeds_a",
                 "seeds_b", "pairing", "power_note", "outcome"]
NAN = math.nan
EXPECTATIONS = ("better", "worse", "differs")


@dataclass(frozen=True)
class Test:
    """One comparison of a claim: the rows of ``question`` on ``metric`` (suites of ``kind``; None: any)."""

    question: str
    metric: str
    expect: str  # "better" | "worse" | "differs": A vs B, in the metric's direction
    kind: str | None = None
    primary: bool = True

    def __post_init__(self) -> None:
        if self.expect not in EXPECTATIONS:
            raise ValueError(f"{self.label}: expect must be one of {EXPECTATIONS}, got {self.expect!r}")
        direction = metric(self.metric).direction
        if self.expect != "differs" and direction not in ("higher", "lower"):
            raise ValueError(f"{self.label}: {self.metric!r} has direction {direction!r} (neither better higher nor "
                             "lower), so only expect='differs' can be tested on it")

    @property
    def sign(self) -> int:
        """The sign of A − B the claim expects (0: either)."""
        if self.expect == "differs":
            return 0
        return {"better": 1, "worse": -1}[self.expect] * {"higher": 1, "lower": -1}[metric(self.metric).direction]

    @property
    def label(self) -> str:
        where = f" on {self.kind}" if self.kind else ""
        return f"{self.question}{where}: {self.metric} {self.expect}"


@dataclass(frozen=True)
class Claim:
    number: int
    statement: str
    tests: tuple[Test, ...]
    rule: str = "all"  # "all" or "any" (see the module docstring)


GQA, MATH = "gqa", "math"
RL_BASE, START_BASE, START_RL = "RL vs base", "START vs base", "START vs RL on GQA"
CLAIMS = (
    Claim(1, "RLVR improves thinking on verifiable tasks, but the gain does not transfer well to GQA", (
        Test(RL_BASE, "acc", "better", MATH),
        Test("RLVR transfer vs direct RL on GQA", "acc", "worse"),
        Test(RL_BASE, "xgen_score", "better", MATH, primary=False),
        Test(RL_BASE, "thinking_gain", "better", MATH, primary=False),
        Test("RLVR transfer to GQA: RL trained on math vs base", "acc", "differs", primary=False))),
    Claim(2, "RL trained directly on GQA is less effective than RLVR and shows shortcuts", (
        Test("RL gain on GQA vs RLVR gain on math", "acc", "worse"),
        Test(RL_BASE, "shortcut_rate", "worse", GQA),
        Test(RL_BASE, "acc", "better", GQA, primary=False),
        Test(RL_BASE, "independence_rate", "worse", GQA, primary=False),
        Test(RL_BASE, "xgen_score", "differs", GQA, primary=False),
        # a shortcut RL learnt does not hold where it is never right (research.md §6)
        Test(RL_BASE_SHIFTED, "acc", "worse", primary=False))),
    Claim(3, "START improves GQA thinking and answers over RL", (
        Test(START_RL, "acc", "better"),
        Test(START_RL, "xgen_score", "better"),
        Test(START_RL, "shortcut_rate", "better", primary=False),
        Test(START_RL, "thinking_gain", "better", primary=False),
        Test(START_RL_SHIFTED, "acc", "better", primary=False))),
    Claim(4, "Cross-Generation tells thinking quality apart", (
        Test(RL_BASE, "xgen_score", "differs"),
        Test(START_BASE, "xgen_score", "differs"),
        Test(START_RL, "xgen_score", "differs"),
        Test("START vs RL on math", "xgen_score", "differs"),
        Test(RL_BASE, "thinking_gain", "differs", primary=False),
        Test(START_BASE, "thinking_gain", "differs", primary=False),
        Test(START_RL, "thinking_gain", "differs", primary=False),
        Test("START vs RL on math", "thinking_gain", "differs", primary=False)), rule="any"),
)


def _rows(paired: pd.DataFrame, test: Test, setting: str, kinds: dict[str, str] | None) -> pd.DataFrame:
    """The paired-table rows of ``test`` in ``setting`` (compared, not testable or refused)."""
    rows = paired[(paired["question"] == test.question) & (paired["setting"] == setting)]
    if test.kind is not None:
        rows = rows[[suite_kind(s, kinds) == test.kind for s in rows["suite"]]]
    refused = rows[rows["status"].str.startswith("NOT MATCHED")]
    return pd.concat([rows[rows["metric"] == test.metric], refused])


def _outcome(row: pd.Series, test: Test, p_adj: float, alpha: float) -> str:
    if row["status"].startswith("NOT MATCHED"):
        return "not run (budgets not matched)"
    if row["status"].startswith("not testable"):
        return "not testable"
    if ONE_SEED_NOTE in str(row["power_note"]):
        return "unresolved"  # a trained arm with one seed: its interval leaves out the seed variation
    if math.isnan(p_adj) or p_adj >= alpha:
        return "unresolved"
    sign = 1 if row["delta"] > 0 else -1
    return "agrees" if test.sign in (0, sign) else "opposes"


def _fmt(value: float, signed: bool = True) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{round(value, 3) + 0.0:+.3f}" if signed else f"{round(value, 3) + 0.0:.3f}"


def arms(row: dict) -> str:
    """``A − B``, or ``(A1 − B1) − (A2 − B2)`` for a contrast of two gains on different suites."""
    return f"({row['a']}) − ({row['b']})" if " vs " in str(row["suite"]) else f"{row['a']} − {row['b']}"


def describe(row: dict) -> str:
    """``A − B on suite, metric: Δ [lo, hi], p (Holm) …, MDE …`` for a verdict's reason."""
    where = "" if " vs " in str(row["suite"]) else f" on {row['suite']}"
    text = f"{arms(row)}{where}, {row['metric']}: Δ {_fmt(row['delta'])}"
    if isinstance(row["ci_lo"], float) and not math.isnan(row["ci_lo"]):
        p, name = (row["p_holm"], "p (Holm)") if row["role"] == "primary" else (row["p"], "p")
        text += f" [{_fmt(row['ci_lo'])}, {_fmt(row['ci_hi'])}], {name} " + ("<0.001" if p < 0.001 else f"{p:.3f}")
    if isinstance(row["mde"], float) and not math.isnan(row["mde"]):
        text += f", MDE {_fmt(row['mde'], False)}"
    if row["outcome"] == "unresolved":
        needed, note = row["seeds_needed"], str(row.get("power_note") or "")
        if ONE_SEED_NOTE in note:
            text += f" ({ONE_SEED_NOTE})"
        elif not math.isnan(needed):
            text += f"; {int(needed)} seeds per arm would detect |Δ|"
        elif note.startswith("significant"):
            text += " (p < 0.05 before the Holm adjustment)"
        elif note:
            text += f" ({note})"
    if row["outcome"] == "not testable":
        text += " (not testable: no variation)"
    return text


def claims_frame(paired: pd.DataFrame, kinds: dict[str, str] | None = None, claims: tuple[Claim, ...] = CLAIMS,
                 alpha: float = ALPHA) -> pd.DataFrame:
    """One row per claim, setting and comparison (or one row saying what the sweep lacks); see the module doc."""
    answered = paired[~paired["status"].str.startswith("not available")]
    settings = sorted(set(answered["setting"])) or [""]
    out = []
    for setting in settings:
        found = {(c.number, t): _rows(paired, t, setting, kinds) for c in claims for t in c.tests}
        family = {}  # one Holm family: the primary comparisons of every claim in this setting
        for (_, test), rows in found.items():
            if test.primary:
                for i, r in rows.iterrows():
                    if r["status"] == "compared":
                        family[i] = float(r["p"])
        adjusted = dict(zip(family, holm(list(family.values())), strict=True))
        for claim in claims:
            lines = []
            for test in claim.tests:
                rows = found[(claim.number, test)]
                if rows.empty:
                    lines.append(_missing_row(claim, test, setting, paired))
                for i, r in rows.iterrows():
                    p_adj = adjusted.get(i, NAN) if test.primary else NAN
                    outcome = _outcome(r, test, p_adj if test.primary else float(r["p"]), alpha)
                    lines.append(_row(claim, test, setting, r, p_adj, outcome))
            verdict, reason = verdict_of(claim, lines, alpha)
            out += [line | {"verdict": verdict, "reason": reason} for line in lines]
    return pd.DataFrame(out, columns=CLAIM_COLUMNS)


def _expected(test: Test) -> str:
    return {1: "A − B > 0", -1: "A − B < 0", 0: "A − B ≠ 0"}[test.sign]


def _row(claim: Claim, test: Test, setting: str, r: pd.Series, p_adj: float, outcome: str) -> dict:
    return {"claim": claim.number, "statement": claim.statement, "setting": setting,
            "role": "primary" if test.primary else "secondary", "test": test.label, "question": test.question,
            "suite": r["suite"], "a": r["a"], "b": r["b"], "metric": test.metric, "expected": _expected(test),
            "delta": r["delta"], "ci_lo": r["ci_lo"], "ci_hi": r["ci_hi"], "p": r["p"], "p_holm": p_adj,
            "mde": r["mde"], "seeds_needed": r["seeds_needed"], "seeds_a": r["seeds_a"], "seeds_b": r["seeds_b"],
            "pairing": r["pairing"], "outcome": outcome, "power_note": r["power_note"]}


def _missing_row(claim: Claim, test: Test, setting: str, paired: pd.DataFrame) -> dict:
    unavailable = paired[(paired["question"] == test.question) & paired["status"].str.startswith("not available")]
    if not unavailable.empty:
        why = unavailable["status"].iloc[0].removeprefix("not available: ")
    else:
        where = f" on a {test.kind.upper() if test.kind == 'gqa' else test.kind} suite" if test.kind else ""
        why = f"no {test.metric} for {test.question}{where}"
    return dict.fromkeys(CLAIM_COLUMNS, NAN) | {
        "claim": claim.number, "statement": claim.statement, "setting": setting,
        "role": "primary" if test.primary else "secondary", "test": test.label, "question": test.question,
        "suite": "", "a": "", "b": "", "metric": test.metric, "expected": _expected(test), "seeds_a": 0,
        "seeds_b": 0, "pairing": "", "outcome": f"not run: {why}", "power_note": ""}


def verdict_of(claim: Claim, lines: list[dict], alpha: float = ALPHA) -> tuple[str, str]:
    """The verdict of ``claim`` and why, from its comparison rows (see the module docstring)."""
    primary = [r for r in lines if r["role"] == "primary"]
    missing = [r for r in primary if r["outcome"].startswith("not run")]
    unresolved = [r for r in primary if r["outcome"] in ("unresolved", "not testable")]
    agree = [r for r in primary if r["outcome"] == "agrees"]
    if claim.rule == "any":
        conflicts = _conflicts(lines, alpha)
        if conflicts:
            return "contradicted", "; ".join(conflicts)
        if agree:
            return "supported", "significant: " + "; ".join(describe(r) for r in agree)
        if len(missing) == len(primary):
            return "not run", "; ".join(sorted({r["outcome"].removeprefix("not run: ") for r in missing}))
        best = min((r for r in unresolved if not math.isnan(r["mde"])), key=lambda r: r["mde"], default=None)
        return "inconclusive", ("no primary comparison significant"
                                + (f"; the most sensitive: {describe(best)}" if best else ""))
    opposes = [r for r in primary if r["outcome"] == "opposes"]
    if opposes:
        return "contradicted", "significant against the claim: " + "; ".join(describe(r) for r in opposes)
    if missing:
        return "not run", "; ".join(sorted({r["outcome"].removeprefix("not run: ") for r in missing}))
    if len(agree) == len(primary):
        return "supported", "every primary comparison significant as claimed: " + "; ".join(describe(r) for r in agree)
    return "inconclusive", ("not resolved: " + "; ".join(describe(r) for r in unresolved)
                            + ("; significant as claimed: " + "; ".join(describe(r) for r in agree) if agree else ""))


def _conflicts(lines: list[dict], alpha: float) -> list[str]:
    """Pairs whose xgen_score (primary, significant) and thinking_gain (significant) differ in sign."""
    gains = {(r["question"], r["suite"], r["a"], r["b"]): r for r in lines
             if r["metric"] == "thinking_gain" and not math.isnan(r["p"]) and r["p"] < alpha}
    out = []
    for r in lines:
        other = gains.get((r["question"], r["suite"], r["a"], r["b"]))
        if r["role"] == "primary" and r["outcome"] == "agrees" and other is not None and \
                (r["delta"] > 0) != (other["delta"] > 0):
            out.append(f"{describe(r)}, but thinking_gain Δ {_fmt(other['delta'])} (p {other['p']:.3g}) "
                       "has the other sign")
    return out


def few_seeds(paired: pd.DataFrame, threshold: int = FEW_SEEDS) -> int | None:
    """The fewest seeds behind a compared row (the larger arm's count: an untrained base arm may have one
    evaluation) when below ``threshold``; None otherwise."""
    compared = paired[paired["status"] == "compared"]
    if compared.empty:
        return None
    fewest = int(compared[["seeds_a", "seeds_b"]].max(axis=1).min())
    return fewest if fewest < threshold else None

