"""``rl``: TRL GRPOTrainer on the whole completion, with the suite's verifier as reward.

``method=rl data=<math suite>`` is RLVR; on a GQA suite it is direct RL on GQA. The algorithm (GRPO,
Dr. GRPO, DAPO, RLOO-style) is a config value mapped onto ``GRPOConfig``. ``method=start``
(``harness.methods.start``) is this method with a span mask on the loss.

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

from datasets import Dataset
from transformers import AutoModelForCausalLM
from trl import GRPOConfig, GRPOTrainer

from harness import distributed
from harness.evaluation.metrics import run_name
from harness.methods.registry import Display, Method, register_method
from harness.methods.training import CurveLogger, TrainContext, TrainOutput, train_and_save, training_args
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
                    log_metric(f"suite/{run_name(key)}", statistics.fmean(s[key] for s in scores))
        return [s["reward"] for s in scores]


def grpo_args(ctx: TrainContext) -> GRPOConfig:
    t, a = ctx.cfg.train, ctx.cfg.algo
    return GRPOConfig(
        **training_args(ctx, t.prompts_per_step * t.num_generations, "train.prompts_per_step × train.num_generations"),
        num_generations=t.num_generations, max_completion_length=t.max_completion_length, temperature=t.temperature,
        loss_type=a.loss_type, scale_rewards=a.scale_rewards, beta=a.beta, epsilon=a.epsilon,
        epsilon_high=a.epsilon_high, mask_truncated_completions=a.mask_truncated_completions,
        use_vllm=t.use_vllm, vllm_mode=t.vllm_mode, vllm_gpu_memory_utilization=t.vllm_gpu_memory_utilization,
    )


@register_method
class RL(Method):
    name = "rl"
    samples = True
    display = Display(order=2, colour="#0072B2", marker="^", line="-", role="rl")

    def make_trainer(self, ctx: TrainContext, **kwargs) -> GRPOTrainer:
        """The TRL trainer (START returns its span-masked subclass)."""
        return GRPOTrainer(**kwargs)

    def train(self, ctx: TrainContext) -> TrainOutput:
        rows = [{"prompt": format_prompt(ctx.tokenizer, it.question), "id": it.id} for it in ctx.train_items]
        reward = SuiteReward(ctx.suite, ctx.train_items)
        curve = CurveLogger(ctx.run_dir / "curve.jsonl", ctx.log_curve)
        model = AutoModelForCausalLM.from_pretrained(ctx.base_path, dtype="float32")
        trainer = self.make_trainer(ctx, model=model, reward_funcs=[reward], args=grpo_args(ctx),
                                    train_dataset=Dataset.from_list(rows), processing_class=ctx.tokenizer,
                                    callbacks=[curve])
        out = train_and_save(trainer, ctx, curve, counters=[(reward, "completions"), (reward, "tokens_generated")])
        out.completions_sampled, out.tokens_generated = reward.completions, reward.tokens_generated
        return out
