"""Write the analysis of a sweep folder: run status, budget matching, tables, figure and a short summary.

:func:`analyze` works on partial sweeps (only ok runs enter numbers; the rest are listed in
``status.md``) and on sweeps with no ok run at all (status and matching only, nothing crashes).
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pandas as pd

from analysis.collect import load_runs, method_key, ok_runs, seed_key
from analysis.figures import shortcut_plot
from analysis.stats import budgets_matched, summarize
from analysis.tables import acc_markdown, sort_rows, write_tables, write_text

log = logging.getLogger(__name__)

NOT_MATCHED_NOTE = ("> **WARNING: budgets NOT MATCHED** between methods; see `matching.md` before reading these "
                    "numbers.\n\n")
STATUS_ORDER = ("ok", "failed", "running")


def status_key(status: str) -> tuple[int, str]:
    """Sort key for statuses: ok, failed, running, then any other alphabetically."""
    return (STATUS_ORDER.index(status), "") if status in STATUS_ORDER else (len(STATUS_ORDER), status)


def _one_line(text) -> str:
    return " ".join(str(text).split()).replace("`", "'")


def _run_line(row: pd.Series) -> str:
    line = f"- `{row['run']}`: method {row['method']}, data {row['data']}, seed {row['seed']}"
    return line + (f": `{_one_line(row['error'])}`" if row["status"] != "ok" and row["error"] else "")


def missing_cells(runs: pd.DataFrame) -> list[str]:
    """method × data × seed combinations seen in the sweep (any status) that have no ok run."""
    done = set(ok_runs(runs)[["method", "data", "seed"]].itertuples(index=False, name=None))
    keys = {"method": method_key, "data": str, "seed": seed_key}
    axes = [sorted(set(runs[column].dropna()), key=key) for column, key in keys.items()]
    return [f"- method {m}, data {d}, seed {s}" for m, d, s in itertools.product(*axes) if (m, d, s) not in done]


def status_markdown(runs: pd.DataFrame) -> str:
    """Runs grouped by status (failed ones with their error), skipped folders, and grid cells without an ok run."""
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
    return text


def matching_markdown(problems: list[str], n_ok: int) -> str:
    """The budget check: a loud NOT MATCHED section listing every problem, or a one-line all-clear."""
    head = "# Budget matching\n\n"
    if problems:
        return head + "## NOT MATCHED\n\n" + "".join(f"- {p}\n" for p in problems)
    if n_ok == 0:
        return head + "No ok runs: nothing to check.\n"
    return head + (f"MATCHED: {n_ok} ok runs. Within each data suite all runs share the base checkpoint, training "
                   "runs share optimizer steps and prompts, rl and start share completions sampled.\n")


def summary_markdown(runs: pd.DataFrame, problems: list[str]) -> str:
    """Counts, the matching verdict and the accuracy table: what ``python -m analysis`` prints."""
    counts = runs["status"].value_counts()
    text = f"{counts.get('ok', 0)} ok, {counts.get('failed', 0)} failed, {counts.get('running', 0)} running runs; "
    text += "budgets NOT MATCHED (see matching.md)\n\n" if problems else "budgets matched\n\n"
    return text + acc_markdown(sort_rows(summarize(runs)))


def analyze(sweep_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Analyse ``sweep_dir`` into ``out_dir`` (default ``<sweep_dir>/analysis``) and return ``out_dir``."""
    sweep_dir = Path(sweep_dir)
    out = Path(out_dir) if out_dir is not None else sweep_dir / "analysis"
    out.mkdir(parents=True, exist_ok=True)
    runs = load_runs(sweep_dir)
    n_ok = len(ok_runs(runs))
    problems = budgets_matched(runs)
    write_text(out / "status.md", status_markdown(runs))
    write_text(out / "matching.md", matching_markdown(problems, n_ok))
    if n_ok == 0:
        message = f"No ok runs in {sweep_dir}: tables and figure skipped (see status.md).\n"
        log.warning(message.strip())
        write_text(out / "summary.md", message)
        return out
    write_tables(runs, out, NOT_MATCHED_NOTE if problems else "")
    if not shortcut_plot(runs, out):
        log.warning("no thinking_gain/independence_rate metrics: shortcut figure skipped")
    write_text(out / "summary.md", summary_markdown(runs, problems))
    return out
