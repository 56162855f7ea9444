"""lm-eval's own benchmark tasks (``eval.lm_eval_tasks``: gsm8k_cot, minerva_math500, nq_open, …) and
the user's own (folders of lm-eval task YAMLs in ``eval.lm_eval_include_path``), on the policy.

They run as lm-eval defines them (prompts, few-shot examples, filters, metrics), with what a thinking
chat model needs to be scored right:

- **its chat template**: ``apply_chat_template=True``, few-shot examples as earlier turns
  (``fewshot_as_multiturn=True``), so the prompt is the one the model was trained on (the system
  prompt and ``enable_thinking`` of ``model.prompt`` are baked into the template);
- **the thinking removed before scoring, by the harness** (:func:`scored_response`), not by lm-eval's
  ``think_end_token``, which keeps the raw text when the marker is missing (lm-eval issue #3382): the
  response lm-eval's filters and metrics see is the answer :func:`~harness.suites.format.parse_completion`
  finds after ``</think>`` (inside ``<answer>`` tags when there are any), and a generation whose
  thinking never closes becomes an empty response, which every task scores wrong. The share of
  such generations is recorded per task as ``lm_eval/<task>/no_think_close``;
- **the task's stop strings applied to the response only**: the model generates until eos or the
  budget (``eval.max_gen_toks``, which replaces the task's own ``max_gen_toks``), so a stop string
  inside the thinking (``Question:``, a blank line) no longer cuts the generation there.

Metrics are recorded as ``lm_eval/<task>/<metric>/<filter>``; per-generation records (the raw text,
whether its thinking closed, what was scored, the task's per-item metrics) in
``lm_eval/samples_builtin.jsonl``. The recorded CLI call runs the same thing through
``python -m harness.evaluation.lm_eval_cli --model starbench-thinking`` (the policy's lm-eval model
with this thinking handling; :class:`ThinkingModel`). Built-in tasks read their data from the HF hub
(network or a filled datasets cache); the user's tasks read what their YAMLs name.
"""

from __future__ import annotations

import functools
import logging
import os
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lm_eval.models  # noqa: F401  (lm-eval imports its built-in models only while its registry is empty)
from lm_eval.api.model import LM
from lm_eval.api.registry import get_model, register_model
from lm_eval.utils import simple_parse_args_string

from harness.evaluation.lm_eval_bridge import THINKING_LM, EvalModel, cli_command
from harness.results import write_json, write_jsonl
from harness.suites.format import THINK_CLOSE, parse_completion

log = logging.getLogger(__name__)


@functools.cache
def task_index(include_path: tuple[str, ...] = ()) -> frozenset[str]:
    """Every task, group and tag name lm-eval ships (``()``), or that the folders ``include_path`` hold
    (their YAML index; no data is downloaded)."""
    from lm_eval.tasks import TaskManager

    if include_path:
        return frozenset(TaskManager(include_path=list(include_path), include_defaults=False).all_tasks)
    return frozenset(TaskManager().all_tasks)


def unknown_tasks(names: list[str], include_path: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The names that are neither lm-eval tasks nor tasks of the folders ``include_path``."""
    own = task_index(tuple(str(Path(p).expanduser().resolve()) for p in include_path)) if include_path else frozenset()
    rest = [n for n in names if n not in own]
    return [n for n in rest if n not in task_index()] if rest else []


def scored_response(text: str, until: list[str] | str | None = None) -> tuple[str, bool]:
    """What a task scores of the generation ``text``, and whether its thinking closed.

    The answer after ``</think>`` (inside ``<answer>`` tags when present), cut at the task's stop
    strings ``until``; ``""`` when the thinking never closed (scored wrong).
    """
    parsed = parse_completion(text)
    if not parsed.think_closed:
        return "", False
    response = parsed.answer or ""
    for stop in [until] if isinstance(until, str) else until or []:
        if stop:
            response = response.split(stop)[0]
    return response, True


def stripping_generate_until(lm, generate: Callable, record: dict[str, list[dict[str, Any]]] | None = None):
    """``generate`` (the ``generate_until`` of the lm-eval model ``lm``) with the thinking handled as
    the module docstring says; each generation is appended to ``record[task]`` when given."""

    def generate_until(requests, disable_tqdm: bool = False):
        kept = [r.arguments for r in requests]
        for r, (context, kwargs, *more) in zip(requests, kept, strict=True):
            r.arguments = (context, {**kwargs, "until": []}, *more)  # stop at eos or the budget only
        before = getattr(lm, "think_end_token", None)
        lm.think_end_token = None  # (lm-eval's own stripping off: the raw text comes back)
        try:
            raw = generate(requests, disable_tqdm=disable_tqdm)
        finally:
            lm.think_end_token = before
            for r, arguments in zip(requests, kept, strict=True):
                r.arguments = arguments
        out = []
        for r, text in zip(requests, raw, strict=True):
            response, closed = scored_response(text, r.arguments[1].get("until"))
            out.append(response)
            if record is not None:
                record[r.task_name].append({"doc_id": r.doc_id, "completion": text, "think_closed": closed,
                                            "response": response})
        return out

    return generate_until


@contextmanager
def thinking_stripped(lm, record: dict[str, list[dict[str, Any]]] | None = None):
    """While active, the lm-eval model ``lm`` scores only what follows the end of thinking (the
    harness's own suites keep the thinking: they parse it themselves)."""
    own = vars(lm).get("generate_until")  # (an instance attribute set before, if any, comes back after)
    lm.generate_until = stripping_generate_until(lm, lm.generate_until, record)
    try:
        yield lm
    finally:
        if own is None:
            del lm.generate_until
        else:
            lm.generate_until = own


@register_model(THINKING_LM)
class ThinkingModel(LM):
    """``--model starbench-thinking --model_args backend=<hf|vllm>,<that model's arguments>``: the
    ``backend`` lm-eval model, scoring as :func:`run_builtin` does (for the recorded CLI call)."""

    @classmethod
    def create_from_arg_obj(cls, arg_dict: dict, additional_config: dict | None = None):
        args = dict(arg_dict)
        lm = get_model(args.pop("backend", "hf")).create_from_arg_obj(args, additional_config)
        lm.generate_until = stripping_generate_until(lm, lm.generate_until)
        return lm

    @classmethod
    def create_from_arg_string(cls, arg_string: str, additional_config: dict | None = None):
        return cls.create_from_arg_obj(simple_parse_args_string(arg_string), additional_config)


def check_marker_survives_decoding(tokenizer) -> None:
    """lm-eval decodes generations without special tokens: a special ``</think>`` would vanish, and
    every generation would look unclosed."""
    ids = tokenizer(THINK_CLOSE, add_special_tokens=False)["input_ids"]
    if THINK_CLOSE not in tokenizer.decode(ids, skip_special_tokens=True):
        raise ValueError(f"{THINK_CLOSE!r} is a special token of the policy's tokenizer ({type(tokenizer).__name__}), "
                         "which lm-eval drops when decoding, so the end of thinking cannot be found in the "
                         "built-in tasks' generations; make it an ordinary added token")


def no_think_close_rates(raw: dict[str, Any], record: dict[str, list[dict[str, Any]]]) -> dict[str, float]:
    """Per task (and per group, pooled over its tasks): the share of generations whose thinking never closed."""
    leaves: dict[str, list[str]] = {task: [task] for task in record}
    groups = raw.get("group_subtasks", {})

    def expand(name: str) -> list[str]:
        return [leaf for sub in groups[name] for leaf in expand(sub)] if name in groups else [name]

    leaves.update({group: expand(group) for group in groups})
    rates = {}
    for name, tasks in leaves.items():
        rows = [row for task in tasks for row in record.get(task, [])]
        if rows:
            rates[name] = sum(not row["think_closed"] for row in rows) / len(rows)
    return rates


def run_builtin(lm, policy: EvalModel, tokenizer, tasks: list[str], batch_size: int, run_dir: Path, *,
                include_path: list[str] | tuple[str, ...] = (), max_gen_toks: int | None = None,
                truncation_warning: float = 0.1) -> tuple[dict[str, float], str]:
    """Run ``tasks`` on the policy; flat ``lm_eval/<task>/<metric>`` metrics and the CLI call."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    check_marker_survives_decoding(tokenizer)
    folders = [str(Path(p).expanduser().resolve()) for p in include_path]
    gen_kwargs = {"max_gen_toks": max_gen_toks} if max_gen_toks else None
    record: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with thinking_stripped(lm, record):
        raw = lm_eval.simple_evaluate(model=lm, tasks=tasks, task_manager=TaskManager(include_path=folders or None),
                                      log_samples=True, apply_chat_template=True, fewshot_as_multiturn=True,
                                      gen_kwargs=gen_kwargs)
    out = Path(run_dir) / "lm_eval"
    samples = raw.pop("samples", {})
    rates = no_think_close_rates(raw, record)
    raw["starbench_no_think_close"] = rates
    write_json(out / "results_builtin.json", raw)
    write_jsonl(out / "samples_builtin.jsonl", _sample_rows(samples, record))
    metrics: dict[str, float] = {}
    for task, values in raw["results"].items():
        for key, value in values.items():
            if isinstance(value, int | float) and "_stderr" not in key and key != "alias":
                metrics[f"lm_eval/{task}/{key.replace(',', '/')}"] = float(value)
    for task, rate in rates.items():
        metrics[f"lm_eval/{task}/no_think_close"] = rate
        if rate > truncation_warning and task in record:
            log.warning("lm-eval task %s: %.0f%% of the policy's generations never closed their thinking (scored "
                        "wrong); raise eval.max_gen_toks for a thinking model", task, 100 * rate)
    thinking = EvalModel(policy.label, THINKING_LM, f"backend={policy.lm_name},{policy.model_args}", policy.device)
    flags = ["--apply_chat_template", "--fewshot_as_multiturn"]
    if max_gen_toks:
        flags += ["--gen_kwargs", f"max_gen_toks={max_gen_toks}"]
    if folders:  # (lm_eval_cli splits several folders at os.pathsep; stock lm_eval takes one)
        flags += ["--include_path", os.pathsep.join(folders)]
    return metrics, cli_command(thinking, None, tasks, batch_size, out / "cli", extra=flags)


def _sample_rows(samples: dict[str, list[dict]], record: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per generation: the task, the item, the raw text, what was scored and the task's metrics."""
    generated: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for task, rows in record.items():
        for row in rows:
            generated[task, row["doc_id"]].append(row)
    out = []
    for task, rows in samples.items():
        for s in rows:
            gens = generated.get((task, s["doc_id"]), [])
            fields = {k: [g[k] for g in gens] if len(gens) > 1 else gens[0][k] if gens else None
                      for k in ("completion", "think_closed", "response")}  # (lists when a task repeats)
            metrics = {m: s[m] for m in s.get("metrics", []) if m in s}
            out.append({"task": task, "doc_id": s["doc_id"], "target": s.get("target"), **fields,
                        "filtered_resps": s.get("filtered_resps"), "filter": s.get("filter"), **metrics})
    return out
