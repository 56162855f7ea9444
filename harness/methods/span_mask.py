"""START's loss masks: which completion tokens are *thinking* and which are *answer*.

Thinking = from the first completion token up to and including the end-of-thinking token; answer =
everything after it. A completion whose thinking never closes is all thinking. The masks go into
TRL's ``tool_mask`` (multiplied into ``completion_mask`` by every loss type, KL term and metric), so
the attention mask itself is never touched.
"""

from __future__ import annotations

import torch

SPANS = ("full", "think", "answer")


def thinking_mask(completion_ids: torch.Tensor, think_end_id: int) -> torch.Tensor:
    """1 on thinking tokens (through the first ``think_end_id``), 0 after; int tensor like the ids."""
    is_end = (completion_ids == think_end_id).int()
    ended_before = torch.cumsum(is_end, dim=1) - is_end  # number of end markers strictly before each position
    return (ended_before == 0).int()


def span_mask(completion_ids: torch.Tensor, think_end_id: int, span: str) -> torch.Tensor | None:
    """The loss mask for ``span``; ``None`` for ``full`` (the stock, unmasked loss)."""
    if span == "full":
        return None
    think = thinking_mask(completion_ids, think_end_id)
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
