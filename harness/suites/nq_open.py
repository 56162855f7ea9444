"""``nq_open``: open-domain questions from Natural Questions (Lee et al. 2019), scored as published.

Rows: ``question`` and ``answer``, the list of accepted aliases. A prediction is right when it
equals ANY alias after SQuAD normalisation (lower-case, no punctuation, no a/an/the, spaces
collapsed); soft F1 against the best alias is reported beside it (``f1``) and is the reward with
``data.reward=f1``; ``data.reward=judge`` rewards an LLM judge's verdict (``harness.judge``).
Splits: test = the original NQ-Open dev set (3,610 questions; the NQ-Open test set is not public).
Train = the NQ-Open train split (``google-research-datasets/nq_open`` on the hub, or
``nq_open_train.jsonl``); with only the offline copy in ``../shared/data/external``,
``data.train_file=nq_open_efficientqa_dev.jsonl`` is a stand-in (1,800 EfficientQA dev questions).
Either way a training question that is also a test question is left out (``harness.suites.files``).
NQ-Open has no worked solutions: SFT's target is the first alias after an empty thinking, so SFT on
NQ-Open trains answers only (and its thinking metrics read as empty thinking, by construction).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.suites.base import Item, register_suite
from harness.suites.files import FileSuite, text_field
from harness.suites.format import Parsed
from harness.suites.interventions import Corruption, replace_last_entity
from harness.suites.scoring import exact_match, soft_f1


@register_suite
class NQOpen(FileSuite):
    name = "nq_open"
    reward_kinds = ("em", "f1", "judge")
    mode_metrics = ("f1",)
    files = {"train": "nq_open_train.jsonl", "test": "nq_open_dev.jsonl"}
    hub = ("google-research-datasets/nq_open", "nq_open")
    hub_splits = {"train": "train", "test": "validation"}
    files_hint = ("the files are nq_open/NQ-open.{train,dev}.jsonl of github.com/google-research-datasets/"
                  "natural-questions; offline, ../shared/data/external has the dev set and, as a training "
                  "stand-in, data.train_file=nq_open_efficientqa_dev.jsonl")

    def parse_row(self, row: dict[str, Any]) -> Item:
        question, aliases = text_field(row, "question"), row.get("answer")
        if not isinstance(aliases, list) or not aliases or not all(isinstance(a, str) and a.strip() for a in aliases):
            raise ValueError(f"field 'answer' must be a non-empty list of aliases, got {aliases!r}")
        return Item(id="", question=question, gold=aliases[0], aliases=aliases)

    def reference(self, item: Item) -> tuple[str, str]:
        return "", item.gold

    def correct(self, answer: str, item: Item) -> float:
        return exact_match(answer, item.aliases)

    def reward(self, answer: str, item: Item) -> float:
        return soft_f1(answer, item.aliases) if self.reward_kind == "f1" else super().reward(answer, item)

    def corrupt(self, thinking: str, item: Item, others: Sequence[Item]) -> Corruption | None:
        """The last answer-like entity of the thinking (a capitalised name or a number) replaced by another
        of its kind: a name by another test item's gold answer, a number by another number."""
        return replace_last_entity(thinking, item.id, [o.gold for o in others], item.aliases)

    def classify(self, parsed: Parsed, item: Item) -> dict[str, float]:
        return {"f1": soft_f1(parsed.answer, item.aliases) if parsed.answer is not None else 0.0}
