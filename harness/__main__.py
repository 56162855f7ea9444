"""``python -m harness [overrides]``: compose the config, validate it, run one job.

Multiruns (``+sweep=ablation`` or ``-m``) call this once per job; ``harness.sweep`` reports sweep
progress and runs the analysis at the end.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from harness.config import ConfigError, register_configs, validate

CONF_DIR = str(Path(__file__).resolve().parent.parent / "conf")
log = logging.getLogger("harness")
SUMMARY_METRICS = ("/acc", "/thinking_gain", "/xgen_score", "/shortcut_rate")  # logged when a run ends
register_configs()


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="config")
def main(dcfg: DictConfig) -> None:
    from harness.results import hash_config
    from harness.run import previous_status, run
    from harness.sweep import report_progress

    try:
        cfg = validate(dcfg)
    except ConfigError as e:
        log.error("config error: %s", e)
        if HydraConfig.get().mode == RunMode.RUN:
            sys.exit(2)
        raise
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    prev = previous_status(run_dir)
    if prev and prev.get("status") == "ok" and prev.get("config_hash") == hash_config(cfg):
        log.info("skip %s: finished earlier with the same config (results.json status ok)", run_dir.name)
        return
    if multirun:
        report_progress(Path(hc.sweep.dir), f"start {run_dir.name}")
    try:
        result = run(cfg, run_dir)
        log.info("%s: ok; %s", run_dir.name, ", ".join(f"{k}={v:.3f}" for k, v in result.metrics.items()
                                                       if k.endswith(SUMMARY_METRICS)))
    except Exception:
        if not multirun:
            raise
        # In a sweep one failure must not stop the other runs: it is recorded as `failed` in results.json.
        log.exception("%s failed (recorded in %s)", run_dir.name, run_dir / "results.json")
    finally:
        if multirun:
            report_progress(Path(hc.sweep.dir), f"end {run_dir.name}")


if __name__ == "__main__":
    main()
