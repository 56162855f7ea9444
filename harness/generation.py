"""Batched greedy / sampled generation with a HF model, for the harness's own probes.

Scored evaluation goes through lm-eval (``harness.evaluation``); this helper serves the micro-world
validation (pass@k, mode rates), where lm-eval has nothing to add.
"""

from __future__ import annotations

import torch


@torch.no_grad()
def generate(model, tokenizer, prompts: list[str], max_new_tokens: int, batch_size: int = 64,
             num_return_sequences: int = 1, do_sample: bool = False, temperature: float = 1.0) -> list[str]:
    """Completions (decoded, special tokens dropped) in prompt order; ``num_return_sequences`` each."""
    tokenizer.padding_side = "left"
    out: list[str] = []
    for start in range(0, len(prompts), batch_size):
        enc = tokenizer(prompts[start:start + batch_size], return_tensors="pt", padding=True)
        ids = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=do_sample,
                             temperature=temperature if do_sample else None, top_p=None, top_k=None,
                             num_return_sequences=num_return_sequences,
                             pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
        out += tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return out
