"""Tables as Markdown (to read), CSV (to load) and LaTeX (for the paper), byte-identical on every rerun.

Four tables: the verdicts on the paper's claims, the method comparison (every cell's metrics with CIs
and Δ vs base), the paired comparisons that answer the paper's questions, and the budget per method.
Rows are sorted by suite, setting, method (base, sft, rl, start, then others) and metric; floats have
a fixed number of decimals.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import pandas as pd

from analysis.claims import arms
from analysis.collect import BUDGET_FIELDS, methods_of, ok_runs
from analysis.compare import HEADLINE_GROUPS, HEALTH_GROUPS, QUESTION_METRICS, in_groups, metric_key
from analysis.estimate import T_SEEDS, T_SEEDS_ITEMS_DIFFER, T_SEEDS_ONE_ITEM

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


SEEDS_ONLY = (T_SEEDS, T_SEEDS_ITEMS_DIFFER, T_SEEDS_ONE_ITEM)


def fmt_ci(metric: str, mean: float, lo: float, hi: float, ci_method: str, n_seeds: int) -> str:
    """``mean [lo, hi]``; a t-interval over seeds only (no per-item records) is marked †, a single such seed
    has no CI."""
    if _nan(mean):
        return DASH
    if ci_method in SEEDS_ONLY and n_seeds < 2:
        return f"{fmt(metric, mean)} (1 seed, no CI)"
    mark = "†" if ci_method in SEEDS_ONLY else ""
    return f"{fmt(metric, mean)} [{fmt(metric, lo)}, {fmt(metric, hi)}]{mark}"


def fmt_p(p: float) -> str:
    if _nan(p):
        return DASH
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def fmt_delta(metric: str, delta: float, lo: float, hi: float, p: float) -> str:
    """``+Δ [lo, hi] p=…`` for a paired difference; ``+Δ (not testable)`` without variation; em dash when not
    computed."""
    if _nan(delta):
        return DASH
    if _nan(p):
        return f"{fmt(metric, delta, True)} (not testable)"
    p_text = fmt_p(p)
    return (f"{fmt(metric, delta, True)} [{fmt(metric, lo, True)}, {fmt(metric, hi, True)}] "
            f"p{'' if p_text.startswith('<') else '='}{p_text}")


def fmt_seeds(needed: float, note: str) -> str:
    """Seeds per arm that would detect the observed Δ: a number, or why not (blank when significant)."""
    if not _nan(needed):
        return f"{int(needed)}"
    if not note or note.startswith("significant"):
        return ""
    return note.split(":")[0].split(";")[0]


def sort_rows(df: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by suite, setting and method (in the order the methods of ``runs`` declare)."""
    methods = methods_of(runs)

    def key(i: int) -> tuple:
        row = df.iloc[i]
        return row["suite"], row["setting"], methods.key(row["method"])

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


def _in_groups(frame: pd.DataFrame, groups: tuple[str, ...]) -> list[str]:
    """The metrics of ``frame`` in the catalogue's ``groups`` (per-answerer and per-λ ones left out), in its order."""
    return sorted((m for m in set(frame["metric"]) if in_groups(m, groups)), key=metric_key)


def _cell_rows(block: pd.DataFrame, metrics: list[str], delta: bool) -> list[list[str]]:
    """One row per cell of ``block``, in the frame's order (the analysis's cell order: the methods' own)."""
    rows = []
    for (method, trained_on), g in block.groupby(["method", "trained_on"], sort=False):
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


def comparison_markdown(frame: pd.DataFrame, note: str, level: float) -> str:
    """The method comparison: per (suite, setting), headline metrics, Δ vs base, then format health and modes."""
    text = "# Method comparison\n\n" + note + (
        f"Cells: mean over seeds [{level:.0%} CI: Student-t with the item and seed variation of a crossed "
        "random-effects model, Satterthwaite df; see docs/analysis.md]; † marks a Student-t interval over seeds "
        "alone (runs without per-item records). Δ vs base: the difference to the base row of the same block, "
        "paired by items (and by seed where the runs share randomness), with its CI and two-sided p-value (not "
        "adjusted for multiple comparisons). All metrics, per-answerer and per-λ ones included, with standard "
        "errors, df and the MDE of each Δ, are in `comparison.csv`.\n")
    for suite, setting, block in _blocks(frame):
        text += f"\n## {_block_title(suite, setting)}\n\n"
        headline = _in_groups(block, HEADLINE_GROUPS)
        text += markdown_table(["method", "seeds", "items", *headline], _cell_rows(block, headline, False))
        deltas = _present(block, QUESTION_METRICS)
        if block["delta_vs_base"].notna().any() or block["delta_note"].str.startswith("NOT MATCHED").any():
            text += "\nΔ vs base\n\n" + markdown_table(
                ["method", *(f"Δ {m}" for m in deltas), "note"],
                [r for r in _cell_rows(block, deltas, True) if r[-1] != "reference"])
        health = _in_groups(block, HEALTH_GROUPS)
        if health:
            text += "\nFormat health and behaviour modes\n\n" + markdown_table(
                ["method", "seeds", "items", *health], _cell_rows(block, health, False))
    return text


def comparison_latex(frame: pd.DataFrame, level: float) -> str:
    """The headline metrics of every block as LaTeX tables (mean with CI)."""
    tables = []
    for suite, setting, block in _blocks(frame):
        headline = _in_groups(block, HEADLINE_GROUPS)
        rows = [r[:1] + r[3:] for r in _cell_rows(block, headline, False)]
        tables.append(latex_table(["method", *headline], rows,
                                  f"{_block_title(suite, setting)}: mean over seeds with {level:.0%} CI over test "
                                  "items and seeds (Student-t, crossed random effects)."))
    return "\n".join(tables)


def paired_markdown(frame: pd.DataFrame, note: str, level: float, warning: str = "") -> str:
    """The paper's questions: per question, A vs B per metric with Δ, CI, p, Holm-adjusted p, MDE and the seeds
    that would detect Δ; not testable rows and refusals spelt out."""
    text = "# Paired comparisons\n\n" + note + warning + (
        f"Δ = A − B, mean over seeds; CI: {level:.0%} Student-t interval of the difference, paired by items "
        "always and by seed where the two arms share randomness (`pairing`), with the item and seed variation "
        "(Satterthwaite df); p: two-sided, from the same t statistic; p (Holm): adjusted over every comparison in "
        "this table. MDE: the smallest |Δ| this design detects with 80% power at α = 0.05; seeds: when Δ is not "
        "significant, the seeds per arm at which the MDE reaches the observed |Δ|. Runs whose budgets differ are "
        "never compared: their row says NOT MATCHED and why.\n")
    for question, g in frame.groupby("question", sort=False):
        text += f"\n## {question}\n\n"
        rows, refusals = [], []
        for r in g.itertuples(index=False):
            where = _block_title(r.suite, r.setting)
            if r.status != "compared":
                subject = f"{r.a} vs {r.b}" + (f", {r.metric}" if r.metric else "") + ": " if r.a else ""
                value = f" (Δ {fmt(r.metric, r.delta, True)})" if r.status.startswith("not testable") else ""
                refusals.append(f"- {where + ': ' if where else ''}{subject}{r.status}{value}\n")
                continue
            rows.append([where, r.a, r.b, r.metric, fmt(r.metric, r.mean_a), fmt(r.metric, r.mean_b),
                         f"{fmt(r.metric, r.delta, True)} [{fmt(r.metric, r.ci_lo, True)}, "
                         f"{fmt(r.metric, r.ci_hi, True)}]", fmt_p(r.p), fmt_p(r.p_holm), fmt(r.metric, r.mde),
                         fmt_seeds(r.seeds_needed, r.power_note), f"{int(r.seeds_a)}/{int(r.seeds_b)}",
                         str(int(r.n_items)) if r.n_items else DASH, r.pairing])
        if rows:
            text += markdown_table(["suite", "A", "B", "metric", "A", "B", "Δ [CI]", "p", "p (Holm)", "MDE",
                                    "seeds to detect Δ", "seeds A/B", "items", "pairing"], rows)
        text += ("\n" if rows and refusals else "") + "".join(refusals)
    return text


def paired_latex(frame: pd.DataFrame, level: float) -> str:
    """The compared rows of the paired table as one LaTeX table."""
    rows = [[r.question, _block_title(r.suite, r.setting), f"{r.a} vs {r.b}", r.metric,
             f"{fmt(r.metric, r.delta, True)} [{fmt(r.metric, r.ci_lo, True)}, {fmt(r.metric, r.ci_hi, True)}]",
             fmt_p(r.p), fmt_p(r.p_holm), fmt(r.metric, r.mde)] for r in frame.itertuples(index=False)
            if r.status == "compared"]
    return latex_table(["question", "suite", "A vs B", "metric", "Δ [CI]", "p", "p (Holm)", "MDE"], rows,
                       f"Paired differences A − B with {level:.0%} Student-t CI over test items and seeds; "
                       "p two-sided, Holm-adjusted over all rows; MDE at 80% power, α = 0.05.", text_columns=4)


def claims_summary(claims: pd.DataFrame) -> str:
    """One row per claim (and setting): the claim, its verdict in bold, why."""
    rows = []
    for (number, setting), g in claims.groupby(["claim", "setting"], sort=True):
        first = g.iloc[0]
        claim = f"{number}. {first['statement']}" + (f" ({setting})" if setting else "")
        rows.append([claim, f"**{first['verdict']}**", first["reason"]])
    return markdown_table(["claim", "verdict", "why"], rows)


def _claim_rows(g: pd.DataFrame) -> list[list[str]]:
    rows = []
    for r in g.itertuples(index=False):
        if r.outcome.startswith("not run"):
            rows.append([r.role, r.test, DASH, DASH, r.expected, DASH, DASH, DASH, DASH, DASH, r.outcome])
            continue
        testable = not _nan(r.p)
        delta = (f"{fmt(r.metric, r.delta, True)} [{fmt(r.metric, r.ci_lo, True)}, {fmt(r.metric, r.ci_hi, True)}]"
                 if testable else f"{fmt(r.metric, r.delta, True)} (not testable)")
        rows.append([r.role, r.test, r.suite, arms(r._asdict()), r.expected, delta, fmt_p(r.p), fmt_p(r.p_holm),
                     fmt(r.metric, r.mde), fmt_seeds(r.seeds_needed, r.power_note) or DASH, r.outcome])
    return rows


def claims_markdown(claims: pd.DataFrame, note: str, level: float, warning: str = "") -> str:
    """Verdicts first, then per claim the comparisons that test it."""
    text = "# The paper's claims\n\n" + note + warning + (
        "Verdict per claim from its primary comparisons (rules: docs/analysis.md, \"Verdicts\"): **supported** "
        "when every primary comparison is significant in the claimed direction (claim 4: any), **contradicted** "
        "when one is significant against it, **not run** when the sweep lacks its runs, **inconclusive** "
        "otherwise, with the MDE. p (Holm): adjusted over the primary comparisons of all claims (secondary ones "
        f"are shown for context, with unadjusted p). Δ = A − B with its {level:.0%} CI; MDE: smallest |Δ| "
        "detected with 80% power at α = 0.05; seeds: per arm, to detect the observed Δ.\n\n")
    text += claims_summary(claims)
    for (number, setting), g in claims.groupby(["claim", "setting"], sort=True):
        first = g.iloc[0]
        text += f"\n## {number}. {first['statement']}" + (f" ({setting})" if setting else "") + "\n\n"
        text += f"**{first['verdict']}**: {first['reason']}\n\n"
        text += markdown_table(["role", "comparison", "suite", "A − B", "expected", "Δ [CI]", "p", "p (Holm)", "MDE",
                                "seeds to detect Δ", "outcome"], _claim_rows(g))
    return text


def claims_latex(claims: pd.DataFrame, level: float) -> str:
    """The primary comparisons of every claim with its verdict as one LaTeX table."""
    rows = []
    for r in claims[claims["role"] == "primary"].itertuples(index=False):
        tested = not r.outcome.startswith("not run") and not _nan(r.p)
        rows.append([str(r.claim), r.verdict, r.test, r.suite if tested else DASH,
                     f"{fmt(r.metric, r.delta, True)} [{fmt(r.metric, r.ci_lo, True)}, {fmt(r.metric, r.ci_hi, True)}]"
                     if tested else DASH, fmt_p(r.p_holm), fmt(r.metric, r.mde)])
    return latex_table(["claim", "verdict", "comparison", "suite", "Δ [CI]", "p (Holm)", "MDE"], rows,
                       f"The paper's claims: verdict and primary comparisons (Δ = A − B with {level:.0%} CI; p "
                       "Holm-adjusted over the primary comparisons; MDE at 80% power, α = 0.05).", text_columns=4)


def budget_frame(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean budget per training suite, setting and method over the ok runs, with the number of runs."""
    ok = ok_runs(runs)
    numeric = ok[[f"budget.{f}" for f in NUMERIC_BUDGET]].apply(pd.to_numeric, errors="coerce")
    numeric.columns = list(NUMERIC_BUDGET)
    numeric[["suite", "setting", "method"]] = ok[["data", "setting", "label"]]
    grouped = numeric.groupby(["suite", "setting", "method"], sort=True)
    table = grouped.mean().reset_index()
    table.insert(3, "runs", grouped.size().to_numpy())
    return sort_rows(table.reindex(columns=BUDGET_COLUMNS), runs)


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
    """Write ``text`` atomically (a temporary file renamed into place): a crash never leaves half a table.

    (The analysis imports nothing of the harness but the metric catalogue, so it has its own writer.)
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8", newline="\n")
    os.replace(tmp, path)
    return path


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    return write_text(path, df.to_csv(index=False, float_format=CSV_FLOAT, lineterminator="\n"))
