"""``gsm8k``: grade-school math word problems (Cobbe et al. 2021), scored as published.

Rows: ``question`` and ``answer``, a worked solution whose last line is ``#### <number>``. Gold =
that number with commas removed. A prediction is right when its final number equals the gold one
(as numbers: ``18.00`` = ``18``; commas and ``$`` ignored); an answer written in LaTeX (``\\boxed``,
``\\frac``) is checked with math-verify instead. SFT's target: the worked solution, without its
``<<48/2=24>>`` calculator annotations, as the thinking, and the gold number as the answer.
Splits: the published train (7,473) and test (1,319) files, or ``openai/gsm8k`` (``main``) on the hub.
"""

from __future__ import annotations

import re
from typing import Any

from harness.suites.base import Item, register_suite
from harness.suites.files import FileSuite, text_field
from harness.suites.format import Parsed
from harness.suites.scoring import math_equal

FINAL_MARK = "####"
NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
CALCULATOR = re.compile(r"<<[^<>]*>>")


def final_number(text: str) -> str:
    """The last number in ``text``, commas and ``$`` removed ('' when there is none)."""
    found = NUMBER.findall(text.replace(",", "").replace("$", ""))
    return found[-1] if found else ""


def same_number(a: str, b: str) -> bool:
    return bool(a) and bool(b) and float(a) == float(b)


def gsm8k_correct(prediction: str, gold: str) -> float:
    if "\\" in prediction:  # LaTeX: math-verify equivalence
        return math_equal(prediction, gold)
    return float(same_number(final_number(prediction), gold))


@register_suite
class GSM8K(FileSuite):
    name = "gsm8k"
    mode_metrics = ("answer_follows",)
    files = {"train": "gsm8k_train.jsonl", "test": "gsm8k_test.jsonl"}
    hub = ("openai/gsm8k", "main")
    hub_splits = {"train": "train", "test": "test"}
    files_hint = ("the files are grade_school_math/data/{train,test}.jsonl of github.com/openai/grade-school-math "
                  "(a copy: ../shared/data/external/gsm8k_*.jsonl)")

    def parse_row(self, row: dict[str, Any]) -> Item:
        question, answer = text_field(row, "question"), text_field(row, "answer")
        solution, mark, final = answer.rpartition(FINAL_MARK)
        gold = final.strip().replace(",", "")
        if not mark or not NUMBER.fullmatch(gold):
            raise ValueError(f"answer must end with '{FINAL_MARK} <number>', got ...{answer[-40:]!r}")
        return Item(id="", question=question, gold=gold, meta={"solution": CALCULATOR.sub("", solution).strip()})

    def reference(self, item: Item) -> tuple[str, str]:
        return item.meta["solution"], item.gold

    def correct(self, answer: str, item: Item) -> float:
        return gsm8k_correct(answer, item.gold)

    def conclusion(self, thinking: str) -> str:
        """The last number the thinking states ('' when none)."""
        return final_number(thinking)

    def follows(self, answer: str, value: str) -> float:
        """The answer's final number is ``value`` (the corrupted last number of the thinking)."""
        return float(same_number(final_number(answer), value))

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        """``answer_follows``: the answer's final number is the thinking's last number."""
        return {"answer_follows": float(same_number(final_number(parsed.answer or ""), final_number(parsed.thinking)))}
