"""lm-eval's own benchmark tasks (``eval.lm_eval_tasks``: gsm8k_cot, minerva_math500, nq_open, …).

They run on the policy exactly as lm-eval defines them (prompts, filters, metrics), with the policy's
thinking stripped before scoring through HFLM's ``think_end_token`` (the ``</think>`` token id when
the tokenizer has it as one token, else the string). Their data comes from the HF hub, so they need
network or a filled HF datasets cache. Metrics are recorded as ``lm_eval/<task>/<metric>``.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from pathlib import Path

from harness.evaluation.lm_eval_bridge import EvalModel, cli_command
from harness.results import write_json
from harness.suites.format import THINK_CLOSE


@functools.cache
def task_index() -> frozenset[str]:
    """Every task and group name lm-eval ships (its YAML index; no data is downloaded)."""
    from lm_eval.tasks import TaskManager

    return frozenset(TaskManager().all_tasks)


def unknown_tasks(names: list[str]) -> list[str]:
    return [n for n in names if n not in task_index()]


def think_end_token(tokenizer) -> int | str:
    """``</think>``'s token id when it is a single vocabulary token, else the string."""
    ids = tokenizer(THINK_CLOSE, add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else THINK_CLOSE


@contextmanager
def thinking_stripped(lm, marker: int | str):
    """HFLM scores only what follows the end of thinking while this is active."""
    before = getattr(lm, "think_end_token", None)
    lm.think_end_token = marker
    try:
        yield lm
    finally:
        lm.think_end_token = before


def run_builtin(lm, policy: EvalModel, tokenizer, tasks: list[str], batch_size: int, run_dir: Path
                ) -> tuple[dict[str, float], str]:
    """Run lm-eval's ``tasks`` on the policy; flat ``lm_eval/<task>/<metric>`` metrics and the CLI call."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    marker = THINK_CLOSE if policy.lm_name == "vllm" else think_end_token(tokenizer)  # (vLLM's is a string)
    with thinking_stripped(lm, marker):
        raw = lm_eval.simple_evaluate(model=lm, tasks=tasks, task_manager=TaskManager(), log_samples=False)
    write_json(Path(run_dir) / "lm_eval" / "results_builtin.json", raw)
    metrics: dict[str, float] = {}
    for task, values in raw["results"].items():
        for key, value in values.items():
            if isinstance(value, int | float) and "_stderr" not in key and key != "alias":
                metrics[f"lm_eval/{task}/{key.replace(',', '/')}"] = float(value)
    with_marker = EvalModel(policy.label, policy.lm_name, f"{policy.model_args},think_end_token={marker}",
                            policy.device)
    return metrics, cli_command(with_marker, None, tasks, batch_size, Path(run_dir) / "lm_eval" / "cli")

