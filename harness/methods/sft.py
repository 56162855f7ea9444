"""``sft``: TRL SFTTrainer on the reference traces of the training prompts (completion-only loss)."""

from __future__ import annotations

from datasets import Dataset
from transformers import AutoModelForCausalLM

from harness import distributed
from harness.methods.base import (
    TRAINER_DIR,
    CurveLogger,
    TrainContext,
    TrainOutput,
    checkpoint_args,
    device_args,
    register_trainer,
    train_and_save,
)
from harness.prompts import format_prompt
from harness.suites.format import render_completion


@register_trainer("sft")
def train_sft(ctx: TrainContext) -> TrainOutput:
    from trl import SFTConfig, SFTTrainer

    cfg, t = ctx.cfg, ctx.cfg.train
    rows = [{"prompt": format_prompt(ctx.tokenizer, it.question),
             "completion": render_completion(*ctx.suite.reference(it))} for it in ctx.train_items]
    args = SFTConfig(
        output_dir=str(ctx.run_dir / TRAINER_DIR), max_steps=t.steps,
        per_device_train_batch_size=distributed.per_process(t.prompts_per_step, "train.prompts_per_step"),
        learning_rate=cfg.method.lr, lr_scheduler_type="constant", warmup_steps=t.warmup_steps,
        max_grad_norm=t.max_grad_norm, weight_decay=0.0, logging_steps=1, report_to=[], seed=cfg.seed,
        data_seed=cfg.seed, completion_only_loss=True, **checkpoint_args(t), **device_args(cfg),
    )
    model = AutoModelForCausalLM.from_pretrained(ctx.base_path, dtype="float32")
    curve = CurveLogger(ctx.run_dir / "curve.jsonl")
    trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                         processing_class=ctx.tokenizer, callbacks=[curve])
    # TRL's count of trained tokens (logged as num_tokens) is not part of its checkpoint
    return train_and_save(trainer, ctx, curve, counters=[(trainer, "_total_train_tokens")])
