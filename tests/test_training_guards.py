"""Training guards: the curve is written as it grows, and a non-finite loss or reward stops the run."""

from __future__ import annotations

import json
import math

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from harness.methods.base import CurveLogger, NonFiniteLossError


def log(logger: CurveLogger, step: int, **values) -> None:
    state = TrainerState()
    state.global_step = step
    logger.on_log(TrainingArguments(output_dir="unused", report_to=[]), state, TrainerControl(), logs=values)


def test_curve_rows_are_written_each_step(tmp_path):
    logger = CurveLogger(tmp_path / "curve.jsonl")
    log(logger, 1, loss=0.5, reward=0.25)
    log(logger, 2, loss=0.4, reward=0.5)
    rows = [json.loads(line) for line in (tmp_path / "curve.jsonl").read_text().splitlines()]
    assert rows == [{"step": 1, "loss": 0.5, "reward": 0.25}, {"step": 2, "loss": 0.4, "reward": 0.5}]


@pytest.mark.parametrize("key,value", [("loss", math.nan), ("reward", math.inf), ("grad_norm", -math.inf)])
def test_non_finite_values_stop_training_with_a_clear_error(tmp_path, key, value):
    logger = CurveLogger(tmp_path / "curve.jsonl")
    log(logger, 1, loss=0.5)
    with pytest.raises(NonFiniteLossError, match=f"non-finite {key}=.* at step 3"):
        log(logger, 3, **{key: value})
    assert (tmp_path / "curve.jsonl").read_text().count("\n") == 2  # the bad row is on disk for inspection
