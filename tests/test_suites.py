"""Suites: deterministic generators, disjoint splits, verifiers that are both scorer and reward."""

from __future__ import annotations

import random

import pytest

from harness.suites import SUITES, get_suite
from harness.suites.files import FileSuite
from harness.suites.format import parse_completion, render_completion
from harness.suites.interventions import Corruption
from harness.suites.scoring import exact_match, math_equal, soft_f1

GENERATED = sorted(n for n, cls in SUITES.items() if not issubclass(cls, FileSuite))  # file-backed: test_real_data

MODES = {"math_careful": [0.5] * 4, "gqa_careful": [0.5] * 3,
         "gqa_answer": {"follow": 0.4, "shortcut": 0.3, "hedge": 0.3}, "math_answer": {"follow": 1.0}}


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


# --- answer modes and interventions (issue 14) -----------------------------------------------------------
@pytest.mark.parametrize("name", ["micro_math", "micro_gqa"])
def test_the_answer_shortcut_mode_ignores_the_thinking(name):
    suite = get_suite(name)
    modes = {**MODES, "math_careful": [1.0] * 4, "gqa_careful": [1.0] * 3,
             "gqa_answer": {"shortcut": 1.0}, "math_answer": {"shortcut": 1.0}}
    rng = random.Random(0)
    for item in suite.generate("train", 50, rng):
        thinking, answer = suite.sample_trace(item, rng, modes)
        assert thinking == suite.reference(item)[0] and answer == suite.surface_answer(item)
        scores = suite.score_completion(parse_completion(render_completion(thinking, answer)), item)
        assert scores["answer_shortcut"] == 1.0 and scores["answer_follows"] == float(answer == item.gold)


@pytest.mark.parametrize("name", ["micro_math", "micro_gqa", "micro_gqa_ood"])
def test_corruption_changes_the_last_fact_of_the_chain_only(name):
    suite = get_suite(name)
    for item in suite.generate("test", 100, random.Random(0)):
        for thinking in (suite.reference(item)[0], suite.shallow_thinking(item)):
            corrupted = suite.corrupt(thinking, item, [])
            assert corrupted.value not in (item.gold, suite.surface_answer(item), suite.conclusion(thinking))
            assert suite.conclusion(corrupted.thinking) == corrupted.value
            sep = " " if name == "micro_math" else ". "
            assert corrupted.thinking.split(sep)[:-1] == thinking.split(sep)[:-1]  # earlier facts untouched
            assert suite.corrupt(thinking, item, []) == corrupted  # deterministic
        assert suite.corrupt("", item, []) is None


def test_generic_corruption_replaces_the_last_number_or_entity():
    from harness.suites.interventions import replace_last_entity, replace_last_number

    c = replace_last_number("3 boxes of 12 make 36, so 1,036 in all", "k", ["1037"])
    assert c.thinking.startswith("3 boxes of 12 make 36, so ") and c.value not in ("1036", "1037")
    assert c.thinking.endswith(f"{c.value} in all") and replace_last_number("no digits", "k", []) is None
    c = replace_last_entity("It was designed by Gustave Eiffel.", "k", ["Rome", "Marie Curie", "1999"], ["Eiffel"])
    assert c.thinking == f"It was designed by {c.value}." and c.value in ("Rome", "Marie Curie")
    assert replace_last_entity("it opened in 1889.", "k", ["Rome"], []).value.isdigit()
    assert replace_last_entity("no names here", "k", ["Rome"], []) is None


def test_real_suites_corrupt_and_follow_with_their_own_types():
    gsm8k, nq = SUITES["gsm8k"](), SUITES["nq_open"]()
    from harness.suites import Item

    item = Item(id="g1", question="?", gold="18")
    c = gsm8k.corrupt("9 + 9 = 18", item, [])
    assert c.value != "18" and gsm8k.follows(f"The answer is {c.value}.", c.value) == 1.0
    q = Item(id="n1", question="who?", gold="Paris", aliases=["Paris"])
    c = nq.corrupt("The capital is Paris", q, [Item(id="n2", question="x", gold="Berlin"), q])
    assert c == Corruption("The capital is Berlin", "Berlin") and nq.follows("berlin", c.value) == 1.0


@pytest.mark.parametrize("bpe", [False, True])
def test_filler_has_the_token_length_of_the_thinking(bpe):
    from harness.suites.interventions import filler_text
    from tests.conftest import char_tokenizer

    tok = char_tokenizer("abc .,", bpe_corpus=["a . b .. c ... " * 20] if bpe else None)
    for n in (0, 1, 7, 40):
        assert len(tok(filler_text(n, tok), add_special_tokens=False)["input_ids"]) == n
