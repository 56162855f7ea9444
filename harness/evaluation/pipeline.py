"""A run's evaluation: the policy's answers, then thinking-quality probes on its cached thinking.

All of it runs as lm-eval tasks written into ``<run>/lm_eval/tasks`` (see ``docs/metrics.md``):

1. ``<suite>``: the policy thinks and answers; ``<suite>_nothink``: it answers after an empty thinking.
2. ``<suite>_trunc<λ·100>``: the policy answers after the first ⌊λ·|t|⌋ tokens of its own thinking.
3. ``<suite>_xgen_<answerer>`` / ``<suite>_xgen0_<answerer>``: each Cross-Generation answerer answers
   after the policy's thinking / after an empty one; it never sees the policy's answer.

The thinking is generated once, in step 1, and reused by 2 and 3. Each model is loaded once. The
per-item results are merged into one record per item (``samples.jsonl``); the run's metrics are
:func:`harness.evaluation.metrics.aggregate` of those records.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from harness.config import EvalConfig
from harness.evaluation.answerers import Answerer
from harness.evaluation.lm_eval_bridge import (
    EvalModel,
    TaskSpec,
    cli_command,
    run_tasks,
    task_samples,
    write_task_files,
)
from harness.evaluation.metrics import aggregate, item_flags, lam_key
from harness.prompts import format_prompt
from harness.results import write_json, write_jsonl
from harness.suites import Item, Suite
from harness.suites.format import forced_answer, forced_answer_prefill, parse_completion


@dataclass
class Evaluation:
    metrics: dict[str, float]  # "<suite>/<metric>"
    records: list[dict[str, Any]]  # one per test item
    info: dict[str, Any]  # what the thinking-quality metrics were computed with
    commands: list[tuple[str, str]] = field(default_factory=list)  # (label, lm_eval CLI call)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each evaluation call


def truncate(thinking: str, lam: float, tokenizer) -> str:
    """The first ⌊λ·|t|⌋ tokens of ``thinking`` (tokens of the policy's tokenizer)."""
    ids = tokenizer(thinking, add_special_tokens=False)["input_ids"]
    keep = math.floor(lam * len(ids))
    return thinking if keep == len(ids) else tokenizer.decode(ids[:keep])


def trunc_task(suite: Suite, lam: float) -> str:
    return f"{suite.name}_trunc{round(lam * 100):03d}"


class RunEvaluator:
    """Evaluates one policy on one suite's test items into ``run_dir`` (see the module docstring)."""

    def __init__(self, suite: Suite, suite_params: dict, items: list[Item], eval_cfg: EvalConfig, run_dir: Path):
        self.suite, self.items, self.cfg = suite, items, eval_cfg
        self.run_dir = Path(run_dir)
        self.task_dir = self.run_dir / "lm_eval" / "tasks"
        self.base_row = {it.id: {**it.to_json(), "suite": suite.name, "reward": suite.reward_kind,
                                 "suite_params": json.dumps(suite_params, sort_keys=True)} for it in items}
        self.commands: list[tuple[str, str]] = []
        self.seconds: dict[str, float] = {}

    def evaluate(self, policy: EvalModel, tokenizer, answerers: list[Answerer]) -> Evaluation:
        started = time.perf_counter()
        lm = policy.load(self.cfg.batch_size)
        self.seconds["load-policy"] = time.perf_counter() - started
        records = self._policy_answers(policy, lm, tokenizer)
        if self.cfg.truncation:
            self._truncation(policy, lm, tokenizer, records)
        for answerer in tqdm(answerers, desc="cross-generation", disable=not answerers):
            self._cross_generation(answerer, records)
        ladder = [a.config.name for a in answerers if a.config.ladder]
        names = [a.config.name for a in answerers]
        rows = [records[it.id] for it in self.items]
        for r in rows:
            r.update(item_flags(r, ladder))
        metrics = aggregate(rows, names, ladder, self.cfg.truncation)
        info = {"answerers": names, "ladder": ladder, "lambdas": list(self.cfg.truncation),
                "answerer_models": {a.config.name: a.model.model_args for a in answerers}}
        return Evaluation({f"{self.suite.name}/{k}": v for k, v in metrics.items()}, rows, info, self.commands,
                          {k: round(v, 3) for k, v in self.seconds.items()})

    # --- the three steps ------------------------------------------------------------------------
    def _policy_answers(self, policy: EvalModel, lm, tokenizer) -> dict[str, dict[str, Any]]:
        name = self.suite.name
        data = self._write_rows(f"{name}_test", {
            "prompt": lambda it: format_prompt(tokenizer, it.question),
            "prompt_nothink": lambda it: format_prompt(tokenizer, it.question) + forced_answer_prefill("")})
        specs = [TaskSpec(name, data, "prompt", "process_results", self.suite.metric_keys, self.cfg.max_gen_toks)]
        if self.cfg.nothink:
            specs.append(self._forced(f"{name}_nothink", data, "prompt_nothink"))
        raw = self._run(policy, lm, specs, "policy")
        records = {}
        for item_id, s in task_samples(raw, name).items():
            parsed = parse_completion(s["resps"][0][0])
            records[item_id] = {
                "id": item_id, "gold": s["doc"]["gold"], "completion": s["resps"][0][0],
                "thinking": parsed.thinking, "answer": parsed.answer,
                "think_tokens": len(tokenizer(parsed.thinking, add_special_tokens=False)["input_ids"]),
                **{m: float(s[m]) for m in self.suite.metric_keys}}
        if self.cfg.nothink:
            for item_id, s in task_samples(raw, f"{name}_nothink").items():
                records[item_id]["nothink_answer"] = forced_answer(s["resps"][0][0])
                records[item_id]["nothink_acc"] = float(s["acc"])
        return records

    def _truncation(self, policy: EvalModel, lm, tokenizer, records: dict[str, dict]) -> None:
        fields = {f"prompt_{trunc_task(self.suite, lam)}": _prefill(tokenizer, records, lam)
                  for lam in self.cfg.truncation}
        data = self._write_rows(f"{self.suite.name}_trunc", fields)
        specs = [self._forced(trunc_task(self.suite, lam), data, f"prompt_{trunc_task(self.suite, lam)}")
                 for lam in self.cfg.truncation]
        raw = self._run(policy, lm, specs, "policy-truncation")
        for lam in self.cfg.truncation:
            self._merge(raw, trunc_task(self.suite, lam), records, f"p_trunc/{lam_key(lam)}",
                        f"trunc_answer/{lam_key(lam)}")

    def _cross_generation(self, answerer: Answerer, records: dict[str, dict]) -> None:
        name, tok = answerer.config.name, answerer.tokenizer
        think_task, empty_task = f"{self.suite.name}_xgen_{name}", f"{self.suite.name}_xgen0_{name}"
        data = self._write_rows(f"{self.suite.name}_xgen_{name}", {
            "prompt_think": lambda it: format_prompt(tok, it.question)
            + forced_answer_prefill(records[it.id]["thinking"]),
            "prompt_empty": lambda it: format_prompt(tok, it.question) + forced_answer_prefill("")})
        specs = [self._forced(think_task, data, "prompt_think"), self._forced(empty_task, data, "prompt_empty")]
        started = time.perf_counter()
        lm = answerer.model.load(self.cfg.batch_size)
        self.seconds[f"load-{name}"] = time.perf_counter() - started
        raw = self._run(answerer.model, lm, specs, f"xgen-{name}")
        self._merge(raw, think_task, records, f"xgen_acc/{name}", f"xgen_answer/{name}")
        self._merge(raw, empty_task, records, f"xgen_nothink_acc/{name}", f"xgen_nothink_answer/{name}")

    # --- helpers ----------------------------------------------------------------------------------
    def _forced(self, task: str, data: Path, prompt_field: str) -> TaskSpec:
        return TaskSpec(task, data, prompt_field, "process_results_forced", ("acc",), self.cfg.answer_max_toks)

    def _write_rows(self, stem: str, prompts: dict[str, Any]) -> Path:
        """One JSONL row per item: the item, its suite, and one column per prompt variant."""
        path = self.task_dir / f"{stem}.jsonl"
        write_jsonl(path, [{**self.base_row[it.id], **{k: make(it) for k, make in prompts.items()}}
                           for it in self.items])
        return path

    def _run(self, model: EvalModel, lm, specs: list[TaskSpec], label: str) -> dict[str, Any]:
        write_task_files(self.task_dir, specs)
        tasks = [s.name for s in specs]
        out = self.run_dir / "lm_eval"
        self.commands.append((label, cli_command(model, self.task_dir, tasks, self.cfg.batch_size, out / "cli")))
        started = time.perf_counter()
        raw = run_tasks(lm, self.task_dir, tasks)
        self.seconds[label] = time.perf_counter() - started
        write_json(out / f"results_{label}.json", {k: v for k, v in raw.items() if k != "samples"})
        return raw

    @staticmethod
    def _merge(raw: dict, task: str, records: dict[str, dict], acc_key: str, answer_key: str) -> None:
        for item_id, s in task_samples(raw, task).items():
            records[item_id][acc_key] = float(s["acc"])
            records[item_id][answer_key] = forced_answer(s["resps"][0][0])


def _prefill(tokenizer, records: dict[str, dict], lam: float):
    return lambda it: format_prompt(tokenizer, it.question) + forced_answer_prefill(
        truncate(records[it.id]["thinking"], lam, tokenizer))

