"""The numbers behind the tables: every cell's metrics with Δ vs base, and the paper's paired questions.

Both frames come from one :class:`analysis.bootstrap.Estimator`, so every interval and test uses the
same replicates. A comparison is made only between runs whose budgets match
(:func:`analysis.stats.pair_mismatch`); otherwise its row says ``NOT MATCHED`` and why, and carries
no number. A question that the sweep cannot answer (no such runs) gets a row that says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from analysis.bootstrap import Cell, Estimator, holm
from analysis.stats import pair_mismatch

HEADLINE = ("acc", "reward", "nothink_acc", "thinking_gain", "independence_rate", "xgen_score", "shortcut_rate",
            "thinking_sufficient", "trace")
HEALTH = ("think_tokens", "no_think_close", "empty_think", "mode_careful", "answer_follows", "answer_shortcut",
          "hedge_rate")
#: the metrics each paper question is answered on (those a sweep has)
QUESTION_METRICS = ("acc", "thinking_gain", "independence_rate", "shortcut_rate", "xgen_score", "trace")
#: substrings that name a suite's kind; a suite matching none is "other" (override with ``kinds``)
KIND_HINTS = {"math": ("math", "gsm", "aime", "minerva"), "gqa": ("gqa", "qa", "nq", "trivia", "mmlu")}
COMPARISON_COLUMNS = ["suite", "setting", "method", "trained_on", "metric", "mean", "ci_lo", "ci_hi", "n_seeds",
                      "n_items", "ci_method", "delta_vs_base", "delta_lo", "delta_hi", "delta_p", "delta_note"]
PAIRED_COLUMNS = ["question", "suite", "setting", "a", "b", "metric", "mean_a", "mean_b", "delta", "ci_lo", "ci_hi",
                  "p", "p_holm", "seeds_a", "seeds_b", "n_items", "pairing", "status"]
NAN = math.nan


def metric_key(metric: str) -> tuple[int, str]:
    """Sort key for metrics: headline, then health/mode metrics in their fixed order, then the rest by name."""
    order = (*HEADLINE, *HEALTH)
    return (order.index(metric), "") if metric in order else (len(order), metric)


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
    if cell.method == "base":
        return None
    bases = [c for c in est.block(cell.suite, cell.setting) if c.method == "base"]
    same_data = [c for c in bases if c.data == c.suite]
    return (same_data or bases or [None])[0]


def refusal(est: Estimator, a: Cell, b: Cell) -> list[str]:
    """Why cells ``a`` and ``b`` may not be compared: budget mismatches, or different test items (empty if none)."""
    problems = pair_mismatch(est.runs_of(a), est.runs_of(b))
    ids_a, ids_b = est.estimate(a).item_ids, est.estimate(b).item_ids
    if ids_a is not None and ids_b is not None and ids_a != ids_b:
        problems.append("evaluated on different test items")
    return problems


def comparison_frame(est: Estimator) -> pd.DataFrame:
    """One row per cell and metric: mean and CI, and the paired difference to the block's base (see module doc)."""
    rows = []
    for cell in est.cells():
        e = est.estimate(cell)
        base = base_cell(est, cell)
        problems = refusal(est, cell, base) if base else []
        if cell.method == "base":
            note = "reference"
        elif base is None:
            note = "no base run in this block"
        else:
            note = "NOT MATCHED: " + "; ".join(problems) if problems else ""
        for metric in sorted(e.point, key=metric_key):
            delta = est.compare(cell, base, metric) if base and not problems else None
            metric_note = "metric absent in base" if delta is None and not note else note
            rows.append({"suite": cell.suite, "setting": cell.setting, "method": cell.label, "trained_on": cell.data,
                         "metric": metric, "mean": e.point[metric], "ci_lo": e.lo[metric], "ci_hi": e.hi[metric],
                         "n_seeds": len(e.seeds), "n_items": e.n_items or 0, "ci_method": e.ci_method[metric],
                         "delta_vs_base": delta.delta if delta else NAN, "delta_lo": delta.lo if delta else NAN,
                         "delta_hi": delta.hi if delta else NAN, "delta_p": delta.p if delta else NAN,
                         "delta_note": metric_note})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS)


@dataclass(frozen=True)
class Question:
    """A comparison the paper makes: arm A vs arm B, both evaluated on one suite of ``suite_kind``."""

    title: str
    suite_kind: str | None  # None: every suite
    a: Callable[[Cell, str], bool]  # (cell, kind of its training data) -> is arm A
    b: Callable[[Cell, str], bool]
    missing: str  # what the sweep needs for this question


def _trained_here(method: str) -> Callable[[Cell, str], bool]:
    return lambda cell, _kind: cell.method == method and cell.data == cell.suite


def _trained_on(method: str, kind: str) -> Callable[[Cell, str], bool]:
    return lambda cell, data_kind: cell.method == method and cell.data != cell.suite and data_kind == kind


QUESTIONS = (
    Question("START vs RL on GQA", "gqa", _trained_here("start"), _trained_here("rl"),
             "method=start and method=rl runs on a GQA suite"),
    Question("START vs RL on math", "math", _trained_here("start"), _trained_here("rl"),
             "method=start and method=rl runs on a math suite"),
    Question("RLVR transfer to GQA: RL trained on math vs base", "gqa", _trained_on("rl", "math"),
             lambda cell, _k: cell.method == "base",
             "method=rl runs trained on a math suite that are also evaluated on a GQA suite, and a base run on it "
             "(the run contract must evaluate extra suites: results.json metrics <gqa suite>/* in a data=<math> run)"),
    Question("RLVR transfer vs direct RL on GQA", "gqa", _trained_on("rl", "math"), _trained_here("rl"),
             "method=rl runs trained on a math suite and evaluated on a GQA suite, and method=rl runs trained on it"),
    Question("RL vs SFT", None, _trained_here("rl"), _trained_here("sft"), "method=rl and method=sft runs"),
)


def _paired_row(question: str, cell: Cell, a: Cell | None, b: Cell | None, metric: str = "", **values) -> dict:
    row = dict.fromkeys(PAIRED_COLUMNS, NAN) | {"question": question, "suite": cell.suite, "setting": cell.setting,
                                                "a": a.display if a else "", "b": b.display if b else "",
                                                "metric": metric, "seeds_a": 0, "seeds_b": 0, "n_items": 0,
                                                "pairing": ""}
    return row | values


def paired_frame(est: Estimator, kinds: dict[str, str] | None = None,
                 questions: tuple[Question, ...] = QUESTIONS) -> pd.DataFrame:
    """One row per question, matched pair of cells and metric; refusals and unanswerable questions say why."""
    rows = []
    for q in questions:
        answered = False
        for suite, setting in est.blocks():
            if q.suite_kind is not None and suite_kind(suite, kinds) != q.suite_kind:
                continue
            cells = est.block(suite, setting)
            arms_a = [c for c in cells if q.a(c, suite_kind(c.data, kinds))]
            arms_b = [c for c in cells if q.b(c, suite_kind(c.data, kinds))]
            for a in arms_a:
                for b in arms_b:
                    answered = True
                    rows += _pair_rows(est, q.title, a, b)
        if not answered:
            rows.append(dict.fromkeys(PAIRED_COLUMNS, NAN) | {
                "question": q.title, "suite": "", "setting": "", "a": "", "b": "", "metric": "", "seeds_a": 0,
                "seeds_b": 0, "n_items": 0, "pairing": "", "status": f"not available: the sweep has no {q.missing}"})
    frame = pd.DataFrame(rows, columns=PAIRED_COLUMNS)
    frame["p_holm"] = holm([float(p) for p in frame["p"]])
    return frame


def _pair_rows(est: Estimator, title: str, a: Cell, b: Cell) -> list[dict]:
    ea, eb = est.estimate(a), est.estimate(b)
    problems = refusal(est, a, b)
    if problems:
        return [_paired_row(title, a, a, b, status="NOT MATCHED (not compared): " + "; ".join(problems),
                            seeds_a=len(ea.seeds), seeds_b=len(eb.seeds))]
    rows = []
    for metric in QUESTION_METRICS:
        cmp = est.compare(a, b, metric)
        if cmp is None:
            continue
        rows.append(_paired_row(title, a, a, b, metric, mean_a=ea.point[metric], mean_b=eb.point[metric],
                                delta=cmp.delta, ci_lo=cmp.lo, ci_hi=cmp.hi, p=cmp.p, seeds_a=len(ea.seeds),
                                seeds_b=len(eb.seeds), n_items=ea.n_items or 0, pairing=cmp.pairing,
                                status="compared"))
    return rows or [_paired_row(title, a, a, b, status="no common metric", seeds_a=len(ea.seeds),
                                seeds_b=len(eb.seeds))]
