"""``python -m harness [overrides]``: compose the config, validate it, run one job.

Multiruns (``+sweep=ablation`` or ``-m``) call this once per job; ``harness.sweep`` reports sweep
progress and runs the analysis at the end. A relaunched job first takes the run folder's lock (a run
another process is carrying out now is skipped), then reads the run's status: it skips a run that
finished with the same fingerprint (``harness.fingerprint``: config, harness source, base weights,
data files, library versions; ``reuse=if_config_matches``: the same config), says what changed when
it reruns one, and resumes one that was interrupted (``harness.run.run``). In a multirun no job
raises (a failure, config errors included, is recorded in the run's ``results.json``), because Hydra
skips the end-of-sweep callback when one does. Config errors, a malformed data file, and a model,
data set or judge that cannot be had, are one line (exit status 2 for a single run); other failures
keep their traceback.
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
from harness.config import CONF_DIR, ConfigError, register_configs

# The rest of the harness (and with it torch, transformers, TRL, lm-eval) is imported inside the functions,
# once the config has composed: `--help` and a config that does not compose (an unknown key, a wrong type,
# an unknown option) answer in about a second instead of after the training stack has loaded.
log = logging.getLogger("harness")
register_configs()


def unavailable_errors() -> tuple[type[Exception], ...]:
    """Reported in one line, without a traceback: a model, data set or judge verdict that cannot be had,
    and a data file whose rows are malformed (the message names file and line)."""
    from harness.hub import ModelUnavailableError
    from harness.judge import JudgeError
    from harness.suites.files import DataFileError, DataUnavailableError

    return ModelUnavailableError, DataUnavailableError, JudgeError, DataFileError


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(dcfg: DictConfig) -> None:
    hc = HydraConfig.get()
    run_dir = distributed.main_value(Path(hc.runtime.output_dir))  # (accelerate launch: one run folder)
    multirun = hc.mode == RunMode.MULTIRUN
    from harness.sweep import record_config_error
    from harness.validate import validate

    try:
        cfg = validate(dcfg)
    except ConfigError as e:
        log.error("config error: %s", e)
        if not multirun:
            sys.exit(2)
        # A job that raises makes Hydra skip the end-of-sweep analysis: record it as a failed run instead.
        record_config_error(dcfg, run_dir, e)
        return
    launch(cfg, run_dir, multirun, Path(hc.sweep.dir) if multirun else None)


def launch(cfg, run_dir: Path, multirun: bool, sweep_dir: Path | None) -> None:
    """Lock the run folder, then decide from the run's status (read under the lock, so a launch that
    finished the run a moment ago is seen) whether to skip it, and otherwise carry it out."""
    from harness.run import LOCK_FILE, current_fingerprint, previous_status, reuse_verdict, run_lock

    with run_lock(run_dir) as held:
        if not held:
            log.warning("skip %s: another process is running it now (%s is locked)", run_dir.name,
                        run_dir / LOCK_FILE)
            return
        prev = previous_status(run_dir)
        if prev and prev.get("status") == "ok":
            current = current_fingerprint(cfg)
            reusable, changed = reuse_verdict(cfg, prev, current)
            if reusable and not changed:
                log.info("skip %s: finished earlier with the same fingerprint (results.json status ok)",
                         run_dir.name)
                return
            if reusable:
                log.warning("skip %s: finished earlier with the same config; kept although %s (reuse=%s)",
                            run_dir.name, changed, cfg.reuse)
                return
            hint = "; reuse=if_config_matches would keep it" if prev.get("config_hash") == current["config"] else ""
            log.warning("rerun %s: %s since it finished%s", run_dir.name, changed, hint)
        _run_job(cfg, run_dir, multirun, sweep_dir)


def _run_job(cfg, run_dir: Path, multirun: bool, sweep_dir: Path | None) -> None:
    from harness.evaluation.metrics import HEADLINE
    from harness.run import run
    from harness.sweep import report_progress

    if multirun:
        report_progress(sweep_dir, f"start {run_dir.name}")
    try:
        result = run(cfg, run_dir)
        log.info("%s: ok; %s", run_dir.name, ", ".join(f"{k}={v:.3f}" for k, v in result.metrics.items()
                                                       if k.split("/", 1)[-1] in HEADLINE))
    except unavailable_errors() as e:  # a model, data set or judge that cannot be had: its message says what to do
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


if __name__ == "__main__":
    main()
