"""W&B mirror of what a run writes to disk (offline by default; the files stay the source of truth).

The mode is set through the environment (``WANDB_MODE``) before ``wandb`` starts, so an offline run
never touches the network. Runs are grouped by sweep, ``job_type`` is the method, tags name data,
algorithm and seed. ``finish`` always runs, so a failed job never leaks its run into the next one.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from harness.config import Config

SAMPLE_COLUMNS = ("id", "gold", "thinking", "answer", "acc", "reward", "nothink_answer", "nothink_acc")


class Tracker:
    def __init__(self, cfg: Config, run_dir: Path) -> None:
        self.run = None
        if cfg.logger.backend == "none":
            return
        os.environ["WANDB_MODE"] = cfg.logger.mode
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_CONSOLE", "off")
        import wandb

        self.run = wandb.init(
            project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.sweep_name, job_type=cfg.method.name,
            name=Path(run_dir).name, tags=[cfg.data.name, cfg.algo.name, f"seed{cfg.seed}"],
            config=dataclasses.asdict(cfg), dir=str(run_dir), reinit="finish_previous",
        )

    def log_curve(self, rows: list[dict[str, float]]) -> None:
        if self.run is None:
            return
        for row in rows:
            self.run.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=int(row["step"]))

    def log_eval(self, metrics: dict[str, float], records: list[dict[str, Any]]) -> None:
        if self.run is None:
            return
        import wandb

        self.run.summary.update({f"eval/{k}": v for k, v in metrics.items()})
        columns = [c for c in SAMPLE_COLUMNS if records and c in records[0]]
        table = wandb.Table(columns=columns, data=[[r.get(c) for c in columns] for r in records])
        self.run.log({"eval/samples": table})

    def finish(self, result) -> None:
        if self.run is None:
            return
        budget = {f"budget/{k}": v for k, v in result.budget.to_json().items()}
        self.run.summary.update({"status": result.status, **budget})
        self.run.finish(exit_code=0 if result.status == "ok" else 1)
        self.run = None
