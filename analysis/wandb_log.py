"""Log a sweep's analysis to W&B as one run: the claims, comparison, paired and budget tables and every figure.

The run joins the sweep's W&B group (the one the harness gives every run of the sweep) with
``job_type="analysis"``, so the project shows the summary beside the runs it summarises, and
``python -m analysis.wandb_report`` can put its tables on a report. The mode is set through
``WANDB_MODE`` before ``wandb`` starts, as the harness does: offline never touches the network, and
the run lands in ``<analysis dir>/wandb/offline-run-*`` (``wandb sync`` uploads it). The files on disk
stay the source of truth; this only mirrors them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import yaml

from analysis.collect import load_runs, ok_runs

TABLES = ("claims", "comparison", "paired", "budget")
DEFAULT_PROJECT = "starbench"
TEXT_COLUMNS = ("suite", "setting", "method", "trained_on", "metric", "ci_method", "delta_note", "question", "a", "b",
                "pairing", "power_note", "status", "statement", "verdict", "reason", "role", "test", "expected",
                "outcome")


def sweep_identity(sweep_dir: Path) -> tuple[str, str, str | None]:
    """(group, project, entity) the sweep's runs were logged under: results.json ``sweep``, the runs' logger config."""
    runs = load_runs(sweep_dir)
    ok = ok_runs(runs)
    names = sorted(set((ok if len(ok) else runs)["sweep"].dropna().astype(str)))
    group = names[0] if names else Path(sweep_dir).resolve().name
    project, entity = DEFAULT_PROJECT, None
    for run in sorted((ok if len(ok) else runs)["run"]):
        config = Path(sweep_dir) / run / ".hydra" / "config.yaml"
        if config.exists():
            logger = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("logger") or {}
            project, entity = logger.get("project") or DEFAULT_PROJECT, logger.get("entity")
            break
    return group, project, entity


def read_table(path: Path) -> pd.DataFrame:
    """A table CSV as written by the analysis: empty text cells as "", empty numbers as NaN."""
    frame = pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str))
    text = [c for c in TEXT_COLUMNS if c in frame.columns]
    frame[text] = frame[text].fillna("")
    return frame


def log_summary(sweep_dir: str | Path, analysis_dir: str | Path, mode: str) -> Path:
    """Log the written analysis of ``sweep_dir`` (read from ``analysis_dir``) as one W&B run; return the run's dir."""
    sweep_dir, analysis_dir = Path(sweep_dir), Path(analysis_dir)
    group, project, entity = sweep_identity(sweep_dir)
    os.environ["WANDB_MODE"] = mode
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_CONSOLE", "off")
    import wandb

    manifest = json.loads((analysis_dir / "manifest.json").read_text(encoding="utf-8"))
    run = wandb.init(project=project, entity=entity, group=group, job_type="analysis", name=f"{group}-analysis",
                     tags=["analysis"], dir=str(analysis_dir), reinit="finish_previous",
                     config={"sweep": group, "statistics": manifest["statistics"]})
    try:
        tables = {f"analysis/{name}": wandb.Table(dataframe=read_table(analysis_dir / f"{name}.csv"))
                  for name in TABLES if (analysis_dir / f"{name}.csv").exists()}
        images = {f"figures/{fig['name']}": wandb.Image(str(analysis_dir / fig["files"][0]), caption=fig["caption"])
                  for fig in manifest["figures"] if fig["status"] == "drawn"}
        run.log({**tables, **images})
        run.summary.update({"runs/" + status: n for status, n in manifest["runs"].items()})
        return Path(run.dir).parent
    finally:
        run.finish()
