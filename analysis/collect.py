"""Read the run folders of a sweep into pandas DataFrames (one row per run, and a tidy metric table).

Only ``<run>/results.json`` is read; the harness is never imported. Folder names are not parsed:
method, data, seed etc. come from the JSON. Folders without a readable ``results.json`` are skipped
with a warning and listed in ``runs.attrs["skipped"]`` so the report can name them.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
METHOD_ORDER = ("base", "sft", "rl", "start")
RUN_FIELDS = ("status", "method", "data", "algo", "seed", "model", "error")
BUDGET_FIELDS = ("base_checkpoint_hash", "prompt_ids_hash", "optimizer_steps", "completions_sampled",
                 "tokens_generated", "wall_time_s")
BASE_COLUMNS = ("run", *RUN_FIELDS, *(f"budget.{k}" for k in BUDGET_FIELDS))
NOT_RUN_FOLDERS = {"analysis"}  # the default output folder of the analysis itself
TIDY_COLUMNS = ["run", "method", "data", "seed", "suite", "metric", "value"]


class UnreadableRun(Exception):
    """A run folder whose ``results.json`` is missing or is not a JSON object."""


def method_key(method: str) -> tuple[int, str]:
    """Sort key for methods: base, sft, rl, start first, then any other method alphabetically."""
    if method in METHOD_ORDER:
        return METHOD_ORDER.index(method), ""
    return len(METHOD_ORDER), str(method)


def seed_key(seed) -> tuple[int, float, str]:
    """Sort key for seeds: numbers numerically, anything else (e.g. a missing seed) after them as text."""
    try:
        return 0, float(seed), ""
    except (TypeError, ValueError):
        return 1, 0.0, str(seed)


def run_folders(sweep_dir: Path) -> list[Path]:
    """Sub-folders of the sweep that may hold a run, sorted by name (hidden and analysis folders left out)."""
    return sorted(p for p in Path(sweep_dir).iterdir()
                  if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_RUN_FOLDERS)


def _as_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_run(folder: Path) -> dict:
    """One run folder as a flat row: run fields, ``budget.*`` fields, and one ``suite/metric`` column per metric."""
    try:
        raw = json.loads((folder / RESULTS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise UnreadableRun(f"no {RESULTS_FILE}") from e
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UnreadableRun(f"unreadable {RESULTS_FILE} ({type(e).__name__}: {e})") from e
    if not isinstance(raw, dict):
        raise UnreadableRun(f"{RESULTS_FILE} is not a JSON object")
    row = {"run": folder.name, **{k: raw.get(k) for k in RUN_FIELDS}}
    row["status"] = row["status"] or "unknown"
    budget = raw.get("budget") or {}
    row.update({f"budget.{k}": budget.get(k) for k in BUDGET_FIELDS})
    row.update({k: _as_float(v) for k, v in (raw.get("metrics") or {}).items() if "/" in k})
    return row


def load_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """All run folders of ``sweep_dir``, one row each, sorted by folder name (see :func:`read_run`)."""
    rows, skipped = [], []
    for folder in run_folders(Path(sweep_dir)):
        try:
            rows.append(read_run(folder))
        except UnreadableRun as e:
            log.warning("skipping %s: %s", folder, e)
            skipped.append((folder.name, str(e)))
    metric_columns = sorted({k for row in rows for k in row if k not in BASE_COLUMNS})
    runs = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *metric_columns])
    runs.attrs["skipped"] = skipped
    return runs


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Only the runs that finished (``status == "ok"``); the only ones that enter any number."""
    return runs[runs["status"] == "ok"]


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The ``suite/metric`` columns of a runs DataFrame."""
    return [c for c in runs.columns if "/" in c]


def tidy_metrics(runs: pd.DataFrame) -> pd.DataFrame:
    """Metrics of the ok runs in long form: run, method, data, seed, suite, metric, value (NaN values dropped)."""
    long = ok_runs(runs).melt(id_vars=["run", "method", "data", "seed"], value_vars=metric_columns(runs),
                              var_name="key", value_name="value").dropna(subset=["value"])
    long[["suite", "metric"]] = long["key"].str.extract(r"^([^/]*)/(.*)$")
    return long.reindex(columns=TIDY_COLUMNS).sort_values(["run", "suite", "metric"]).reset_index(drop=True)
