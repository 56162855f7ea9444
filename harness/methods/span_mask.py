"""START's loss masks: which completion tokens are *thinking* and which are *answer*.

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

from harness.micro.tokenizer import THINK_CLOSE

SPANS = ("full", "think", "answer")


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
