"""Tables as Markdown (to read), CSV (to load) and LaTeX (for the paper), byte-identical on every rerun.

Three tables: the method comparison (every cell's metrics with CIs and Δ vs base), the paired
comparisons that answer the paper's questions, and the budget per method. Rows are sorted by suite,
setting, method (base, sft, rl, start, then others) and metric; floats have a fixed number of decimals.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis.bootstrap import BOOTSTRAP
from analysis.collect import BUDGET_FIELDS, method_key, ok_runs
from analysis.compare import HEADLINE, HEALTH, QUESTION_METRICS

NUMERIC_BUDGET = tuple(f for f in BUDGET_FIELDS if not f.endswith("_hash"))
BUDGET_COLUMNS = ["suite", "setting", "method", "runs", *NUMERIC_BUDGET]
CSV_FLOAT = "%.6f"
DASH = "—"
TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_", "{": r"\{",
               "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "—": "--", "Δ": r"$\Delta$",
               "≥": r"$\geq$", "×": r"$\times$", "−": r"$-$", "†": r"\dag{}", "·": r"$\cdot$", "∅": r"$\emptyset$",
               "λ": r"$\lambda$"}


def _nan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(metric: str, value: float, signed: bool = False) -> str:
    """A metric value: token counts with one decimal, fractions with three; NaN as an em dash."""
    if _nan(value):
        return DASH
    digits = 1 if metric == "think_tokens" else 3
    value = round(float(value), digits) + 0.0  # no "-0.000"
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def fmt_ci(metric: str, mean: float, lo: float, hi: float, ci_method: str, n_seeds: int) -> str:
    """``mean [lo, hi]``; a t-interval (no per-item records) is marked †, a single such seed has no CI."""
    if _nan(mean):
        return DASH
    if ci_method != BOOTSTRAP and n_seeds < 2:
        return f"{fmt(metric, mean)} (1 seed, no CI)"
    mark = "" if ci_method == BOOTSTRAP else "†"
    return f"{fmt(metric, mean)} [{fmt(metric, lo)}, {fmt(metric, hi)}]{mark}"


def fmt_p(p: float) -> str:
    if _nan(p):
        return DASH
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_delta(metric: str, delta: float, lo: float, hi: float, p: float) -> str:
    """``+Δ [lo, hi] p=…`` for a paired difference; em dash when not computed."""
    if _nan(delta):
        return DASH
    return f"{fmt(metric, delta, True)} [{fmt(metric, lo, True)}, {fmt(metric, hi, True)}] p={fmt_p(p)}"


def sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by suite, setting and method (see :func:`method_key`)."""
    def key(i: int) -> tuple:
        row = df.iloc[i]
        return row["suite"], row["setting"], method_key(row["method"])

    return df.iloc[sorted(range(len(df)), key=key)].reset_index(drop=True)


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""
    lines = [header, ["---"] * len(header), *rows]
    return "".join("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |\n" for cells in lines)


def tex_escape(text: str) -> str:
    return "".join(TEX_ESCAPES.get(ch, ch) for ch in str(text))


def latex_table(header: list[str], rows: list[list[str]], caption: str, text_columns: int = 1) -> str:
    """A booktabs ``table`` (needs ``\\usepackage{booktabs}``): ``text_columns`` left-aligned, the rest right."""
    body = "".join(" & ".join(tex_escape(c) for c in cells) + r" \\" + "\n" for cells in rows)
    return ("\\begin{table}[t]\n\\centering\n\\small\n"
            f"\\begin{{tabular}}{{{'l' * text_columns + 'r' * (len(header) - text_columns)}}}\n\\toprule\n"
            + " & ".join(tex_escape(h) for h in header) + " \\\\\n\\midrule\n" + body
            + f"\\bottomrule\n\\end{{tabular}}\n\\caption{{{tex_escape(caption)}}}\n\\end{{table}}\n")


def _block_title(suite: str, setting: str) -> str:
    return f"{suite} ({setting})" if setting else suite


def _blocks(frame: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    return [(s, t, g) for (s, t), g in frame.groupby(["suite", "setting"], sort=True)]


def _present(frame: pd.DataFrame, metrics: tuple[str, ...]) -> list[str]:
    have = set(frame["metric"])
    return [m for m in metrics if m in have]


def _cell_rows(block: pd.DataFrame, metrics: list[str], delta: bool) -> list[list[str]]:
    rows = []
    for (method, trained_on), g in sorted(block.groupby(["method", "trained_on"], sort=False),
                                          key=lambda kv: (method_key(kv[0][0]), kv[0][1])):
        by_metric = g.set_index("metric")
        first = g.iloc[0]
        name = method if trained_on == first["suite"] else f"{method} (data={trained_on})"
        cells = []
        for m in metrics:
            if m not in by_metric.index:
                cells.append(DASH)
                continue
            r = by_metric.loc[m]
            cells.append(fmt_delta(m, r.delta_vs_base, r.delta_lo, r.delta_hi, r.delta_p) if delta
                         else fmt_ci(m, r["mean"], r.ci_lo, r.ci_hi, r.ci_method, int(r.n_seeds)))
        lead = [name] if delta else [name, str(int(first.n_seeds)), str(int(first.n_items)) if first.n_items else DASH]
        note = [first.delta_note or ""] if delta else []
        rows.append(lead + cells + note)
    return rows


def comparison_markdown(frame: pd.DataFrame, note: str, level: float, n_boot: int) -> str:
    """The method comparison: per (suite, setting), headline metrics, Δ vs base, then format health and modes."""
    text = "# Method comparison\n\n" + note + (
        f"Cells: mean over seeds [{level:.0%} CI: percentile bootstrap over test items and seeds, B={n_boot}]; "
        "† marks a Student-t interval over seeds (runs without per-item records). Δ vs base: the paired "
        "difference to the base row of the same block with its bootstrap CI and two-sided p-value (not adjusted "
        "for multiple comparisons). All metrics, per-answerer and per-λ ones included, are in `comparison.csv`.\n")
    for suite, setting, block in _blocks(frame):
        text += f"\n## {_block_title(suite, setting)}\n\n"
        headline = _present(block, HEADLINE)
        text += markdown_table(["method", "seeds", "items", *headline], _cell_rows(block, headline, False))
        deltas = _present(block, QUESTION_METRICS)
        if block["delta_vs_base"].notna().any() or block["delta_note"].str.startswith("NOT MATCHED").any():
            text += "\nΔ vs base\n\n" + markdown_table(
                ["method", *(f"Δ {m}" for m in deltas), "note"],
                [r for r in _cell_rows(block, deltas, True) if r[-1] != "reference"])
        health = _present(block, HEALTH)
        if health:
            text += "\nFormat health and behaviour modes\n\n" + markdown_table(
                ["method", "seeds", "items", *health], _cell_rows(block, health, False))
    return text


def comparison_latex(frame: pd.DataFrame, level: float) -> str:
    """The headline metrics of every block as LaTeX tables (mean with CI)."""
    tables = []
    for suite, setting, block in _blocks(frame):
        headline = _present(block, HEADLINE)
        rows = [r[:1] + r[3:] for r in _cell_rows(block, headline, False)]
        tables.append(latex_table(["method", *headline], rows,
                                  f"{_block_title(suite, setting)}: mean over seeds with {level:.0%} bootstrap CI "
                                  "over test items and seeds."))
    return "\n".join(tables)


def paired_markdown(frame: pd.DataFrame, note: str, level: float, n_boot: int) -> str:
    """The paper's questions: per question, A vs B per metric with Δ, CI, p and Holm-adjusted p; refusals spelt out."""
    text = "# Paired comparisons\n\n" + note + (
        f"Δ = A − B, mean over seeds; CI: {level:.0%} percentile bootstrap of the paired difference (B={n_boot}), "
        "resampling test items and seeds jointly for both arms (`pairing` says what was paired); p: two-sided "
        "bootstrap p-value; p (Holm): adjusted over every comparison in this table. Runs whose budgets differ "
        "are never compared: their row says NOT MATCHED and why.\n")
    for question, g in frame.groupby("question", sort=False):
        text += f"\n## {question}\n\n"
        rows, refusals = [], []
        for r in g.itertuples(index=False):
            where = _block_title(r.suite, r.setting)
            if r.status != "compared":
                refusals.append(f"- {where + ': ' if where else ''}{r.a + ' vs ' + r.b + ': ' if r.a else ''}"
                                f"{r.status}\n")
                continue
            rows.append([where, r.a, r.b, r.metric, fmt(r.metric, r.mean_a), fmt(r.metric, r.mean_b),
                         f"{fmt(r.metric, r.delta, True)} [{fmt(r.metric, r.ci_lo, True)}, "
                         f"{fmt(r.metric, r.ci_hi, True)}]", fmt_p(r.p), fmt_p(r.p_holm),
                         f"{int(r.seeds_a)}/{int(r.seeds_b)}", str(int(r.n_items)) if r.n_items else DASH, r.pairing])
        if rows:
            text += markdown_table(["suite", "A", "B", "metric", "A", "B", "Δ [CI]", "p", "p (Holm)", "seeds A/B",
                                    "items", "pairing"], rows)
        text += ("\n" if rows and refusals else "") + "".join(refusals)
    return text


def paired_latex(frame: pd.DataFrame, level: float) -> str:
    """The compared rows of the paired table as one LaTeX table."""
    rows = [[r.question, _block_title(r.suite, r.setting), f"{r.a} vs {r.b}", r.metric,
             f"{fmt(r.metric, r.delta, True)} [{fmt(r.metric, r.ci_lo, True)}, {fmt(r.metric, r.ci_hi, True)}]",
             fmt_p(r.p), fmt_p(r.p_holm)] for r in frame.itertuples(index=False) if r.status == "compared"]
    return latex_table(["question", "suite", "A vs B", "metric", "Δ [CI]", "p", "p (Holm)"], rows,
                       f"Paired differences A − B with {level:.0%} bootstrap CI over test items and seeds; "
                       "p two-sided, Holm-adjusted over all rows.", text_columns=4)


def budget_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean budget per training suite, setting and method over the ok runs, with the number of runs."""
    ok = ok_runs(runs)
    numeric = ok[[f"budget.{f}" for f in NUMERIC_BUDGET]].apply(pd.to_numeric, errors="coerce")
    numeric.columns = list(NUMERIC_BUDGET)
    numeric[["suite", "setting", "method"]] = ok[["data", "setting", "label"]]
    grouped = numeric.groupby(["suite", "setting", "method"], sort=True)
    table = grouped.mean().reset_index()
    table.insert(3, "runs", grouped.size().to_numpy())
    return sort_rows(table.reindex(columns=BUDGET_COLUMNS))


def _budget_rows(budget: pd.DataFrame) -> list[list[str]]:
    return [[_block_title(r.suite, r.setting), r.method, str(r.runs), f"{r.optimizer_steps:.0f}",
             f"{r.completions_sampled:.0f}", f"{r.tokens_generated:.0f}", f"{r.wall_time_s:.1f}"]
            for r in budget.itertuples(index=False)]


BUDGET_HEADER = ["suite", "method", "runs", "optimizer steps", "completions sampled", "tokens generated",
                 "wall time (s)"]


def budget_markdown(budget: pd.DataFrame, note: str = "") -> str:
    """The budget table as Markdown (means over the ok runs; suite = the training data)."""
    return ("# Budget per method\n\n" + note + "Means over the ok runs; suite = the data the run trained on. "
            "The matching check is in `matching.md`.\n\n" + markdown_table(BUDGET_HEADER, _budget_rows(budget)))


def budget_latex(budget: pd.DataFrame) -> str:
    return latex_table(BUDGET_HEADER, _budget_rows(budget), "Training budget per method (means over seeds).",
                       text_columns=2)


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False, float_format=CSV_FLOAT, lineterminator="\n")
    return path
