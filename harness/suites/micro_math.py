"""``micro_math``: verifiable composition of memorised functions, e.g. ``h(q(7))?`` -> ``1``.

The micro world has a few secret digit functions (``f g h p q r s t``: each maps 0–9 to 0–9, drawn
from ``world_seed``). The model learns their tables during the warm start, as a language model
learns facts; a question composes 1–``max_steps`` of them. The careful thinking applies them one at
a time, innermost first (``q(7)=3 h(3)=1``): every step is a recalled fact, which a tiny model
executes reliably. The *shallow* mode applies only the outermost function to the input
(``h(7)=5``), a true fact but the wrong composition, right by chance (about 1 in 5). Warm-start traces
choose the careful mode less often the longer the composition (research.md §4: the warm start
instils modes, post-training re-weights them). Answer modes: *follow* the thinking, or *shortcut*:
guess the digit written in the question whatever the thinking says (right only when the composition
maps it to itself, about 1 in 10). In-context retrieval (pointer chasing, key-value
lookups) was not executable by the micro model within the warm-start budget; recall is.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from typing import Any

from harness.suites.base import Item, Suite, draw_mode, register_suite
from harness.suites.format import Parsed
from harness.suites.interventions import Corruption, other_value
from harness.suites.scoring import math_equal

FUNCTIONS = "fghpqrst"
STEP_VALUE = re.compile(r"=\s*(\d+)")
STEP = re.compile(r"\w\(\d\)=\d")


@register_suite
class MicroMath(Suite):
    name = "micro_math"
    mode_metrics = ("mode_careful", "answer_follows", "answer_shortcut")

    def __init__(self, min_steps: int = 1, max_steps: int = 4, n_functions: int = 8, world_seed: int = 0,
                 **kw: Any) -> None:
        super().__init__(**kw)
        if not 1 <= min_steps <= max_steps:
            raise ValueError(f"micro_math needs 1 <= min_steps <= max_steps, got {min_steps}, {max_steps}")
        if not 1 <= n_functions <= len(FUNCTIONS):
            raise ValueError(f"micro_math needs 1 <= n_functions <= {len(FUNCTIONS)}, got {n_functions}")
        self.min_steps, self.max_steps = min_steps, max_steps
        world = random.Random(world_seed)
        self.tables = {f: [world.randrange(10) for _ in range(10)] for f in FUNCTIONS[:n_functions]}

    def make_item(self, rng: random.Random, item_id: str) -> Item:
        steps = rng.randint(self.min_steps, self.max_steps)
        calls = [rng.choice(list(self.tables)) for _ in range(steps)]  # innermost first
        x = rng.randrange(10)
        question = str(x)
        for f in calls:
            question = f"{f}({question})"
        return Item(id=item_id, question=question + "?", gold=str(self.apply(calls, x)),
                    meta={"steps": steps, "calls": calls, "x": x})

    def apply(self, calls: list[str], x: int) -> int:
        for f in calls:
            x = self.tables[f][x]
        return x

    def reference(self, item: Item) -> tuple[str, str]:
        x, parts = item.meta["x"], []
        for f in item.meta["calls"]:
            parts.append(f"{f}({x})={self.tables[f][x]}")
            x = self.tables[f][x]
        return " ".join(parts), str(x)

    def shallow(self, item: Item) -> tuple[str, str]:
        f, x = item.meta["calls"][-1], item.meta["x"]
        return f"{f}({x})={self.tables[f][x]}", str(self.tables[f][x])

    def depth(self, item: Item) -> int:
        """How many functions the question composes (the warm start's careful weight is chosen by it)."""
        return item.meta["steps"]

    def attempts_careful(self, thinking: str, item: Item) -> bool:
        """The thinking has the careful form (one ``f(x)=y`` step per function), right or wrong."""
        return len(STEP.findall(thinking)) == item.meta["steps"]

    def sample_trace(self, item: Item, rng: random.Random, modes: dict[str, Any]) -> tuple[str, str]:
        """A warm-start trace: careful with probability ``modes['math_careful'][steps-1]``, else shallow;
        the answer by ``modes['math_answer']`` (follow the thinking, or the question's digit)."""
        weights = modes["math_careful"]
        careful = rng.random() < weights[min(item.meta["steps"], len(weights)) - 1]
        thinking, conclusion = self.reference(item) if careful else self.shallow(item)
        mode = draw_mode(modes["math_answer"], rng)
        if mode == "follow":
            return thinking, conclusion
        if mode == "shortcut":
            return thinking, self.surface_answer(item)
        raise ValueError(f"micro_math: unknown answer mode {mode!r} in math_answer (follow, shortcut)")

    def conclusion(self, thinking: str) -> str:
        """The value of the last ``f(x)=y`` step ('' when the thinking states none)."""
        found = STEP_VALUE.findall(thinking)
        return found[-1] if found else ""

    def surface_answer(self, item: Item) -> str:
        """The digit written in the question (right only when the composition maps it to itself)."""
        return str(item.meta["x"])

    def shallow_thinking(self, item: Item) -> str:
        return self.shallow(item)[0]

    def distractor_thinking(self, item: Item) -> str:
        """A true step about another function or input whose value is not the gold answer."""
        rng = random.Random(item.id)
        steps = [(f, y) for f in self.tables for y in range(10) if str(self.tables[f][y]) != item.gold]
        f, y = rng.choice(steps)
        return f"{f}({y})={self.tables[f][y]}"

    def corrupt(self, thinking: str, item: Item, others: Sequence[Item]) -> Corruption | None:
        """One fact of the chain changed: the value of the last ``f(x)=y`` step becomes another digit
        (never the gold one nor the question's digit, so neither a right answer nor the guess follows it)."""
        found = list(STEP_VALUE.finditer(thinking))
        if not found:
            return None
        start, end = found[-1].span(1)
        value = other_value(item.id, [str(d) for d in range(10)], [thinking[start:end], item.gold,
                                                                   self.surface_answer(item)])
        return Corruption(thinking[:start] + value + thinking[end:], value)

    def correct(self, answer: str, item: Item) -> float:
        return math_equal(answer, item.gold)

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        conclusion = self.conclusion(parsed.thinking)
        return {"mode_careful": float(parsed.thinking == self.reference(item)[0]),
                "answer_follows": float(bool(parsed.answer) and parsed.answer == conclusion),
                "answer_shortcut": float(bool(parsed.answer) and parsed.answer == self.surface_answer(item))}
