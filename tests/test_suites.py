"""Suites: deterministic generators, disjoint splits, verifiers that are both scorer and reward."""

from __future__ import annotations

import random

import pytest

from harness.suites import SUITES, get_suite
from harness.suites.files import FileSuite
from harness.suites.format import parse_completion, render_completion
from harness.suites.scoring import exact_match, math_equal, soft_f1

GENERATED = sorted(n for n, cls in SUITES.items() if not issubclass(cls, FileSuite))  # file-backed: test_real_data

MODES = {"math_careful": [0.5] * 4, "gqa_careful": [0.5] * 3,
         "gqa_answer": {"follow": 0.4, "shortcut": 0.3, "hedge": 0.3}}


@pytest.mark.parametrize("name", GENERATED)
def test_generation_is_deterministic_and_splits_disjoint(name):
    suite = get_suite(name)
    a = suite.generate("train", 300, random.Random(7))
    assert [it.question for it in a] == [it.question for it in suite.generate("train", 300, random.Random(7))]
    test = suite.generate("test", 100, random.Random(7))
    val = suite.generate("val", 100, random.Random(7))
    qs = [{it.question for it in s} for s in (a, test, val)]
    assert len(qs[0]) == 300 and not (qs[0] & qs[1]) and not (qs[0] & qs[2]) and not (qs[1] & qs[2])


@pytest.mark.parametrize("name", GENERATED)
def test_reference_trace_is_correct_and_parses(name):
    suite = get_suite(name)
    for item in suite.generate("train", 50, random.Random(0)):
        parsed = parse_completion(render_completion(*suite.reference(item)))
        scores = suite.score_completion(parsed, item)
        assert scores["acc"] == scores["reward"] == 1.0
        assert scores["mode_careful"] == 1.0 and scores["answer_follows"] == 1.0


@pytest.mark.parametrize("name", GENERATED)
def test_unclosed_thinking_is_wrong_and_flagged(name):
    suite = get_suite(name)
    item = suite.generate("test", 1, random.Random(0))[0]
    scores = suite.score_completion(parse_completion(f"<think>{item.gold} {item.gold}"), item)
    assert scores["acc"] == 0.0 and scores["reward"] == 0.0 and scores["no_think_close"] == 1.0


def test_empty_thinking_is_flagged_but_scored():
    suite = get_suite("micro_math")
    item = suite.generate("test", 1, random.Random(0))[0]
    scores = suite.score_completion(parse_completion(render_completion("", item.gold)), item)
    assert scores["empty_think"] == 1.0 and scores["acc"] == 1.0


def test_math_shallow_mode_is_rarely_right_and_careful_always():
    suite = get_suite("micro_math", min_steps=2)
    rng = random.Random(0)
    items = suite.generate("train", 2000, rng)
    for p, low, high in ((0.0, 0.0, 0.3), (1.0, 1.0, 1.0)):
        modes = {**MODES, "math_careful": [p] * 4}
        acc = sum(suite.correct(suite.sample_trace(it, rng, modes)[1], it) for it in items) / len(items)
        assert low <= acc <= high  # shallow: right by chance (about 1 in 5)


def test_math_world_is_fixed_by_its_seed():
    assert get_suite("micro_math").tables == get_suite("micro_math", world_seed=0).tables
    assert get_suite("micro_math").tables != get_suite("micro_math", world_seed=1).tables


def test_gqa_modes_are_named_and_hedge_earns_partial_f1():
    suite = get_suite("micro_gqa", reward="f1", shortcut_p=0.0)
    rng = random.Random(1)
    item = suite.generate("train", 1, rng)[0]
    hedge = f"{item.meta['surface']} or {item.gold}"
    scores = suite.score_completion(parse_completion(render_completion(suite.shallow(item), hedge)), item)
    assert scores["hedged"] == 1.0 and scores["acc"] == 0.0 and scores["reward"] == pytest.approx(0.5)
    shortcut = suite.score_completion(
        parse_completion(render_completion(suite.reference(item)[0], item.meta["surface"])), item)
    assert shortcut["answer_shortcut"] == 1.0 and shortcut["answer_follows"] == 0.0 and shortcut["acc"] == 0.0


@pytest.mark.parametrize("p", [0.0, 0.3, 1.0])
def test_shortcut_p_controls_how_often_the_surface_answer_is_right(p):
    items = get_suite("micro_gqa", shortcut_p=p).generate("test", 200, random.Random(0))
    right = [it.meta["surface"] == it.gold for it in items]
    assert right == [it.meta["shortcut_right"] for it in items]
    assert abs(sum(right) / len(right) - p) < 0.08


def test_scorers():
    assert math_equal("47", "47") == 1.0 and math_equal("$47$", "47") == 1.0
    assert math_equal("46", "47") == 0.0 and math_equal("", "47") == 0.0
    assert exact_match("The Oslo.", ["oslo"]) == 1.0 and exact_match("Rome", ["Oslo", "Lima"]) == 0.0
    assert soft_f1("Rome or Oslo", ["Oslo"]) == pytest.approx(0.5)


def test_bad_suite_parameters_fail_clearly():
    with pytest.raises(ValueError, match="shortcut_p"):
        get_suite("micro_gqa", shortcut_p=1.5)
    with pytest.raises(ValueError, match="reward"):
        get_suite("micro_gqa", reward="bleu")
    with pytest.raises(KeyError, match="unknown suite"):
        get_suite("nope")


@pytest.mark.parametrize("completion, flag", [
    ("<think>h(7)=5", "no_think_close"),           # the budget ran out inside the thinking
    ("<think>h(7)=5</think><answer></answer>", "empty_answer"),
    ("<think>h(7)=5</think>", "empty_answer"),    # nothing at all after the thinking
    ("<think>h(7)=\ufffd</think><answer>5\ufffd</answer>", "invalid_text"),  # undecodable bytes
    ("<think>\udcff</think><answer>\udcff</answer>", "invalid_text"),  # a lone surrogate
])
def test_bad_model_outputs_are_flagged_and_scored_wrong_never_fatal(completion, flag):
    from harness.evaluation.task_utils import process_results

    suite = get_suite("micro_math")
    item = suite.generate("test", 1, random.Random(0))[0]
    doc = {**item.to_json(), "suite": "micro_math", "reward": "em", "suite_params": "{}"}
    scores = process_results(doc, [completion])
    assert scores[flag] == 1.0 and scores["acc"] == 0.0
    assert sum(scores[k] for k in ("no_think_close", "empty_answer", "invalid_text")) == 1.0
