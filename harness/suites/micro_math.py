"""``micro_math``: verifiable pointer chasing, e.g. ``Kim=47. Eve=Kim. Abe=Eve. Abe?`` -> ``47``.

The careful thinking walks the chain one lookup at a time (``Abe=Eve. Eve=Kim. Kim=47.``): each step
copies the question's statement about the name it just wrote, a procedure a tiny model learns
(names have distinct initials, so each lookup key is distinctive). The *guess* mode names one of the
question's numbers without walking the chain, right with chance 1/``n_literals`` only. Warm-start
traces mix the two with a probability that falls with the number of hops (research.md §4).
"""

from __future__ import annotations

import random
from typing import Any

from harness.suites.base import Item, Suite, register_suite
from harness.suites.format import Parsed
from harness.suites.scoring import math_equal

VARIABLES = ["Abe", "Bob", "Cal", "Dan", "Eve", "Fay", "Gus", "Hal", "Ivy", "Jon", "Kim", "Lou", "Max",
             "Ned", "Oli", "Pam", "Quy", "Ray", "Sam", "Tom", "Uma", "Val", "Wes", "Xan", "Yul", "Zed"]


@register_suite
class MicroMath(Suite):
    name = "micro_math"
    mode_metrics = ("mode_careful", "answer_follows")

    def __init__(self, min_hops: int = 1, max_hops: int = 3, n_literals: int = 3,
                 n_distractors: int = 0, **kw: Any) -> None:
        super().__init__(**kw)
        if not 1 <= min_hops <= max_hops:
            raise ValueError(f"micro_math needs 1 <= min_hops <= max_hops, got {min_hops}, {max_hops}")
        if not 1 <= n_literals <= 5:
            raise ValueError(f"micro_math needs 1 <= n_literals <= 5 (no digit repeats), got {n_literals}")
        if max_hops + n_literals + n_distractors > len(VARIABLES):
            raise ValueError("micro_math: max_hops + n_literals + n_distractors exceeds the 26 variables")
        self.min_hops, self.max_hops = min_hops, max_hops
        self.n_literals, self.n_distractors = n_literals, n_distractors

    def make_item(self, rng: random.Random, item_id: str) -> Item:
        hops = rng.randint(self.min_hops, self.max_hops)
        names = rng.sample(VARIABLES, self.n_literals + hops + self.n_distractors)
        literals, chain_vars, distract = (names[: self.n_literals], names[self.n_literals: self.n_literals + hops],
                                          names[self.n_literals + hops:])
        # no digit is used twice among the values: each digit identifies its value and its place, so
        # copying a two-digit value is unambiguous for a character-level model
        tens = rng.sample(range(1, 10), self.n_literals)
        units = rng.sample([d for d in range(10) if d not in tens], self.n_literals)
        values = [10 * t + u for t, u in zip(tens, units)]
        statements = [f"{v}={n}." for v, n in zip(literals, values)]
        chain = [literals[0], *chain_vars]  # chain[i+1] = chain[i]
        statements += [f"{b}={a}." for a, b in zip(chain, chain[1:])]
        statements += [f"{d}={rng.choice(literals[1:] or literals)}." for d in distract]
        rng.shuffle(statements)
        query = chain[-1]
        return Item(id=item_id, question=" ".join(statements) + f" {query}?", gold=str(values[0]),
                    meta={"hops": hops, "chain": chain[::-1], "literals": [str(v) for v in values]})

    def reference(self, item: Item) -> tuple[str, str]:
        chain = item.meta["chain"]
        steps = [f"{a}={b}." for a, b in zip(chain, chain[1:])] + [f"{chain[-1]}={item.gold}."]
        return " ".join(steps), item.gold

    def sample_trace(self, item: Item, rng: random.Random, modes: dict[str, Any]) -> tuple[str, str]:
        """A warm-start trace: careful with probability ``modes['math_careful'][hops-1]``, else a guess."""
        weights = modes["math_careful"]
        p_careful = weights[min(item.meta["hops"], len(weights)) - 1]
        if rng.random() < p_careful:
            return self.reference(item)
        guess = rng.choice(item.meta["literals"])
        return f"{item.meta['chain'][0]}={guess}.", guess

    def correct(self, answer: str, item: Item) -> float:
        return math_equal(answer, item.gold)

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        careful = parsed.thinking == self.reference(item)[0]
        conclusion = parsed.thinking.rsplit("=", 1)[-1].strip(" .")
        return {"mode_careful": float(careful),
                "answer_follows": float(parsed.answer is not None and parsed.answer == conclusion)}
