"""Comparison and budget tables, as Markdown (to read) and CSV (to load), byte-identical on every rerun.

Rows are sorted by suite, then method (base, sft, rl, start, then others alphabetically), then metric;
floats have a fixed number of decimals.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis.collect import BUDGET_FIELDS, method_key, ok_runs
from analysis.stats import DELTA_METRIC, summarize

HEADLINE = ("acc", "nothink_acc", "thinking_gain", "independence_rate", "think_tokens", "no_think_close")
METRIC_ORDER = ("acc", DELTA_METRIC, *HEADLINE[1:])
LABELS = {DELTA_METRIC: "Δ acc vs base"}
NUMERIC_BUDGET = tuple(f for f in BUDGET_FIELDS if not f.endswith("_hash"))
CSV_FLOAT = "%.6f"


def metric_key(metric: str) -> tuple[int, str]:
    """Sort key for metrics: the headline metrics in their fixed order, then the rest alphabetically."""
    if metric in METRIC_ORDER:
        return METRIC_ORDER.index(metric), ""
    return len(METRIC_ORDER), metric


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by suite, method (see :func:`method_key`) and, when present, metric."""
    def key(i: int) -> tuple:
        row = df.iloc[i]
        return row["suite"], method_key(row["method"]), metric_key(row.get("metric", ""))

    return df.iloc[sorted(range(len(df)), key=key)].reset_index(drop=True)


def format_interval(mean: float, lo: float, hi: float, n: int, signed: bool = False) -> str:
    """``mean ± half-width (n=k)``; a single seed is marked as having no CI, no value as an em dash."""
    if n == 0 or math.isnan(mean):
        return "—"
    mean = round(mean, 3) + 0.0  # no "-0.000"
    shown = f"{mean:+.3f}" if signed else f"{mean:.3f}"
    if n == 1:
        return f"{shown} (n=1, no CI)"
    return f"{shown} ± {(hi - lo) / 2:.3f} (n={n})"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(cells) + " |\n" for cells in lines)


def _cells(summary: pd.DataFrame) -> dict[tuple[str, str, str], str]:
    return {(r.suite, r.method, r.metric): format_interval(r.mean, r.ci_lo, r.ci_hi, int(r.n), r.metric == DELTA_METRIC)
            for r in summary.itertuples(index=False)}


def _pivot_markdown(summary: pd.DataFrame, metrics: list[str]) -> str:
    """Rows (suite, method), one column per metric; absent cells shown as an em dash."""
    cells = _cells(summary)
    pairs = sort_rows(summary[["suite", "method"]].drop_duplicates())
    rows = [[s, m, *(cells.get((s, m, k), "—") for k in metrics)] for s, m in pairs.itertuples(index=False)]
    return markdown_table(["suite", "method", *(LABELS.get(k, k) for k in metrics)], rows)


def comparison_markdown(summary: pd.DataFrame, note: str = "", level: float = 0.95) -> str:
    """The headline comparison (method × suite) as Markdown, ``note`` first when given."""
    metrics = [m for m in METRIC_ORDER if m in set(summary["metric"])]
    legend = (f"Cells: mean ± half-width of the {level:.0%} Student-t CI over seeds (n = ok runs); "
              f"Δ acc vs base: difference of means with a Welch {level:.0%} CI (n = the smaller group).\n\n")
    return "# Method comparison\n\n" + note + legend + _pivot_markdown(summary, metrics)


def acc_markdown(summary: pd.DataFrame) -> str:
    """A short table: accuracy and its gain over base per suite and method (for stdout and ``summary.md``)."""
    return _pivot_markdown(summary[summary["metric"].isin(["acc", DELTA_METRIC])], ["acc", DELTA_METRIC])


def budget_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean budget per suite (the run's data) and method over the ok runs, with the number of runs."""
    ok = ok_runs(runs)
    numeric = ok[[f"budget.{f}" for f in NUMERIC_BUDGET]].apply(pd.to_numeric, errors="coerce")
    numeric.columns = list(NUMERIC_BUDGET)
    numeric[["suite", "method"]] = ok[["data", "method"]]
    grouped = numeric.groupby(["suite", "method"], sort=True)
    table = grouped.mean().reset_index()
    table.insert(2, "runs", grouped.size().to_numpy())
    return sort_rows(table)


def budget_markdown(budget: pd.DataFrame, note: str = "") -> str:
    """The budget table as Markdown (means over ok runs, one decimal)."""
    rows = [[r.suite, r.method, str(r.runs), *(f"{getattr(r, f):.1f}" for f in NUMERIC_BUDGET)]
            for r in budget.itertuples(index=False)]
    header = ["suite", "method", "runs", *(f"mean {f}" for f in NUMERIC_BUDGET)]
    return "# Budget per method\n\n" + note + "Means over the ok runs.\n\n" + markdown_table(header, rows)


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False, float_format=CSV_FLOAT, lineterminator="\n")
    return path


def write_tables(runs: pd.DataFrame, out_dir: Path, note: str = "", level: float = 0.95) -> list[Path]:
    """Write comparison.{md,csv} and budget.{md,csv} for the ok runs of ``runs``; returns the paths."""
    out_dir = Path(out_dir)
    summary = sort_rows(summarize(runs, level))
    headline = summary[summary["metric"].isin(METRIC_ORDER)]
    budget = budget_summary(runs)
    return [write_csv(summary, out_dir / "comparison.csv"),
            write_text(out_dir / "comparison.md", comparison_markdown(headline, note, level)),
            write_csv(budget, out_dir / "budget.csv"),
            write_text(out_dir / "budget.md", budget_markdown(budget, note))]
