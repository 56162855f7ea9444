"""``micro_gqa``: two-hop questions with a planted shortcut.

``Ann in Rome. Bob in Oslo. Ann's friend is Bob. Where is Ann's friend?`` -> ``Oslo``.
The careful thinking resolves both hops (``Ann's friend is Bob. Bob in Oslo.``); the shallow one
stops at the surface fact (``Ann in Rome.``). Answer modes: *follow* the thinking, *shortcut*
to where the subject lives whatever the thinking says, or *hedge* with two candidates. With
probability ``shortcut_p`` the friend lives in the subject's city, so the surface answer is also
right. Reward ``em`` (normalised exact match) or ``f1`` (soft, so a hedge earns partial credit).
"""

from __future__ import annotations

import random
from typing import Any

from harness.suites.base import Item, Suite, register_suite
from harness.suites.format import Parsed
from harness.suites.scoring import exact_match, normalize_answer, soft_f1

PEOPLE = ["Ann", "Bob", "Cy", "Dan", "Eve", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu", "Max", "Ned"]
CITIES = ["Rome", "Oslo", "Lima", "Kyiv", "Baku", "Doha", "Riga", "Bern", "Nice", "Graz", "Pisa", "Lyon"]
HEDGE_SEP = " or "


@register_suite
class MicroGQA(Suite):
    name = "micro_gqa"
    mode_metrics = ("mode_careful", "answer_follows", "answer_shortcut", "hedge_rate")

    def __init__(self, min_people: int = 2, max_people: int = 4, shortcut_p: float = 0.5, **kw: Any) -> None:
        super().__init__(**kw)
        if self.reward_kind not in ("em", "f1"):
            raise ValueError(f"micro_gqa: reward must be 'em' or 'f1', got {self.reward_kind!r}")
        if not 2 <= min_people <= max_people <= min(len(PEOPLE), len(CITIES)):
            raise ValueError(f"micro_gqa: need 2 <= min_people <= max_people <= 12, got {min_people}, {max_people}")
        if not 0.0 <= shortcut_p <= 1.0:
            raise ValueError(f"micro_gqa: shortcut_p must be in [0, 1], got {shortcut_p}")
        self.min_people, self.max_people, self.shortcut_p = min_people, max_people, shortcut_p

    def make_item(self, rng: random.Random, item_id: str) -> Item:
        n = rng.randint(self.min_people, self.max_people)
        people = rng.sample(PEOPLE, n)
        cities = rng.sample(CITIES, n)
        subject, friend = people[0], people[1]
        if rng.random() < self.shortcut_p:
            cities[1] = cities[0]
        facts = [f"{p} in {c}." for p, c in zip(people, cities, strict=True)] + [f"{subject}'s friend is {friend}."]
        rng.shuffle(facts)
        return Item(id=item_id, question=" ".join(facts) + f" Where is {subject}'s friend?", gold=cities[1],
                    meta={"people": n, "subject": subject, "friend": friend,
                          "surface": cities[0], "shortcut_right": cities[0] == cities[1]})

    def reference(self, item: Item) -> tuple[str, str]:
        m = item.meta
        return f"{m['subject']}'s friend is {m['friend']}. {m['friend']} in {item.gold}.", item.gold

    def shallow(self, item: Item) -> str:
        return f"{item.meta['subject']} in {item.meta['surface']}."

    def sample_trace(self, item: Item, rng: random.Random, modes: dict[str, Any]) -> tuple[str, str]:
        """A warm-start trace: thinking careful or shallow (by ``gqa_careful``), answer by ``gqa_answer``."""
        weights = modes["gqa_careful"]
        p_careful = weights[min(item.meta["people"] - self.min_people, len(weights) - 1)]
        careful = rng.random() < p_careful
        thinking = self.reference(item)[0] if careful else self.shallow(item)
        conclusion = item.gold if careful else item.meta["surface"]
        answer_modes = modes["gqa_answer"]
        mode = rng.choices(list(answer_modes), weights=list(answer_modes.values()))[0]
        if mode == "follow":
            return thinking, conclusion
        if mode == "shortcut":
            return thinking, item.meta["surface"]
        if mode == "hedge":
            pair = [item.meta["surface"], item.gold if item.gold != item.meta["surface"] else conclusion]
            if pair[0] == pair[1]:
                pair[1] = rng.choice([c for c in CITIES if c != pair[0]])
            rng.shuffle(pair)
            return thinking, HEDGE_SEP.join(pair)
        raise ValueError(f"micro_gqa: unknown answer mode {mode!r} in gqa_answer (follow, shortcut, hedge)")

    def correct(self, answer: str, item: Item) -> float:
        return exact_match(answer, item.aliases)

    def reward(self, answer: str, item: Item) -> float:
        return soft_f1(answer, item.aliases) if self.reward_kind == "f1" else self.correct(answer, item)

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        answer = normalize_answer(parsed.answer or "")
        thought = normalize_answer(parsed.thinking).split()
        conclusion = thought[-1] if thought else ""
        return {
            "mode_careful": float(parsed.thinking.strip() == self.reference(item)[0]),
            "answer_follows": float(bool(answer) and answer == conclusion),
            "answer_shortcut": float(bool(answer) and answer == normalize_answer(item.meta["surface"])),
            "hedge_rate": float(HEDGE_SEP.strip() in answer.split()),
        }
