"""What every training method shares: what it receives and returns, the TrainingArguments of its TRL
trainer, the training curve with its non-finite guard, and resumable trainer checkpoints.

Checkpoints: every ``train.save_steps`` optimizer steps (and at the last step) the HF/TRL trainer
saves ``<run_dir>/trainer/checkpoint-N`` (weights, optimizer, scheduler, RNG and trainer state);
:class:`ResumeState` then adds the harness's own state (the curve so far, counters the trainer does
not save) as ``harness_state.json``, written last, so only a folder that has it is complete. A
relaunched run resumes from the newest complete one (``train_and_save``); ``harness.run`` decides
whether a run may resume at all and deletes the checkpoints once it has finished.
"""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from harness import distributed
from harness.config import Config
from harness.models import get_kind
from harness.results import read_json, write_json, write_jsonl
from harness.suites import Item, Suite

TRAINER_DIR = "trainer"  # <run_dir>/trainer/checkpoint-N
RESUME_STATE = "harness_state.json"
# two: the trainer deletes the older checkpoint before the newer one is complete (rotation precedes
# RESUME_STATE), so a crash while saving still leaves one complete checkpoint
SAVE_TOTAL_LIMIT = 2


@dataclass
class TrainContext:
    cfg: Config
    suite: Suite
    train_items: list[Item]
    base_path: Path
    run_dir: Path
    tokenizer: Any
    #: where curve rows go beside ``curve.jsonl`` (the tracker's ``log_curve``: the W&B curve, live)
    log_curve: Callable[[list[dict[str, float]]], None] | None = None


@dataclass
class TrainOutput:
    checkpoint: Path
    optimizer_steps: int = 0
    completions_sampled: int = 0
    tokens_generated: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)
    earlier_attempts_s: float = 0.0  # training time of interrupted attempts, up to the resumed checkpoint


def training_args(ctx: TrainContext, batch_per_step: int, batch_key: str) -> dict[str, Any]:
    """The TrainingArguments every trainer shares (TRL's SFTConfig and GRPOConfig take them as keywords).

    ``batch_per_step`` (named ``batch_key`` in errors) is the whole optimizer step's batch; under
    ``accelerate launch`` each process gets its share. Placement: ``device`` (cpu | cuda); weights stay
    float32 (the optimizer's copy), ``dtype`` bfloat16/float16 turns on the trainer's autocast. The
    resumable trainer checkpoints go to ``<run_dir>/trainer`` every ``train.save_steps`` (0: none).
    Gradient checkpointing: ``train.gradient_checkpointing``, by default the model kind's (on for hf models).
    """
    cfg, t = ctx.cfg, ctx.cfg.train
    checkpointing = get_kind(cfg.model.kind).gradient_checkpointing if t.gradient_checkpointing is None \
        else t.gradient_checkpointing
    saving = {"save_strategy": "no"} if t.save_steps == 0 else \
        {"save_strategy": "steps", "save_steps": t.save_steps, "save_total_limit": SAVE_TOTAL_LIMIT}
    return {
        "output_dir": str(ctx.run_dir / TRAINER_DIR), "max_steps": t.steps,
        "per_device_train_batch_size": distributed.per_process(batch_per_step, batch_key),
        "learning_rate": cfg.method.lr, "lr_scheduler_type": "constant", "warmup_steps": t.warmup_steps,
        "max_grad_norm": t.max_grad_norm, "weight_decay": 0.0, "logging_steps": 1, "report_to": [],
        "seed": cfg.seed, "data_seed": cfg.seed, **saving,
        "use_cpu": cfg.device == "cpu", "bf16": cfg.dtype == "bfloat16", "fp16": cfg.dtype == "float16",
        "gradient_checkpointing": checkpointing,
    }


def train_and_save(trainer, ctx: TrainContext, curve: CurveLogger,
                   counters: Sequence[tuple[object, str]] = ()) -> TrainOutput:
    """Run a TRL trainer, save model + tokenizer as ``<run_dir>/checkpoint``, report steps and curve.

    Training resumes from the newest complete checkpoint in ``<run_dir>/trainer`` if there is one: the
    trainer restores weights, optimizer, scheduler, RNG and step and skips the batches already
    trained on; the curve so far and ``counters`` (``(object, attribute)`` pairs holding ints the
    trainer does not checkpoint itself) come back from ``harness_state.json``.
    """
    state = ResumeState(curve, counters)
    trainer.add_callback(state)
    resume = last_checkpoint(ctx.run_dir / TRAINER_DIR)
    if resume is not None:
        state.restore(resume)
    trainer.train(resume_from_checkpoint=None if resume is None else str(resume))
    checkpoint = ctx.run_dir / "checkpoint"
    trainer.save_model(str(checkpoint))  # (writes on the main process; gathers ZeRO-3 shards on all)
    if trainer.args.should_save:
        ctx.tokenizer.save_pretrained(checkpoint)
    return TrainOutput(checkpoint=checkpoint, optimizer_steps=trainer.state.global_step, curve=curve.rows,
                       earlier_attempts_s=state.earlier_s)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss or reward."""


class CurveLogger(TrainerCallback):
    """Append every trainer log line to ``curve.jsonl`` (and pass it to ``sink``: the W&B curve, as the
    trainer logs it; the rows a resumed attempt restores too, first); stop on a non-finite loss or reward.

    The error names the last good trainer checkpoint, which stays on disk (the run failed). Step N
    logs the loss of the weights step N-1 left, so a non-finite value at step N condemns checkpoint
    N-1 too (its weights may already hold inf, or produce NaN); the last good checkpoint is the
    newest one up to step N-2, whose next step was still finite. (Step N itself is never saved: the
    trainer logs a step before it saves it.) Two checkpoints are kept, so it is always on disk.
    """

    WATCHED = ("loss", "reward", "grad_norm")

    def __init__(self, path: Path, sink: Callable[[list[dict[str, float]]], None] | None = None) -> None:
        self.path, self.rows, self.sink = path, [], sink

    def restore(self, rows: list[dict[str, float]]) -> None:
        self.rows = list(rows)
        write_jsonl(self.path, self.rows)  # drops rows an interrupted attempt logged after its last checkpoint
        if self.sink:  # (a W&B run that already has them skips them)
            self.sink(self.rows)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return
        row = {"step": state.global_step, **{k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}}
        self.rows.append(row)
        if state.is_world_process_zero:  # (every process checks the values below: they see the same)
            write_jsonl(self.path, self.rows)
            if self.sink:  # (the bad row too, before the error)
                self.sink([row])
        bad = [k for k in self.WATCHED if k in row and not math.isfinite(row[k])]
        if bad:
            good = last_checkpoint(Path(args.output_dir), max_step=state.global_step - 2)
            kept = (f"last good checkpoint (its next step was still finite): {good}" if good is not None
                    else f"no trainer checkpoint up to step {state.global_step - 2} to fall back to")
            raise NonFiniteLossError(f"non-finite {bad[0]}={row[bad[0]]} at step {state.global_step}; "
                                     f"lower method.lr or check the reward; {kept}")


class ResumeState(TrainerCallback):
    """Completes each trainer checkpoint with ``harness_state.json``: the curve so far, the
    ``counters`` and the training time spent to reach it (over every attempt). Written after the
    trainer's own files, so its presence marks a complete checkpoint."""

    def __init__(self, curve: CurveLogger, counters: Sequence[tuple[object, str]] = ()) -> None:
        self.curve, self.counters = curve, list(counters)
        self.earlier_s, self.started = 0.0, time.time()

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.time()

    def _key(self, owner: object, attr: str) -> str:
        return f"{type(owner).__name__}.{attr}"

    def on_save(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        folder = Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
        write_json(folder / RESUME_STATE, {
            "step": state.global_step, "curve": self.curve.rows,
            "elapsed_s": round(self.earlier_s + time.time() - self.started, 3),
            "counters": {self._key(o, a): getattr(o, a) for o, a in self.counters}})

    def restore(self, checkpoint: Path) -> None:
        saved = read_json(checkpoint / RESUME_STATE)
        self.curve.restore(saved["curve"])
        self.earlier_s = saved.get("elapsed_s", 0.0)
        for owner, attr in self.counters:
            setattr(owner, attr, saved["counters"][self._key(owner, attr)])


def checkpoint_step(checkpoint: Path) -> int:
    return int(checkpoint.name.rpartition("-")[2])


def _checkpoints(trainer_dir: Path) -> list[Path]:
    found = [p for p in Path(trainer_dir).glob(f"{PREFIX_CHECKPOINT_DIR}-*") if p.name.rpartition("-")[2].isdigit()]
    return sorted(found, key=checkpoint_step)


def last_checkpoint(trainer_dir: Path, max_step: int | None = None) -> Path | None:
    """The newest complete trainer checkpoint in ``trainer_dir``, up to ``max_step`` (``None``: none)."""
    complete = [p for p in _checkpoints(trainer_dir) if (p / RESUME_STATE).is_file()
                and (max_step is None or checkpoint_step(p) <= max_step)]
    return complete[-1] if complete else None


def prepare_trainer_dir(trainer_dir: Path, resume: bool) -> Path | None:
    """Leave in ``trainer_dir`` only what a run may resume from; return the checkpoint it will resume from.

    ``resume=False`` (the folder belongs to another config, or to a run that is not to be continued):
    the folder is removed. Otherwise checkpoints newer than the last complete one (a crash while
    saving) are removed; with no complete checkpoint the folder is removed too.
    """
    last = last_checkpoint(trainer_dir) if resume else None
    if last is None:
        shutil.rmtree(trainer_dir, ignore_errors=True)
        return None
    for p in _checkpoints(trainer_dir):
        if checkpoint_step(p) > checkpoint_step(last):
            shutil.rmtree(p)
    return last
