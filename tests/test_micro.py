"""The micro world's base checkpoint: stock transformers loads it; the cache is content-addressed."""

from __future__ import annotations

import dataclasses

from transformers import AutoModelForCausalLM, AutoTokenizer

from harness.micro.build import config_hash, ensure_micro_model
from harness.results import read_json
from harness.suites.format import TAGS
from harness.validate import validate
from tests.conftest import TINY, compose_cfg


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


def test_cache_is_reused_and_keyed_by_config(tiny_base, cache_dir):
    cfg = validate(compose_cfg(TINY + [f"cache_dir={cache_dir}"]))
    mtime = (tiny_base / "model.safetensors").stat().st_mtime_ns
    assert ensure_micro_model(cfg.model.micro, cache_dir) == tiny_base
    assert (tiny_base / "model.safetensors").stat().st_mtime_ns == mtime
    changed = dataclasses.replace(cfg.model.micro, warm_start=dataclasses.replace(cfg.model.micro.warm_start, lr=1e-3))
    assert config_hash(changed) != config_hash(cfg.model.micro) == tiny_base.name
