"""Write the whole analysis of a sweep folder: status, budget check, claims, tables, figures, manifest, report.

:func:`analyze` reads only the run folders and writes only into its output folder; the same folder
gives the same CSV, Markdown, LaTeX and JSON bytes on every rerun (the statistics are closed-form: no
random draws). It works on partial sweeps (only ok runs enter numbers; the rest are listed in
``status.md``) and on sweeps with no ok run at all (status, matching and an empty manifest; nothing
crashes).

Files written (all in the output folder): ``status.md``, ``matching.md``, ``claims.{md,csv,tex}``,
``comparison.{md,csv,tex}``, ``paired.{md,csv,tex}``, ``budget.{md,csv,tex}``, one
``<figure>.{png,pdf,csv}`` per figure (the forest plot of the paired comparisons first),
``manifest.json`` (every table and figure and the data it is drawn from), ``report.md`` (one page
embedding them, the claims first) and ``summary.md`` (what the command line prints).
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pandas as pd

from analysis.claims import FEW_SEEDS, claims_frame, few_seeds
from analysis.collect import load_runs, methods_of, ok_runs, seed_key
from analysis.compare import comparison_frame, paired_frame
from analysis.estimate import Estimator
from analysis.figures import FigureResult, draw_all, forest_plot
from analysis.regimes import regime_plot
from analysis.stats import LEVEL, budgets_matched
from analysis.tables import (
    budget_frame,
    budget_latex,
    budget_markdown,
    claims_latex,
    claims_markdown,
    claims_summary,
    comparison_latex,
    comparison_markdown,
    fmt,
    fmt_ci,
    fmt_delta,
    markdown_table,
    paired_latex,
    paired_markdown,
    write_csv,
    write_text,
)

log = logging.getLogger(__name__)

NOT_MATCHED_NOTE = ("> **WARNING: budgets NOT MATCHED** within the sweep; see `matching.md`. Comparisons between "
                    "unmatched runs are refused, not made.\n\n")
STATUS_ORDER = ("ok", "failed", "running")
TABLES = {"claims": "a verdict on each of the paper's four claims, with the comparisons that test it",
          "comparison": "every cell (suite × setting × method): every metric, mean and CI over items and seeds, "
                        "paired Δ vs base",
          "paired": "the paper's questions: paired differences with CIs, p-values and MDEs; refusals",
          "budget": "optimizer steps, completions sampled, tokens generated, wall time per method"}


def status_key(status: str) -> tuple[int, str]:
    """Sort key for statuses: ok, failed, running, then any other alphabetically."""
    return (STATUS_ORDER.index(status), "") if status in STATUS_ORDER else (len(STATUS_ORDER), status)


def _one_line(text) -> str:
    return " ".join(str(text).split()).replace("`", "'")


def _run_line(row: pd.Series) -> str:
    line = f"- `{row['run']}`: method {row['label']}, data {row['data']}, seed {row['seed']}"
    line += f", {row['setting']}" if row["setting"] else ""
    return line + (f": `{_one_line(row['error'])}`" if row["status"] != "ok" and row["error"] else "")


def missing_cells(runs: pd.DataFrame) -> list[str]:
    """(method, data, setting) × seed combinations seen in the sweep (any status) that have no ok run."""
    done = set(ok_runs(runs)[["label", "data", "setting", "seed"]].itertuples(index=False, name=None))
    methods = methods_of(runs)
    conditions = sorted(set(runs[["label", "data", "setting"]].dropna().itertuples(index=False, name=None)),
                        key=lambda c: (methods.key(c[0]), str(c[1]), c[2]))
    seeds = sorted(set(runs["seed"].dropna()), key=seed_key)
    return [f"- method {m}, data {d}, seed {s}" + (f", {t}" if t else "")
            for (m, d, t), s in itertools.product(conditions, seeds) if (m, d, t, s) not in done]


def status_markdown(runs: pd.DataFrame, inconsistent: list[str], duplicates: list[str] = ()) -> str:
    """Runs by status (failed ones with their error), skipped folders, cells without an ok run, base
    evaluations counted once, and any results.json metric that the run's own samples.jsonl does not reproduce."""
    statuses = sorted(set(runs["status"]), key=status_key)
    counts = ", ".join(f"{(runs['status'] == s).sum()} {s}" for s in statuses) or "no runs"
    text = f"# Run status\n\n{len(runs)} run folders: {counts}.\n"
    for status in statuses:
        rows = runs[runs["status"] == status]
        text += f"\n## {status} ({len(rows)})\n\n" + "".join(_run_line(r) + "\n" for _, r in rows.iterrows())
    skipped = runs.attrs.get("skipped", [])
    if skipped:
        text += f"\n## skipped folders ({len(skipped)})\n\n" + "".join(f"- `{n}`: {why}\n" for n, why in skipped)
    missing = missing_cells(runs)
    if missing:
        text += f"\n## missing from the numbers: no ok run ({len(missing)})\n\n" + "\n".join(missing) + "\n"
    if duplicates:
        text += (f"\n## base evaluations counted once ({len(duplicates)})\n\n"
                 + "".join(f"- {line}\n" for line in duplicates))
    if inconsistent:
        text += (f"\n## results.json disagrees with samples.jsonl ({len(inconsistent)})\n\nThe tables use the "
                 "values recomputed from samples.jsonl with the harness's metric definition.\n\n"
                 + "".join(f"- {line}\n" for line in inconsistent))
    return text


def matching_markdown(problems: list[str], n_ok: int) -> str:
    """The budget check: a loud NOT MATCHED section listing every problem, or a one-line all-clear."""
    head = "# Budget matching\n\n"
    if problems:
        return head + "## NOT MATCHED\n\n" + "".join(f"- {p}\n" for p in problems)
    if n_ok == 0:
        return head + "No ok runs: nothing to check.\n"
    return head + (f"MATCHED: {n_ok} ok runs. Within each data suite and setting all runs share the base checkpoint, "
                   "training runs share optimizer steps and prompts, sampling runs (rl, start) share completions "
                   "sampled.\n")


def headline_markdown(comparison: pd.DataFrame) -> str:
    """Accuracy and its paired gain over base per suite and method (``summary.md``, the report's first table)."""
    acc = comparison[comparison["metric"] == "acc"]
    rows = [[f"{r.suite} ({r.setting})" if r.setting else r.suite,
             r.method if r.trained_on == r.suite else f"{r.method} (data={r.trained_on})", str(r.n_seeds),
             fmt_ci("acc", r.mean, r.ci_lo, r.ci_hi, r.ci_method, r.n_seeds),
             "base" if r.delta_note == "reference" else fmt_delta("acc", r.delta_vs_base, r.delta_lo, r.delta_hi,
                                                                  r.delta_p)]
            for r in acc.itertuples(index=False)]
    return markdown_table(["suite", "method", "seeds", "acc", "Δ acc vs base"], rows)


def _counts(runs: pd.DataFrame) -> str:
    counts = runs["status"].value_counts()
    return f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('running', 0)} running runs"


def seeds_warning(paired: pd.DataFrame) -> str:
    """A warning line when some comparison rests on fewer than :data:`FEW_SEEDS` seeds per arm ("" otherwise)."""
    fewest = few_seeds(paired)
    if fewest is None:
        return ""
    return (f"> **Fewer than {FEW_SEEDS} seeds** (as few as {fewest} per arm): where seeds dominate the variation, "
            f"an interval rests on about {max(fewest - 1, 1)} degree(s) of freedom and only large effects are "
            "detectable; read the MDE column before reading a non-significant Δ as no effect.\n\n")


def report_markdown(name: str, runs: pd.DataFrame, problems: list[str], inconsistent: list[str],
                    comparison: pd.DataFrame, paired: pd.DataFrame, claims: pd.DataFrame,
                    figures: list[FigureResult], duplicates: list[str] = ()) -> str:
    """One page: status, matching verdict, the claims' verdicts, headline accuracy, the paper's questions, every
    figure, the files."""
    text = f"# Sweep `{name}`\n\n{_counts(runs)} (see `status.md`); "
    text += "**budgets NOT MATCHED** (see `matching.md`).\n\n" if problems else "budgets matched.\n\n"
    if inconsistent:
        text += (f"> **{len(inconsistent)} results.json metrics disagree with their samples.jsonl**; see "
                 "`status.md`.\n\n")
    text += "## The paper's claims\n\n" + seeds_warning(paired) + claims_summary(claims)
    text += "\nThe comparisons behind each verdict, and the rules: `claims.md`.\n\n"
    text += "## Accuracy\n\n" + headline_markdown(comparison)
    compared = paired[paired["status"] == "compared"]
    text += "\n## The paper's questions\n\n"
    rows = [[r.question, f"{r.suite} ({r.setting})" if r.setting else r.suite, f"{r.a} − {r.b}", r.metric,
             fmt_delta(r.metric, r.delta, r.ci_lo, r.ci_hi, r.p), fmt(r.metric, r.mde)]
            for r in compared.itertuples(index=False)]
    if rows:
        text += markdown_table(["question", "suite", "A − B", "metric", "Δ [CI] p", "MDE"], rows)
    other = paired[paired["status"] != "compared"]
    text += "".join(f"\n- {r.question}: {r.a + ' vs ' + r.b + ', ' if r.a else ''}"
                    f"{r.metric + ': ' if r.metric else ''}{r.status}" for r in other.itertuples(index=False))
    text += "\n\nDetails, Holm-adjusted p-values, seeds to detect Δ and pairing: `paired.md`."
    if duplicates:
        text += f" {len(duplicates)} duplicate base evaluation(s) counted once (`status.md`)."
    text += "\n\n## Figures\n"
    for fig in figures:
        if fig.skipped:
            text += f"\n**{fig.title}**: not drawn: {fig.skipped}.\n"
        else:
            text += f"\n![{fig.title}]({fig.files[0]})\n\n*{fig.caption}* Data: `{fig.data}`; PDF: `{fig.files[1]}`.\n"
    text += "\n## Files\n\n" + "".join(f"- `{n}.md` / `{n}.csv` / `{n}.tex`: {d}\n" for n, d in TABLES.items())
    return text + "- `manifest.json`: every table and figure with the data and runs it is drawn from\n"


STATISTICS = ("Student-t intervals from a crossed items × seeds random-effects model on jackknife pseudo-values "
              "(Satterthwaite df); differences paired by items, and by seed where the runs share randomness")


def manifest(name: str, runs: pd.DataFrame, figures: list[FigureResult], level: float) -> dict:
    """Every table and figure, the file it is drawn from and the runs behind it (no absolute paths)."""
    return {"sweep": name, "runs": {s: int((runs["status"] == s).sum()) for s in sorted(set(runs["status"]))},
            "statistics": {"method": STATISTICS, "level": level, "mde_power": 0.8, "mde_alpha": 0.05},
            "tables": [{"name": n, "files": [f"{n}.md", f"{n}.csv", f"{n}.tex"], "data": f"{n}.csv",
                        "description": d} for n, d in TABLES.items()],
            "figures": [f.to_json() for f in figures]}


def _write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def analyze(sweep_dir: str | Path, out_dir: str | Path | None = None, *, level: float = LEVEL,
            kinds: dict[str, str] | None = None, wandb_mode: str | None = None) -> Path:
    """Analyse ``sweep_dir`` into ``out_dir`` (default ``<sweep_dir>/analysis``) and return ``out_dir``.

    ``kinds`` maps suite names to ``math``/``gqa`` where the name does not tell; ``wandb_mode``
    (``offline``/``online``) also logs the sweep-level summary to W&B (:mod:`analysis.wandb_log`).
    """
    sweep_dir = Path(sweep_dir)
    name = sweep_dir.resolve().name
    out = Path(out_dir) if out_dir is not None else sweep_dir / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(sweep_dir)
    n_ok = len(ok_runs(runs))
    problems = budgets_matched(runs)
    write_text(out / "matching.md", matching_markdown(problems, n_ok))
    if n_ok == 0:
        message = f"No ok runs in {sweep_dir}: tables and figures skipped (see status.md).\n"
        log.warning(message.strip())
        write_text(out / "status.md", status_markdown(runs, []))
        write_text(out / "summary.md", message)
        write_text(out / "report.md", f"# Sweep `{name}`\n\n{message}")
        _write_json(out / "manifest.json", manifest(name, runs, [], level) | {"tables": []})
        return out
    note = NOT_MATCHED_NOTE if problems else ""
    est = Estimator(runs, level)
    comparison = comparison_frame(est)
    paired = paired_frame(est, kinds)
    claims = claims_frame(paired, kinds)
    budget = budget_frame(runs)
    warning = seeds_warning(paired)
    write_csv(claims, out / "claims.csv")
    write_text(out / "claims.md", claims_markdown(claims, note, level, warning))
    write_text(out / "claims.tex", claims_latex(claims, level))
    write_csv(comparison, out / "comparison.csv")
    write_text(out / "comparison.md", comparison_markdown(comparison, note, level))
    write_text(out / "comparison.tex", comparison_latex(comparison, level))
    write_csv(paired, out / "paired.csv")
    write_text(out / "paired.md", paired_markdown(paired, note, level, warning))
    write_text(out / "paired.tex", paired_latex(paired, level))
    write_csv(budget, out / "budget.csv")
    write_text(out / "budget.md", budget_markdown(budget, note))
    write_text(out / "budget.tex", budget_latex(budget))
    figures = [forest_plot(paired, est, out, level), *draw_all(runs, comparison, est, out, level, kinds)]
    regimes = regime_plot(est, out, level)  # only for a sweep over micro_gqa's shortcut_p (+sweep=regimes)
    figures += [regimes] if regimes else []
    for fig in figures:
        if fig.skipped:
            log.info("figure %s not drawn: %s", fig.name, fig.skipped)
    write_text(out / "status.md", status_markdown(runs, est.inconsistent, est.duplicates))
    _write_json(out / "manifest.json", manifest(name, runs, figures, level))
    write_text(out / "report.md", report_markdown(name, runs, problems, est.inconsistent, comparison, paired, claims,
                                                  figures, est.duplicates))
    verdict = "budgets NOT MATCHED (see matching.md)" if problems else "budgets matched"
    write_text(out / "summary.md", f"{_counts(runs)}; {verdict}\n\n{headline_markdown(comparison)}\n"
                                   f"{claims_summary(claims)}")
    if wandb_mode:
        from analysis.wandb_log import log_summary

        log_summary(sweep_dir, out, wandb_mode)
    return out
