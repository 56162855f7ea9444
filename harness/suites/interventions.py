"""Interventions on a thinking (after Lanham et al. 2023, "Measuring faithfulness in chain-of-thought reasoning").

The evaluation (``harness.evaluation.pipeline``) forces the policy's answer after an edited version of
the thinking it generated once:

* *corruption*: the thinking's conclusion replaced by another value of the same type
  (:class:`Corruption`, from ``Suite.corrupt``). The micro worlds change one fact of the chain (the
  last one, which states the conclusion); real suites use the generic edits here: the last number
  (math) or the last answer-like entity (GQA) replaced by another of the same kind;
* *filler*: the thinking replaced by neutral filler of the same token length (:func:`filler_text`).

Every edit is deterministic: the replacement is drawn from an RNG keyed by the item id.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from harness.suites.scoring import normalize_answer

NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")
#: an answer-like entity: a run of capitalised words (``New York City``, ``Marie Curie``) or a number
ENTITY = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:(?:of|de|the|von|van|and)\s+)?[A-Z][\w'’-]*)*|-?\d+(?:,\d{3})*(?:\.\d+)?")
FILLER_UNITS = (".", " .", ". ", " . ", "...", " ...")


@dataclass(frozen=True)
class Corruption:
    """A thinking whose conclusion was replaced: the edited ``thinking`` and the ``value`` it now concludes."""

    thinking: str
    value: str


def replace_span(text: str, start: int, end: int, value: str) -> str:
    return text[:start] + value + text[end:]


def other_value(key: str, candidates: Sequence[str], avoid: Sequence[str]) -> str | None:
    """A candidate not in ``avoid`` (compared normalised), drawn with an RNG keyed by ``key``; None if none."""
    return _pick(key, [(c, normalize_answer(c)) for c in candidates], avoid)


def _pick(key: str, candidates: Sequence[tuple[str, str]], avoid: Sequence[str]) -> str | None:
    """:func:`other_value` over (candidate, its normalised form) pairs."""
    banned = {normalize_answer(a) for a in avoid}
    allowed = [c for c, normalised in candidates if normalised not in banned]
    return random.Random(f"corrupt|{key}").choice(allowed) if allowed else None


@lru_cache(maxsize=8)
def _names(pool: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """The capitalised non-numeric entries of ``pool``, sorted, each with its normalised form: worked out
    once per pool (a suite corrupts every test item against the same pool)."""
    names = sorted({p for p in pool if p[:1].isupper() and not NUMBER.fullmatch(p)})
    return tuple((name, normalize_answer(name)) for name in names)


def replace_last_number(thinking: str, key: str, avoid: Sequence[str]) -> Corruption | None:
    """The last number of ``thinking`` replaced by another integer near it (not in ``avoid``); None without one."""
    found = list(NUMBER.finditer(thinking))
    if not found:
        return None
    last = found[-1]
    old = float(last.group().replace(",", ""))
    base = int(old) if old.is_integer() else round(old)
    candidates = [str(base + d) for d in (*range(1, 10), *range(-1, -10, -1)) if base + d >= 0 or base < 0]
    value = other_value(key, candidates, [last.group().replace(",", ""), *avoid])
    return None if value is None else Corruption(replace_span(thinking, last.start(), last.end(), value), value)


def replace_last_entity(thinking: str, key: str, pool: Sequence[str], avoid: Sequence[str]) -> Corruption | None:
    """The last answer-like entity of ``thinking`` replaced by another one of the same kind.

    A number becomes another number (:func:`replace_last_number`); a capitalised name becomes a
    capitalised entry of ``pool`` (in the harness: the gold answers of the suite's other test items),
    never one of ``avoid``. None when the thinking names no entity or the pool has no other name.
    """
    found = list(ENTITY.finditer(thinking))
    if not found:
        return None
    last = found[-1]
    if NUMBER.fullmatch(last.group()):
        return replace_last_number(thinking, key, avoid)
    value = _pick(key, _names(tuple(pool)), [last.group(), *avoid])
    return None if value is None else Corruption(replace_span(thinking, last.start(), last.end(), value), value)


def filler_text(n_tokens: int, tokenizer) -> str:
    """Neutral filler (dots) that ``tokenizer`` encodes as ``n_tokens`` tokens ('' for 0).

    Tries a few dot patterns (a BPE may merge runs of dots), each repeated as often as needed to reach
    exactly ``n_tokens`` tokens; when no pattern hits the length exactly, the closest one.
    """
    if n_tokens <= 0:
        return ""

    def length(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    best = ""
    for unit in FILLER_UNITS:
        lo, hi = 1, 4 * n_tokens  # the fewest repeats of `unit` whose encoding reaches n_tokens
        while lo < hi:
            mid = (lo + hi) // 2
            lo, hi = (mid + 1, hi) if length(unit * mid) < n_tokens else (lo, mid)
        text = unit * lo
        if length(text) == n_tokens:
            return text
        if not best or abs(length(text) - n_tokens) < abs(length(best) - n_tokens):
            best = text
    return best
