"""``python -m harness [overrides]``: compose the config, validate it, run one job.

Multiruns (``+sweep=ablation`` or ``-m``) call this once per job; ``harness.sweep`` reports sweep
progress and runs the analysis at the end. A relaunched job skips a run that finished with the same
config, and one that another process is running now (its run folder is locked), and resumes one
that was interrupted (``harness.run.run``). In a multirun no job raises (a
failure, config errors included, is recorded in the run's ``results.json``), because Hydra skips the
end-of-sweep callback when one does. Config errors, and a model, data set or judge that cannot be
had, are one line (exit status 2 for a single run); other failures keep their traceback.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness import distributed
from harness.config import ConfigError, register_configs, validate

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("harness")
SUMMARY_METRICS = ("/acc", "/thinking_gain", "/xgen_score", "/shortcut_rate")  # logged when a run ends
register_configs()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(dcfg: DictConfig) -> None:
    from harness.results import hash_run_config
    from harness.run import LOCK_FILE, previous_status, run_lock
    from harness.sweep import record_config_error

    hc = HydraConfig.get()
    run_dir = distributed.main_value(Path(hc.runtime.output_dir))  # (accelerate launch: one run folder)
    multirun = hc.mode == RunMode.MULTIRUN
    try:
        cfg = validate(dcfg)
    except ConfigError as e:
        log.error("config error: %s", e)
        if not multirun:
            sys.exit(2)
        # A job that raises makes Hydra skip the end-of-sweep analysis: record it as a failed run instead.
        record_config_error(dcfg, run_dir, e)
        return
    prev = previous_status(run_dir)
    if prev and prev.get("status") == "ok" and prev.get("config_hash") == hash_run_config(cfg):
        log.info("skip %s: finished earlier with the same config (results.json status ok)", run_dir.name)
        return
    with run_lock(run_dir) as held:
        if not held:
            log.warning("skip %s: another process is running it now (%s is locked)", run_dir.name,
                        run_dir / LOCK_FILE)
            return
        _run_job(cfg, run_dir, multirun, Path(hc.sweep.dir) if multirun else None)


def _run_job(cfg, run_dir: Path, multirun: bool, sweep_dir: Path | None) -> None:
    from harness.run import run
    from harness.sweep import report_progress

    if multirun:
        report_progress(sweep_dir, f"start {run_dir.name}")
    try:
        result = run(cfg, run_dir)
        log.info("%s: ok; %s", run_dir.name, ", ".join(f"{k}={v:.3f}" for k, v in result.metrics.items()
                                                       if k.endswith(SUMMARY_METRICS)))
    except unavailable() as e:  # a model, data set or judge that cannot be had: its message says what to do
        if not multirun:
            log.error("%s: %s", type(e).__name__, e)
            sys.exit(2)
        log.error("%s failed (recorded in %s): %s: %s", run_dir.name, run_dir / "results.json", type(e).__name__, e)
    except Exception:
        if not multirun:
            raise
        # In a sweep one failure must not stop the other runs: it is recorded as `failed` in results.json.
        log.exception("%s failed (recorded in %s)", run_dir.name, run_dir / "results.json")
    finally:
        if multirun:
            report_progress(sweep_dir, f"end {run_dir.name}")


def unavailable() -> tuple[type[Exception], ...]:
    """Errors reported in one line, without a traceback: a model, data set or judge verdict that cannot be had."""
    from harness.judge import JudgeError
    from harness.models import ModelUnavailableError
    from harness.suites.files import DataUnavailableError

    return ModelUnavailableError, DataUnavailableError, JudgeError


if __name__ == "__main__":
    main()
