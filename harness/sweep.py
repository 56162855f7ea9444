"""Sweep-level behaviour: progress lines from the run folders, and the analysis at the end.

Progress is read from the ``results.json`` of every run folder in the sweep (each job writes
``running`` first, then ``ok``/``failed``), so it is right whichever process prints it. Hydra runs
the end-of-sweep callback only if no job raised, so jobs record their failures instead of raising
(``harness.__main__``, :func:`record_config_error`). A sweep whose launcher itself dies (a worker
killed) ends without the analysis: relaunching it finishes the interrupted runs and analyses.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from harness.results import RESULTS_FILE, RunResult, hash_strings, read_json, write_json, write_text

log = logging.getLogger("harness.sweep")


def sweep_status(sweep_dir: Path) -> dict[str, list[str]]:
    status: dict[str, list[str]] = {}
    for path in sorted(Path(sweep_dir).glob(f"*/{RESULTS_FILE}")):
        try:  # (cut short, not JSON, not an object: the relaunch reruns that run; harness.run.previous_status)
            record = read_json(path)
            state = record.get("status", "unknown") if isinstance(record, dict) else "unreadable"
        except (OSError, ValueError):
            state = "unreadable"
        status.setdefault(state, []).append(path.parent.name)
    return status


def record_config_error(dcfg: DictConfig, run_dir: Path, error: Exception) -> None:
    """Record a job whose config failed validation as a ``failed`` run (``results.json``, ``error.txt``)."""
    def get(key: str, default: Any = "") -> Any:
        return OmegaConf.select(dcfg, key, default=default)

    result = RunResult(status="failed", method=get("method.name"), data=get("data.name"), algo=get("algo.name"),
                       seed=get("seed", 0), model=get("model.name"), sweep=get("sweep_name"),
                       error=f"{type(error).__name__}: {error}")
    write_json(Path(run_dir) / RESULTS_FILE, result.to_json())
    write_text(Path(run_dir) / "error.txt", f"{type(error).__name__}: {error}\n")


def report_progress(sweep_dir: Path, event: str) -> None:
    counts = Counter({k: len(v) for k, v in sweep_status(sweep_dir).items()})
    log.info("[sweep %s] %s | done %d, running %d, failed %d", Path(sweep_dir).name, event,
             counts["ok"], counts["running"], counts["failed"])


class SweepEnd(Callback):
    """After a multirun: print the final status and write the analysis of whatever finished."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        status = sweep_status(sweep_dir)
        for name in status.get("failed", []):
            log.error("failed run: %s (see %s)", name, sweep_dir / name / "error.txt")
        report_progress(sweep_dir, "sweep finished")
        from analysis.report import analyze

        logger = config.get("logger", {})
        wandb_mode = logger.get("mode") if logger.get("backend") == "wandb" else None
        stamp, fingerprint = sweep_dir / "analysis" / INPUTS_STAMP, analysis_inputs(sweep_dir, wandb_mode)
        if stamp.is_file() and stamp.read_text() == fingerprint:
            log.info("analysis unchanged: no run file and no analysis code changed since %s was written",
                     stamp.parent)
            return
        out = analyze(sweep_dir, wandb_mode=wandb_mode)  # the sweep-level summary goes to W&B too
        write_text(stamp, fingerprint)
        log.info("analysis written to %s", out)


INPUTS_STAMP = ".inputs"
ANALYSIS_INPUTS = ("results.json", "samples.jsonl", "curve.jsonl", ".hydra/overrides.yaml")
BY_CONTENT = ("results.json", ".hydra/overrides.yaml")  # small, and Hydra rewrites overrides.yaml on every launch


def analysis_inputs(sweep_dir: Path, wandb_mode: str | None) -> str:
    """Fingerprint of what the end-of-sweep analysis reads: every run file it uses (small ones by
    content, per-item and curve files by size and modification time), the analysis code and the W&B
    mode. A relaunch that finds the same
    fingerprint beside the analysis skips it (``python -m analysis`` always recomputes)."""
    import analysis

    parts = [str(wandb_mode)]
    for name in ANALYSIS_INPUTS:
        for path in sorted(Path(sweep_dir).glob(f"*/{name}")):
            stat = path.stat()
            detail = hashlib.sha256(path.read_bytes()).hexdigest() if name in BY_CONTENT else \
                f"{stat.st_size}|{stat.st_mtime_ns}"
            parts.append(f"{path.relative_to(sweep_dir)}|{detail}")
    for path in sorted(Path(analysis.__file__).parent.glob("*.py")):
        parts.append(hashlib.sha256(path.read_bytes()).hexdigest())
    return hash_strings(parts)
