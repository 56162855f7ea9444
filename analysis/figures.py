"""The shortcut figure: thinking gain vs. independence rate per method, one panel per suite.

Drawn with the Agg canvas directly (no pyplot, no global backend switch), Okabe–Ito colours plus
hatching so it survives colour-blindness and greyscale print; PDF metadata carries no date, so
reruns give identical files where matplotlib allows it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from analysis.stats import summarize
from analysis.tables import sort_rows

SHORTCUT_METRICS = ("thinking_gain", "independence_rate")
STYLE = {"thinking_gain": ("#0072B2", ""), "independence_rate": ("#D55E00", "//")}  # Okabe–Ito blue, vermillion
DETERMINISTIC_RC = {"svg.hashsalt": "starbench"}


def _panel(ax, rows: pd.DataFrame, suite: str, level: float) -> None:
    """Grouped bars: one group per method, one bar per shortcut metric, CI error bars."""
    methods = list(dict.fromkeys(rows["method"]))
    x, width = np.arange(len(methods)), 0.8 / len(SHORTCUT_METRICS)
    for i, metric in enumerate(SHORTCUT_METRICS):
        cells = rows[rows["metric"] == metric].set_index("method").reindex(methods)
        err = np.vstack([cells["mean"] - cells["ci_lo"], cells["ci_hi"] - cells["mean"]])
        colour, hatch = STYLE[metric]
        offset = (i - (len(SHORTCUT_METRICS) - 1) / 2) * width
        ax.bar(x + offset, cells["mean"], width, yerr=err, capsize=3, ecolor="#444444", color=colour, hatch=hatch,
               edgecolor="black", linewidth=0.5, label=metric.replace("_", " "))
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(x, methods)
    ax.set_xlabel("method")
    ax.set_ylabel(f"value (mean over seeds, {level:.0%} CI)")
    ax.set_title(suite)


def shortcut_plot(runs: pd.DataFrame, out_dir: Path, level: float = 0.95) -> list[Path]:
    """Save ``shortcut.png`` (dpi 150) and ``shortcut.pdf`` for the ok runs; [] when no suite has these metrics."""
    summary = summarize(runs, level)
    summary = sort_rows(summary[summary["metric"].isin(SHORTCUT_METRICS)])
    suites = sorted(set(summary["suite"]))
    if not suites:
        return []
    with matplotlib.rc_context(DETERMINISTIC_RC):
        fig = Figure(figsize=(5.5 * len(suites), 4.2), layout="constrained")
        FigureCanvasAgg(fig)
        for ax, suite in zip(fig.subplots(1, len(suites), squeeze=False)[0], suites, strict=True):
            _panel(ax, summary[summary["suite"] == suite], suite, level)
        fig.suptitle("Shortcut diagnostics by method")
        fig.legend(*fig.axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=2, frameon=False)
        paths = [Path(out_dir) / "shortcut.png", Path(out_dir) / "shortcut.pdf"]
        fig.savefig(paths[0], dpi=150)
        fig.savefig(paths[1], metadata={"CreationDate": None})
    return paths
