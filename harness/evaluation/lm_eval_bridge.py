"""Plumbing to lm-eval: write a run's tasks (YAML + JSONL + ``utils.py``), load a model, run, reproduce.

Every number the harness records comes out of ``lm_eval.simple_evaluate`` on tasks written into the
run folder. ``lm_eval_command.txt`` holds the stock CLI call for each evaluation, so the recorded
scores can be reproduced from the run folder alone (scripted policies go through
``python -m harness.evaluation.lm_eval_cli``, which registers them first).
"""

from __future__ import annotations

import copy
import functools
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from harness.evaluation.metrics import higher_is_better
from harness.results import write_text
from harness.suites.format import ANSWER_CLOSE

UTILS_PY = ("from harness.evaluation.task_utils import (  # noqa: F401\n"
            "    process_results, process_results_corrupt, process_results_forced)\n")
SCRIPTED_LM = "starbench-scripted"  # registered by harness.evaluation.scripted
THINKING_LM = "starbench-thinking"  # a policy on lm-eval's built-in tasks (builtin_tasks.ThinkingModel)
HARNESS_LMS = (SCRIPTED_LM, THINKING_LM)  # lm-eval models the harness registers: run through lm_eval_cli


@dataclass(frozen=True)
class EvalModel:
    """A model as lm-eval sees it: ``--model <lm_name> --model_args <model_args>``."""

    label: str  # "policy" or an answerer's name
    lm_name: str  # "hf" | "vllm" | one of HARNESS_LMS
    model_args: str
    device: str = "cpu"

    @classmethod
    def of(cls, label: str, path: str | Path, cfg) -> EvalModel:
        """Weights at ``path`` (a folder or hub id) as the run's config loads them: lm-eval's
        ``eval.backend`` model (``hf`` or ``vllm``) with ``dtype``, ``eval.backend_args``, on ``device``."""
        path = str(Path(path).resolve()) if Path(path).exists() else str(path)
        if "," in path or "=" in path:
            raise ValueError(f"model path {path!r} contains ',' or '=', which lm-eval's --model_args string "
                             "cannot carry; move the output folder (hydra.run.dir / hydra.sweep.dir)")
        extra = f",{cfg.eval.backend_args}" if cfg.eval.backend_args else ""
        return cls(label, cfg.eval.backend, f"pretrained={path},dtype={cfg.dtype}{extra}", cfg.device)

    def load(self, batch_size: int):
        """Instantiate the lm-eval model once; it is reused for every evaluation of this model."""
        from lm_eval.api.registry import get_model

        placement = {} if self.lm_name == "vllm" else {"device": self.device}  # (vLLM places itself)
        return get_model(self.lm_name).create_from_arg_string(
            self.model_args, {"batch_size": batch_size, **placement})


@dataclass(frozen=True)
class TaskSpec:
    """One generated task: which prompt column of ``data_file`` it feeds and how it is scored."""

    name: str
    data_file: Path
    prompt_field: str
    hook: str  # a function of task_utils
    metrics: tuple[str, ...]
    max_gen_toks: int

    def to_yaml(self) -> str:
        spec = {
            "task": self.name,
            "dataset_path": "json",
            "dataset_kwargs": {"data_files": {"test": str(Path(self.data_file).resolve())}},
            "test_split": "test",
            "output_type": "generate_until",
            "doc_to_text": self.prompt_field,  # a column name: read as is (no Jinja template per item)
            "doc_to_target": "gold",
            "generation_kwargs": {"until": [ANSWER_CLOSE], "do_sample": False, "max_gen_toks": self.max_gen_toks},
            "process_results": f"!function utils.{self.hook}",
            "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": higher_is_better(m)}
                            for m in self.metrics],
            "metadata": {"version": 1},
        }
        text = yaml.safe_dump(spec, sort_keys=False)
        return text.replace(f"'!function utils.{self.hook}'", f"!function utils.{self.hook}")


def write_task_files(task_dir: Path, specs: list[TaskSpec]) -> None:
    for spec in specs:
        write_text(Path(task_dir) / f"{spec.name}.yaml", spec.to_yaml())
    write_text(Path(task_dir) / "utils.py", UTILS_PY)


@functools.cache
def _environment() -> dict[str, Any]:
    from lm_eval.loggers.utils import add_env_info

    info: dict[str, Any] = {}
    add_env_info(info)
    return info


def _add_env_info_once(storage: dict[str, Any]) -> None:
    """lm-eval's ``add_env_info``, collected once per process.

    lm-eval describes the machine (torch's ``collect_env``: ``pip list`` and other subprocesses, about
    0.5 s) on *every* ``simple_evaluate`` call; a run makes several calls and the machine does not
    change in between, so the first description is reused.
    """
    storage.update(copy.deepcopy(_environment()))


def run_tasks(lm, task_dir: Path, tasks: list[str]) -> dict[str, Any]:
    """``simple_evaluate`` on the run's own tasks, with per-item samples.

    The tasks read local JSON files, so ``datasets``' download counter is off meanwhile: it sends the hub
    a HEAD request per loaded task (3 s timeout each where a firewall drops packets; ~40 per run).
    """
    import datasets
    import lm_eval
    import lm_eval.evaluator
    from lm_eval.tasks import TaskManager

    lm_eval.evaluator.add_env_info = _add_env_info_once
    manager = TaskManager(include_path=str(Path(task_dir).resolve()), include_defaults=False)
    with mock.patch.object(datasets.config, "HF_UPDATE_DOWNLOAD_COUNTS", False):
        return lm_eval.simple_evaluate(model=lm, tasks=tasks, task_manager=manager, log_samples=True)


def cli_command(model: EvalModel, task_dir: Path | None, tasks: list[str], batch_size: int, out: Path,
                extra: list[str] | tuple[str, ...] = ()) -> str:
    """The stock CLI call that reproduces ``run_tasks`` for ``model`` on ``tasks`` (``task_dir``: the
    run's own task folder; None for lm-eval's built-in tasks); ``extra``: more CLI arguments."""
    entry = ["python", "-m", "harness.evaluation.lm_eval_cli"] if model.lm_name in HARNESS_LMS else ["lm_eval"]
    include = ["--include_path", str(Path(task_dir).resolve())] if task_dir else []
    args = [*entry, "--model", model.lm_name, "--model_args", model.model_args, *include, "--tasks", ",".join(tasks),
            "--batch_size", str(batch_size), "--device", model.device, *extra, "--log_samples",
            "--output_path", str(Path(out).resolve())]
    return shlex.join(args)


def task_samples(raw: dict[str, Any], task: str) -> dict[str, dict[str, Any]]:
    """lm-eval's per-item samples of ``task``, keyed by item id."""
    return {s["doc"]["id"]: s for s in raw["samples"][task]}
