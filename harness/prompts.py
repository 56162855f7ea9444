"""Prompt formatting: one function, used by training and evaluation alike."""

from __future__ import annotations


def format_prompt(tokenizer, question: str) -> str:
    """The question as one user turn, ending with the assistant's generation prompt."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)
