"""W&B mirror of what a run writes to disk (offline by default; the files stay the source of truth).

The mode is set through the environment (``WANDB_MODE``) before ``wandb`` starts, so an offline run
never touches the network. Runs are grouped by sweep, ``job_type`` is the method, tags name data,
algorithm and seed. What is logged equals what the run folder holds: the training curve as history
(``train/<key>``, one row per step, streamed while training runs: :meth:`Tracker.log_curve` gets each
trainer log line as ``curve.jsonl`` does, and a resumed attempt's restored rows first, so
``logger=wandb_online`` shows reward, accuracy, KL, clip ratio, completion length,
``frac_reward_zero_std`` and START's stage step by step, in the run that later holds the evaluation),
``results.json`` metrics as summary ``eval/<suite>/<metric>``,
the budget and status as summary ``budget/<field>`` and ``status``, and every per-item record of
``samples.jsonl`` (thinking, answers and every per-item metric) as the table ``eval/samples``.
``finish`` always runs, so a failed job never leaks its run into the next one. The W&B run id is a
function of the run folder and the run's config hash, so a resumed attempt continues the same W&B
run (``resume="allow"``; offline, each attempt writes an ``offline-run-<time>-<id>`` folder with that
id, and ``wandb sync`` files them under one run). A step is logged once per W&B run: the last step
logged is kept in ``<run>/wandb/starbench-last-step-<id>``, and a resumed attempt logs only the steps
after it (the ones an interrupted attempt trained again after its last checkpoint are not repeated).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

from harness.config import Config
from harness.results import hash_run_config, hash_strings

#: sample-table columns shown first (when present); every other column follows in name order
LEADING_COLUMNS = ("id", "gold", "thinking", "answer", "acc", "reward", "nothink_answer", "nothink_acc", "completion")


def sample_columns(records: list[dict[str, Any]]) -> list[str]:
    """Every field of the records: the leading ones in their order, then the rest by name."""
    present = {k for r in records for k in r}
    return [c for c in LEADING_COLUMNS if c in present] + sorted(present - set(LEADING_COLUMNS))


def wandb_run_id(cfg: Config, run_dir: Path, fingerprint: dict[str, Any] | None = None) -> str:
    """The same for every attempt of one run (same folder, same config, same ``fingerprint`` but for its base
    part, which an attempt may only learn once it has built the base), another for anything else: a run
    carried out again because its code, data or library versions changed starts a W&B run of its own
    instead of logging over the steps of the old one."""
    lineage = json.dumps({k: v for k, v in (fingerprint or {}).items() if k != "base"}, sort_keys=True)
    return f"{hash_run_config(cfg)}-{hash_strings([str(Path(run_dir).resolve()), lineage])[:8]}"


def _cell(value: Any) -> Any:
    """A table cell: scalars as they are, anything else as JSON text."""
    return value if value is None or isinstance(value, str | int | float | bool) else json.dumps(value, sort_keys=True)


class Tracker:
    def __init__(self, cfg: Config, run_dir: Path, enabled: bool = True, fingerprint: dict[str, Any] | None = None
                 ) -> None:
        self.run, self.last_step, self.step_file = None, 0, None
        if cfg.logger.backend == "none" or not enabled:  # (disabled: not the main process of a launch)
            return
        os.environ["WANDB_MODE"] = cfg.logger.mode
        os.environ.setdefault("WANDB_SILENT", "true")
        os.environ.setdefault("WANDB_CONSOLE", "off")
        import wandb

        self.run = wandb.init(
            project=cfg.logger.project, entity=cfg.logger.entity, group=cfg.sweep_name, job_type=cfg.method.name,
            name=Path(run_dir).name, tags=[cfg.data.name, cfg.algo.name, f"seed{cfg.seed}"],
            config=dataclasses.asdict(cfg), dir=str(run_dir), reinit="finish_previous",
            id=wandb_run_id(cfg, run_dir, fingerprint), resume="allow",
        )
        self.step_file = Path(run_dir) / "wandb" / f"starbench-last-step-{self.run.id}"
        logged = int(self.step_file.read_text()) if self.step_file.is_file() else 0
        self.last_step = max(logged, self.run.step - 1, 0)  # (online, a resumed run knows its own)

    def log_curve(self, rows: list[dict[str, float]]) -> None:
        """Log curve rows (``step`` and values) as history ``train/<key>``; steps already logged are skipped."""
        if self.run is None:
            return
        for row in rows:
            step = int(row["step"])
            if step <= self.last_step:
                continue
            self.run.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=step)
            self.last_step = step
            self.step_file.write_text(str(step))

    def log_eval(self, metrics: dict[str, float], records: list[dict[str, Any]]) -> None:
        if self.run is None:
            return
        import wandb

        self.run.summary.update({f"eval/{k}": v for k, v in metrics.items()})
        columns = sample_columns(records)
        table = wandb.Table(columns=columns, data=[[_cell(r.get(c)) for c in columns] for r in records])
        self.run.log({"eval/samples": table}, step=max(self.run.step, self.last_step + 1))

    def finish(self, result) -> None:
        if self.run is None:
            return
        budget = {f"budget/{k}": v for k, v in result.budget.to_json().items()}
        self.run.summary.update({"status": result.status, **budget})
        thinking_eval = getattr(result, "thinking_eval", None)  # absent from results of runs before issue 3
        if thinking_eval:
            self.run.config.update({"thinking_eval": thinking_eval}, allow_val_change=True)
        self.run.finish(exit_code=0 if result.status == "ok" else 1)
        self.run = None
