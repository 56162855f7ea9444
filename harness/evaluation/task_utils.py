"""lm-eval hooks (``process_results``) for the harness's generated tasks.

Each task folder's ``utils.py`` re-exports these, so stock ``lm_eval --include_path <folder>``
scores exactly as the harness does: the suite named in each row parses the raw generation, splits
it at the end-of-thinking marker (an unclosed thinking is wrong, never parsed as an answer) and
applies the same verifier that is the RL reward.
"""

from __future__ import annotations

import json
from functools import cache

from harness.suites import Item, get_suite
from harness.suites.format import forced_answer, parse_completion


@cache
def _suite(name: str, reward: str, params_json: str):
    return get_suite(name, reward=reward, **json.loads(params_json))


def suite_and_item(doc: dict):
    suite = _suite(doc["suite"], doc["reward"], doc["suite_params"])
    item = Item(id=doc["id"], question=doc["question"], gold=doc["gold"], aliases=doc["aliases"],
                meta=doc["meta"])
    return suite, item


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """Score one thinking-mode generation: acc, reward, format health and mode metrics."""
    suite, item = suite_and_item(doc)
    return suite.score_completion(parse_completion(results[0]), item)


def process_results_forced(doc: dict, results: list[str]) -> dict[str, float]:
    """Score an answer forced after a prefilled thinking (empty, truncated or another model's)."""
    suite, item = suite_and_item(doc)
    return {"acc": suite.correct(forced_answer(results[0]), item)}


def process_results_corrupt(doc: dict, results: list[str]) -> dict[str, float]:
    """Score an answer forced after the thinking with its conclusion corrupted: its accuracy, and whether it
    is the corrupted value (``doc['corrupt_value']``; '' when there was nothing to corrupt: never followed)."""
    suite, item = suite_and_item(doc)
    answer = forced_answer(results[0])
    return {"acc": suite.correct(answer, item), "corrupt_follow": suite.follows(answer, doc["corrupt_value"])}
