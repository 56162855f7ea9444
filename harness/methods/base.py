"""The trainer registry and what a trainer receives and returns."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from harness.config import Config
from harness.results import write_jsonl
from harness.suites import Item, Suite


@dataclass
class TrainContext:
    cfg: Config
    suite: Suite
    train_items: list[Item]
    base_path: Path
    run_dir: Path
    tokenizer: Any


@dataclass
class TrainOutput:
    checkpoint: Path
    optimizer_steps: int = 0
    completions_sampled: int = 0
    tokens_generated: int = 0
    curve: list[dict[str, float]] = field(default_factory=list)


TRAINERS: dict[str, Callable[[TrainContext], TrainOutput]] = {}


def train_and_save(trainer, ctx: TrainContext, curve: CurveLogger) -> TrainOutput:
    """Run a TRL trainer, save model + tokenizer as ``<run_dir>/checkpoint``, report steps and curve."""
    trainer.train()
    checkpoint = ctx.run_dir / "checkpoint"
    trainer.save_model(str(checkpoint))
    ctx.tokenizer.save_pretrained(checkpoint)
    return TrainOutput(checkpoint=checkpoint, optimizer_steps=trainer.state.global_step, curve=curve.rows)


def register_trainer(name: str):
    def deco(fn: Callable[[TrainContext], TrainOutput]):
        TRAINERS[name] = fn
        return fn
    return deco


def get_trainer(name: str) -> Callable[[TrainContext], TrainOutput]:
    if name not in TRAINERS:
        raise KeyError(f"unknown trainer {name!r}; registered: {sorted(TRAINERS)}")
    return TRAINERS[name]


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN/inf loss or reward."""


class CurveLogger(TrainerCallback):
    """Append every trainer log line to ``curve.jsonl``; stop on a non-finite loss or reward."""

    WATCHED = ("loss", "reward", "grad_norm")

    def __init__(self, path: Path) -> None:
        self.path, self.rows = path, []

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or "train_runtime" in logs:
            return
        row = {"step": state.global_step, **{k: float(v) for k, v in logs.items() if isinstance(v, (int, float))}}
        self.rows.append(row)
        write_jsonl(self.path, self.rows)
        bad = [k for k in self.WATCHED if k in row and not math.isfinite(row[k])]
        if bad:
            raise NonFiniteLossError(f"non-finite {bad[0]}={row[bad[0]]} at step {state.global_step}; "
                                     "lower method.lr or check the reward")
