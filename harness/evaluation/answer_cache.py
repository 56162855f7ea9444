"""Cross-run cache of the answers that do not depend on the policy: answerer R after an empty thinking.

The Cross-Generation baseline (R answers from (q, ∅)) is the same prompt for every run that shares
the test items and the answerer, and greedy decoding is deterministic; a sweep would otherwise
recompute it in every run. The key covers everything that determines those answers: the
answerer's weights (content hash; hub ids without local files are never cached), every prompt and
gold, the generation budget and batch size, the torch thread count and the lm-eval version. The
lm-eval command recorded in the run still evaluates both conditions, so the cached numbers remain
reproducible from the run folder.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from harness.evaluation.lm_eval_bridge import EvalModel
from harness.results import hash_checkpoint, hash_strings, write_jsonl


def model_fingerprint(model: EvalModel) -> str | None:
    """Content hash of the model behind ``model`` (None when its weights are not local files)."""
    if model.lm_name != "hf":
        return model.model_args  # a scripted policy is its code
    path = dict(kv.split("=", 1) for kv in model.model_args.split(","))["pretrained"]
    digest = hash_checkpoint(Path(path)) if Path(path).is_dir() else ""
    return None if not digest or digest.startswith("unhashed:") else f"{model.model_args}|{digest}"


def cache_key(model: EvalModel, rows: list[dict[str, Any]], prompt_field: str, settings: dict[str, Any]
              ) -> str | None:
    fingerprint = model_fingerprint(model)
    if fingerprint is None:
        return None
    parts = [fingerprint, metadata.version("lm_eval"), str(torch.get_num_threads()),
             json.dumps(settings, sort_keys=True)]
    parts += [json.dumps([r["id"], r[prompt_field], r["gold"], r["aliases"], r["suite"], r["reward"],
                          r["suite_params"]]) for r in rows]
    return hash_strings(parts)


class AnswerCache:
    """``<cache_dir>/answers/<key>.jsonl``: one ``{"id", "acc", "answer"}`` row per item."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.folder = Path(cache_dir) / "answers"

    def get(self, key: str | None) -> dict[str, dict[str, Any]] | None:
        path = self.folder / f"{key}.jsonl"
        if key is None or not path.is_file():
            return None
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        return {r["id"]: r for r in rows}

    def put(self, key: str | None, rows: list[dict[str, Any]]) -> None:
        if key is not None:
            write_jsonl(self.folder / f"{key}.jsonl", rows)
