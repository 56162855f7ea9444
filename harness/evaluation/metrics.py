"""Run-level thinking-quality metrics from per-item records: one definition, used by runs and analysis.

A run's ``samples.jsonl`` holds one record per test item (see ``docs/metrics.md`` for every column).
:func:`aggregate` turns any list of such records into the run's metrics, so the analysis can
bootstrap a metric by calling it on resampled items and get exactly the definition the run used.

Per-item columns read here (0/1 unless noted):
``acc``, ``reward`` (may be soft), ``no_think_close``, ``empty_think``, ``think_tokens`` (count),
the suite's mode metrics, ``nothink_acc``, ``xgen_acc/<answerer>``, ``xgen_nothink_acc/<answerer>``,
``p_trunc/<λ>``; every numeric column is averaged. :func:`item_flags` adds ``thinking_sufficient``
and ``shortcut``, which the run writes beside them.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

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


def _mean(records: Sequence[dict[str, Any]], key: str) -> float:
    return statistics.fmean(float(r[key]) for r in records)


def _share_of_right(records: Sequence[dict[str, Any]], key: str) -> float:
    """Σ(acc · key) / Σ acc: among right answers, the share with ``key``; 0 when none is right."""
    right = sum(r["acc"] for r in records)
    return sum(r["acc"] * r[key] for r in records) / right if right else 0.0


def aggregate(records: Sequence[dict[str, Any]], answerers: Sequence[str] = (), ladder: Sequence[str] = (),
              lambdas: Sequence[float] = ()) -> dict[str, float]:
    """All run-level metrics (unprefixed names) computable from ``records``.

    ``answerers``: every Cross-Generation answerer; ``ladder``: those that define ``xgen_score`` and
    ``shortcut_rate``; ``lambdas``: the truncation grid.
    """
    if not records:
        raise ValueError("no per-item records to aggregate")
    first = records[0]
    # every numeric column is a per-item metric whose run-level value is its mean
    out = {k: _mean(records, k) for k, v in first.items() if isinstance(v, int | float) and k not in NOT_METRICS}
    if "nothink_acc" in first:
        out["thinking_gain"] = out["acc"] - out["nothink_acc"]
        out["independence_rate"] = _share_of_right(records, "nothink_acc")
    for a in answerers:
        out[f"xgen_gain/{a}"] = out[f"xgen_acc/{a}"] - out[f"xgen_nothink_acc/{a}"]
    if ladder:
        out["xgen_score"] = statistics.fmean(out[f"xgen_gain/{a}"] for a in ladder)
        flagged = [{**r, **item_flags(r, ladder)} for r in records]
        out["thinking_sufficient"] = _mean(flagged, "thinking_sufficient")
        out["shortcut_rate"] = 1.0 - _share_of_right(flagged, "thinking_sufficient") if out["acc"] else 0.0
    if lambdas:
        out["trace"] = statistics.fmean(out[f"p_trunc/{lam_key(lam)}"] for lam in lambdas)
    return out

