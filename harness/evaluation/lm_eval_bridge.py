"""Write a run's lm-eval tasks (YAML + data + utils.py), run them, and flatten the results.

The harness evaluates through ``lm_eval.simple_evaluate`` with ``model="hf"`` and the same
``model_args`` string it writes into ``lm_eval_command.txt``, so the stock CLI reproduces the
recorded scores from the run folder.
"""

from __future__ import annotations

import json
import shlex
import statistics
from pathlib import Path
from typing import Any

import yaml

from harness.config import EvalConfig
from harness.prompts import format_prompt
from harness.results import write_jsonl, write_text
from harness.suites import Item, Suite
from harness.suites.format import ANSWER_CLOSE, NOTHINK_PREFILL, parse_completion

UTILS_PY = "from harness.evaluation.task_utils import process_results, process_results_nothink  # noqa: F401\n"
BASE_METRICS = ("acc", "reward", "no_think_close", "empty_think")


def task_names(suite: Suite, eval_cfg: EvalConfig) -> list[str]:
    return [suite.name] + ([f"{suite.name}_nothink"] if eval_cfg.nothink else [])


def _task_yaml(task: str, data_file: Path, prompt_field: str, hook: str, metrics: tuple[str, ...],
               eval_cfg: EvalConfig) -> dict[str, Any]:
    return {
        "task": task,
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(data_file)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "{{" + prompt_field + "}}",
        "doc_to_target": "{{gold}}",
        "generation_kwargs": {"until": [ANSWER_CLOSE], "do_sample": False, "max_gen_toks": eval_cfg.max_gen_toks},
        "process_results": f"!function utils.{hook}",
        "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": m not in (
            "no_think_close", "empty_think", "answer_shortcut", "hedge_rate")} for m in metrics],
        "metadata": {"version": 1},
    }


def write_tasks(task_dir: Path, suite: Suite, suite_params: dict, items: list[Item], tokenizer,
                eval_cfg: EvalConfig) -> list[str]:
    """Write the eval data and task YAMLs of ``suite`` into ``task_dir``; return the task names."""
    task_dir = Path(task_dir).resolve()
    rows = []
    for it in items:
        prompt = format_prompt(tokenizer, it.question)
        rows.append({**it.to_json(), "suite": suite.name, "reward": suite.reward_kind,
                     "suite_params": json.dumps(suite_params, sort_keys=True),
                     "prompt": prompt, "prompt_nothink": prompt + NOTHINK_PREFILL})
    data_file = task_dir / f"{suite.name}_test.jsonl"
    write_jsonl(data_file, rows)
    write_text(task_dir / "utils.py", UTILS_PY)
    names = task_names(suite, eval_cfg)
    specs = {names[0]: ("prompt", "process_results", BASE_METRICS + suite.mode_metrics)}
    if eval_cfg.nothink:
        specs[names[1]] = ("prompt_nothink", "process_results_nothink", ("acc",))
    for name, (field, hook, metrics) in specs.items():
        text = yaml.safe_dump(_task_yaml(name, data_file, field, hook, metrics, eval_cfg), sort_keys=False)
        write_text(task_dir / f"{name}.yaml", text.replace(f"'!function utils.{hook}'", f"!function utils.{hook}"))
    return names


def model_args(checkpoint: Path) -> str:
    path = str(Path(checkpoint).resolve())
    if "," in path or "=" in path:
        raise ValueError(f"checkpoint path {path!r} contains ',' or '=', which lm-eval's --model_args string "
                         "cannot carry; move the output folder (hydra.run.dir / hydra.sweep.dir)")
    return f"pretrained={path},dtype=float32"


def lm_eval_command(checkpoint: Path, task_dir: Path, tasks: list[str], eval_cfg: EvalConfig, out: Path) -> str:
    args = ["lm_eval", "--model", "hf", "--model_args", model_args(checkpoint),
            "--include_path", str(Path(task_dir).resolve()), "--tasks", ",".join(tasks),
            "--batch_size", str(eval_cfg.batch_size), "--device", "cpu", "--log_samples",
            "--output_path", str(Path(out).resolve())]
    return shlex.join(args)


def run_lm_eval(checkpoint: Path, task_dir: Path, tasks: list[str], eval_cfg: EvalConfig) -> dict[str, Any]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(Path(task_dir).resolve()), include_defaults=False)
    return lm_eval.simple_evaluate(model="hf", model_args=model_args(checkpoint), tasks=tasks,
                                   task_manager=manager, batch_size=eval_cfg.batch_size, log_samples=True,
                                   device="cpu")


def summarize(results: dict[str, Any], suite: Suite, tokenizer, eval_cfg: EvalConfig
              ) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Flat ``<suite>/<metric>`` dict and per-item records from lm-eval's results and samples."""
    name = suite.name
    per_task = results["results"][name]
    metrics = {f"{name}/{k.split(',')[0]}": float(v) for k, v in per_task.items()
               if k.endswith(",none") and "_stderr" not in k}
    records, per_item = {}, set(metrics_keys(suite))
    for s in results["samples"][name]:
        raw = s["resps"][0][0]
        parsed = parse_completion(raw)
        records[s["doc"]["id"]] = {
            "id": s["doc"]["id"], "gold": s["doc"]["gold"], "completion": raw, "thinking": parsed.thinking,
            "answer": parsed.answer,
            "think_tokens": len(tokenizer(parsed.thinking, add_special_tokens=False)["input_ids"]),
            **{m: float(s[m]) for m in s if m in per_item},
        }
    metrics[f"{name}/think_tokens"] = statistics.fmean(r["think_tokens"] for r in records.values())
    if eval_cfg.nothink:
        for s in results["samples"][f"{name}_nothink"]:
            records[s["doc"]["id"]]["nothink_answer"] = s["resps"][0][0]
            records[s["doc"]["id"]]["nothink_acc"] = float(s["acc"])
        metrics[f"{name}/nothink_acc"] = float(results["results"][f"{name}_nothink"]["acc,none"])
        metrics[f"{name}/thinking_gain"] = metrics[f"{name}/acc"] - metrics[f"{name}/nothink_acc"]
        metrics[f"{name}/independence_rate"] = independence_rate(list(records.values()))
    return metrics, list(records.values())


def independence_rate(records: list[dict[str, Any]]) -> float:
    """P(correct and nothink correct) / P(correct): how often a right answer needed no thinking (0 if none right)."""
    right = [r for r in records if r["acc"] == 1.0]
    return statistics.fmean(r["nothink_acc"] for r in right) if right else 0.0


def metrics_keys(suite: Suite) -> tuple[str, ...]:
    return BASE_METRICS + suite.mode_metrics
