"""Run-level thinking-quality metrics from per-item records: one definition, used by runs and analysis.

A run's ``samples.jsonl`` holds one record per test item (see ``docs/metrics.md`` for every column).
:func:`aggregate` turns any list of such records into the run's metrics. It is
:func:`aggregate_weighted` with every item counted once; the analysis bootstraps a metric by calling
that with each replicate's item counts, so it gets exactly the definition the run used.

Per-item columns read here (0/1 unless noted):
``acc``, ``reward`` (may be soft), ``no_think_close``, ``empty_think``, ``think_tokens`` (count),
the suite's mode metrics, ``nothink_acc``, ``xgen_acc/<answerer>``, ``xgen_nothink_acc/<answerer>``,
``p_trunc/<λ>``; every numeric column is averaged. :func:`item_flags` adds ``thinking_sufficient``
and ``shortcut``, which the run writes beside them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: numeric per-item columns that are not averaged into a metric (flags are derived again from the ladder)
NOT_METRICS = ("thinking_sufficient", "shortcut")


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


def item_columns(records: Sequence[dict[str, Any]], ladder: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The per-item values :func:`aggregate` averages: every numeric column, and the ladder's flags.

    Column names come from the first record; a record that lacks one raises ``KeyError``.
    """
    if not records:
        raise ValueError("no per-item records to aggregate")
    keys = [k for k, v in records[0].items() if isinstance(v, int | float) and k not in NOT_METRICS]
    rows = records
    if ladder:
        rows = [{**r, **item_flags(r, ladder)} for r in records]
        keys.append("thinking_sufficient")
    return {k: np.array([float(r[k]) for r in rows]) for k in keys}


def aggregate_weighted(columns: dict[str, np.ndarray], weights: np.ndarray, answerers: Sequence[str] = (),
                       ladder: Sequence[str] = (), lambdas: Sequence[float] = ()) -> dict[str, np.ndarray]:
    """The run-level metrics of items counted ``weights`` times (one row of weights per metric value).

    ``weights``: shape (n,) for one set of items, (B, n) for B at once (a bootstrap replicate counts how
    often it drew each item). Every metric is a mean or a ratio of weighted sums, so an item drawn
    twice counts twice, exactly as if its record were listed twice.
    """
    total = weights.sum(axis=-1)

    def mean(values: np.ndarray) -> np.ndarray:
        return weights @ values / total

    def share_of_right(values: np.ndarray) -> np.ndarray:
        """Σ(acc · values) / Σ acc: among right answers, the share with ``values``; 0 when none is right."""
        right = weights @ columns["acc"]
        return np.divide(weights @ (columns["acc"] * values), right, out=np.zeros_like(right), where=right > 0)

    out = {k: mean(v) for k, v in columns.items()}
    if "nothink_acc" in columns:
        out["thinking_gain"] = out["acc"] - out["nothink_acc"]
        out["independence_rate"] = share_of_right(columns["nothink_acc"])
    for a in answerers:
        out[f"xgen_gain/{a}"] = out[f"xgen_acc/{a}"] - out[f"xgen_nothink_acc/{a}"]
    if ladder:
        out["xgen_score"] = sum(out[f"xgen_gain/{a}"] for a in ladder) / len(ladder)
        out["shortcut_rate"] = np.where(out["acc"] > 0, 1.0 - share_of_right(columns["thinking_sufficient"]), 0.0)
    if lambdas:
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
