"""Cross-run caches of evaluations that do not depend on what a run trained.

* ``AnswerCache`` (``eval.reuse_empty_answers``): the Cross-Generation baseline, answerer R after an
  empty thinking. It is the same prompt for every run that shares the test items and the answerer,
  and greedy decoding is deterministic; a sweep would otherwise recompute it in every run.
* ``CallCache`` (``eval.reuse_base_evals``): a whole lm-eval call of a run whose policy it did not
  train (``method=base``): the base model's answers, truncation probes and Cross-Generation on its
  thinking are the same in every seed and in every run that evaluates the same suite.

The keys cover everything that determines the answers: the model's weights (content hash; hub ids
without local files are never cached), its lm-eval arguments and device, every prompt and gold (the
task data file), the tasks' generation settings, the batch size, the torch thread count, the harness's
own source (the scorers, normalisers and prompt code: ``harness.fingerprint.code_hash``) and the
versions of the libraries that compute numbers (torch, transformers, lm-eval, math-verify, …:
``harness.fingerprint.numeric_versions``) -- the parts of a run's fingerprint that concern an
evaluation. A run that reuses a result still records the lm-eval command that computes it, so its
numbers remain reproducible from the run folder. A cache file that cannot be read whole (cut short,
not JSON, items missing) counts as absent, with a warning naming it: the evaluation is computed
again and the file replaced (atomically).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from harness.evaluation.lm_eval_bridge import SCRIPTED_LM, EvalModel, TaskSpec
from harness.fingerprint import code_hash, numeric_versions
from harness.results import hash_checkpoint, hash_strings, read_json, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)


def model_fingerprint(model: EvalModel) -> str | None:
    """Content hash of the model behind ``model`` (None when its weights are not local files)."""
    if model.lm_name == SCRIPTED_LM:
        return model.model_args  # a scripted policy is its code
    path = dict(kv.split("=", 1) for kv in model.model_args.split(","))["pretrained"]
    digest = hash_checkpoint(Path(path)) if Path(path).is_dir() else ""
    return None if not digest or digest.startswith("unhashed:") else f"{model.model_args}|{model.device}|{digest}"


def _key(model: EvalModel, settings: dict[str, Any], parts: list[str]) -> str | None:
    fingerprint = model_fingerprint(model)
    if fingerprint is None:
        return None
    return hash_strings([fingerprint, code_hash(), json.dumps(numeric_versions(), sort_keys=True),
                         str(torch.get_num_threads()), json.dumps(settings, sort_keys=True), *parts])


def cache_key(model: EvalModel, rows: list[dict[str, Any]], prompt_field: str, settings: dict[str, Any]
              ) -> str | None:
    """Key of ``model``'s answers to the ``prompt_field`` prompts of ``rows``."""
    return _key(model, settings, [json.dumps([r["id"], r[prompt_field], r["gold"], r["aliases"], r["suite"],
                                              r["reward"], r["suite_params"]]) for r in rows])


def call_key(model: EvalModel, specs: list[TaskSpec], settings: dict[str, Any]) -> str | None:
    """Key of one lm-eval call of ``model`` on ``specs`` (task settings and data file contents)."""
    parts = []
    for s in specs:
        parts += [json.dumps([s.name, s.prompt_field, s.hook, list(s.metrics), s.max_gen_toks]),
                  Path(s.data_file).read_text(encoding="utf-8")]
    return _key(model, settings, parts)


class AnswerCache:
    """``<cache_dir>/answers/<key>.jsonl``: one ``{"id", "acc", "answer"}`` row per item."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.folder = Path(cache_dir) / "answers"

    def get(self, key: str | None, ids: Iterable[str]) -> dict[str, dict[str, Any]] | None:
        """The cached rows of every item in ``ids``; None when there is no entry, or it is unusable."""
        path = self.folder / f"{key}.jsonl"
        if key is None or not path.is_file():
            return None
        try:
            rows = {r["id"]: r for r in read_jsonl(path)}
        except (OSError, ValueError, TypeError, KeyError) as e:
            return _unusable(path, f"{type(e).__name__}: {e}")
        missing = [i for i in ids if not _answer_row(rows.get(i))]
        return _unusable(path, f"{len(missing)} items missing, e.g. {missing[0]!r}") if missing else rows

    def put(self, key: str | None, rows: list[dict[str, Any]]) -> None:
        if key is not None:
            write_jsonl(self.folder / f"{key}.jsonl", rows)


class CallCache:
    """``<cache_dir>/evals/<key>.json``: lm-eval's whole output of one call, per-item samples included."""

    def __init__(self, cache_dir: str | Path) -> None:
        self.folder = Path(cache_dir) / "evals"

    def get(self, key: str | None) -> dict[str, Any] | None:
        """lm-eval's output of the call; None when there is no entry, or it is unusable."""
        path = self.folder / f"{key}.json"
        if key is None or not path.is_file():
            return None
        try:
            raw = read_json(path)
        except (OSError, ValueError) as e:
            return _unusable(path, f"{type(e).__name__}: {e}")
        if not (isinstance(raw, dict) and all(isinstance(raw.get(k), dict) for k in ("results", "samples"))):
            return _unusable(path, "not an lm-eval output (results and samples)")
        return raw

    def put(self, key: str | None, raw: dict[str, Any]) -> None:
        if key is not None:
            write_json(self.folder / f"{key}.json", raw)


def _answer_row(row: Any) -> bool:
    return isinstance(row, dict) and isinstance(row.get("acc"), int | float) and isinstance(row.get("answer"), str)


def _unusable(path: Path, why: str) -> None:
    log.warning("cache file %s is unusable (%s): computing it again", path, why)
    return None
