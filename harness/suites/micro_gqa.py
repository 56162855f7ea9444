"""``micro_gqa``: multi-hop questions about a memorised world, with a planted shortcut.

The micro world has people, each living in a city and linked to other people by relations
(``friend``, ``boss``, ``twin``, ``coach``, ``aunt``, ``pal``), drawn from ``world_seed``; the model learns these facts
during the warm start, as a language model learns world knowledge. A question follows 1–``max_hops``
relations from a subject and asks for a city: ``Where is Ann's boss's friend?`` -> ``Oslo``.
The careful thinking recalls one fact per hop (``Ann's boss is Bob. Bob's friend is Cy. Cy is in
Oslo.``); the shallow one stops at the surface fact (``Ann is in Rome.``). Answer modes: *follow* the
thinking, *shortcut* to where the subject lives whatever the thinking says, or *hedge* with two
candidates. Questions are drawn so that the surface answer is also right with probability
``shortcut_p``; ``micro_gqa_ood`` is the shifted test split where it never is (``shortcut_p = 0``),
evaluated beside ``micro_gqa`` in every run that evaluates it. Reward ``em`` (normalised exact match),
``f1`` (soft, so a hedge earns partial credit) or ``judge`` (an LLM judge's verdict, ``harness.judge``).
(An earlier version put the facts in the prompt; the micro model could not execute such in-context
lookups reliably, so careful thinking could not pay off.)
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from harness.suites.base import HEDGE_SEP, Item, Suite, draw_mode, register_suite
from harness.suites.format import Parsed
from harness.suites.interventions import Corruption, other_value
from harness.suites.scoring import exact_match, normalize_answer, soft_f1

PEOPLE = ["Ann", "Bob", "Cy", "Dan", "Eve", "Flo", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu", "Max", "Ned", "Oz",
          "Pia", "Quin", "Ray", "Sue", "Tom", "Uma", "Vic", "Wes", "Xia", "Yan", "Zoe", "Abe", "Bea", "Cal", "Dot",
          "Eli", "Fay", "Gil", "Hope", "Ike", "Jan", "Kai", "Liv", "Mo", "Nia"]
CITIES = ["Rome", "Oslo", "Lima", "Kyiv", "Baku", "Doha", "Riga", "Bern", "Nice", "Graz", "Pisa", "Lyon"]
RELATIONS = ["friend", "boss", "twin", "coach", "aunt", "pal"]
LIVES_IN = re.compile(r"\b(\w+) is in (\w+)")
HOP = re.compile(r"\b\w+'s \w+ is \w+")


@register_suite
class MicroGQA(Suite):
    name = "micro_gqa"
    reward_kinds = ("em", "f1", "judge")
    mode_metrics = ("mode_careful", "answer_follows", "answer_shortcut", "hedged")
    shifted = {"micro_gqa_ood": {"shortcut_p": 0.0}}

    def __init__(self, min_hops: int = 1, max_hops: int = 3, shortcut_p: float = 0.5, world_seed: int = 0,
                 **kw: Any) -> None:
        super().__init__(**kw)
        if not 1 <= min_hops <= max_hops:
            raise ValueError(f"micro_gqa needs 1 <= min_hops <= max_hops, got {min_hops}, {max_hops}")
        if not 0.0 <= shortcut_p <= 1.0:
            raise ValueError(f"micro_gqa: shortcut_p must be in [0, 1], got {shortcut_p}")
        self.min_hops, self.max_hops, self.shortcut_p = min_hops, max_hops, shortcut_p
        world = random.Random(world_seed)
        self.city = {p: world.choice(CITIES) for p in PEOPLE}

        def link(p: str) -> str:  # most links stay in the person's city, so shortcuts exist to plant
            same = [q for q in PEOPLE if q != p and self.city[q] == self.city[p]]
            return world.choice(same if same and world.random() < 0.7 else [q for q in PEOPLE if q != p])

        self.links = {r: {p: link(p) for p in PEOPLE} for r in RELATIONS}

    def make_item(self, rng: random.Random, item_id: str) -> Item:
        # fixed per item slot (the id), so that re-draws of a slot rejected by `generate` (duplicate or
        # other split) keep the planted rate exact
        want_shortcut = random.Random(item_id).random() < self.shortcut_p
        while True:  # draw until the surface answer is right exactly when the shortcut is planted
            subject = rng.choice(PEOPLE)
            relations = [rng.choice(RELATIONS) for _ in range(rng.randint(self.min_hops, self.max_hops))]
            chain = [subject]
            for r in relations:
                chain.append(self.links[r][chain[-1]])
            gold = self.city[chain[-1]]
            if (self.city[subject] == gold) == want_shortcut:
                break
        target = subject + "".join(f"'s {r}" for r in relations)
        return Item(id=item_id, question=f"Where is {target}?", gold=gold,
                    meta={"hops": len(relations), "subject": subject, "relations": relations, "chain": chain,
                          "surface": self.city[subject], "shortcut_right": want_shortcut})

    def reference(self, item: Item) -> tuple[str, str]:
        chain, relations = item.meta["chain"], item.meta["relations"]
        steps = [f"{a}'s {r} is {b}." for a, r, b in zip(chain[:-1], relations, chain[1:], strict=True)]
        return " ".join([*steps, f"{chain[-1]} is in {item.gold}."]), item.gold

    def depth(self, item: Item) -> int:
        """How many relations the question follows (the warm start's careful weight is chosen by it)."""
        return item.meta["hops"]

    def attempts_careful(self, thinking: str, item: Item) -> bool:
        """The thinking has the careful form (one relation step per hop, then where the last person is),
        right or wrong."""
        return len(HOP.findall(thinking)) == item.meta["hops"] and bool(LIVES_IN.search(thinking))

    def shallow(self, item: Item) -> str:
        return f"{item.meta['subject']} is in {item.meta['surface']}."

    def sample_trace(self, item: Item, rng: random.Random, modes: dict[str, Any]) -> tuple[str, str]:
        """A warm-start trace: thinking careful or shallow (``gqa_careful`` by hops), answer by ``gqa_answer``."""
        weights = modes["gqa_careful"]
        careful = rng.random() < weights[min(item.meta["hops"], len(weights)) - 1]
        thinking = self.reference(item)[0] if careful else self.shallow(item)
        conclusion = item.gold if careful else item.meta["surface"]
        mode = draw_mode(modes["gqa_answer"], rng)
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

    def conclusion(self, thinking: str) -> str:
        """The city of the last ``X is in City`` statement ('' when the thinking states none)."""
        found = LIVES_IN.findall(thinking)
        return found[-1][1] if found else ""

    def surface_answer(self, item: Item) -> str:
        return item.meta["surface"]

    def shallow_thinking(self, item: Item) -> str:
        return self.shallow(item)

    def distractor_thinking(self, item: Item) -> str:
        """Where somebody outside the question's chain lives, in a city that is not the gold one."""
        rng = random.Random(item.id)
        others = [p for p in PEOPLE if p not in item.meta["chain"] and self.city[p] != item.gold]
        person = rng.choice(others)
        return f"{person} is in {self.city[person]}."

    def corrupt(self, thinking: str, item: Item, others: Sequence[Item]) -> Corruption | None:
        """One fact of the chain changed: the city of the last ``X is in City`` becomes another city
        (never the gold one nor the surface one, so neither a right answer nor the shortcut follows it)."""
        found = list(LIVES_IN.finditer(thinking))
        if not found:
            return None
        city = found[-1].span(2)
        value = other_value(item.id, CITIES, [thinking[city[0]:city[1]], item.gold, item.meta["surface"]])
        return Corruption(thinking[:city[0]] + value + thinking[city[1]:], value)

    def correct(self, answer: str, item: Item) -> float:
        return exact_match(answer, item.aliases)

    def reward(self, answer: str, item: Item) -> float:
        return soft_f1(answer, item.aliases) if self.reward_kind == "f1" else super().reward(answer, item)

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        answer = normalize_answer(parsed.answer or "")
        conclusion = normalize_answer(self.conclusion(parsed.thinking))
        return {
            "mode_careful": float(parsed.thinking.strip() == self.reference(item)[0]),
            "answer_follows": float(bool(answer) and answer == conclusion),
            "answer_shortcut": float(bool(answer) and answer == normalize_answer(item.meta["surface"])),
            "hedged": float(HEDGE_SEP.strip() in answer.split()),
        }


@register_suite
class MicroGQAOOD(MicroGQA):
    """``micro_gqa``'s shifted test split: the planted shortcut is never right (``shortcut_p = 0``)."""

    name = "micro_gqa_ood"
    shifted = {}

    def __init__(self, min_hops: int = 1, max_hops: int = 3, shortcut_p: float = 0.0, world_seed: int = 0,
                 **kw: Any) -> None:
        if shortcut_p != 0.0:
            raise ValueError(f"micro_gqa_ood: the surface answer is never right here (shortcut_p=0), got {shortcut_p}")
        super().__init__(min_hops=min_hops, max_hops=max_hops, shortcut_p=0.0, world_seed=world_seed, **kw)
