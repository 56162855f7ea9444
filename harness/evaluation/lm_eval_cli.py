"""``lm_eval`` CLI with the harness's scripted policies registered (``--model starbench-scripted``).

    python -m harness.evaluation.lm_eval_cli --model starbench-scripted --model_args policy=faithful ...
"""

from lm_eval.__main__ import cli_evaluate

import harness.evaluation.scripted  # noqa: F401  (registers the model)

if __name__ == "__main__":
    cli_evaluate()
