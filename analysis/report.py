"""Write the whole analysis of a sweep folder: status, budget check, tables, figures, manifest and report.

:func:`analyze` reads only the run folders and writes only into its output folder; the same folder
gives the same CSV, Markdown, LaTeX and JSON bytes on every rerun (the bootstrap draws are keyed, not
random). It works on partial sweeps (only ok runs enter numbers; the rest are listed in ``status.md``)
and on sweeps with no ok run at all (status, matching and an empty manifest; nothing crashes).

Files written (all in the output folder): ``status.md``, ``matching.md``, ``comparison.{md,csv,tex}``,
``paired.{md,csv,tex}``, ``budget.{md,csv,tex}``, one ``<figure>.{png,pdf,csv}`` per figure,
``manifest.json`` (every table and figure and the data it is drawn from), ``report.md`` (one page
embedding them) and ``summary.md`` (what the command line prints).
"""

from __future__ import annotations

import itertools
import json
import logging
from pathlib import Path

import pandas as pd

from analysis.bootstrap import LEVEL, N_BOOT, Estimator
from analysis.collect import load_runs, method_key, ok_runs, seed_key
from analysis.compare import comparison_frame, paired_frame
from analysis.figures import FigureResult, draw_all
from analysis.regimes import regime_plot
from analysis.stats import budgets_matched
from analysis.tables import (
    budget_frame,
    budget_latex,
    budget_markdown,
    comparison_latex,
    comparison_markdown,
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
TABLES = {"comparison": "every cell (suite × setting × method): every metric, mean and CI over items and seeds, "
                        "paired Δ vs base",
          "paired": "the paper's questions: paired bootstrap differences with CIs and p-values; refusals",
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
    conditions = sorted(set(runs[["label", "data", "setting"]].dropna().itertuples(index=False, name=None)),
                        key=lambda c: (method_key(c[0]), str(c[1]), c[2]))
    seeds = sorted(set(runs["seed"].dropna()), key=seed_key)
    return [f"- method {m}, data {d}, seed {s}" + (f", {t}" if t else "")
            for (m, d, t), s in itertools.product(conditions, seeds) if (m, d, t, s) not in done]


def status_markdown(runs: pd.DataFrame, inconsistent: list[str]) -> str:
    """Runs by status (failed ones with their error), skipped folders, cells without an ok run, and any
    results.json metric that the run's own samples.jsonl does not reproduce."""
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
             fmt_delta("acc", r.delta_vs_base, r.delta_lo, r.delta_hi, r.delta_p) if r.method != "base" else "base"]
            for r in acc.itertuples(index=False)]
    return markdown_table(["suite", "method", "seeds", "acc", "Δ acc vs base"], rows)


def _counts(runs: pd.DataFrame) -> str:
    counts = runs["status"].value_counts()
    return f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('running', 0)} running runs"


def report_markdown(name: str, runs: pd.DataFrame, problems: list[str], inconsistent: list[str],
                    comparison: pd.DataFrame, paired: pd.DataFrame, figures: list[FigureResult]) -> str:
    """One page: status, matching verdict, headline accuracy, the paper's questions, every figure, the files."""
    text = f"# Sweep `{name}`\n\n{_counts(runs)} (see `status.md`); "
    text += "**budgets NOT MATCHED** (see `matching.md`).\n\n" if problems else "budgets matched.\n\n"
    if inconsistent:
        text += (f"> **{len(inconsistent)} results.json metrics disagree with their samples.jsonl**; see "
                 "`status.md`.\n\n")
    text += "## Accuracy\n\n" + headline_markdown(comparison)
    compared = paired[paired["status"] == "compared"]
    text += "\n## The paper's questions\n\n"
    rows = [[r.question, f"{r.suite} ({r.setting})" if r.setting else r.suite, f"{r.a} − {r.b}", r.metric,
             fmt_delta(r.metric, r.delta, r.ci_lo, r.ci_hi, r.p)] for r in compared.itertuples(index=False)]
    if rows:
        text += markdown_table(["question", "suite", "A − B", "metric", "Δ [CI] p"], rows)
    other = paired[paired["status"] != "compared"]
    text += "".join(f"\n- {r.question}: {r.status}" for r in other.itertuples(index=False))
    text += "\n\nDetails, Holm-adjusted p-values and pairing: `paired.md`.\n\n## Figures\n"
    for fig in figures:
        if fig.skipped:
            text += f"\n**{fig.title}**: not drawn: {fig.skipped}.\n"
        else:
            text += f"\n![{fig.title}]({fig.files[0]})\n\n*{fig.caption}* Data: `{fig.data}`; PDF: `{fig.files[1]}`.\n"
    text += "\n## Files\n\n" + "".join(f"- `{n}.md` / `{n}.csv` / `{n}.tex`: {d}\n" for n, d in TABLES.items())
    return text + "- `manifest.json`: every table and figure with the data and runs it is drawn from\n"


def manifest(name: str, runs: pd.DataFrame, figures: list[FigureResult], n_boot: int, level: float) -> dict:
    """Every table and figure, the file it is drawn from and the runs behind it (no absolute paths)."""
    return {"sweep": name, "runs": {s: int((runs["status"] == s).sum()) for s in sorted(set(runs["status"]))},
            "bootstrap": {"replicates": n_boot, "level": level},
            "tables": [{"name": n, "files": [f"{n}.md", f"{n}.csv", f"{n}.tex"], "data": f"{n}.csv",
                        "description": d} for n, d in TABLES.items()],
            "figures": [f.to_json() for f in figures]}


def _write_json(path: Path, obj: dict) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def analyze(sweep_dir: str | Path, out_dir: str | Path | None = None, *, n_boot: int = N_BOOT, level: float = LEVEL,
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
        _write_json(out / "manifest.json", manifest(name, runs, [], n_boot, level) | {"tables": []})
        return out
    note = NOT_MATCHED_NOTE if problems else ""
    est = Estimator(runs, n_boot, level)
    comparison = comparison_frame(est)
    paired = paired_frame(est, kinds)
    budget = budget_frame(runs)
    write_csv(comparison, out / "comparison.csv")
    write_text(out / "comparison.md", comparison_markdown(comparison, note, level, n_boot))
    write_text(out / "comparison.tex", comparison_latex(comparison, level))
    write_csv(paired, out / "paired.csv")
    write_text(out / "paired.md", paired_markdown(paired, note, level, n_boot))
    write_text(out / "paired.tex", paired_latex(paired, level))
    write_csv(budget, out / "budget.csv")
    write_text(out / "budget.md", budget_markdown(budget, note))
    write_text(out / "budget.tex", budget_latex(budget))
    figures = draw_all(runs, comparison, est, out, level, kinds)
    regimes = regime_plot(est, out, level)  # only for a sweep over micro_gqa's shortcut_p (+sweep=regimes)
    figures += [regimes] if regimes else []
    for fig in figures:
        if fig.skipped:
            log.info("figure %s not drawn: %s", fig.name, fig.skipped)
    write_text(out / "status.md", status_markdown(runs, est.inconsistent))
    _write_json(out / "manifest.json", manifest(name, runs, figures, n_boot, level))
    write_text(out / "report.md", report_markdown(name, runs, problems, est.inconsistent, comparison, paired, figures))
    verdict = "budgets NOT MATCHED (see matching.md)" if problems else "budgets matched"
    write_text(out / "summary.md", f"{_counts(runs)}; {verdict}\n\n{headline_markdown(comparison)}")
    if wandb_mode:
        from analysis.wandb_log import log_summary

        log_summary(sweep_dir, out, wandb_mode)
    return out

