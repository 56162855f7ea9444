"""Training guards: the curve is written as it grows, and a non-finite loss or reward stops the run,
naming the last good trainer checkpoint."""

from __future__ import annotations

import json
import math

import pytest
from transformers import TrainerControl, TrainerState, TrainingArguments

from harness.methods.training import RESUME_STATE, CurveLogger, NonFiniteLossError
from harness.results import write_json


def log(logger: CurveLogger, step: int, output_dir: str = "unused", **values) -> None:
    state = TrainerState()
    state.global_step = step
    logger.on_log(TrainingArguments(output_dir=output_dir, report_to=[]), state, TrainerControl(), logs=values)


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


def test_non_finite_error_names_the_newest_checkpoint_whose_next_step_was_finite(tmp_path):
    trainer_dir = tmp_path / "trainer"
    for step, complete in ((3, True), (4, True), (5, False)):  # 5: killed while saving
        (trainer_dir / f"checkpoint-{step}").mkdir(parents=True)
        if complete:
            write_json(trainer_dir / f"checkpoint-{step}" / RESUME_STATE, {"step": step})
    logger = CurveLogger(tmp_path / "curve.jsonl")
    # step 6 went NaN: it ran on the weights checkpoint-5 would hold; step 5 ran on checkpoint-4's
    with pytest.raises(NonFiniteLossError, match=f"last good checkpoint .*: {trainer_dir / 'checkpoint-4'}$"):
        log(logger, 6, str(trainer_dir), loss=math.nan)
    with pytest.raises(NonFiniteLossError, match=f"last good checkpoint .*: {trainer_dir / 'checkpoint-3'}$"):
        log(logger, 5, str(trainer_dir), loss=math.nan)
    with pytest.raises(NonFiniteLossError, match="no trainer checkpoint up to step 2 to fall back to"):
        log(logger, 4, str(trainer_dir), loss=math.nan)


def test_a_checkpoint_hash_follows_its_weights_when_they_are_rewritten(tmp_path):
    from harness.results import hash_checkpoint

    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"first weights")
    first = hash_checkpoint(tmp_path)
    assert hash_checkpoint(tmp_path) == first  # (read once, then remembered)
    weights.write_bytes(b"other weights, another size")
    assert hash_checkpoint(tmp_path) != first


def test_the_curve_reaches_the_sink_restored_rows_first_and_the_bad_row_before_the_error(tmp_path):
    """The W&B curve gets what curve.jsonl gets: a resumed attempt's restored rows (a new W&B run would
    otherwise start mid-curve), then each step as it is logged, the non-finite one included."""
    seen = []
    logger = CurveLogger(tmp_path / "curve.jsonl", seen.extend)
    logger.restore([{"step": 1, "loss": 0.5}, {"step": 2, "loss": 0.4}])
    log(logger, 3, loss=0.3)
    with pytest.raises(NonFiniteLossError):
        log(logger, 4, loss=math.nan)
    assert [r["step"] for r in seen] == [1, 2, 3, 4] and seen[2] == {"step": 3, "loss": 0.3}
