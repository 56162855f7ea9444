"""Read the run folders of a sweep: one row per run, its per-item records, its training curve.

Files read per run folder: ``results.json`` (status, method, data, seed, budget, metrics,
``thinking_eval``), ``.hydra/overrides.yaml`` (the overrides the run was launched with),
``samples.jsonl`` (per-item records) and ``curve.jsonl`` (the trainer's log). Folder names are never
parsed. Folders without a readable ``results.json`` are skipped with a warning and listed in
``runs.attrs["skipped"]``.

What the analysis shows of a method (its place in tables, its line in figures, the arm of the paper's
comparisons it plays) is what its runs say of it: ``method_info`` in ``results.json``, written from
the method's own declaration (``harness.methods``): :func:`methods_of`. Runs written before that field
existed play the role named like their method and sort after the others.

Runs that differ in more than method, data and seed are kept apart: every override that takes more
than one value in the sweep (``data.params.shortcut_p``, ``algo``, …) becomes part of the run's
``setting`` (``method.*`` overrides become part of its ``label``, e.g. ``start[method.stage2=answer]``),
and every table and figure is grouped by (suite, setting, label), never pooled across them.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

log = logging.getLogger(__name__)

RESULTS_FILE = "results.json"
SAMPLES_FILE = "samples.jsonl"
CURVE_FILE = "curve.jsonl"
OVERRIDES_FILE = Path(".hydra") / "overrides.yaml"
RUN_FIELDS = ("status", "method", "data", "algo", "seed", "model", "sweep", "error")
BUDGET_FIELDS = ("base_checkpoint_hash", "prompt_ids_hash", "optimizer_steps", "completions_sampled",
                 "tokens_generated", "wall_time_s")
INFO_COLUMNS = ("factors", "thinking_eval", "method_info", "setting", "label")
BASE_COLUMNS = ("run", *RUN_FIELDS, *(f"budget.{k}" for k in BUDGET_FIELDS), *INFO_COLUMNS)
NOT_RUN_FOLDERS = {"analysis"}  # the default output folder of the analysis itself
#: overrides that are axes of their own (method, data, seed) or cannot change a result
NOT_FACTORS = {"method", "data", "seed", "sweep", "sweep_name", "cache_dir", "threads", "reuse"}
NOT_FACTOR_PREFIXES = ("hydra.", "logger")
#: results.json fields that also count as factors when they vary (a sweep config may set them without overrides)
RESULT_FACTORS = ("algo", "model")


class UnreadableRun(Exception):
    """A run folder whose ``results.json`` is missing or is not a JSON object."""


@dataclass(frozen=True)
class MethodInfo:
    """A method as its runs describe it (``results.json`` ``method_info``)."""

    order: float  # its place in tables and legends
    style: tuple[str, str, str] | None  # (colour, marker, line style) in figures; None: an extra style
    role: str  # the arm of the paper's comparisons it plays (base, sft, rl, start), or "" for none


class Methods(dict[str, MethodInfo]):
    """Method name -> :class:`MethodInfo` for the runs of a sweep (:func:`methods_of`)."""

    def info(self, method: str) -> MethodInfo:
        name = str(method).partition("[")[0]
        return self.get(name) or MethodInfo(math.inf, None, name)  # (a run from before method_info)

    def key(self, label: str) -> tuple[float, str, str]:
        """Sort key for methods or labels: by the methods' declared order, variants after their method."""
        name, _, variant = str(label).partition("[")
        info = self.info(name)
        return info.order, name, variant

    def role(self, method: str) -> str:
        return self.info(method).role


def methods_of(runs: pd.DataFrame) -> Methods:
    """What the runs say of each method (the first run of a method that says anything)."""
    out = Methods()
    for method, info in zip(runs["method"], runs["method_info"], strict=True):
        if info and str(method) not in out:
            out[str(method)] = MethodInfo(float(info["order"]), (info["colour"], info["marker"], info["line"]),
                                          info.get("role") or "")
    return out


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


def read_overrides(folder: Path) -> dict[str, str]:
    """The run's Hydra overrides as ``{key: value}`` (``+``/``++`` prefixes dropped); {} without the file."""
    path = Path(folder) / OVERRIDES_FILE
    if not path.exists():
        return {}
    try:
        items = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    except (OSError, yaml.YAMLError) as e:
        log.warning("unreadable %s (%s): treated as no overrides", path, e)
        return {}
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if sep and not key.startswith("~"):
            out[key.lstrip("+")] = value
    return out


def _is_factor(key: str) -> bool:
    return key not in NOT_FACTORS and not key.startswith(NOT_FACTOR_PREFIXES)


def read_run(folder: Path) -> dict:
    """One run folder as a flat row: run fields, ``budget.*`` fields, info columns, one ``suite/metric`` column each."""
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
    factors = {k: str(raw[k]) for k in RESULT_FACTORS if raw.get(k) is not None}
    factors.update({k: v for k, v in read_overrides(folder).items() if _is_factor(k)})
    row["factors"] = factors
    row["thinking_eval"] = raw.get("thinking_eval") or {}
    row["method_info"] = raw.get("method_info") or {}
    row.update({k: _as_float(v) for k, v in (raw.get("metrics") or {}).items() if "/" in k})
    return row


def _assign_settings(rows: list[dict]) -> None:
    """Fill ``setting`` and ``label`` from the factors that take more than one value among ``rows``."""
    keys = sorted({k for r in rows for k in r["factors"]})
    varying = [k for k in keys if len({r["factors"].get(k) for r in rows}) > 1]
    for r in rows:
        shown = [f"{k}={r['factors'].get(k, '<default>')}" for k in varying]
        r["setting"] = ", ".join(s for k, s in zip(varying, shown, strict=True) if not k.startswith("method."))
        variant = ", ".join(s for k, s in zip(varying, shown, strict=True) if k.startswith("method."))
        r["label"] = f"{r['method']}[{variant}]" if variant else str(r["method"])


def load_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """All run folders of ``sweep_dir``, one row each, sorted by folder name (see :func:`read_run`)."""
    rows, skipped = [], []
    for folder in run_folders(Path(sweep_dir)):
        try:
            rows.append(read_run(folder))
        except UnreadableRun as e:
            log.warning("skipping %s: %s", folder, e)
            skipped.append((folder.name, str(e)))
    _assign_settings(rows)
    metric_columns = sorted({k for row in rows for k in row if k not in BASE_COLUMNS})
    runs = pd.DataFrame(rows, columns=[*BASE_COLUMNS, *metric_columns])
    runs.attrs["skipped"] = skipped
    runs.attrs["sweep_dir"] = str(Path(sweep_dir))
    return runs


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """Only the runs that finished (``status == "ok"``); the only ones that enter any number."""
    return runs[runs["status"] == "ok"]


def metric_columns(runs: pd.DataFrame) -> list[str]:
    """The ``suite/metric`` columns of a runs DataFrame."""
    return [c for c in runs.columns if "/" in c and c not in BASE_COLUMNS]


def run_suites(row: pd.Series) -> list[str]:
    """The suites a run has metrics for (its training suite and any other suite it was evaluated on)."""
    return sorted({c.split("/", 1)[0] for c in row.index
                   if "/" in c and c not in BASE_COLUMNS and isinstance(row[c], float) and not math.isnan(row[c])})


def read_items(folder: Path, suite: str, data: str) -> list[dict[str, Any]] | None:
    """The run's per-item records for ``suite``, sorted by id; None without a readable ``samples.jsonl``.

    A record belongs to ``suite`` when its ``suite`` field says so, or, when it has none, when the run
    was trained on ``suite`` (runs that evaluate a single suite write no such field). Only ``id`` and
    numeric fields are kept: they are all :func:`harness.evaluation.metrics.aggregate` reads.
    """
    path = Path(folder) / SAMPLES_FILE
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        records = [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, ValueError) as e:
        log.warning("unreadable %s (%s): its cells fall back to seed-level intervals", path, e)
        return None
    mine = [r for r in records if r.get("suite", data) == suite]
    if not mine:
        return None
    keep = [{"id": str(r["id"]), **{k: v for k, v in r.items() if isinstance(v, int | float)}} for r in mine]
    return sorted(keep, key=lambda r: r["id"])


def read_curve(folder: Path) -> pd.DataFrame:
    """The run's training log (one row per logged step); empty without ``curve.jsonl``."""
    path = Path(folder) / CURVE_FILE
    try:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return pd.DataFrame()
    except (OSError, UnicodeDecodeError, ValueError) as e:
        log.warning("unreadable %s (%s): no curve for this run", path, e)
        return pd.DataFrame()
    return pd.DataFrame([r for r in rows if "step" in r])
