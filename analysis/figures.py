"""The paper's figures, drawn from run folders only: training curves, shortcut rates, Cross-Generation, truncation.

Every figure is saved as PNG (dpi 150, for screens) and PDF (for papers) together with a CSV of exactly
the numbers it plots, and returns its manifest entry (:class:`FigureResult`). A figure whose metrics no
ok run has is not drawn; its entry says why. One style throughout: Okabe–Ito colours, and a marker and
line style per method so the figures survive colour-blindness and greyscale print; axes are labelled
with their units. Drawn with the Agg canvas directly (no pyplot, no global backend switch); PDF
metadata carries no date, so the same input gives the same files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from analysis.collect import Methods, methods_of, ok_runs, read_curve
from analysis.compare import suite_kind
from analysis.estimate import Estimator
from analysis.stats import mean_ci
from analysis.tables import write_csv

#: styles for methods whose runs declare none (and method variants); a method's own style comes from its
#: runs (results.json method_info, declared in harness/methods/<name>.py); Okabe–Ito palette
EXTRA_STYLES = (("#CC79A7", "v", (0, (5, 1))), ("#D55E00", "P", (0, (3, 1, 1, 1))), ("#56B4E9", "X", (0, (1, 1))),
                ("#999999", "*", (0, (5, 2, 1, 2))))
TRANSFER_LINE = (0, (1, 1.5))  # dotted: a method evaluated on a suite it was not trained on
LEGEND_ENTRY_WIDTH = 1.9  # inches a legend entry takes (the legend gets as many columns as fit)
SHORTCUT_METRICS = {"shortcut_rate": ("#D55E00", "//"), "independence_rate": ("#56B4E9", "")}
#: training-curve panels: (curve column candidates, title, y label, bounded in [0, 1]); the first column
#: present in any run is drawn. Reward and accuracy are over the completions sampled on training prompts.
CURVE_PANELS = ((("reward",), "reward of sampled completions", "reward (mean)", True),
                (("suite/acc",), "accuracy of sampled completions", "accuracy (fraction)", True),
                (("suite/think_tokens",), "thinking length", "thinking length (tokens)", False),
                (("completions/mean_length",), "completion length", "thinking + answer (tokens)", False))
RC = {"svg.hashsalt": "starbench", "font.size": 9, "axes.titlesize": 9, "axes.labelsize": 9, "legend.fontsize": 8,
      "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.color": "#dddddd",
      "grid.linewidth": 0.6, "axes.axisbelow": True}
PANEL = (3.6, 2.8)  # inches per panel


@dataclass
class FigureResult:
    """A figure's manifest entry: its files, the CSV it is drawn from and the runs behind it, or why it is absent."""

    name: str
    title: str
    caption: str
    files: list[str] = field(default_factory=list)
    data: str = ""
    runs: list[str] = field(default_factory=list)
    skipped: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "title": self.title, "caption": self.caption, "files": self.files,
                "data": self.data, "runs": self.runs, "status": "skipped" if self.skipped else "drawn",
                "reason": self.skipped}


def style_map(labels: Iterable[str], methods: Methods) -> dict[str, tuple[str, str, object]]:
    """One (colour, marker, line style) per method label: the method's own (as its runs declare it) for a plain
    method; for a method evaluated on a suite it was not trained on (``rl (data=micro_math)``), its colour and
    marker with a dotted line; extras for the rest."""
    styles, extra = {}, 0
    for label in sorted(set(labels), key=methods.key):
        transfer = re.fullmatch(r"(\w+) \(data=[^)]+\)", label)
        own = methods.info(label).style if label in methods else None
        if own is not None:
            styles[label] = own
        elif transfer and transfer.group(1) in methods and methods.info(transfer.group(1)).style is not None:
            colour, marker, _ = methods.info(transfer.group(1)).style
            styles[label] = (colour, marker, TRANSFER_LINE)
        else:
            styles[label] = EXTRA_STYLES[extra % len(EXTRA_STYLES)]
            extra += 1
    return styles


def display(method: str, trained_on: str, suite: str) -> str:
    return method if trained_on == suite else f"{method} (data={trained_on})"


def _title(suite: str, setting: str) -> str:
    return f"{suite} · {setting}" if setting else suite


def _grid(n_rows: int, n_cols: int) -> tuple[Figure, np.ndarray]:
    fig = Figure(figsize=(PANEL[0] * n_cols, PANEL[1] * n_rows + 0.8), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(n_rows, n_cols, squeeze=False)


def _save(fig: Figure, out_dir: Path, name: str) -> list[str]:
    fig.savefig(out_dir / f"{name}.png", dpi=150)
    fig.savefig(out_dir / f"{name}.pdf", metadata={"CreationDate": None})
    return [f"{name}.png", f"{name}.pdf"]


def _legend(fig: Figure, axes: np.ndarray) -> None:
    handles, labels = {}, []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels(), strict=True):
            if lab not in handles:
                handles[lab] = h
                labels.append(lab)
    if labels:
        fits = max(1, int(fig.get_figwidth() // LEGEND_ENTRY_WIDTH))  # more columns than fit are cut off
        fig.legend([handles[lab] for lab in labels], labels, loc="outside lower center", ncols=min(len(labels), fits),
                   frameon=False)


def _hide_unused(axes: np.ndarray, used: int) -> None:
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)


def _runs_for(est: Estimator, frame: pd.DataFrame) -> list[str]:
    """The run folders behind the rows of a comparison-frame slice."""
    keys = set(frame[["suite", "setting", "method", "trained_on"]].itertuples(index=False, name=None))
    return sorted({r for cell in est.cells() if (cell.suite, cell.setting, cell.label, cell.data) in keys
                   for r in est.runs_of(cell)["run"]})


def _panels(frame: pd.DataFrame, kinds: dict[str, str] | None) -> list[tuple[str, str]]:
    """(suite, setting) panels: math suites first, then GQA, then others; settings in order."""
    order = {"math": 0, "gqa": 1}
    pairs = set(frame[["suite", "setting"]].itertuples(index=False, name=None))
    return sorted(pairs, key=lambda p: (p[1], order.get(suite_kind(p[0], kinds), 2), p[0]))


def _grid_for(panels: list[tuple[str, str]]) -> tuple[Figure, np.ndarray, dict[tuple[str, str], object]]:
    """Rows = settings, columns = suites (math first); returns the axes of each panel."""
    settings = list(dict.fromkeys(s for _, s in panels))
    suites = list(dict.fromkeys(su for su, _ in panels))
    fig, axes = _grid(len(settings), len(suites))
    where = {(su, s): axes[settings.index(s), suites.index(su)] for su, s in panels}
    for (su, s), ax in where.items():
        ax.set_title(_title(su, s))
    for ax in axes.flat:
        if ax not in where.values():
            ax.set_visible(False)
    return fig, axes, where


# --- training curves ---------------------------------------------------------------------------------
def curve_frame(runs: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per (data, setting, method, step, panel column): mean and t-interval over the seeds that logged it."""
    ok, methods = ok_runs(runs), methods_of(runs)
    sweep = Path(runs.attrs.get("sweep_dir", "."))
    logs, without = [], set()
    for _, run in ok.iterrows():
        curve = read_curve(sweep / run["run"])
        if curve.empty:
            continue
        columns = [c for cands, *_ in CURVE_PANELS for c in cands if c in curve.columns]
        if not columns:
            without.add(run["label"])
            continue
        long = curve.melt(id_vars=["step"], value_vars=columns, var_name="metric", value_name="value").dropna()
        long[["data", "setting", "method", "run"]] = run["data"], run["setting"], run["label"], run["run"]
        logs.append(long)
    columns = ["data", "setting", "method", "metric", "step", "mean", "ci_lo", "ci_hi", "n_seeds", "runs"]
    if not logs:
        empty = pd.DataFrame(columns=columns)
        empty.attrs["without"] = sorted(without, key=methods.key)
        return empty
    rows = []
    for key, g in pd.concat(logs).groupby(["data", "setting", "method", "metric", "step"], sort=True):
        mean, lo, hi, n = mean_ci(g["value"], level)
        rows.append((*key, mean, lo, hi, n, " ".join(sorted(g["run"]))))
    frame = pd.DataFrame(rows, columns=columns)
    frame = frame.iloc[sorted(range(len(frame)), key=lambda i: (frame.iloc[i]["data"], frame.iloc[i]["setting"],
                                                                methods.key(frame.iloc[i]["method"]),
                                                                frame.iloc[i]["metric"], frame.iloc[i]["step"]))]
    frame.attrs["without"] = sorted(without - set(frame["method"]), key=methods.key)
    return frame


def training_curves(runs: pd.DataFrame, styles: dict, out_dir: Path, level: float) -> FigureResult:
    result = FigureResult("curves", "Training curves by method",
                          f"Mean over seeds per optimizer step with a {level:.0%} Student-t band over seeds "
                          "(no band with one seed); values as logged by the trainer, not smoothed.")
    frame = curve_frame(runs, level)
    logged = set(frame["metric"])
    panels = [(c, title, ylabel, bounded) for cands, title, ylabel, bounded in CURVE_PANELS for c in cands
              if c in logged]
    if any(p[0] == "suite/think_tokens" for p in panels):  # thinking length logged: the completion length is redundant
        panels = [p for p in panels if p[0] != "completions/mean_length"]
    if frame.attrs["without"]:
        result.caption += (f" No line for {', '.join(frame.attrs['without'])}: its curve.jsonl logs none of these "
                           "(SFT logs its loss and token accuracy only).")
    if frame.empty or not panels:
        result.skipped = "no ok run has a training curve (curve.jsonl) with reward, accuracy or length"
        return result
    frame = frame[frame["metric"].isin([p[0] for p in panels])]
    blocks = list(dict.fromkeys(frame[["data", "setting"]].itertuples(index=False, name=None)))
    fig, axes = _grid(len(blocks), len(panels))
    for i, (data, setting) in enumerate(blocks):
        for j, (column, title, ylabel, bounded) in enumerate(panels):
            ax = axes[i, j]
            cell = frame[(frame["data"] == data) & (frame["setting"] == setting) & (frame["metric"] == column)]
            for method, g in cell.groupby("method", sort=False):  # (the frame is in the methods' order)
                colour, marker, line = styles.get(method, EXTRA_STYLES[0])
                ax.plot(g["step"], g["mean"], color=colour, linestyle=line, linewidth=1.4, label=method)
                band = g[g["n_seeds"] > 1]
                ax.fill_between(band["step"], band["ci_lo"], band["ci_hi"], color=colour, alpha=0.2, linewidth=0)
            ax.set_title(f"{_title(data, setting)}: {title}")
            ax.set_xlabel("optimizer step")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(ylabel)
            if bounded:
                ax.set_ylim(-0.02, 1.02)  # a band over few seeds may reach past [0, 1]: the axis does not
    _legend(fig, axes)
    fig.suptitle("Training curves by method (rows: the suite trained on)")
    result.files, result.data = _save(fig, out_dir, "curves"), "curves.csv"
    write_csv(frame, out_dir / "curves.csv")
    result.runs = sorted({r for runs_ in frame["runs"] for r in runs_.split()})
    return result


# --- shortcut rates ----------------------------------------------------------------------------------
def shortcut_plot(comparison: pd.DataFrame, est: Estimator, out_dir: Path, level: float,
                  kinds: dict[str, str] | None) -> FigureResult:
    result = FigureResult("shortcut", "Shortcut diagnostics by method",
                          "shortcut_rate: share of correct answers whose thinking a majority of the answerer ladder "
                          "cannot turn into the gold answer; independence_rate: share of correct answers also "
                          f"reached with an empty thinking. Bars: mean over seeds, whiskers: {level:.0%} CI over "
                          "test items and seeds (Student-t, crossed random effects).")
    frame = comparison[comparison["metric"].isin(SHORTCUT_METRICS)].copy()
    if frame.empty:
        result.skipped = "no ok run has shortcut_rate or independence_rate"
        return result
    missing = [m for m in SHORTCUT_METRICS if m not in set(frame["metric"])]
    if missing:
        result.caption += (f" Not drawn: {', '.join(missing)} (absent from every run: runs before "
                           "Cross-Generation, or no answerer ladder).")
    panels = _panels(frame, kinds)
    fig, axes, where = _grid_for(panels)
    metrics = [m for m in SHORTCUT_METRICS if m not in missing]
    for (suite, setting), ax in where.items():
        cell = frame[(frame["suite"] == suite) & (frame["setting"] == setting)]
        methods = list(dict.fromkeys(display(m, t, suite) for m, t in zip(cell["method"], cell["trained_on"],
                                                                          strict=True)))
        x, width = np.arange(len(methods)), 0.8 / len(metrics)
        for i, metric in enumerate(metrics):
            rows = cell[cell["metric"] == metric]
            rows = rows.set_index(pd.Index([display(m, t, suite) for m, t in zip(rows["method"], rows["trained_on"],
                                                                                  strict=True)])).reindex(methods)
            err = np.vstack([rows["mean"] - rows["ci_lo"], rows["ci_hi"] - rows["mean"]])
            colour, hatch = SHORTCUT_METRICS[metric]
            ax.bar(x + (i - (len(metrics) - 1) / 2) * width, rows["mean"], width, yerr=err, capsize=3,
                   ecolor="#444444", color=colour, hatch=hatch, edgecolor="black", linewidth=0.5,
                   label=metric.replace("_", " "))
        ax.set_xticks(x, methods, rotation=20 if max(map(len, methods)) > 6 else 0)
        ax.set_xlabel("method")
        ax.set_ylabel("share of correct answers")
        ax.set_ylim(0, 1)
    _legend(fig, axes)
    fig.suptitle("Shortcut diagnostics by method")
    result.files, result.data = _save(fig, out_dir, "shortcut"), "shortcut.csv"
    write_csv(frame, out_dir / "shortcut.csv")
    result.runs = _runs_for(est, frame)
    return result


# --- Cross-Generation and truncation -----------------------------------------------------------------
def _answerer_order(est: Estimator, suite: str, setting: str) -> tuple[list[str], set[str]]:
    """Answerers of the block in ladder order and the ladder members, from the runs' ``thinking_eval``."""
    for cell in est.block(suite, setting):
        for info in est.runs_of(cell)["thinking_eval"]:
            if info.get("answerers"):
                return list(info["answerers"]), set(info.get("ladder", info["answerers"]))
    return [], set()


def _line_panel(ax, frame: pd.DataFrame, suite: str, xs: Callable[[pd.DataFrame], np.ndarray], styles: dict,
                band: bool, methods: Methods) -> None:
    """One line per method: with a CI band (continuous x), or with error bars dodged sideways (categorical x)."""
    lines = sorted(frame.groupby(["method", "trained_on"]), key=lambda kv: (methods.key(kv[0][0]), kv[0][1]))
    for i, ((method, trained_on), g) in enumerate(lines):
        name = display(method, trained_on, suite)
        colour, marker, line = styles.get(name, styles.get(method, EXTRA_STYLES[0]))
        x = xs(g)
        if band:
            ax.plot(x, g["mean"], color=colour, marker=marker, linestyle=line, markersize=4, label=name)
            ax.fill_between(x, g["ci_lo"], g["ci_hi"], color=colour, alpha=0.15, linewidth=0)
        else:
            dodge = (i - (len(lines) - 1) / 2) * 0.06
            ax.errorbar(x + dodge, g["mean"], yerr=np.vstack([g["mean"] - g["ci_lo"], g["ci_hi"] - g["mean"]]),
                        color=colour, marker=marker, linestyle=line, markersize=4, capsize=3, label=name)


def xgen_plot(comparison: pd.DataFrame, est: Estimator, styles: dict, out_dir: Path, level: float,
              kinds: dict[str, str] | None) -> FigureResult:
    result = FigureResult("xgen", "Cross-Generation: gain from the policy's thinking vs answerer capability",
                          "xgen gain = accuracy of an answerer given (question, policy's thinking) minus its accuracy "
                          "given (question, empty thinking); answerers in ladder order, weaker to stronger (* = not "
                          f"in the ladder). Mean over seeds with {level:.0%} CI over test items and seeds.")
    frame = comparison[comparison["metric"].str.startswith("xgen_gain/")].copy()
    if frame.empty:
        result.skipped = ("no ok run has xgen_gain/<answerer> metrics (runs before Cross-Generation, issue 3, "
                          "or eval.answerers empty)")
        return result
    frame["answerer"] = frame["metric"].str.slice(len("xgen_gain/"))
    frame["position"], frame["in_ladder"] = -1, False
    panels = _panels(frame, kinds)
    fig, axes, where = _grid_for(panels)
    for (suite, setting), ax in where.items():
        block = (frame["suite"] == suite) & (frame["setting"] == setting)
        order, ladder = _answerer_order(est, suite, setting)
        order += sorted(set(frame.loc[block, "answerer"]) - set(order))  # unknown order: after the ladder
        frame.loc[block, "position"] = frame.loc[block, "answerer"].map(order.index)
        frame.loc[block, "in_ladder"] = frame.loc[block, "answerer"].isin(ladder)
        cell = frame[block].sort_values("position")
        _line_panel(ax, cell, suite, lambda g: g["position"].to_numpy(), styles, band=False, methods=est.methods)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(order)), [a if a in ladder else f"{a}*" for a in order],
                      rotation=20 if max(map(len, order)) > 6 else 0)
        ax.set_xlabel("answerer (weaker → stronger)")
        ax.set_ylabel("xgen gain (accuracy difference)")
    _legend(fig, axes)
    fig.suptitle(result.title)
    frame = frame.sort_values(["suite", "setting", "position"], kind="stable")
    result.files, result.data = _save(fig, out_dir, "xgen"), "xgen.csv"
    write_csv(frame, out_dir / "xgen.csv")
    result.runs = _runs_for(est, frame)
    return result


def truncation_plot(comparison: pd.DataFrame, est: Estimator, styles: dict, out_dir: Path, level: float,
                    kinds: dict[str, str] | None) -> FigureResult:
    result = FigureResult("truncation", "Truncation curves p(λ) by method",
                          "p(λ): accuracy when the policy answers after only the first ⌊λ·|t|⌋ tokens of its own "
                          "thinking; trace = mean of p over λ (high: the reward is reached with little thinking). "
                          f"Mean over seeds with a {level:.0%} band over test items and seeds (pointwise CIs).")
    frame = comparison[comparison["metric"].str.fullmatch(r"p_trunc/[0-9.eE+-]+")].copy()
    if frame.empty:
        result.skipped = "no ok run has p_trunc/<λ> metrics (runs before the truncation evaluation, issue 3)"
        return result
    frame["lambda"] = frame["metric"].map(lambda m: float(re.sub("^p_trunc/", "", m)))
    frame = frame.sort_values(["suite", "setting", "lambda"], kind="stable")
    fig, axes, where = _grid_for(_panels(frame, kinds))
    for (suite, setting), ax in where.items():
        cell = frame[(frame["suite"] == suite) & (frame["setting"] == setting)]
        _line_panel(ax, cell, suite, lambda g: g["lambda"].to_numpy(), styles, band=True, methods=est.methods)
        ax.set_xlabel("λ (fraction of the thinking kept)")
        ax.set_ylabel("accuracy p(λ)")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
    _legend(fig, axes)
    fig.suptitle(result.title)
    result.files, result.data = _save(fig, out_dir, "truncation"), "truncation.csv"
    write_csv(frame, out_dir / "truncation.csv")
    result.runs = _runs_for(est, frame)
    return result


def draw_all(runs: pd.DataFrame, comparison: pd.DataFrame, est: Estimator, out_dir: Path, level: float,
             kinds: dict[str, str] | None = None) -> list[FigureResult]:
    """Every figure (or its skip reason), in the order the report shows them."""
    labels = [display(m, t, s) for m, t, s in zip(comparison["method"], comparison["trained_on"],
                                                   comparison["suite"], strict=True)]
    styles = style_map([*labels, *ok_runs(runs)["label"]], est.methods)
    with matplotlib.rc_context(RC):
        return [xgen_plot(comparison, est, styles, out_dir, level, kinds),
                shortcut_plot(comparison, est, out_dir, level, kinds),
                truncation_plot(comparison, est, styles, out_dir, level, kinds),
                training_curves(runs, styles, out_dir, level)]



# --- forest plot of the paired comparisons -----------------------------------------------------------
FOREST_COLOURS = {True: "#0072B2", False: "#777777"}  # the CI excludes 0 / includes it
FOREST_ROW = 0.26  # inches per comparison


def _forest_label(row) -> str:
    if " vs " in row.suite:  # a contrast of two gains measured on different suites
        label = f"({row.a}) − ({row.b})"
    else:
        label = f"{row.suite}: {row.a} − {row.b}"
    return f"{label} [{row.setting}]" if row.setting else label


def forest_plot(paired: pd.DataFrame, est: Estimator, out_dir: Path, level: float) -> FigureResult:
    """Every computed paired comparison: Δ = A − B with its CI, the zero line, and ±MDE marks; one panel per
    metric (rows in the order of the paired table)."""
    result = FigureResult("forest", "Paired comparisons: Δ with CI and minimum detectable effect",
                          f"Δ = A − B (mean over seeds) with its {level:.0%} Student-t CI over test items and seeds; "
                          "filled blue: the CI excludes 0 (p < 0.05, unadjusted). Grey ticks at ±MDE: the smallest "
                          "|Δ| the comparison detects with 80% power at α = 0.05; a non-significant Δ inside them "
                          "says the sweep could not have detected an effect that small. Not testable and refused "
                          "comparisons are listed in paired.md, not drawn.")
    rows = paired[paired["status"] == "compared"].copy()
    if rows.empty:
        result.skipped = "no paired comparison was computed (see paired.md)"
        return result
    rows["label"] = [_forest_label(r) for r in rows.itertuples(index=False)]
    metrics = list(dict.fromkeys(rows["metric"]))
    sizes = [int((rows["metric"] == m).sum()) for m in metrics]
    with matplotlib.rc_context(RC):
        fig = Figure(figsize=(8.0, sum(FOREST_ROW * n + 0.75 for n in sizes) + 0.6), layout="constrained")
        FigureCanvasAgg(fig)
        axes = fig.subplots(len(metrics), 1, squeeze=False, gridspec_kw={"height_ratios": [n + 2 for n in sizes]})
        frames = []
        for ax, metric in zip(axes[:, 0], metrics, strict=True):
            g = rows[rows["metric"] == metric].copy()
            g["y"] = np.arange(len(g))[::-1]
            for r in g.itertuples(index=False):
                excludes = bool(r.ci_lo > 0 or r.ci_hi < 0)
                colour = FOREST_COLOURS[excludes]
                ax.plot([r.ci_lo, r.ci_hi], [r.y, r.y], color=colour, linewidth=1.4, solid_capstyle="butt")
                ax.plot([r.delta], [r.y], marker="o", markersize=5, color=colour,
                        markerfacecolor=colour if excludes else "white", linestyle="none")
                if np.isfinite(r.mde):
                    ax.plot([-r.mde, r.mde], [r.y, r.y], marker="|", markersize=9, color="#999999", linestyle="none")
            ax.axvline(0, color="black", linewidth=0.8)
            ax.set_yticks(g["y"], g["label"])
            ax.set_ylim(-0.7, len(g) - 0.3)
            ax.set_title(f"Δ {metric}")
            ax.set_xlabel(f"Δ {metric} (A − B)")
            ax.grid(axis="y", visible=False)
            frames.append(g)
        fig.suptitle(result.title)
        result.files = _save(fig, out_dir, "forest")
    data = pd.concat(frames)[["label", "question", "suite", "setting", "a", "b", "metric", "y", "delta", "ci_lo",
                              "ci_hi", "p", "mde", "pairing"]]
    write_csv(data, out_dir / "forest.csv")
    result.data = "forest.csv"
    arms = {(r.suite, r.setting, arm) for r in rows.itertuples(index=False) for arm in (r.a, r.b)}
    result.runs = sorted({run for cell in est.cells() if (cell.suite, cell.setting, cell.display) in arms
                          for run in est.runs_of(cell)["run"]})
    return result
