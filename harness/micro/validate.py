"""Validate the micro world before building on it (research.md §4, §6).

Per suite, on the validation split: greedy accuracy and mode rates, sampled pass@k, and the fraction
of k-sample groups whose rewards are all equal (no RL signal); per question depth (hops, steps), for
greedy and sampled (temperature 1) completions alike, the answer-mode rates and how well careful
thinking is executed (:func:`mode_rates`). Written into the build report.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.config import MicroConfig
from harness.evaluation.metrics import run_name
from harness.generation import generate
from harness.prompts import format_prompt
from harness.suites import get_suite
from harness.suites.format import Parsed, forced_answer, forced_answer_prefill, parse_completion
from harness.suites.scoring import normalize_answer

PASS_K = 8
SAMPLED_PROMPTS = 96  # prompts sampled PASS_K times each (pass@k, zero-spread groups, sampled mode rates)
ANSWER_TOKENS = 24


def mode_rates(suite, completions: list[tuple[Parsed, object]]) -> dict[str, float]:
    """What completions of a micro suite do, as rates (``n``: how many completions).

    ``acc``; the answer modes ``answer_follows`` (the thinking's conclusion), ``answer_shortcut`` (the
    surface cue) and ``hedge_rate``; ``shortcut_over_thinking``: among completions whose thinking concludes
    something other than the surface cue, the share whose answer is the surface cue anyway (the
    answer-level shortcut, which no thinking explains); ``careful_attempt``: the thinking has the careful
    form (one step per hop); ``careful_acc``: the share of those attempts that are the correct chain.
    """
    rows = []
    for parsed, item in completions:
        scores = suite.score_completion(parsed, item)
        surface = normalize_answer(suite.surface_answer(item))
        answer = normalize_answer(parsed.answer or "")
        can_depart = parsed.think_closed and normalize_answer(suite.conclusion(parsed.thinking)) != surface
        rows.append({"acc": scores["acc"], "answer_follows": scores["answer_follows"],
                     "answer_shortcut": float(bool(answer) and answer == surface),
                     "hedge_rate": scores.get("hedged", 0.0),
                     "can_depart": float(can_depart), "departs": float(can_depart and answer == surface),
                     "careful_attempt": float(suite.attempts_careful(parsed.thinking, item)),
                     "careful": scores["mode_careful"]})

    def ratio(num: str, den: str) -> float | None:
        total = sum(r[den] for r in rows)
        return sum(r[num] for r in rows) / total if total else None

    out = {"n": len(rows), **{k: statistics.fmean(r[k] for r in rows)
                              for k in ("acc", "answer_follows", "answer_shortcut", "hedge_rate", "careful_attempt")}}
    return out | {"shortcut_over_thinking": ratio("departs", "can_depart"),
                  "careful_acc": ratio("careful", "careful_attempt")}


def by_depth(suite, completions: list[tuple[Parsed, object]]) -> dict[str, dict[str, float]]:
    """:func:`mode_rates` per question depth (hops, steps), keyed ``"1"``, ``"2"``, …"""
    depths = sorted({suite.depth(item) for _, item in completions})
    return {str(d): mode_rates(suite, [(p, it) for p, it in completions if suite.depth(it) == d]) for d in depths}


def validate_world(model, tokenizer, micro: MicroConfig, suites: tuple[str, ...], max_new_tokens: int = 128) -> dict:
    report = {}
    for name in suites:
        suite = get_suite(name, **micro.suites.get(name, {}))
        items = suite.generate("val", micro.warm_start.val_items, random.Random(micro.warm_start.seed))
        prompts = [format_prompt(tokenizer, it.question) for it in items]
        greedy_parsed = [(parse_completion(c), it)
                         for c, it in zip(generate(model, tokenizer, prompts, max_new_tokens), items, strict=True)]
        greedy = [suite.score_completion(p, it) for p, it in greedy_parsed]
        torch.manual_seed(micro.warm_start.seed)
        sampled = generate(model, tokenizer, prompts[:SAMPLED_PROMPTS], max_new_tokens, num_return_sequences=PASS_K,
                           do_sample=True)
        sampled_parsed = [(parse_completion(c), items[i // PASS_K]) for i, c in enumerate(sampled)]
        groups = [[suite.score_completion(p, it)["reward"] for p, it in sampled_parsed[i * PASS_K:(i + 1) * PASS_K]]
                  for i in range(len(sampled_parsed) // PASS_K)]
        keys = greedy[0].keys()
        report[name] = {
            **{f"greedy_{run_name(k)}": statistics.fmean(g[k] for g in greedy) for k in keys},
            f"pass@{PASS_K}": statistics.fmean(float(max(g) > 0) for g in groups),
            "frac_reward_zero_std": statistics.fmean(float(len(set(g)) == 1) for g in groups),
            "greedy_by_depth": by_depth(suite, greedy_parsed),
            "sampled": mode_rates(suite, sampled_parsed),
            "sampled_by_depth": by_depth(suite, sampled_parsed),
            "modes": dataclasses.asdict(micro.modes),
        }
    return report


def validate_answerers(folders: dict[str, Path], micro: MicroConfig, suites: tuple[str, ...]) -> dict:
    """Capability of each model in ``folders`` (label -> folder) as a Cross-Generation answerer.

    Per suite on the validation split: accuracy of the answer forced after the gold thinking
    (``from_thinking``: can it read?) and after an empty one (``from_nothing``: does it know?).
    """
    report: dict[str, dict] = {}
    for label, folder in folders.items():
        model, tokenizer = AutoModelForCausalLM.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)
        report[label] = {}
        for name in suites:
            suite = get_suite(name, **micro.suites.get(name, {}))
            items = suite.generate("val", micro.warm_start.val_items, random.Random(micro.warm_start.seed))
            scores = {}
            for condition, gold_thinking in (("from_thinking", True), ("from_nothing", False)):
                prompts = [format_prompt(tokenizer, it.question)
                           + forced_answer_prefill(suite.reference(it)[0] if gold_thinking else "") for it in items]
                answers = [forced_answer(g) for g in generate(model, tokenizer, prompts, ANSWER_TOKENS)]
                scores[condition] = statistics.fmean(
                    suite.correct(a, it) for a, it in zip(answers, items, strict=True))
            report[label][name] = scores
    return report
