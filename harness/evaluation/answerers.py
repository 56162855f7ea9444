"""Resolve ``eval.answerers`` into models lm-eval can load (the Cross-Generation ladder).

``kind=micro``: a warm-start snapshot of the run's micro world (built and cached with it);
``kind=hf``: any hub id or local checkpoint; ``kind=scripted``: a scripted policy such as the reader,
which writes its prompts with the policy's tokenizer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from transformers import AutoTokenizer

from harness.config import AnswererConfig, Config
from harness.evaluation.lm_eval_bridge import EvalModel


@dataclass
class Answerer:
    """A resolved answerer: its config, its lm-eval model and its tokenizer (for its prompts)."""

    config: AnswererConfig
    model: EvalModel
    tokenizer: Any


def resolve_answerers(cfg: Config, policy_tokenizer) -> list[Answerer]:
    out = []
    for a in cfg.eval.answerers:
        if a.kind == "scripted":
            out.append(Answerer(a, EvalModel.scripted(a.name, a.path), policy_tokenizer))
            continue
        if a.kind == "micro":
            from harness.micro.build import ensure_micro_model, snapshot_dir

            build = ensure_micro_model(cfg.model.micro, cfg.cache_dir)
            path = snapshot_dir(build, cfg.model.micro.warm_start.snapshots[a.snapshot])
        else:
            path = a.path
        out.append(Answerer(a, EvalModel.of(a.name, path, cfg), AutoTokenizer.from_pretrained(path)))
    return out
