"""Validate the micro world before building on it (research.md §4, §6).

Per suite, on the validation split: greedy accuracy and mode rates, sampled pass@k, and the fraction
of k-sample groups whose rewards are all equal (no RL signal). Written into the build report.
"""

from __future__ import annotations

import dataclasses
import random
import statistics
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.config import MicroConfig
from harness.generation import generate
from harness.prompts import format_prompt
from harness.suites import get_suite
from harness.suites.format import forced_answer, forced_answer_prefill, parse_completion

PASS_K = 8
ANSWER_TOKENS = 24


def validate_world(model, tokenizer, micro: MicroConfig, suites: tuple[str, ...], max_new_tokens: int = 128) -> dict:
    report = {}
    for name in suites:
        suite = get_suite(name, **micro.suites.get(name, {}))
        items = suite.generate("val", micro.warm_start.val_items, random.Random(micro.warm_start.seed))
        prompts = [format_prompt(tokenizer, it.question) for it in items]
        greedy = [suite.score_completion(parse_completion(c), it)
                  for c, it in zip(generate(model, tokenizer, prompts, max_new_tokens), items, strict=True)]
        torch.manual_seed(micro.warm_start.seed)
        sampled = generate(model, tokenizer, prompts[:64], max_new_tokens, num_return_sequences=PASS_K,
                           do_sample=True)
        groups = [[suite.score_completion(parse_completion(c), it)["reward"]
                   for c in sampled[i * PASS_K:(i + 1) * PASS_K]] for i, it in enumerate(items[:64])]
        keys = greedy[0].keys()
        report[name] = {
            **{f"greedy_{k}": statistics.fmean(g[k] for g in greedy) for k in keys},
            f"pass@{PASS_K}": statistics.fmean(float(max(g) > 0) for g in groups),
            "frac_reward_zero_std": statistics.fmean(float(len(set(g)) == 1) for g in groups),
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
