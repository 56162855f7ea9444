"""The only orchestrator: base checkpoint (the model kind) -> method.train -> evaluate -> write results.

One call of :func:`run` is one job: it writes everything into ``run_dir`` (see README, "Outputs").
Under ``accelerate launch`` every process trains and only the main one writes and evaluates
(``harness.distributed``).
"""

from __future__ import annotations

import dataclasses
import fcntl
import logging
import random
import shutil
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import transformers

from harness import distributed
from harness.config import Config, DataConfig, data_config
from harness.evaluation.pipeline import evaluate_suites
from harness.fingerprint import changes, fingerprint
from harness.methods import get_method
from harness.methods.training import TRAINER_DIR, TrainContext, TrainOutput, checkpoint_step, prepare_trainer_dir
from harness.models import Base, get_kind
from harness.results import (
    RESULTS_FILE,
    Budget,
    RunResult,
    hash_run_config,
    hash_strings,
    read_json,
    write_json,
    write_jsonl,
    write_text,
)
from harness.suites import SUITES, Item, Suite, get_suite
from harness.threads import torch_threads
from harness.tracking import Tracker

log = logging.getLogger(__name__)
LOCK_FILE = ".lock"


def run(cfg: Config, run_dir: Path) -> RunResult:
    """Train (if the method trains) and evaluate; always leave a ``results.json`` saying how it ended.

    A run that an earlier attempt left ``running`` (killed) or ``failed`` resumes training from its last
    complete trainer checkpoint (``<run_dir>/trainer``) when that attempt may be reused
    (:func:`reuse_verdict`: the same fingerprint, or the same config hash with
    ``reuse=if_config_matches``); any other trainer folder is stale and removed first. Once the run is
    ``ok`` its trainer checkpoints are deleted (the final ``checkpoint/`` stays); a failed run keeps them.
    The caller holds the run's lock (:func:`run_lock`).
    """
    run_dir = Path(run_dir)
    config_hash = hash_run_config(cfg)
    prev = previous_status(run_dir) or {}
    current = current_fingerprint(cfg)
    interrupted = prev.get("status") in ("running", "failed")
    if interrupted:
        interrupted, why = reuse_verdict(cfg, prev, current)
        if not interrupted:
            log.info("%s: not resuming the interrupted attempt: %s; training starts afresh", run_dir.name, why)
    main = distributed.is_main_process()
    distributed.wait_for_everyone()  # every process has read the status before the main one rewrites it
    resume = distributed.main_value(prepare_trainer_dir(run_dir / TRAINER_DIR, resume=interrupted) if main else None)
    result = RunResult(status="running", method=cfg.method.name, data=cfg.data.name, algo=cfg.algo.name,
                       seed=cfg.seed, model=cfg.model.name, sweep=cfg.sweep_name, config_hash=config_hash,
                       fingerprint=current,
                       method_info=dataclasses.asdict(get_method(cfg.method.name).display),
                       resumed_from_step=None if resume is None else checkpoint_step(resume))
    if resume is not None:
        log.info("%s: resuming training from %s", run_dir.name, resume)
    if main:
        write_json(run_dir / RESULTS_FILE, result.to_json())
        (run_dir / "error.txt").unlink(missing_ok=True)  # from an earlier, failed attempt
    tracker = Tracker(cfg, run_dir, enabled=main, fingerprint=current)
    started = time.time()
    try:
        with torch_threads(cfg.threads):
            _run(cfg, run_dir, result, tracker)
        result.status = "ok"
        if main:
            shutil.rmtree(run_dir / TRAINER_DIR, ignore_errors=True)
    except Exception as e:  # recorded, then re-raised so the launcher sees the failure too
        result.status, result.error = "failed", f"{type(e).__name__}: {e}"
        if main:
            write_text(run_dir / "error.txt", traceback.format_exc())
        raise
    finally:
        result.budget.wall_time_s = round(result.budget.wall_time_s + time.time() - started, 3)
        if main:
            write_json(run_dir / RESULTS_FILE, result.to_json())
        tracker.finish(result)
    return result


def _run(cfg: Config, run_dir: Path, result: RunResult, tracker: Tracker) -> None:
    transformers.set_seed(cfg.seed)  # python, numpy and torch RNGs
    suite = get_suite(cfg.data.name, reward=cfg.data.reward, **cfg.data.params)
    n_train = cfg.train.steps * cfg.train.prompts_per_step
    train_items = suite.items("train", n_train, random.Random(cfg.data.gen_seed), cfg.data)
    test_items = suite.test_items(cfg.data)
    if distributed.is_main_process():
        write_jsonl(run_dir / "data" / "train.jsonl", [it.to_json() for it in train_items])
    prompt_ids_hash = hash_strings(sorted(it.question for it in train_items))

    method, kind = get_method(cfg.method.name), get_kind(cfg.model.kind)
    base = kind.prepare(cfg)
    result.budget = Budget(base_checkpoint_hash=base.hash, prompt_ids_hash=prompt_ids_hash)
    if result.fingerprint.get("base") != base.hash:  # built or fetched just now: record it before training
        result.fingerprint["base"] = base.hash
        if distributed.is_main_process():
            write_json(run_dir / RESULTS_FILE, result.to_json())
    result.checkpoint, checkpoint = base.label, base.path
    if method.trains:
        trained = _train(cfg, suite, train_items, base, run_dir, tracker)
        result.checkpoint, checkpoint = str(trained.checkpoint), trained.checkpoint
        result.budget.optimizer_steps = trained.optimizer_steps
        result.budget.completions_sampled = trained.completions_sampled
        result.budget.tokens_generated = trained.tokens_generated
        result.budget.wall_time_s = trained.earlier_attempts_s  # (this attempt's time is added at the end)
    policy = kind.policy(cfg, checkpoint)

    if not distributed.is_main_process():
        log.info("%s: training done; the main process evaluates", distributed.describe())
        return
    distributed.leave_process_group()
    evaluation = evaluate_suites(cfg, [(cfg.data, suite, test_items), *_extra_suites(cfg)], policy, base.tokenizer,
                                 run_dir, policy_trained=method.trains)
    write_text(run_dir / "lm_eval_command.txt",
               "".join(f"# {label}\n{command}\n" for label, command in evaluation.commands))
    write_jsonl(run_dir / "samples.jsonl", evaluation.records)
    result.metrics = evaluation.metrics
    result.thinking_eval = evaluation.info
    result.eval_seconds = evaluation.seconds
    tracker.log_eval(evaluation.metrics, evaluation.records)


def _extra_suites(cfg: Config) -> list[tuple[DataConfig, Suite, list[Item]]]:
    """``eval.extra_suites``: their own data config, the run's test-set size and seed (as the sweep's runs)."""
    out = []
    for name in cfg.eval.extra_suites:
        if name == cfg.data.name:
            continue
        data = dataclasses.replace(data_config(name), n_test=cfg.data.n_test, gen_seed=cfg.data.gen_seed)
        suite = get_suite(data.name, reward=data.reward, **data.params)
        out.append((data, suite, suite.test_items(data)))
    return out


def _train(cfg: Config, suite, train_items, base: Base, run_dir: Path, tracker: Tracker) -> TrainOutput:
    ctx = TrainContext(cfg=cfg, suite=suite, train_items=train_items, base_path=base.path, run_dir=run_dir,
                       tokenizer=base.tokenizer, log_curve=tracker.log_curve)  # (the curve streams to W&B live)
    return get_method(cfg.method.name).train(ctx)


@contextmanager
def run_lock(run_dir: Path) -> Iterator[bool]:
    """Hold ``<run_dir>/.lock`` while the run is carried out; yields False when another process holds
    it (a second launch of the same sweep). The system releases the lock when its holder dies, even
    by SIGKILL, so a killed run never stays locked."""
    run_dir, handle, held = Path(run_dir), None, True
    if distributed.is_main_process():
        run_dir.mkdir(parents=True, exist_ok=True)
        handle = open(run_dir / LOCK_FILE, "w")  # noqa: SIM115 (held until the run ends)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held = False
    try:
        yield distributed.main_value(held)
    finally:
        if handle is not None:
            handle.close()


def previous_status(run_dir: Path) -> dict | None:
    """The run's ``results.json`` as an earlier attempt left it; None when there is none, or when it cannot
    be read (e.g. cut short by a full disk: the run is then carried out afresh, with a warning)."""
    path = Path(run_dir) / RESULTS_FILE
    if not path.exists():
        return None
    try:
        record = read_json(path)
    except (OSError, ValueError) as e:  # (JSONDecodeError and UnicodeDecodeError are ValueErrors)
        log.warning("%s is unreadable (%s): the run is carried out afresh", path, e)
        return None
    if not isinstance(record, dict):
        log.warning("%s is not a JSON object: the run is carried out afresh", path)
        return None
    return record


def current_fingerprint(cfg: Config) -> dict:
    """The fingerprint of ``cfg`` now (``harness.fingerprint``): its base part is the model kind's
    :meth:`~harness.models.kind.ModelKind.base_hash` (None while the base is not built or fetched)."""
    data = {}
    for source in [cfg.data, *(data_config(name) for name in cfg.eval.extra_suites if name != cfg.data.name)]:
        data.update(SUITES[source.name].source_fingerprint(source))
    return fingerprint(hash_run_config(cfg), get_kind(cfg.model.kind).base_hash(cfg), data)


def reuse_verdict(cfg: Config, previous: dict, current: dict) -> tuple[bool, str]:
    """May a relaunch reuse the attempt that left ``previous`` (its ``results.json``): skip it if it
    finished, resume it if it was interrupted? And what changed since, in words ('' when nothing did).

    ``reuse=if_fingerprint_matches`` (default): only if nothing of the fingerprint changed.
    ``reuse=if_config_matches``: if the config hash is the same, whatever else changed.
    """
    changed = changes(previous.get("fingerprint"), current)
    if previous.get("config_hash") != current["config"]:
        return False, "config changed"
    if cfg.reuse == "if_config_matches":
        return True, "; ".join(changed)
    return not changed, "; ".join(changed)
