"""The numbers behind the tables: every cell's metrics with Δ vs base, and the paper's paired questions.

Both frames come from one :class:`analysis.estimate.Estimator`, so every interval and test uses the
same per-item tables. A comparison is made only between runs whose budgets match
(:func:`analysis.stats.pair_mismatch`); otherwise its row says ``NOT MATCHED`` and why, and carries
no number. A question that the sweep cannot answer (no such runs) gets a row that says so.

Arms are picked by :class:`Arm` (the role a method plays, as its runs declare it, and the kind of suite it
was trained on): the one place that says which cells play a part in a question, for the paired table and
for the claims. Metric order, groups and bounds come from the metric catalogue.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from analysis.estimate import Cell, Comparison, Estimator, test_difference
from analysis.stats import Sum, holm, pair_mismatch
from harness.evaluation.metrics import CATALOGUE, find

#: metrics shown first (accuracy and thinking quality) and in the health block (format, cost, modes)
HEADLINE_GROUPS, HEALTH_GROUPS = ("accuracy", "thinking"), ("format", "cost", "mode")
#: the metrics each paper question is answered on (those a sweep has)
QUESTION_METRICS = ("acc", "thinking_gain", "independence_rate", "shortcut_rate", "xgen_score", "trace")
#: substrings that name a suite's kind; a suite matching none is "other" (override with ``kinds``)
KIND_HINTS = {"math": ("math", "gsm", "aime", "minerva"), "gqa": ("gqa", "qa", "nq", "trivia", "mmlu")}
COMPARISON_COLUMNS = ["suite", "setting", "method", "trained_on", "metric", "mean", "ci_lo", "ci_hi", "se", "df",
                      "n_seeds", "n_items", "ci_method", "delta_vs_base", "delta_lo", "delta_hi", "delta_p",
                      "delta_mde", "delta_note"]
PAIRED_COLUMNS = ["question", "suite", "setting", "a", "b", "metric", "mean_a", "mean_b", "delta", "ci_lo", "ci_hi",
                  "se", "df", "p", "p_holm", "mde", "seeds_needed", "seeds_a", "seeds_b", "n_items", "pairing",
                  "power_note", "status"]
NAN = math.nan


def in_groups(metric: str, groups: tuple[str, ...]) -> bool:
    """Whether ``metric`` is a single (not per-answerer or per-λ) metric of the catalogue in ``groups``."""
    m = find(metric)
    return m is not None and not m.family and m.group in groups


def metric_range(metric: str) -> tuple[float, float]:
    """The values ``metric`` can take (the catalogue's bounds; a cell's interval is clipped to them); unbounded
    when the catalogue does not declare it."""
    m = find(metric)
    return m.bounds if m is not None else (-math.inf, math.inf)


def metric_key(metric: str) -> tuple[int, str]:
    """Sort key for metrics: the catalogue's order (a family's members by name), then the rest by name."""
    m = find(metric)
    return (CATALOGUE.index(m), metric) if m is not None else (len(CATALOGUE), metric)


def suite_kind(suite: str, kinds: dict[str, str] | None = None) -> str:
    """``math``, ``gqa`` or ``other``: from ``kinds`` when it names the suite, else from the name."""
    if kinds and suite in kinds:
        return kinds[suite]
    for kind, hints in KIND_HINTS.items():
        if any(h in suite.lower() for h in hints):
            return kind
    return "other"


def base_cell(est: Estimator, cell: Cell) -> Cell | None:
    """The base-model reference of ``cell``'s block: a base run evaluated on the same suite and setting."""
    if cell.role == "base":
        return None
    bases = [c for c in est.block(cell.suite, cell.setting) if BASE.matches(c)]
    same_data = [c for c in bases if c.data == c.suite]
    return (same_data or bases or [None])[0]


def refusal(est: Estimator, a: Cell, b: Cell) -> list[str]:
    """Why cells ``a`` and ``b`` may not be compared: budget mismatches, or different test items (empty if none)."""
    problems = pair_mismatch(est.runs_of(a), est.runs_of(b))
    ids_a, ids_b = est.estimate(a).item_ids, est.estimate(b).item_ids
    if ids_a is not None and ids_b is not None and ids_a != ids_b:
        problems.append("evaluated on different test items")
    return problems


def _delta_note(note: str, delta: Comparison | None) -> str:
    if delta is not None and delta.status != "compared":
        return "; ".join(filter(None, (note, delta.status)))
    return note


def comparison_frame(est: Estimator) -> pd.DataFrame:
    """One row per cell and metric: mean and CI (clipped to :func:`metric_range`), and the paired difference to the
    block's base (see module doc)."""
    rows = []
    for cell in est.cells():
        e = est.estimate(cell)
        base = base_cell(est, cell)
        problems = refusal(est, cell, base) if base else []
        if cell.role == "base":
            note = "reference"
        elif base is None:
            note = "no base run in this block"
        else:
            note = "NOT MATCHED: " + "; ".join(problems) if problems else ""
        for metric in sorted(e.point, key=metric_key):
            delta = est.compare(cell, base, metric, seeds=False) if base and not problems else None
            metric_note = "metric absent in base" if delta is None and not note else note
            low, high = metric_range(metric)
            rows.append({"suite": cell.suite, "setting": cell.setting, "method": cell.label, "trained_on": cell.data,
                         "metric": metric, "mean": e.point[metric], "ci_lo": max(e.lo[metric], low),
                         "ci_hi": min(e.hi[metric], high),
                         "se": e.se[metric], "df": e.df[metric], "n_seeds": len(e.seeds), "n_items": e.n_items or 0,
                         "ci_method": e.ci_method[metric], "delta_vs_base": delta.delta if delta else NAN,
                         "delta_lo": delta.lo if delta else NAN, "delta_hi": delta.hi if delta else NAN,
                         "delta_p": delta.p if delta else NAN, "delta_mde": delta.mde if delta else NAN,
                         "delta_note": _delta_note(metric_note, delta)})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


@dataclass(frozen=True)
class Arm:
    """The cells that play one side of a comparison: the methods playing ``role`` (base, sft, rl, start:
    ``harness.methods`` declares each method's role, and its runs record it), trained on the suite they are
    evaluated on (``trained_on="here"``), on the suite that a shifted test split shifts (``"source"``: trained
    on micro_gqa, evaluated on micro_gqa_ood, where the planted shortcut is never right), on another suite of a
    kind (``"math"``/``"gqa"``: e.g. RL trained on math and evaluated on a GQA suite), or on anything
    (``"any"``). Method variants (``start[method.stage2=…]``) are cells of their method."""

    role: str
    trained_on: str = "here"

    def matches(self, cell: Cell, kinds: dict[str, str] | None = None, shifted: dict[str, str] | None = None) -> bool:
        """``shifted``: shifted test split -> the suite it shifts (:attr:`Estimator.shifted`), for ``"source"``."""
        if cell.role != self.role:
            return False
        if self.trained_on == "any":
            return True
        if self.trained_on == "here":
            return cell.data == cell.suite
        if self.trained_on == "source":
            return (shifted or {}).get(cell.suite) == cell.data
        return cell.data != cell.suite and suite_kind(cell.data, kinds) == self.trained_on


BASE = Arm("base", "any")


@dataclass(frozen=True)
class Question:
    """A comparison the paper makes: arm A vs arm B, both evaluated on one suite of ``suite_kind``."""

    title: str
    suite_kind: str | None  # None: every suite
    a: Arm
    b: Arm
    missing: str  # what the sweep needs for this question


@dataclass(frozen=True)
class GainContrast:
    """The gain of A over B on a suite of kind ``kind_a`` minus the gain of A over B on a suite of ``kind_b``
    (same setting; different items and runs, so the two gains are independent and their variances add)."""

    title: str
    a: Arm
    b: Arm
    kind_a: str
    kind_b: str
    missing: str


#: the i.i.d. vs o.o.d. protocol of shortcut-learning studies: runs trained on a suite, evaluated on its shifted split
RL_BASE_SHIFTED, START_RL_SHIFTED = "RL vs base on the shifted split", "START vs RL on the shifted split"
QUESTIONS = (
    Question("START vs RL on GQA", "gqa", Arm("start"), Arm("rl"), "method=start and method=rl runs on a GQA suite"),
    Question("START vs RL on math", "math", Arm("start"), Arm("rl"), "method=start and method=rl runs on a math suite"),
    Question("RL vs base", None, Arm("rl"), BASE, "method=rl and method=base runs on one suite"),
    Question("START vs base", None, Arm("start"), BASE, "method=start and method=base runs on one suite"),
    Question("RLVR transfer to GQA: RL trained on math vs base", "gqa", Arm("rl", "math"), BASE,
             "method=rl runs trained on a math suite that are also evaluated on a GQA suite, and a base run on it "
             "(the run contract must evaluate extra suites: results.json metrics <gqa suite>/* in a data=<math> run)"),
    Question("RLVR transfer vs direct RL on GQA", "gqa", Arm("rl", "math"), Arm("rl"),
             "method=rl runs trained on a math suite and evaluated on a GQA suite, and method=rl runs trained on it"),
    Question("RL vs SFT", None, Arm("rl"), Arm("sft"), "method=rl and method=sft runs"),
    Question(RL_BASE_SHIFTED, None, Arm("rl", "source"), BASE,
             "method=rl and method=base runs evaluated on a shifted test split of the suite RL trained on "
             "(Suite.shifted: e.g. micro_gqa_ood for data=micro_gqa)"),
    Question(START_RL_SHIFTED, None, Arm("start", "source"), Arm("rl", "source"),
             "method=start and method=rl runs evaluated on a shifted test split of the suite they trained on"),
)
GAIN_CONTRASTS = (
    GainContrast("RL gain on GQA vs RLVR gain on math", Arm("rl"), BASE, "gqa", "math",
                 "method=rl and method=base runs on a GQA suite and on a math suite"),
)


def _paired_row(question: str, suite: str, setting: str, a: str, b: str, metric: str = "", **values) -> dict:
    row = dict.fromkeys(PAIRED_COLUMNS, NAN) | {"question": question, "suite": suite, "setting": setting, "a": a,
                                                "b": b, "metric": metric, "seeds_a": 0, "seeds_b": 0, "n_items": 0,
                                                "pairing": "", "power_note": ""}
    return row | values


def _not_available(title: str, missing: str) -> dict:
    return _paired_row(title, "", "", "", "", status=f"not available: the sweep has no {missing}")


def _comparison_values(cmp: Comparison) -> dict:
    return {"delta": cmp.delta, "ci_lo": cmp.lo, "ci_hi": cmp.hi, "se": cmp.se, "df": cmp.df, "p": cmp.p,
            "mde": cmp.mde, "seeds_needed": cmp.seeds_needed, "pairing": cmp.pairing, "power_note": cmp.power_note,
            "status": cmp.status}


def paired_frame(est: Estimator, kinds: dict[str, str] | None = None,
                 questions: tuple[Question, ...] = QUESTIONS,
                 contrasts: tuple[GainContrast, ...] = GAIN_CONTRASTS) -> pd.DataFrame:
    """One row per question, matched pair of cells and metric; refusals and unanswerable questions say why.

    ``p_holm`` adjusts the p-values of every row (not testable rows excluded) for multiplicity (Holm).
    """
    rows = []
    for q in questions:
        answered = False
        for suite, setting in est.blocks():
            if q.suite_kind is not None and suite_kind(suite, kinds) != q.suite_kind:
                continue
            cells = est.block(suite, setting)
            for a in [c for c in cells if q.a.matches(c, kinds, est.shifted)]:
                for b in [c for c in cells if q.b.matches(c, kinds, est.shifted)]:
                    answered = True
                    rows += _pair_rows(est, q.title, a, b)
        if not answered:
            rows.append(_not_available(q.title, q.missing))
    for contrast in contrasts:
        found = _contrast_rows(est, contrast, kinds)
        rows += found or [_not_available(contrast.title, contrast.missing)]
    frame = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    frame["p_holm"] = holm([float(p) for p in frame["p"]])
    return frame


def _pair_rows(est: Estimator, title: str, a: Cell, b: Cell) -> list[dict]:
    ea, eb = est.estimate(a), est.estimate(b)
    where = {"seeds_a": len(ea.seeds), "seeds_b": len(eb.seeds)}
    problems = refusal(est, a, b)
    if problems:
        return [_paired_row(title, a.suite, a.setting, a.display, b.display,
                            status="NOT MATCHED (not compared): " + "; ".join(problems), **where)]
    rows = []
    for metric in QUESTION_METRICS:
        cmp = est.compare(a, b, metric)
        if cmp is None:
            continue
        rows.append(_paired_row(title, a.suite, a.setting, a.display, b.display, metric, mean_a=ea.point[metric],
                                mean_b=eb.point[metric], n_items=ea.n_items or 0, **where, **_comparison_values(cmp)))
    return rows or [_paired_row(title, a.suite, a.setting, a.display, b.display, status="no common metric", **where)]


def _contrast_rows(est: Estimator, contrast: GainContrast, kinds: dict[str, str] | None) -> list[dict]:
    """Rows of a :class:`GainContrast`: every pair of suites of the two kinds in one setting."""
    def pairs(kind: str) -> list[tuple[str, str, Cell, Cell]]:
        return [(suite, setting, a, b) for suite, setting in est.blocks() if suite_kind(suite, kinds) == kind
                for a in est.block(suite, setting) if contrast.a.matches(a, kinds)
                for b in est.block(suite, setting) if contrast.b.matches(b, kinds)]

    rows = []
    for suite_1, setting, a1, b1 in pairs(contrast.kind_a):
        for suite_2, setting_2, a2, b2 in pairs(contrast.kind_b):
            if setting_2 != setting:
                continue
            names = (f"{a1.display} − {b1.display} on {suite_1}", f"{a2.display} − {b2.display} on {suite_2}")
            seeds = {"seeds_a": len(est.estimate(a1).seeds), "seeds_b": len(est.estimate(a2).seeds)}
            problems = [f"{suite}: {p}" for suite, (x, y) in ((suite_1, (a1, b1)), (suite_2, (a2, b2)))
                        for p in refusal(est, x, y)]
            suite = f"{suite_1} vs {suite_2}"
            if problems:
                rows.append(_paired_row(contrast.title, suite, setting, *names, **seeds,
                                        status="NOT MATCHED (not compared): " + "; ".join(problems)))
                continue
            for metric in QUESTION_METRICS:
                first, second = est.difference_model(a1, b1, metric), est.difference_model(a2, b2, metric)
                if first is None or second is None:
                    continue
                gains = [est.estimate(x).point[metric] - est.estimate(y).point[metric] for x, y in ((a1, b1), (a2, b2))]
                cmp = test_difference(gains[0] - gains[1], Sum(first[0], second[0]),
                                      f"none (different suites; within each: {first[1]}, {second[1]})", est.level)
                rows.append(_paired_row(contrast.title, suite, setting, *names, metric, mean_a=gains[0],
                                        mean_b=gains[1], n_items=est.estimate(a1).n_items or 0, **seeds,
                                        **_comparison_values(cmp)))
    return rows
