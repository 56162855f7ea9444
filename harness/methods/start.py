"""``start``: Separated Thinking And Response Training — RL whose loss covers a span that changes by step.

The same trainer, reward and algorithm as ``rl`` (``harness.methods.rl``). Stage 1 (the first
``method.stage1_frac`` of the optimizer steps) trains only the *thinking* tokens, with the reward of the
final answer; then ``method.stage2``: ``full`` (every token), ``answer`` (answer tokens only) or ``none``
(stage 1 to the end). This module owns the schedule and the masks.

Thinking = from the first completion token up to and including the token that completes the first
end-of-thinking marker (``</think>``); answer = everything after it. A completion whose thinking
never closes is all thinking. The masks go into TRL's ``tool_mask`` (multiplied into
``completion_mask`` by every loss type, KL term and metric), so the attention mask itself is never
touched.

The marker is one vocabulary token in the micro world and in Qwen3 (found by its id); other
tokenizers spread it over several tokens, and BPE may merge its first or last characters with the
text around it (Qwen2.5: ``.</`` + ``think`` + ``>``). Then it is found in the completion's token
strings, whose concatenation spells the text for a marker of printable ASCII (byte-level BPE and
SentencePiece alike), without decoding.
"""

from __future__ import annotations

import bisect
import itertools

import torch
from trl import GRPOTrainer

from harness.config import Config, ConfigError
from harness.methods.registry import Display, register_method
from harness.methods.rl import RL
from harness.methods.training import TrainContext
from harness.suites.format import THINK_CLOSE

SPANS = ("full", "think", "answer")
STAGE2 = ("full", "answer", "none")


class ThinkEnd:
    """Where the thinking of a completion ends, in the token ids of ``tokenizer``."""

    def __init__(self, tokenizer, marker: str = THINK_CLOSE) -> None:
        ids = tokenizer.encode(marker, add_special_tokens=False)
        self.tokenizer, self.marker = tokenizer, marker
        self.token_id: int | None = ids[0] if len(ids) == 1 else None
        spelled = "".join(tokenizer.convert_ids_to_tokens(ids))
        if self.token_id is None and spelled != marker:
            raise ValueError(f"cannot locate the end of thinking {marker!r} in completions: the tokenizer "
                             f"{type(tokenizer).__name__} writes it as tokens {spelled!r}; START needs a "
                             "tokenizer that has it as one token or spells it in its token strings")

    def thinking_mask(self, completion_ids: torch.Tensor) -> torch.Tensor:
        """1 on thinking tokens (through the end of the first marker), 0 after; int tensor like the ids."""
        if self.token_id is not None:
            is_end = (completion_ids == self.token_id).int()
            ended_before = torch.cumsum(is_end, dim=1) - is_end  # end markers strictly before each position
            return (ended_before == 0).int()
        width = completion_ids.shape[1]
        last = torch.tensor([self.last_thinking_token(row) for row in completion_ids.tolist()])
        return (torch.arange(width)[None, :] <= last[:, None]).int().to(completion_ids.device)

    def last_thinking_token(self, ids: list[int]) -> int:
        """Index of the token that completes the first marker (the last index if there is none)."""
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        at = "".join(pieces).find(self.marker)
        if at < 0:
            return len(ids) - 1
        ends = list(itertools.accumulate(len(p) for p in pieces))  # text length through each token
        return bisect.bisect_right(ends, at + len(self.marker) - 1)


def span_mask(completion_ids: torch.Tensor, think_end: ThinkEnd, span: str) -> torch.Tensor | None:
    """The loss mask for ``span``; ``None`` for ``full`` (the stock, unmasked loss)."""
    if span == "full":
        return None
    think = think_end.thinking_mask(completion_ids)
    if span == "think":
        return think
    if span == "answer":
        return 1 - think
    raise ValueError(f"unknown span {span!r}; expected one of {SPANS}")


def span_for_step(step: int, total_steps: int, stage1_frac: float, stage2: str) -> str:
    """START's schedule: thinking only for the first ``round(stage1_frac * total_steps)`` steps."""
    if stage2 == "none" or step < round(stage1_frac * total_steps):
        return "think"
    return {"full": "full", "answer": "answer"}[stage2]


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


@register_method
class Start(RL):
    name = "start"
    options = ("stage1_frac", "stage2")
    display = Display(order=3, colour="#009E73", marker="D", line="-.", role="start")

    def validate(self, cfg: Config) -> None:
        m = cfg.method
        if not 0.0 <= m.stage1_frac <= 1.0:
            raise ConfigError(f"method.stage1_frac={m.stage1_frac} must be in [0, 1]")
        if m.stage2 not in STAGE2:
            raise ConfigError(f"method.stage2={m.stage2!r} is not one of {list(STAGE2)}")

    def make_trainer(self, ctx: TrainContext, **kwargs) -> GRPOTrainer:
        ThinkEnd(ctx.tokenizer)  # a tokenizer that cannot mark the end of thinking fails before the trainer is built
        return SpanMaskedGRPOTrainer(stage1_frac=ctx.cfg.method.stage1_frac, stage2=ctx.cfg.method.stage2, **kwargs)
