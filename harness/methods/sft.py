"""``sft``: TRL SFTTrainer on the reference traces of the training prompts (completion-only loss)."""

from __future__ import annotations

from datasets import Dataset
from transformers import AutoModelForCausalLM

from harness.methods.registry import Display, Method, register_method
from harness.methods.training import CurveLogger, TrainContext, TrainOutput, train_and_save, training_args
from harness.prompts import format_prompt
from harness.suites.format import render_completion


@register_method
class SFT(Method):
    name = "sft"
    display = Display(order=1, colour="#E69F00", marker="s", line="--", role="sft")

    def train(self, ctx: TrainContext) -> TrainOutput:
        from trl import SFTConfig, SFTTrainer

        rows = [{"prompt": format_prompt(ctx.tokenizer, it.question),
                 "completion": render_completion(*ctx.suite.reference(it))} for it in ctx.train_items]
        args = SFTConfig(**training_args(ctx, ctx.cfg.train.prompts_per_step, "train.prompts_per_step"),
                         completion_only_loss=True)
        model = AutoModelForCausalLM.from_pretrained(ctx.base_path, dtype="float32")
        curve = CurveLogger(ctx.run_dir / "curve.jsonl", ctx.log_curve)
        trainer = SFTTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows),
                             processing_class=ctx.tokenizer, callbacks=[curve])
        # TRL's count of trained tokens (logged as num_tokens) is not part of its checkpoint
        return train_and_save(trainer, ctx, curve, counters=[(trainer, "_total_train_tokens")])
