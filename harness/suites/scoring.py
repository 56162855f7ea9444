"""Answer checkers: math-verify equivalence for math, SQuAD-style normalised EM and soft F1 for GQA."""

from __future__ import annotations

import logging
import re
import string
from collections import Counter
from functools import lru_cache

from math_verify import parse, verify

# math-verify enforces timeouts with SIGALRM, which only works in the main thread; answers here are
# short, so timeouts are off and its reminder about that is silenced.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation and articles, collapse whitespace."""
    text = _ARTICLES.sub(" ", text.lower().translate(_PUNCT))
    return " ".join(text.split())


def exact_match(prediction: str, aliases: list[str]) -> float:
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(a) for a in aliases))


def _f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not p or not g:
        return float(p == g)
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def soft_f1(prediction: str, aliases: list[str]) -> float:
    return max(_f1(prediction, a) for a in aliases)


@lru_cache(maxsize=4096)
def _parsed_gold(gold: str):
    return parse(gold, parsing_timeout=None)


@lru_cache(maxsize=65536)
def math_equal(prediction: str, gold: str) -> float:
    """math-verify equivalence of a predicted final answer and the gold answer.

    Memoised: a pure function of two strings, and math-verify's parse costs about 0.3 ms, while the
    answers a run scores repeat (a micro_math run scores ~4,000 forced answers, mostly single digits)."""
    if not prediction.strip():
        return 0.0
    pred = parse(prediction, parsing_timeout=None)
    return float(bool(pred) and verify(_parsed_gold(gold), pred, timeout_seconds=None))
