"""Prompt formatting: one function, used by training and evaluation alike, and the real-model format.

A question becomes one user turn rendered by the tokenizer's chat template. A real model's prompt
format (``model.prompt``: system prompt, ``enable_thinking``) is not passed around at call time: it
is baked into the chat template of the tokenizer the run loads (:func:`bake_chat_template`, used by
``harness.models``), so ``format_prompt``, TRL, saved checkpoints and stock tools all render the
same prompt. The micro tokenizer is never rebaked.
"""

from __future__ import annotations

import json


def format_prompt(tokenizer, question: str) -> str:
    """The question as one user turn, ending with the assistant's generation prompt."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


def bake_chat_template(template: str, system: str | None = None, enable_thinking: bool | None = None) -> str:
    """``template`` with ``enable_thinking`` fixed and ``system`` as the system turn when none is given.

    Both are Jinja statements put before the template: the variable overrides any value passed at
    render time, and the system turn is prepended only to conversations that have none.
    """
    head = ""
    if enable_thinking is not None:
        head += f"{{% set enable_thinking = {json.dumps(enable_thinking)} %}}"
    if system is not None:
        turn = f"{{'role': 'system', 'content': {json.dumps(system)}}}"
        head += (f"{{% if not messages or messages[0]['role'] != 'system' %}}"
                 f"{{% set messages = [{turn}] + messages %}}{{% endif %}}")
    return head + template
