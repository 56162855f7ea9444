"""``lm_eval`` CLI with the harness's lm-eval models registered: ``--model starbench-scripted`` (the
scripted policies) and ``--model starbench-thinking`` (a policy on lm-eval's built-in tasks, thinking
handled as ``harness/evaluation/builtin_tasks.py`` says).

    python -m harness.evaluation.lm_eval_cli --model starbench-scripted --model_args policy=faithful ...

``--include_path`` may name several task folders, separated by ``os.pathsep`` (``:``); stock
``lm_eval`` takes one.
"""

import os

import lm_eval.tasks
from lm_eval.__main__ import cli_evaluate

import harness.evaluation.builtin_tasks  # noqa: F401  (registers starbench-thinking)
import harness.evaluation.scripted  # noqa: F401  (registers starbench-scripted)


class TaskManager(lm_eval.tasks.TaskManager):
    """lm-eval's TaskManager, with ``include_path`` folders given as one ``os.pathsep``-separated string."""

    def __init__(self, *args, include_path=None, **kwargs):
        if isinstance(include_path, str) and os.pathsep in include_path:
            include_path = include_path.split(os.pathsep)
        super().__init__(*args, include_path=include_path, **kwargs)


if __name__ == "__main__":
    lm_eval.tasks.TaskManager = TaskManager  # (the CLI imports it from lm_eval.tasks when it runs)
    cli_evaluate()
