"""The regime map (issue 14): how methods behave as the planted shortcut pays more, i.i.d. and o.o.d.

Drawn from any sweep whose runs train on ``micro_gqa`` at two or more values of
``data.params.shortcut_p`` (``python -m harness +sweep=regimes``): x = the training ``shortcut_p`` (the
i.i.d. test split has the same rate), one panel per measure, one line per method with the interval
over test items and seeds of :mod:`analysis.estimate` (the tables' intervals). The o.o.d.
panel is the shifted split ``micro_gqa_ood`` (the planted shortcut never right), evaluated in every run
beside ``micro_gqa`` (docs/metrics.md).

Files: ``regimes.png``/``.pdf`` and ``regimes.csv``: one row per (shortcut_p, panel, method) with the
mean, the interval, the seed count and each seed's value; and, per (shortcut_p, panel), a row
``start − rl`` (the methods playing those roles): the paired difference with its interval, p-value and
MDE (the comparison the map exists for; refused, with the reason, when the two arms' budgets do not match).
"""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from analysis.compare import metric_range, refusal
from analysis.estimate import Estimator
from analysis.figures import EXTRA_STYLES, RC, FigureResult, _grid, _legend, _save, style_map
from analysis.tables import write_csv

SUITE, SHIFTED = "micro_gqa", "micro_gqa_ood"
FACTOR = "data.params.shortcut_p"
#: (suite, metric, panel title, y label)
PANELS = ((SUITE, "acc", "i.i.d. accuracy (micro_gqa)", "accuracy"),
          (SHIFTED, "acc", "o.o.d. accuracy (micro_gqa_ood: shortcut never right)", "accuracy"),
          (SUITE, "answer_follows", "answer follows the thinking (i.i.d.)", "share of items"),
          (SUITE, "corrupt_follow", "answer follows a corrupted conclusion (i.i.d.)", "share of items"),
          (SUITE, "mode_careful", "careful thinking (i.i.d.)", "share of items"))
DIFFERENCE = ("start", "rl")  # the roles of the comparison row of every point: START − RL
COLUMNS = ["shortcut_p", "setting", "suite", "metric", "method", "mean", "ci_lo", "ci_hi", "p", "mde", "n_seeds",
           "n_items", "seed_values", "runs", "note"]


def shortcut_of(setting: str) -> tuple[float | None, str]:
    """(the ``shortcut_p`` a setting names, the rest of the setting); (None, setting) when it names none."""
    found = re.search(rf"(?:^|, ){re.escape(FACTOR)}=([^,]+)", setting)
    if not found:
        return None, setting
    rest = (setting[:found.start()] + setting[found.end():]).strip(", ")
    try:
        return float(found.group(1)), rest
    except ValueError:
        return None, setting


def regime_frame(est: Estimator) -> pd.DataFrame:
    """The numbers of the map (see the module docstring); empty when the sweep has no such runs."""
    rows = []
    for cell in est.cells():
        x, rest = shortcut_of(cell.setting)
        if x is None or cell.data != SUITE:
            continue
        e = est.estimate(cell)
        for suite, metric, *_ in PANELS:
            if cell.suite != suite or metric not in e.point:
                continue
            low, high = metric_range(metric)  # clipped to the values the metric can take, as in the tables
            rows.append({"shortcut_p": x, "setting": rest, "suite": suite, "metric": metric, "method": cell.label,
                         "mean": e.point[metric], "ci_lo": max(e.lo[metric], low), "ci_hi": min(e.hi[metric], high),
                         "p": np.nan, "mde": np.nan,
                         "n_seeds": len(e.seeds), "n_items": e.n_items or 0,
                         "seed_values": " ".join(f"{v:.4f}" for v in e.seed_values.get(metric, [])),
                         "runs": " ".join(sorted(est.runs_of(cell)["run"])), "note": ""})
            if cell.role == DIFFERENCE[0]:
                rows += _difference(est, cell, x, rest, metric)
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = sorted(range(len(frame)), key=lambda i: (
        frame.iloc[i]["setting"], [p[:2] for p in PANELS].index((frame.iloc[i]["suite"], frame.iloc[i]["metric"])),
        frame.iloc[i]["shortcut_p"], est.methods.key(frame.iloc[i]["method"])))
    return frame.iloc[order].reset_index(drop=True)


def _difference(est: Estimator, a, x: float, rest: str, metric: str) -> list[dict]:
    b = next((c for c in est.block(a.suite, a.setting) if c.role == DIFFERENCE[1] and c.data == a.data), None)
    if b is None:
        return []
    row = {"shortcut_p": x, "setting": rest, "suite": a.suite, "metric": metric,
           "method": f"{a.label} − {b.label}", "mean": np.nan, "ci_lo": np.nan, "ci_hi": np.nan,
           "p": np.nan, "mde": np.nan, "n_seeds": min(len(est.estimate(a).seeds), len(est.estimate(b).seeds)),
           "n_items": est.estimate(a).n_items or 0, "seed_values": "",
           "runs": " ".join(sorted([*est.runs_of(a)["run"], *est.runs_of(b)["run"]])), "note": ""}
    problems = refusal(est, a, b)
    if problems:
        return [row | {"note": "NOT MATCHED (not compared): " + "; ".join(problems)}]
    cmp = est.compare(a, b, metric, seeds=False)  # (the map shows no seeds-to-detect)
    if cmp is None:
        return []
    return [row | {"mean": cmp.delta, "ci_lo": cmp.lo, "ci_hi": cmp.hi, "p": cmp.p, "mde": cmp.mde,
                   "note": f"paired: {cmp.pairing}" if cmp.status == "compared" else cmp.status}]


def regime_plot(est: Estimator, out_dir: Path, level: float) -> FigureResult | None:
    """``regimes.{png,pdf,csv}``, or None when the sweep has no micro_gqa runs at two or more ``shortcut_p``
    (then the report does not list it)."""
    frame = regime_frame(est)
    cells = frame[~frame["method"].str.contains("−")]
    if cells[cells["suite"] == SUITE]["shortcut_p"].nunique() < 2:
        return None
    result = FigureResult(
        "regimes", "Regime map: methods by the training shortcut rate (micro_gqa)",
        f"x: the training shortcut_p (how often the subject's own city, the planted shortcut, is right; the i.i.d. "
        f"test split has the same rate, the o.o.d. split micro_gqa_ood never). Points: mean over seeds; bars: "
        f"{level:.0%} Student-t CI over test items and seeds (crossed random effects; with 2 seeds the seed "
        "part has 1 df: wide); regimes.csv lists each seed's value and the paired START − RL difference, its "
        "p-value and MDE, per point).")
    with matplotlib.rc_context(RC):
        _draw(cells, result, out_dir, est)
    write_csv(frame, out_dir / "regimes.csv")
    result.runs = sorted({r for runs in frame["runs"] for r in runs.split()})
    return result


def _draw(cells: pd.DataFrame, result: FigureResult, out_dir: Path, est: Estimator) -> None:
    settings = list(dict.fromkeys(cells["setting"]))
    fig, axes = _grid(len(settings), len(PANELS))
    styles = style_map(cells["method"], est.methods)
    for i, setting in enumerate(settings):
        for j, (suite, metric, title, ylabel) in enumerate(PANELS):
            ax = axes[i, j]
            panel = cells[(cells["setting"] == setting) & (cells["suite"] == suite) & (cells["metric"] == metric)]
            methods = sorted(set(panel["method"]), key=est.methods.key)
            for k, method in enumerate(methods):
                g = panel[panel["method"] == method].sort_values("shortcut_p")
                colour, marker, line = styles.get(method, EXTRA_STYLES[0])
                offset = (k - (len(methods) - 1) / 2) * 0.008  # side by side, so the bars do not hide each other
                ax.errorbar(g["shortcut_p"] + offset, g["mean"], yerr=[g["mean"] - g["ci_lo"], g["ci_hi"] - g["mean"]],
                            color=colour, marker=marker, linestyle=line, linewidth=1.4, markersize=4, capsize=2,
                            label=method)
            ax.set_title(f"{title} · {setting}" if setting else title)
            ax.set_xlabel("training shortcut_p")
            ax.set_ylabel(ylabel)
            ax.set_xticks(sorted(set(cells["shortcut_p"])))
            ax.set_ylim(-0.02, 1.02)
    _legend(fig, axes)
    fig.suptitle(result.title)
    result.files, result.data = _save(fig, out_dir, "regimes"), "regimes.csv"
