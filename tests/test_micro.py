"""The micro world's base checkpoint: stock transformers loads it; the cache is content-addressed."""

from __future__ import annotations

import dataclasses

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.micro.build import config_hash, ensure_micro_model
from harness.results import read_json
from harness.suites.format import TAGS
from harness.validate import validate
from tests.conftest import ROOT, TINY, compose_cfg


def test_stock_transformers_loads_the_build(tiny_base):
    tok = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    text = "<think>Abe=47</think><answer>47</answer>"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids, skip_special_tokens=True) == text  # tags are ordinary tokens: they survive
    for tag in TAGS:
        assert len(tok(tag, add_special_tokens=False)["input_ids"]) == 1
    prompt = tok.apply_chat_template([{"role": "user", "content": "Abe=47. Abe?"}], tokenize=False,
                                     add_generation_prompt=True)
    assert prompt == "<|user|>Abe=47. Abe?<|assistant|>"
    enc = tok(prompt, return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=4, do_sample=False)
    assert out.shape[1] > enc["input_ids"].shape[1]
    report = read_json(tiny_base / "build_report.json")
    assert set(report["validation"]) == {"micro_math", "micro_gqa"}
    assert 0.0 <= report["validation"]["micro_math"]["pass@8"] <= 1.0
    for suite in ("micro_math", "micro_gqa"):  # answer modes and careful execution, greedy and sampled, per depth
        rates = report["validation"][suite]
        assert {"greedy_by_depth", "sampled", "sampled_by_depth"} <= set(rates)
        assert {"shortcut_over_thinking", "careful_acc", "answer_follows"} <= set(rates["sampled"])


def test_cache_is_reused_and_keyed_by_config(tiny_base, cache_dir):
    cfg = validate(compose_cfg(TINY + [f"cache_dir={cache_dir}"]))
    mtime = (tiny_base / "model.safetensors").stat().st_mtime_ns
    assert ensure_micro_model(cfg.model.micro, cache_dir) == tiny_base
    assert (tiny_base / "model.safetensors").stat().st_mtime_ns == mtime
    changed = dataclasses.replace(cfg.model.micro, warm_start=dataclasses.replace(cfg.model.micro.warm_start, lr=1e-3))
    assert config_hash(changed) != config_hash(cfg.model.micro) == tiny_base.name


def test_mode_rates_name_the_answer_level_shortcut_and_careful_execution():
    import random

    from harness.micro.validate import by_depth, mode_rates
    from harness.suites import get_suite
    from harness.suites.format import parse_completion, render_completion

    suite = get_suite("micro_gqa", shortcut_p=0.0)
    items = suite.generate("val", 40, random.Random(0))
    completions = []
    for i, item in enumerate(items):
        careful = suite.reference(item)[0]
        wrong = careful.rsplit(" is in ", 1)[0] + " is in " + suite.corrupt(careful, item, []).value + "."
        thinking = (careful, wrong, suite.shallow(item), careful)[i % 4]
        answer = suite.surface_answer(item) if i % 4 == 3 else suite.conclusion(thinking)
        completions.append((parse_completion(render_completion(thinking, answer)), item))
    rates = mode_rates(suite, completions)
    # 1 in 4 answers is the surface city although the thinking concludes another one; shallow thinking
    # that follows itself is a surface answer too, but no departure from the thinking
    assert rates["shortcut_over_thinking"] == pytest.approx(1 / 3) and rates["answer_shortcut"] == 0.5
    assert rates["careful_attempt"] == 0.75 and rates["careful_acc"] == pytest.approx(2 / 3)
    assert rates["answer_follows"] == 0.75 and rates["n"] == 40
    depths = by_depth(suite, completions)
    assert set(depths) == {"1", "2", "3"} and sum(d["n"] for d in depths.values()) == 40


WORLD_REPORT = ROOT / "docs" / "world_build_report.json"


def test_the_default_world_offers_both_paths():
    """The recorded build of the default world (docs/findings.md, "The world"): answers sampled at temperature 1
    take the answer-level shortcut often on multi-hop items, greedy answers still follow the thinking, and
    careful thinking is executed. A changed default world fails here until its build report is recorded."""
    from harness.config import MicroConfig

    report = read_json(WORLD_REPORT)
    assert report["config_hash"] == config_hash(MicroConfig()), "record the new world's build_report.json"
    gqa = report["validation"]["micro_gqa"]
    for hops in ("2", "3"):
        assert gqa["sampled_by_depth"][hops]["shortcut_over_thinking"] >= 0.2  # the shortcut is sampled
        assert gqa["sampled_by_depth"][hops]["careful_acc"] >= 0.5  # careful thinking is executable
    for hops, rates in gqa["greedy_by_depth"].items():
        assert rates["answer_follows"] >= 0.9 and (rates["shortcut_over_thinking"] or 0.0) <= 0.5, hops
    assert gqa["pass@8"] > gqa["greedy_acc"] and gqa["frac_reward_zero_std"] < 0.5  # RL has a signal
    math = report["validation"]["micro_math"]
    for steps in ("2", "3", "4"):
        assert math["sampled_by_depth"][steps]["shortcut_over_thinking"] >= 0.2
    assert math["greedy_answer_follows"] >= 0.9 and math["sampled_by_depth"]["2"]["careful_acc"] >= 0.5
