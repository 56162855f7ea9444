"""The completion format shared by every suite: ``<think>…</think><answer>…</answer>``.

The four tags are defined here; the micro tokenizer makes them tokens of its own. Parsing never
guesses: a completion whose thinking never closes has no answer (it is reported as ``no_think_close``
and scored wrong), and an empty thinking is reported as ``empty_think``.
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
TAGS = (THINK_OPEN, THINK_CLOSE, ANSWER_OPEN, ANSWER_CLOSE)


@dataclass(frozen=True)
class Parsed:
    thinking: str
    answer: str | None  # None when the thinking never closed
    think_closed: bool

    @property
    def empty_think(self) -> bool:
        return self.think_closed and not self.thinking.strip()


def parse_completion(text: str) -> Parsed:
    """Split a completion at the end-of-thinking marker.

    ``text`` is what the model generated after the prompt; a leading ``<think>`` is optional (the
    prompt may have opened the thinking). The answer is the text inside ``<answer>`` (or, without
    the tag, everything after ``</think>``), stripped.
    """
    body = text.lstrip()
    if body.startswith(THINK_OPEN):
        body = body[len(THINK_OPEN):]
    if THINK_CLOSE not in body:
        return Parsed(thinking=body, answer=None, think_closed=False)
    thinking, _, rest = body.partition(THINK_CLOSE)
    rest = rest.strip()
    if rest.startswith(ANSWER_OPEN):
        rest = rest[len(ANSWER_OPEN):]
    answer = rest.split(ANSWER_CLOSE)[0].strip()
    return Parsed(thinking=thinking.strip(), answer=answer, think_closed=True)


def render_completion(thinking: str, answer: str) -> str:
    """The canonical completion text for a thinking and an answer (SFT targets, warm-start traces)."""
    return f"{THINK_OPEN}{thinking}{THINK_CLOSE}{ANSWER_OPEN}{answer}{ANSWER_CLOSE}"


def forced_answer_prefill(thinking: str) -> str:
    """What follows the prompt when an answer is forced after ``thinking`` (empty: no thinking at all)."""
    return f"{THINK_OPEN}{thinking}{THINK_CLOSE}{ANSWER_OPEN}"


def forced_answer(generated: str) -> str:
    """The answer a model wrote after a forced-answer prefill (up to ``</answer>``), stripped."""
    return generated.split(ANSWER_CLOSE)[0].strip()
