"""``rl`` (and START): TRL GRPOTrainer with the suite's verifier as reward.

``method=rl`` trains the whole completion. ``method=start`` uses the same trainer, reward and
algorithm, and only changes which tokens carry loss, step by step (``span_mask``). The algorithm
(GRPO, Dr. GRPO, DAPO, RLOO-style) is a config value mapped onto ``GRPOConfig``.

Resuming (``train_and_save``) is exact: HF's Trainer restores the step (so START's schedule), RNG,
optimizer and scheduler and skips the batches already trained on; TRL's ``RepeatSampler`` draws its
prompt order from its own seeded generator, so the skipped batches are exactly the consumed ones;
TRL's generation buffer is empty after a resume, which is exact here because every optimizer step
generates its own batch (one gradient-accumulation step, ``num_iterations=1``). The reward's counters
of completions and tokens are saved with each checkpoint.
"""

from __future__ import annotations

import statistics
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import GRPOConfig, GRPOTrainer

from harness import distributed
from harness.methods.base import CurveLogger, TrainContext, TrainOutput, register_trainer, train_and_save, training_args
from harness.methods.span_mask import ThinkEnd, span_for_step, span_mask
from harness.prompts import format_prompt
from harness.suites import Item, Suite
from harness.suites.format import parse_completion


class SuiteReward:
    """The suite's verifier as a TRL reward function; also counts generated tokens and logs modes."""

    def __init__(self, suite: Suite, items: list[Item]) -> None:
        self.suite, self.items = suite, {it.id: it for it in items}
        self.__name__ = f"{suite.name}_{suite.reward_kind}"
        self.tokens_generated = 0
        self.completions = 0

    def __call__(self, prompts, completions, completion_ids, id, log_metric=None, **_: Any) -> list[float]:
        scores = self.suite.score_completions([parse_completion(c) for c in completions],
                                              [self.items[i] for i in id])  # one batched call (a judge)
        # (under accelerate launch each process scores its share: the counters hold the whole step's)
        self.tokens_generated += distributed.total(sum(len(ids) for ids in completion_ids))
        self.completions += distributed.total(len(completions))
        if log_metric is not None:
            for key in scores[0]:
                if key != "reward":
                    log_metric(f"suite/{key}", statistics.fmean(s[key] for s in scores))
        return [s["reward"] for s in scores]


class SpanMaskedGRPOTrainer(GRPOTrainer):
    """GRPOTrainer whose loss covers only the span the START schedule names for the current step.

    Uses TRL's ``tool_mask`` hook (pinned trl==1.16.0). The span mask enters as the ``tool_mask`` that
    TRL's ``_generate`` returns, so everything TRL builds from the completions afterwards sees it: the
    active-token count ``num_items_in_batch`` (token-normalised losses divide by it) and, with vLLM
    rollouts, the importance-sampling correction (its sequence-level ratio sums the log-probability
    gap over the masked tokens only) and its statistics. The completion-length statistics are logged
    inside ``_generate``, before the mask, so they keep counting whole completions.
    ``_generate_and_score_completions`` applies the mask again (idempotent) and recomputes the count.
    """

    def __init__(self, *args, stage1_frac: float, stage2: str, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.think_end, self.stage1_frac, self.stage2 = ThinkEnd(self.processing_class), stage1_frac, stage2

    def current_span(self) -> str:
        if self.stage1_frac == 0 and self.stage2 == "full":
            return "full"
        return span_for_step(self.state.global_step, self.args.max_steps, self.stage1_frac, self.stage2)

    def _generate(self, prompts: list):
        prompt_ids, completion_ids, tool_mask, *rest = super()._generate(prompts)
        span = self.current_span()
        if span != "full":
            masks = [span_mask(torch.tensor([ids], dtype=torch.long), self.think_end, span)[0].tolist()
                     for ids in completion_ids]
            tool_mask = masks if tool_mask is None else [[a * b for a, b in zip(m, t, strict=True)]
                                                         for m, t in zip(masks, tool_mask, strict=True)]
        return prompt_ids, completion_ids, tool_mask, *rest

    def _generate_and_score_completions(self, inputs):
        out = super()._generate_and_score_completions(inputs)
        span = self.current_span()
        if self.model.training and (self.stage1_frac > 0 or self.stage2 != "full"):
            self._metrics["train"]["start/think_only"].append(float(span == "think"))  # the curve shows the switch
        mask = span_mask(out["completion_ids"], self.think_end, span)
        if mask is None:
            return out
        if "tool_mask" in out:
            mask = mask * out["tool_mask"]
        out["tool_mask"] = mask
        out["num_items_in_batch"] = self.accelerator.gather((out["completion_mask"] * mask).sum()).sum()
        return out


def grpo_args(ctx: TrainContext) -> GRPOConfig:
    t, a = ctx.cfg.train, ctx.cfg.algo
    return GRPOConfig(
        **training_args(ctx, t.prompts_per_step * t.num_generations, "train.prompts_per_step × train.num_generations"),
        num_generations=t.num_generations, max_completion_length=t.max_completion_length, temperature=t.temperature,
        loss_type=a.loss_type, scale_rewards=a.scale_rewards, beta=a.beta, epsilon=a.epsilon,
        epsilon_high=a.epsilon_high, mask_truncated_completions=a.mask_truncated_completions,
        use_vllm=t.use_vllm, vllm_mode=t.vllm_mode, vllm_gpu_memory_utilization=t.vllm_gpu_memory_utilization,
    )


@register_trainer("rl")
def train_rl(ctx: TrainContext) -> TrainOutput:
    m = ctx.cfg.method
    rows = [{"prompt": format_prompt(ctx.tokenizer, it.question), "id": it.id} for it in ctx.train_items]
    reward = SuiteReward(ctx.suite, ctx.train_items)
    curve = CurveLogger(ctx.run_dir / "curve.jsonl")
    model = AutoModelForCausalLM.from_pretrained(ctx.base_path, dtype="float32")
    trainer = SpanMaskedGRPOTrainer(
        model=model, reward_funcs=[reward], args=grpo_args(ctx), train_dataset=Dataset.from_list(rows),
        processing_class=ctx.tokenizer, callbacks=[curve],
        stage1_frac=m.stage1_frac, stage2=m.stage2,
    )
    out = train_and_save(trainer, ctx, curve, counters=[(reward, "completions"), (reward, "tokens_generated")])
    out.completions_sampled, out.tokens_generated = reward.completions, reward.tokens_generated
    return out
