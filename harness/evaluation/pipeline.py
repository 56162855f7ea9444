"""A run's evaluation: the policy's answers, then thinking-quality probes on its cached thinking.

All of it runs as lm-eval tasks written into ``<run>/lm_eval/tasks`` (see ``docs/metrics.md``):

1. ``<suite>``: the policy thinks and answers; ``<suite>_nothink``: it answers after an empty thinking.
2. ``<suite>_trunc<λ·100>``: the policy answers after the first ⌊λ·|t|⌋ tokens of its own thinking.
3. ``<suite>_corrupt`` / ``<suite>_filler`` (``eval.interventions``): the policy answers after its thinking
   with the conclusion corrupted (``Suite.corrupt``) / after neutral filler of the same token length.
4. ``<suite>_xgen_<answerer>`` / ``<suite>_xgen0_<answerer>``: each Cross-Generation answerer answers
   after the policy's thinking / after an empty one; it never sees the policy's answer; with
   ``eval.interventions`` also ``<suite>_xgenp_<answerer>``: after the thinking of another test item
   (the placebo), in the same call.

The thinking is generated once, in step 1, and reused by 2-4; truncation at λ=0 is the prompt of
``<suite>_nothink`` and reuses its answers. The same is done for every suite of ``eval.extra_suites``
(transfer), and for the shifted test splits of every suite evaluated (``Suite.shifted``: e.g.
``micro_gqa_ood`` beside ``micro_gqa``), which get the policy's answers (no ``_nothink``) and the
corrupted-conclusion probe only (to keep their cost small). Each model is loaded once per run, and
only when a call needs it: the evaluation of a policy the run did not train comes from the cross-run
cache when another run already made it (``answer_cache.py``). The per-item results are merged into
one record per item and suite (``samples.jsonl``); the run's metrics are
:func:`harness.evaluation.metrics.aggregate` of those records, per suite.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from harness.config import Config, DataConfig, EvalConfig
from harness.evaluation.answer_cache import AnswerCache, CallCache, cache_key, call_key
from harness.evaluation.builtin_tasks import run_builtin
from harness.evaluation.lm_eval_bridge import (
    EvalModel,
    TaskSpec,
    cli_command,
    run_tasks,
    task_samples,
    write_task_files,
)
from harness.evaluation.metrics import aggregate, item_flags, lam_key
from harness.models import Answerer, get_kind
from harness.prompts import format_prompt
from harness.results import read_jsonl, write_json, write_jsonl
from harness.suites import Item, Suite, get_suite
from harness.suites.format import forced_answer, forced_answer_prefill, parse_completion
from harness.suites.interventions import filler_text
from harness.suites.scoring import normalize_answer


@dataclass
class Evaluation:
    metrics: dict[str, float]  # "<suite>/<metric>"
    records: list[dict[str, Any]]  # one per test item and suite
    info: dict[str, Any]  # what the thinking-quality metrics were computed with
    commands: list[tuple[str, str]] = field(default_factory=list)  # (label, lm_eval CLI call)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each evaluation call

log = logging.getLogger(__name__)


def truncate(thinking: str, lam: float, tokenizer) -> str:
    """The first ⌊λ·|t|⌋ tokens of ``thinking`` (tokens of the policy's tokenizer)."""
    ids = tokenizer(thinking, add_special_tokens=False)["input_ids"]
    keep = math.floor(lam * len(ids))
    return thinking if keep == len(ids) else tokenizer.decode(ids[:keep])


def trunc_task(suite: Suite, lam: float) -> str:
    return f"{suite.name}_trunc{round(lam * 100):03d}"


def evaluate_suites(cfg: Config, suites: list[tuple[DataConfig, Suite, list[Item]]], policy: EvalModel,
                    tokenizer, run_dir: Path, *, policy_trained: bool = True) -> Evaluation:
    """Evaluate ``policy`` on every (data config, suite, test items); each model is loaded once.

    ``policy_trained=False`` (the run did not train it: ``method=base``) lets every evaluation call
    come from, and go to, the cross-run cache (``eval.reuse_base_evals``).
    """
    answerers = [get_kind(a.kind).answerer(a, cfg, tokenizer) for a in cfg.eval.answerers]
    pool, cache = ModelPool(cfg.eval.batch_size), AnswerCache(cfg.cache_dir)
    calls = CallCache(cfg.cache_dir) if cfg.eval.reuse_base_evals and not policy_trained else None
    plan = with_shifted_splits(suites)
    out = Evaluation({}, [], {"answerers": [a.config.name for a in answerers],
                              "ladder": [a.config.name for a in answerers if a.config.ladder],
                              "lambdas": list(cfg.eval.truncation),
                              "answerer_models": {a.config.name: a.model.model_args for a in answerers},
                              "suites": [suite.name for _, suite, _, _ in plan],
                              "shifted": {suite.name: of for _, suite, _, of in plan if of}})
    for data, suite, items, shifted_from in plan:
        # a shifted split gets the policy's answers and the corrupted-conclusion probe only (docs/metrics.md)
        eval_cfg = dataclasses.replace(cfg.eval, truncation=[], nothink=False) if shifted_from else cfg.eval
        evaluator = RunEvaluator(suite, dict(data.params), items, eval_cfg, run_dir, pool, cache, calls,
                                 filler=not shifted_from)
        metrics, records = evaluator.evaluate(policy, tokenizer, [] if shifted_from else answerers)
        out.info.setdefault("reused_empty_answers", {})[suite.name] = evaluator.reused
        out.info.setdefault("reused_evaluations", {})[suite.name] = evaluator.reused_calls
        out.metrics.update(metrics)
        out.records += records
        out.commands += evaluator.commands
        out.seconds.update(evaluator.seconds)
    if cfg.eval.lm_eval_tasks:  # (validation refuses them for scripted policies)
        started = time.perf_counter()
        metrics, command = run_builtin(pool.get(policy), policy, tokenizer, list(cfg.eval.lm_eval_tasks),
                                       cfg.eval.batch_size, run_dir, include_path=list(cfg.eval.lm_eval_include_path),
                                       max_gen_toks=cfg.eval.max_gen_toks,
                                       truncation_warning=cfg.eval.truncation_warning)
        out.seconds["lm_eval-builtin"] = time.perf_counter() - started
        out.metrics.update(metrics)
        out.commands.append(("lm_eval-builtin", command))
    out.seconds.update(pool.seconds)
    out.seconds = {k: round(v, 3) for k, v in out.seconds.items()}
    return out


def with_shifted_splits(suites: list[tuple[DataConfig, Suite, list[Item]]]
                        ) -> list[tuple[DataConfig, Suite, list[Item], str | None]]:
    """``suites``, each followed by its shifted test splits (``Suite.shifted``) unless already listed.

    A shifted split takes the suite's data config with its own name and the overridden parameters, and
    draws its test items as the run draws the suite's (:meth:`Suite.test_items`).
    The last element names the suite a split shifts (None for the suites given).
    """
    listed = {suite.name for _, suite, _ in suites}
    plan: list[tuple[DataConfig, Suite, list[Item], str | None]] = []
    for data, suite, items in suites:
        plan.append((data, suite, items, None))
        for name, overrides in suite.shifted.items():
            if name in listed:
                continue
            listed.add(name)
            shifted = dataclasses.replace(data, name=name, params={**data.params, **overrides})
            split = get_suite(name, reward=shifted.reward, **shifted.params)
            plan.append((shifted, split, split.test_items(shifted), suite.name))
    return plan


def placebo_donors(items: list[Item]) -> dict[str, str]:
    """Item id -> the id of the item whose thinking is its placebo: the next item (cyclically) whose gold
    answers share no alias with its own, so that another item's thinking carries nothing about its answer."""
    golds = [{normalize_answer(a) for a in it.aliases} for it in items]
    donors = {}
    n = len(items)
    for i, item in enumerate(items):
        j = next((j for j in ((i + k) % n for k in range(1, n)) if not golds[i] & golds[j]), (i + 1) % n)
        donors[item.id] = items[j].id
    return donors


class ModelPool:
    """lm-eval models, each loaded once per run and reused by every suite and probe."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size, self.models, self.seconds = batch_size, {}, {}

    def get(self, model: EvalModel):
        if model not in self.models:
            started = time.perf_counter()
            self.models[model] = model.load(self.batch_size)
            self.seconds[f"load-{model.label}"] = time.perf_counter() - started
        return self.models[model]


class RunEvaluator:
    """Evaluates one policy on one suite's test items into ``run_dir`` (see the module docstring)."""

    def __init__(self, suite: Suite, suite_params: dict, items: list[Item], eval_cfg: EvalConfig, run_dir: Path,
                 pool: ModelPool, cache: AnswerCache, calls: CallCache | None = None, filler: bool = True):
        self.suite, self.items, self.cfg, self.pool, self.cache, self.calls = suite, items, eval_cfg, pool, cache, calls
        self.filler = filler  # the filler probe (with eval.interventions)
        self.reused: list[str] = []  # answerers whose (q, ∅) answers came from the cache
        self.reused_calls: list[str] = []  # labels of the lm-eval calls that came from the call cache
        self.run_dir = Path(run_dir)
        self.task_dir = self.run_dir / "lm_eval" / "tasks"
        self.base_row = {it.id: {**it.to_json(), "suite": suite.name, "reward": suite.reward_kind,
                                 "suite_params": json.dumps(suite_params, sort_keys=True)} for it in items}
        self.commands: list[tuple[str, str]] = []
        self.seconds: dict[str, float] = {}

    @functools.cached_property
    def donors(self) -> dict[str, str]:
        """:func:`placebo_donors` of the items, worked out when the first answerer's placebo needs them."""
        return placebo_donors(self.items)

    def evaluate(self, policy: EvalModel, tokenizer, answerers: list[Answerer]
                 ) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The suite's metrics (``<suite>/<metric>``) and per-item records."""
        records = self._policy_answers(policy, tokenizer)
        if self.cfg.truncation:
            self._truncation(policy, tokenizer, records)
        if self.cfg.interventions:
            self._interventions(policy, tokenizer, records)
        for answerer in tqdm(answerers, desc=f"cross-generation {self.suite.name}", disable=not answerers):
            self._cross_generation(answerer, records)
        ladder = [a.config.name for a in answerers if a.config.ladder]
        rows = [records[it.id] for it in self.items]
        for r in rows:
            r.update(item_flags(r, ladder))
        metrics = aggregate(rows, [a.config.name for a in answerers], ladder, self.cfg.truncation)
        return {f"{self.suite.name}/{k}": v for k, v in metrics.items()}, rows

    # --- the three steps ------------------------------------------------------------------------
    def _policy_answers(self, policy: EvalModel, tokenizer) -> dict[str, dict[str, Any]]:
        name = self.suite.name
        data = self._write_rows(f"{name}_test", {
            "prompt": lambda it: format_prompt(tokenizer, it.question),
            "prompt_nothink": lambda it: format_prompt(tokenizer, it.question) + forced_answer_prefill("")})
        specs = [TaskSpec(name, data, "prompt", "process_results", self.suite.metric_keys, self.cfg.max_gen_toks)]
        if self.cfg.nothink:
            specs.append(self._forced(f"{name}_nothink", data, "prompt_nothink"))
        raw = self._run(policy, specs, f"{name}-policy")
        records = {}
        for item_id, s in task_samples(raw, name).items():
            parsed = parse_completion(s["resps"][0][0])
            records[item_id] = {
                "suite": name, "id": item_id, "gold": s["doc"]["gold"], "completion": s["resps"][0][0],
                "thinking": parsed.thinking, "answer": parsed.answer,
                "think_tokens": len(tokenizer(parsed.thinking, add_special_tokens=False)["input_ids"]),
                **{m: float(s[m]) for m in self.suite.metric_keys}}
        unclosed = sum(r["no_think_close"] for r in records.values()) / max(len(records), 1)
        if unclosed > self.cfg.truncation_warning:
            log.warning("%s: %.0f%% of the policy's generations hit eval.max_gen_toks=%d before closing their "
                        "thinking (scored wrong); raise eval.max_gen_toks for a thinking model", name,
                        100 * unclosed, self.cfg.max_gen_toks)
        if self.cfg.nothink:
            for item_id, s in task_samples(raw, f"{name}_nothink").items():
                records[item_id]["nothink_answer"] = forced_answer(s["resps"][0][0])
                records[item_id]["nothink_acc"] = float(s["acc"])
        return records

    def _truncation(self, policy: EvalModel, tokenizer, records: dict[str, dict]) -> None:
        lambdas = self.cfg.truncation
        fields = {f"prompt_{trunc_task(self.suite, lam)}": _prefill(tokenizer, records, lam) for lam in lambdas}
        data = self._write_rows(f"{self.suite.name}_trunc", fields)
        specs = {lam: self._forced(trunc_task(self.suite, lam), data, f"prompt_{trunc_task(self.suite, lam)}")
                 for lam in lambdas}
        # λ=0 keeps no thinking: its prompt is the one of <suite>_nothink, whose answers are already there
        reused = [lam for lam in lambdas if lam == 0 and self.cfg.nothink]
        todo = [specs[lam] for lam in lambdas if lam not in reused]
        raw = self._run(policy, todo, f"{self.suite.name}-policy-truncation", recorded=list(specs.values())) \
            if todo else None
        for lam in lambdas:
            acc_key, answer_key = f"p_trunc/{lam_key(lam)}", f"trunc_answer/{lam_key(lam)}"
            if lam in reused:
                for record in records.values():
                    record[acc_key], record[answer_key] = record["nothink_acc"], record["nothink_answer"]
            else:
                self._merge(raw, trunc_task(self.suite, lam), records, acc_key, answer_key)

    def _interventions(self, policy: EvalModel, tokenizer, records: dict[str, dict]) -> None:
        """Corrupted conclusion and same-length filler: two forced answers of the policy, in one call."""
        name = self.suite.name
        corrupted = {it.id: self.suite.corrupt(records[it.id]["thinking"], it, self.items) for it in self.items}
        for it in self.items:
            records[it.id]["corrupt_value"] = corrupted[it.id].value if corrupted[it.id] else ""
        prompts = {
            # nothing to corrupt (no conclusion stated): the thinking as it is, and no value to follow
            "prompt_corrupt": lambda it: format_prompt(tokenizer, it.question) + forced_answer_prefill(
                corrupted[it.id].thinking if corrupted[it.id] else records[it.id]["thinking"]),
            "corrupt_value": lambda it: records[it.id]["corrupt_value"]}
        if self.filler:
            fillers = {n: filler_text(n, tokenizer) for n in {records[it.id]["think_tokens"] for it in self.items}}
            prompts["prompt_filler"] = lambda it: format_prompt(tokenizer, it.question) + forced_answer_prefill(
                fillers[records[it.id]["think_tokens"]])
        data = self._write_rows(f"{name}_interventions", prompts)
        specs = [TaskSpec(f"{name}_corrupt", data, "prompt_corrupt", "process_results_corrupt",
                          ("acc", "corrupt_follow"), self.cfg.answer_max_toks)]
        if self.filler:
            specs.append(self._forced(f"{name}_filler", data, "prompt_filler"))
        raw = self._run(policy, specs, f"{name}-policy-interventions")
        self._merge(raw, f"{name}_corrupt", records, "corrupt_acc", "corrupt_answer")
        for item_id, s in task_samples(raw, f"{name}_corrupt").items():
            records[item_id]["corrupt_follow"] = float(s["corrupt_follow"])
        if self.filler:
            self._merge(raw, f"{name}_filler", records, "filler_acc", "filler_answer")

    def _cross_generation(self, answerer: Answerer, records: dict[str, dict]) -> None:
        name, tok = answerer.config.name, answerer.tokenizer
        think_task, empty_task = f"{self.suite.name}_xgen_{name}", f"{self.suite.name}_xgen0_{name}"
        placebo_task = f"{self.suite.name}_xgenp_{name}"
        prompts = {
            "prompt_think": lambda it: format_prompt(tok, it.question)
            + forced_answer_prefill(records[it.id]["thinking"]),
            "prompt_empty": lambda it: format_prompt(tok, it.question) + forced_answer_prefill("")}
        if self.cfg.interventions:  # the placebo: the thinking of another item (placebo_donors)
            prompts["prompt_placebo"] = lambda it: format_prompt(tok, it.question) + forced_answer_prefill(
                records[self.donors[it.id]]["thinking"])
        data = self._write_rows(f"{self.suite.name}_xgen_{name}", prompts)
        specs = [self._forced(think_task, data, "prompt_think"), self._forced(empty_task, data, "prompt_empty")]
        if self.cfg.interventions:
            specs.insert(1, self._forced(placebo_task, data, "prompt_placebo"))
        key = cache_key(answerer.model, read_jsonl(data), "prompt_empty",
                        {"answer_max_toks": self.cfg.answer_max_toks, "batch_size": self.cfg.batch_size}) \
            if self.cfg.reuse_empty_answers else None
        cached = None if self.calls else self.cache.get(key, records)  # (the call cache keeps both conditions)
        raw = self._run(answerer.model, specs[:-1] if cached else specs, f"{self.suite.name}-xgen-{name}",
                        recorded=specs)
        self._merge(raw, think_task, records, f"xgen_acc/{name}", f"xgen_answer/{name}")
        if self.cfg.interventions:
            self._merge(raw, placebo_task, records, f"placebo_acc/{name}", f"placebo_answer/{name}")
            for item_id, record in records.items():
                record.setdefault("placebo_donor", self.donors[item_id])
        if cached is None:
            cached = {i: {"id": i, "acc": float(s["acc"]), "answer": forced_answer(s["resps"][0][0])}
                      for i, s in task_samples(raw, empty_task).items()}
            self.cache.put(key, list(cached.values()))
        else:
            self.reused.append(name)
        for item_id, record in records.items():
            record[f"xgen_nothink_acc/{name}"] = cached[item_id]["acc"]
            record[f"xgen_nothink_answer/{name}"] = cached[item_id]["answer"]

    # --- helpers ----------------------------------------------------------------------------------
    def _forced(self, task: str, data: Path, prompt_field: str) -> TaskSpec:
        return TaskSpec(task, data, prompt_field, "process_results_forced", ("acc",), self.cfg.answer_max_toks)

    def _write_rows(self, stem: str, prompts: dict[str, Any]) -> Path:
        """One JSONL row per item: the item, its suite, and one column per prompt variant."""
        path = self.task_dir / f"{stem}.jsonl"
        write_jsonl(path, [{**self.base_row[it.id], **{k: make(it) for k, make in prompts.items()}}
                           for it in self.items])
        return path

    def _run(self, model: EvalModel, specs: list[TaskSpec], label: str,
             recorded: list[TaskSpec] | None = None) -> dict[str, Any]:
        """Run ``specs`` (or take them from the call cache); the recorded CLI command covers ``recorded``
        (default: the same tasks)."""
        recorded = recorded or specs
        write_task_files(self.task_dir, recorded)
        out = self.run_dir / "lm_eval"
        self.commands.append((label, cli_command(model, self.task_dir, [s.name for s in recorded],
                                                 self.cfg.batch_size, out / "cli")))
        key = call_key(model, specs, {"batch_size": self.cfg.batch_size}) if self.calls else None
        raw = self.calls.get(key) if self.calls else None
        results = {}
        if raw is None:
            lm = self.pool.get(model)  # (its loading is timed apart, as load-<label>)
            started = time.perf_counter()
            raw = run_tasks(lm, self.task_dir, [s.name for s in specs])
            self.seconds[label] = time.perf_counter() - started
            if self.calls:
                self.calls.put(key, raw)
        else:
            self.reused_calls.append(label)
            results["starbench_reused_from"] = str(self.calls.folder / f"{key}.json")
        results = {k: v for k, v in raw.items() if k != "samples"} | results
        write_json(out / f"results_{label}.json", results)
        return raw

    @staticmethod
    def _merge(raw: dict, task: str, records: dict[str, dict], acc_key: str, answer_key: str) -> None:
        for item_id, s in task_samples(raw, task).items():
            records[item_id][acc_key] = float(s["acc"])
            records[item_id][answer_key] = forced_answer(s["resps"][0][0])


def _prefill(tokenizer, records: dict[str, dict], lam: float):
    return lambda it: format_prompt(tokenizer, it.question) + forced_answer_prefill(
        truncate(records[it.id]["thinking"], lam, tokenizer))

