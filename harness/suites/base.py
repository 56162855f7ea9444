"""A Suite is one object that is dataset, evaluator and reward at once (nanochat's Task idea).

The same ``score``/``reward`` methods serve the lm-eval scorer and the RL reward, so evaluation and
training cannot drift apart. Suites are registered by name; ``data=<name>`` selects one.
"""

from __future__ import annotations

import hashlib
import random
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from harness.judge import get_judge, judge_config
from harness.registry import Registry
from harness.suites.format import Parsed
from harness.suites.interventions import Corruption, replace_last_number
from harness.suites.scoring import normalize_answer

SUITES: Registry[type[Suite]] = Registry("suite")


def register_suite(cls: type[Suite]) -> type[Suite]:
    return SUITES.register(cls.name)(cls)


def get_suite(name: str, **params: Any) -> Suite:
    return SUITES.lookup(name)(**params)


@dataclass
class Item:
    """One question with its gold answer(s); ``meta`` holds what the generator knows about it."""

    id: str
    question: str
    gold: str
    aliases: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.aliases = list(self.aliases) or [self.gold]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "question": self.question, "gold": self.gold,
                "aliases": self.aliases, "meta": self.meta}


HEDGE_SEP = " or "  # how a hedged answer joins its candidates
BASE_METRICS = ("acc", "reward", "no_think_close", "empty_think", "empty_answer", "invalid_text")
INVALID_CHARS = re.compile("[\ufffd\ud800-\udfff]")  # undecodable bytes / lone surrogates in decoded text


HELD_OUT = {"test": "test", "val": "val"}  # every other split name draws from the training pool


def split_of(question: str) -> str:
    """The split a question belongs to: 10% test, 10% validation, 80% training pool."""
    bucket = int(hashlib.sha256(question.encode()).hexdigest()[:8], 16) % 10
    return {0: "test", 1: "val"}.get(bucket, "train")


def draw_mode(weights: dict[str, float], rng: random.Random) -> str:
    """A behaviour mode drawn with ``weights``; a mixture of one mode draws no random number (so a warm start
    whose answers always follow their thinking makes the same traces as before answer modes existed)."""
    live = [m for m, w in weights.items() if w > 0]
    if len(live) == 1:
        return live[0]
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _bucket(split: str) -> str:
    return HELD_OUT.get(split, "train")


class Suite(ABC):
    """Dataset + prompt + verifier. Subclasses set ``name`` and implement the abstract methods."""

    name: ClassVar[str]
    #: the metric keys ``classify`` returns (format-health and mode metrics), averaged per suite
    mode_metrics: ClassVar[tuple[str, ...]] = ()
    #: the rewards ``data.reward`` may name; ``judge`` is an LLM judge configured by ``judge`` (harness.judge)
    reward_kinds: ClassVar[tuple[str, ...]] = ("em",)
    #: shifted test splits evaluated beside this suite in every run that evaluates it (the i.i.d. vs
    #: o.o.d. protocol): companion suite name -> the suite parameters it overrides (docs/metrics.md)
    shifted: ClassVar[dict[str, dict[str, Any]]] = {}

    @property
    def metric_keys(self) -> tuple[str, ...]:
        """Every per-item number ``score_completion`` returns."""
        return BASE_METRICS + self.mode_metrics

    def __init__(self, reward: str = "em", judge: Any = None) -> None:
        if reward not in self.reward_kinds:
            raise ValueError(f"{self.name}: reward must be one of {list(self.reward_kinds)}, got {reward!r}")
        if (reward == "judge") != (judge is not None):
            raise ValueError(f"{self.name}: a judge config (data.params.judge) goes with reward='judge' and only "
                             f"with it; got reward={reward!r}, judge={judge!r}")
        self.reward_kind = reward
        self.judge = None
        if judge is not None:
            self.judge = get_judge(judge_config(judge))  # shared by every suite with this judge config

    # --- data -------------------------------------------------------------------------------
    def make_item(self, rng: random.Random, item_id: str) -> Item:
        """One generated item (suites with a generator override this)."""
        raise NotImplementedError(f"suite {self.name} has no generator; give it a data file")

    def generate(self, split: str, n: int, rng: random.Random, distinct: bool = True) -> list[Item]:
        """Make ``n`` items of ``split``, all different unless ``distinct=False`` (warm-start traces).

        Splits are disjoint by construction: an item belongs to the split its question hashes to
        (``split_of``), so no seed or size can put a test question into training data.
        """
        items: list[Item] = []
        seen: set[str] = set()
        attempts = 0
        while len(items) < n:
            attempts += 1
            if attempts > 200 * n + 1000:
                raise ValueError(f"suite {self.name}: cannot make {n} distinct {split!r} items; "
                                 "the item space is too small for this size")
            item = self.make_item(rng, f"{self.name}-{split}-{len(items)}")
            if (distinct and item.question in seen) or split_of(item.question) != _bucket(split):
                continue
            seen.add(item.question)
            items.append(item)
        return items

    def items(self, split: str, n: int, rng: random.Random, source: Any = None) -> list[Item]:
        """The ``n`` items of ``split`` a run trains or is tested on; ``source`` is the run's ``data`` config.

        Generated suites make them (``generate``); file-backed suites override this to read the data
        set's fixed splits (``harness.suites.files``).
        """
        return self.generate(split, n, rng)

    def test_items(self, data: Any) -> list[Item]:
        """A run's test items from its ``data`` config: ``data.n_test`` items of the test split, drawn with
        seed ``data.gen_seed + 1`` (fixed across run seeds: every run of a sweep is tested on the same items)."""
        return self.items("test", data.n_test, random.Random(data.gen_seed + 1), data)

    @classmethod
    def source_fingerprint(cls, source: Any = None) -> dict[str, str]:
        """The ``data`` part of a run's fingerprint (``harness.fingerprint``) for this suite read from
        ``source``: a generated suite is its code and config, both in the fingerprint already."""
        return {cls.name: "generated"}

    @abstractmethod
    def reference(self, item: Item) -> tuple[str, str]:
        """The gold (thinking, answer) pair: SFT's target."""

    # --- verifier ---------------------------------------------------------------------------
    @abstractmethod
    def correct(self, answer: str, item: Item) -> float:
        """1.0 when ``answer`` is right (the eval accuracy)."""

    def reward(self, answer: str, item: Item) -> float:
        """The training reward: by default the same as ``correct``; with ``reward='judge'`` the judge's verdict."""
        if self.judge is not None:
            return self.rewards([answer], [item])[0]
        return self.correct(answer, item)

    def rewards(self, answers: list[str], items: list[Item]) -> list[float]:
        """``reward`` of many answers at once; a judge is asked in batches, and only what it must decide.

        With a judge, an empty answer is wrong and an answer ``correct`` accepts (an exact alias match)
        is right without asking it; every other answer gets the judge's verdict.
        """
        if self.judge is None:
            return [self.reward(a, it) for a, it in zip(answers, items, strict=True)]
        out = [self.correct(a, it) if a.strip() else 0.0 for a, it in zip(answers, items, strict=True)]
        ask = [i for i, (a, r) in enumerate(zip(answers, out, strict=True)) if a.strip() and r < 1.0]
        verdicts = self.judge.verdicts([(items[i].question, items[i].aliases, answers[i]) for i in ask])
        for i, verdict in zip(ask, verdicts, strict=True):
            out[i] = verdict
        return out

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        """Name the behaviour mode a completion used (0/1 per key in ``mode_metrics``)."""
        return {}

    # --- what scripted policies and the reader need (harness.evaluation.scripted) -----------
    def conclusion(self, thinking: str) -> str:
        """What a reader concludes from ``thinking`` alone: its last stated value ('' if none)."""
        words = thinking.replace(",", " ").split()
        return words[-1].strip(".;:!?") if words else ""

    def surface_answer(self, item: Item) -> str:
        """An answer read off the question's surface, without the work (the shortcut)."""
        raise NotImplementedError(f"suite {self.name} does not define a surface answer for scripted policies")

    def shallow_thinking(self, item: Item) -> str:
        """The shallow thinking of the micro worlds: a true fact that stops at the surface (a shallow policy's)."""
        raise NotImplementedError(f"suite {self.name} has no shallow thinking for scripted policies")

    def distractor_thinking(self, item: Item) -> str:
        """A fluent thinking that does not lead to the gold answer (a shortcut policy's thinking)."""
        raise NotImplementedError(f"suite {self.name} does not define a distractor thinking for scripted policies")

    # --- interventions on a thinking (harness.suites.interventions, docs/metrics.md) -----------
    def corrupt(self, thinking: str, item: Item, others: Sequence[Item]) -> Corruption | None:
        """``thinking`` with its conclusion replaced by another value of its type; None when it states none.

        Generic: its last number becomes another number (never a gold alias). ``others`` are the suite's
        other test items (a pool of values of the same type for suites that need one).
        """
        return replace_last_number(thinking, item.id, item.aliases)

    def follows(self, answer: str, value: str) -> float:
        """1.0 when ``answer`` is ``value`` (normalised exact match): the answer follows a corruption."""
        return float(bool(value) and normalize_answer(answer) == normalize_answer(value))

    def hedge(self, item: Item, first: str) -> str:
        """An answer naming ``first`` and one other candidate (a hedger's answer)."""
        other = self.surface_answer(item)
        if other == first:
            other = self.conclusion(self.distractor_thinking(item))
        return HEDGE_SEP.join([first, other])

    def score_completion(self, parsed: Parsed, item: Item) -> dict[str, float]:
        """All per-item numbers for one completion; unclosed thinking is wrong and earns no reward.

        Format health is flagged, never fatal: ``no_think_close``, ``empty_think``, ``empty_answer``
        (thinking closed, nothing after it) and ``invalid_text`` (undecodable bytes, shown as U+FFFD).
        """
        return self.score_completions([parsed], [item])[0]

    def score_completions(self, parsed: list[Parsed], items: list[Item]) -> list[dict[str, float]]:
        """``score_completion`` of many completions, their rewards computed in one call of ``rewards``."""
        closed = [i for i, p in enumerate(parsed) if p.answer is not None]
        rewards = dict(zip(closed, self.rewards([parsed[i].answer for i in closed], [items[i] for i in closed]),
                           strict=True))
        out = []
        for i, (p, item) in enumerate(zip(parsed, items, strict=True)):
            row = {
                "acc": self.correct(p.answer, item) if i in rewards else 0.0,
                "reward": rewards.get(i, 0.0),
                "no_think_close": float(i not in rewards),
                "empty_think": float(p.empty_think),
                "empty_answer": float(i in rewards and not p.answer),
                "invalid_text": float(bool(INVALID_CHARS.search(p.thinking + (p.answer or "")))),
            }
            row.update(self.classify(p, item))
            out.append(row)
        return out
