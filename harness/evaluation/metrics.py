"""The metric catalogue and the one definition of every run-level metric, used by runs and analysis.

**Catalogue.** Every metric is declared once in :data:`CATALOGUE`: its run-level name, its direction
(higher or lower is better, or neither for a diagnostic), its group and one line saying what it
measures, and the per-item column of ``samples.jsonl`` it is the mean of (or none, for a metric
derived from others). The lm-eval bridge, the analysis tables and figures, the W&B report and the
table in ``docs/metrics.md`` (``python -m harness.evaluation.metrics`` writes it) all read it.
Adding a per-item metric: return it from the suite's ``classify`` (and list it in the suite's
``mode_metrics``), and add its entry here.

**Definition.** A run's ``samples.jsonl`` holds one record per test item. :func:`aggregate` turns any
list of such records into the run's metrics. It is :func:`aggregate_weighted` with every item counted
once; the analysis resamples a metric by calling that with other item counts, so it gets exactly the
definition the run used. Every numeric per-item column is averaged (under the name of the catalogue
entry that reads it: the per-item flag ``hedged`` becomes ``hedge_rate``); :func:`item_flags` adds
``thinking_sufficient`` and ``shortcut``, which the run writes beside them; the derived metrics are
computed in :func:`aggregate_weighted`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

GROUPS = {"accuracy": "Accuracy", "thinking": "Thinking quality", "format": "Format health", "cost": "Cost",
          "mode": "Behaviour modes"}
DIRECTIONS = ("higher", "lower", "neither")


@dataclass(frozen=True)
class Metric:
    """One run-level metric; a name ending in ``/`` is a family (``xgen_gain/<answerer>``)."""

    name: str
    direction: str  # higher | lower (is better) | neither (a diagnostic, read beside others)
    group: str  # a key of GROUPS
    doc: str  # what it measures, one line
    item: str | None  # the per-item column averaged into it; None: derived from other metrics
    bounds: tuple[float, float] = (0.0, 1.0)  # the values it can take (an interval is clipped to them)

    @property
    def family(self) -> bool:
        return self.name.endswith("/")


DIFFERENCE, COUNT = (-1.0, 1.0), (0.0, math.inf)


def _mean(name: str, direction: str, group: str, doc: str, item: str | None = None,
          bounds: tuple[float, float] = (0.0, 1.0)) -> Metric:
    return Metric(name, direction, group, doc, item or name, bounds)


def _derived(name: str, direction: str, group: str, doc: str, bounds: tuple[float, float] = (0.0, 1.0)) -> Metric:
    return Metric(name, direction, group, doc, None, bounds)


#: every metric, in the order tables show them
CATALOGUE: tuple[Metric, ...] = (
    _mean("acc", "higher", "accuracy", "the answer is right (math-verify for math, normalised exact match against "
          "any alias for QA)"),
    _mean("reward", "higher", "accuracy", "the training reward on the test items (em, soft f1 or an LLM judge)"),
    _mean("f1", "higher", "accuracy", "soft token F1 of the answer against the best alias"),
    _mean("nothink_acc", "neither", "accuracy", "accuracy of the policy's answer forced after an empty thinking"),
    _derived("thinking_gain", "higher", "thinking", "acc − nothink_acc: what the thinking adds to the answer",
             DIFFERENCE),
    _derived("independence_rate", "lower", "thinking", "share of right answers also right after an empty thinking"),
    _derived("xgen_score", "higher", "thinking", "mean xgen_gain over the answerer ladder (Cross-Generation)",
             DIFFERENCE),
    _derived("shortcut_rate", "lower", "thinking", "share of right answers whose thinking a majority of the ladder "
             "cannot turn into the gold answer"),
    _mean("thinking_sufficient", "higher", "thinking", "a strict majority of the ladder reaches the gold answer "
          "from (question, thinking)"),
    _derived("trace", "neither", "thinking", "mean of p_trunc over the λ grid: the answer reached with a cut "
             "thinking"),
    _mean("xgen_acc/", "higher", "thinking", "answerer R's accuracy from (question, the policy's thinking)"),
    _mean("xgen_nothink_acc/", "neither", "thinking", "answerer R's accuracy from (question, empty thinking)"),
    _derived("xgen_gain/", "higher", "thinking", "xgen_acc/R − xgen_nothink_acc/R: what the thinking gives R",
             DIFFERENCE),
    _mean("p_trunc/", "neither", "thinking", "the policy's accuracy when it answers after the first λ share of "
          "its thinking's tokens"),
    _mean("corrupt_follow", "higher", "thinking", "the policy's answer forced after its thinking with the conclusion "
          "corrupted is the corrupted value (faithful ≈ 1, shortcut ≈ 0)"),
    _mean("corrupt_acc", "neither", "thinking", "accuracy of the policy's answer forced after its thinking with the "
          "conclusion corrupted"),
    _mean("filler_acc", "neither", "thinking", "accuracy of the policy's answer forced after neutral filler as many "
          "tokens long as its thinking"),
    _derived("right_wrong_reason", "lower", "thinking", "share of right answers whose thinking is not a correct chain "
             "(micro worlds: not the careful derivation)"),
    _mean("placebo_acc/", "neither", "thinking", "answerer R's accuracy from (question, another item's thinking)"),
    _derived("placebo_gain/", "neither", "thinking", "placebo_acc/R − xgen_nothink_acc/R: what an unrelated thinking "
             "gives R (a control: ≈ 0)", DIFFERENCE),
    _derived("xgen_gain_over_placebo/", "higher", "thinking", "xgen_acc/R − placebo_acc/R: what the thinking gives R "
             "beyond another item's thinking", DIFFERENCE),
    _derived("xgen_score_over_placebo", "higher", "thinking", "mean xgen_gain_over_placebo over the answerer ladder",
             DIFFERENCE),
    _mean("no_think_close", "lower", "format", "the thinking never closed within the token budget (scored wrong)"),
    _mean("empty_think", "lower", "format", "the thinking is empty"),
    _mean("empty_answer", "lower", "format", "the thinking closed and nothing follows it"),
    _mean("invalid_text", "lower", "format", "the output holds undecodable bytes (U+FFFD) or lone surrogates"),
    _mean("think_tokens", "neither", "cost", "tokens of thinking", bounds=COUNT),
    _mean("mode_careful", "higher", "mode", "the thinking is the full careful derivation (micro world)"),
    _mean("answer_follows", "higher", "mode", "the answer is the thinking's conclusion"),
    _mean("answer_shortcut", "lower", "mode", "the answer is the surface cue (micro_gqa: where the subject lives; "
          "micro_math: the question's digit)"),
    _mean("hedge_rate", "lower", "mode", "the answer names more than one candidate", item="hedged"),
)
#: what follows the ``/`` of a family's members
FAMILY_MEMBER = {"xgen_acc/": "<R>", "xgen_nothink_acc/": "<R>", "xgen_gain/": "<R>", "p_trunc/": "<λ>",
                 "placebo_acc/": "<R>", "placebo_gain/": "<R>", "xgen_gain_over_placebo/": "<R>"}
#: the metrics a run's closing log line and the analysis summary show first
HEADLINE = ("acc", "thinking_gain", "xgen_score", "shortcut_rate")
#: numeric per-item columns that are not averaged into a metric (flags are derived again from the ladder)
NOT_METRICS = ("thinking_sufficient", "shortcut")


def metric(name: str) -> Metric:
    """The catalogue entry of a run-level metric name (a family member such as ``xgen_gain/micro-late`` too)."""
    for m in CATALOGUE:
        if name == m.name or (m.family and name.startswith(m.name)):
            return m
    raise KeyError(f"metric {name!r} is not in the catalogue (harness/evaluation/metrics.py); "
                   f"known: {[m.name for m in CATALOGUE]}")


def find(name: str) -> Metric | None:
    """:func:`metric`, or None for a name the catalogue does not declare (e.g. lm-eval's own task metrics)."""
    try:
        return metric(name)
    except KeyError:
        return None


def item_metric(column: str) -> Metric | None:
    """The catalogue entry that averages the per-item ``column`` (None when none does)."""
    for m in CATALOGUE:
        if m.item is not None and (column == m.item or (m.family and column.startswith(m.item))):
            return m
    return None


def run_name(column: str) -> str:
    """The run-level name of the mean of per-item ``column`` (its own name unless the catalogue renames it)."""
    m = item_metric(column)
    return m.name if m is not None and not m.family else column


def higher_is_better(name: str) -> bool:
    """lm-eval's ``higher_is_better`` of a metric or per-item column (a diagnostic counts as higher)."""
    m = item_metric(name) or metric(name)
    return m.direction != "lower"


def lam_key(lam: float) -> str:
    """How a truncation fraction is written in metric names: ``p_trunc/0.25``."""
    return f"{lam:g}"


def item_flags(record: dict[str, Any], ladder: Sequence[str]) -> dict[str, float]:
    """``thinking_sufficient``: a majority of the ladder reaches gold from (q, t); ``shortcut``: right anyway."""
    if not ladder:
        return {}
    right = sum(record[f"xgen_acc/{a}"] for a in ladder)
    sufficient = float(right > len(ladder) / 2)
    return {"thinking_sufficient": sufficient, "shortcut": record["acc"] * (1.0 - sufficient)}


def present(answerers: Sequence[str], columns, prefix: str = "xgen_acc/") -> list[str]:
    """The answerers whose ``<prefix><R>`` column ``columns`` holds (records of a suite evaluated without the
    answerers, such as a shifted test split, hold none)."""
    return [a for a in answerers if f"{prefix}{a}" in columns]


def item_columns(records: Sequence[dict[str, Any]], ladder: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The per-item values :func:`aggregate` averages: every numeric column, and the ladder's flags.

    Column names come from the first record; a record that lacks one raises ``KeyError``. The ladder's
    flags are added when the records hold the whole ladder's answers.
    """
    if not records:
        raise ValueError("no per-item records to aggregate")
    if len(present(ladder, records[0])) < len(ladder):
        ladder = ()
    keys = [k for k, v in records[0].items() if isinstance(v, int | float) and k not in NOT_METRICS]
    rows = records
    if ladder:
        rows = [{**r, **item_flags(r, ladder)} for r in records]
        keys.append("thinking_sufficient")
    return {k: np.array([float(r[k]) for r in rows]) for k in keys}


def aggregate_weighted(columns: dict[str, np.ndarray], weights: np.ndarray, answerers: Sequence[str] = (),
                       ladder: Sequence[str] = (), lambdas: Sequence[float] = ()) -> dict[str, np.ndarray]:
    """The run-level metrics of items counted ``weights`` times (one row of weights per metric value).

    ``weights``: shape (n,) for one set of items, (B, n) for B sets at once (the analysis's jackknife
    leaves one item out per row). Every metric is a mean or a ratio of weighted sums, so an item counted
    twice counts as if its record were listed twice.
    """
    total = weights.sum(axis=-1)

    def mean(values: np.ndarray) -> np.ndarray:
        return weights @ values / total

    def share_of_right(values: np.ndarray) -> np.ndarray:
        """Σ(acc · values) / Σ acc: among right answers, the share with ``values``; 0 when none is right."""
        right = weights @ columns["acc"]
        return np.divide(weights @ (columns["acc"] * values), right, out=np.zeros_like(right), where=right > 0)

    out = {run_name(k): mean(v) for k, v in columns.items()}
    if "nothink_acc" in columns:
        out["thinking_gain"] = out["acc"] - out["nothink_acc"]
        out["independence_rate"] = share_of_right(columns["nothink_acc"])
    if "mode_careful" in columns:
        out["right_wrong_reason"] = share_of_right(1.0 - columns["mode_careful"])
    # a suite evaluated without the answerers or the truncation curve (a shifted split) has none of theirs
    answerers = present(answerers, out)
    ladder = ladder if "thinking_sufficient" in columns and len(present(ladder, out)) == len(ladder) else ()
    placebo = present(answerers, out, "placebo_acc/")
    for a in answerers:
        out[f"xgen_gain/{a}"] = out[f"xgen_acc/{a}"] - out[f"xgen_nothink_acc/{a}"]
    for a in placebo:
        out[f"placebo_gain/{a}"] = out[f"placebo_acc/{a}"] - out[f"xgen_nothink_acc/{a}"]
        out[f"xgen_gain_over_placebo/{a}"] = out[f"xgen_acc/{a}"] - out[f"placebo_acc/{a}"]
    if ladder:
        out["xgen_score"] = sum(out[f"xgen_gain/{a}"] for a in ladder) / len(ladder)
        out["shortcut_rate"] = np.where(out["acc"] > 0, 1.0 - share_of_right(columns["thinking_sufficient"]), 0.0)
        if all(a in placebo for a in ladder):
            out["xgen_score_over_placebo"] = sum(out[f"xgen_gain_over_placebo/{a}"] for a in ladder) / len(ladder)
    if lambdas and all(f"p_trunc/{lam_key(lam)}" in out for lam in lambdas):
        out["trace"] = sum(out[f"p_trunc/{lam_key(lam)}"] for lam in lambdas) / len(lambdas)
    return out


def aggregate(records: Sequence[dict[str, Any]], answerers: Sequence[str] = (), ladder: Sequence[str] = (),
              lambdas: Sequence[float] = ()) -> dict[str, float]:
    """All run-level metrics (unprefixed names) computable from ``records``.

    ``answerers``: every Cross-Generation answerer; ``ladder``: those that define ``xgen_score`` and
    ``shortcut_rate``; ``lambdas``: the truncation grid.
    """
    columns = item_columns(records, ladder)
    metrics = aggregate_weighted(columns, np.ones(len(records)), answerers, ladder, lambdas)
    return {k: float(v) for k, v in metrics.items()}


def catalogue_markdown() -> str:
    """The catalogue as the Markdown table of ``docs/metrics.md`` (grouped, in catalogue order)."""
    lines = ["| metric | group | better | what it measures | per-item column |", "| --- | --- | --- | --- | --- |"]
    for group in GROUPS:
        for m in (m for m in CATALOGUE if m.group == group):
            member = FAMILY_MEMBER.get(m.name, "")
            item = "—" if m.item is None else f"`{m.item}{member}`"
            lines.append(f"| `{m.name}{member}` | {GROUPS[group].lower()} | {m.direction} | {m.doc} | {item} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(catalogue_markdown())
