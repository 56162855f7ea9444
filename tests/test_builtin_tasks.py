"""lm-eval's built-in tasks as eval suites: names resolved offline, the end of thinking findable in
lm-eval's decoded text, and the CLI model that reproduces the harness's thinking handling.

Executed for real (an HFLM on stand-in real models, lm-eval's gsm8k YAML over local data):
``tests/test_stand_ins.py``.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys

import pytest
from lm_eval.api.registry import get_model
from transformers import AutoTokenizer

from harness.config import ConfigError
from harness.evaluation.builtin_tasks import check_marker_survives_decoding, unknown_tasks
from harness.evaluation.lm_eval_bridge import THINKING_LM
from harness.micro.tokenizer import CHARSET, build_tokenizer
from harness.suites.format import THINK_CLOSE
from harness.validate import validate
from tests.conftest import ROOT, char_tokenizer, compose_cfg


@pytest.mark.parametrize("option", ["paper_math", "paper_gqa"])
def test_paper_eval_configs_name_real_lm_eval_tasks(option):
    cfg = validate(compose_cfg([f"eval={option}", "model=qwen2.5-0.5b-instruct"]))
    assert cfg.eval.lm_eval_tasks and unknown_tasks(list(cfg.eval.lm_eval_tasks)) == []


def test_a_misspelled_task_is_named_before_any_work():
    with pytest.raises(ConfigError, match="gsm8k_cott"):
        validate(compose_cfg(["eval.lm_eval_tasks=[gsm8k_cott]"]))


def test_a_special_end_of_thinking_token_is_refused():
    check_marker_survives_decoding(build_tokenizer())  # an ordinary token: decoding keeps it
    tokenizer = char_tokenizer(CHARSET + "<>/")
    tokenizer.add_special_tokens({"additional_special_tokens": [THINK_CLOSE]})
    with pytest.raises(ValueError, match="'</think>' is a special token .* which lm-eval drops when decoding"):
        check_marker_survives_decoding(tokenizer)


def test_the_cli_model_is_the_backend_with_the_thinking_handled(stand_ins):
    lm = get_model(THINKING_LM).create_from_arg_string(f"backend=hf,pretrained={stand_ins['qwen3']},dtype=float32",
                                                       {"batch_size": 2, "device": "cpu"})
    assert type(lm).__name__ == "HFLM" and lm.generate_until.__name__ == "generate_until"
    assert "generate_until" in vars(lm)  # wrapped on this instance only


def test_registering_the_cli_model_keeps_lm_evals_own_models():
    """lm-eval fills its model registry only while it is empty: registering ours first must not hide 'hf'."""
    code = ("import harness.evaluation.builtin_tasks\nfrom lm_eval.api.registry import get_model\n"
            "print(get_model('hf').__name__, get_model('starbench-thinking').__name__)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True,
                         timeout=300).stdout
    assert out.split() == ["HFLM", "ThinkingModel"]


@pytest.mark.slow
def test_the_recorded_command_reproduces_the_builtin_scores(stand_ins, tmp_path):
    """The ``lm_eval-builtin`` line of ``lm_eval_command.txt``, run as is: same prompts, same responses,
    same scores as the run recorded."""
    from harness.run import run
    from tests.test_stand_ins import local_gsm8k_tasks, overrides

    folder = local_gsm8k_tasks(tmp_path / "tasks")
    cfg = validate(compose_cfg(overrides(stand_ins, "qwen3-0.6b", "gsm8k", "base", tmp_path, "logger=none",
                                         "eval.lm_eval_tasks=[gsm8k_local]", f"eval.lm_eval_include_path=[{folder}]")))
    result = run(cfg, tmp_path / "run")
    commands = (tmp_path / "run" / "lm_eval_command.txt").read_text(encoding="utf-8")
    line = shlex.split(commands.split("# lm_eval-builtin\n")[1].splitlines()[0])
    assert line[:3] == ["python", "-m", "harness.evaluation.lm_eval_cli"]
    subprocess.run([sys.executable, *line[1:]], cwd=ROOT, check=True, capture_output=True, timeout=600)
    (results_file,) = (tmp_path / "run" / "lm_eval" / "cli").rglob("results_*.json")
    (samples_file,) = (tmp_path / "run" / "lm_eval" / "cli").rglob("samples_gsm8k_local_*.jsonl")
    cli = json.loads(results_file.read_text(encoding="utf-8"))["results"]["gsm8k_local"]
    for key, value in cli.items():
        if isinstance(value, float) and "_stderr" not in key:
            assert result.metrics[f"lm_eval/gsm8k_local/{key.replace(',', '/')}"] == value
    ours = [json.loads(r) for r in (tmp_path / "run" / "lm_eval" / "samples_builtin.jsonl").read_text().splitlines()]
    theirs = [json.loads(line) for line in samples_file.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["doc_id"], r["filter"], json.dumps(r["filtered_resps"])) for r in ours) == \
        sorted((r["doc_id"], r["filter"], json.dumps(r["filtered_resps"])) for r in theirs)
    tokenizer = AutoTokenizer.from_pretrained(result.checkpoint)
    assert all(r["arguments"]["gen_args_0"]["arg_0"].startswith(tokenizer.apply_chat_template(
        [{"role": "system", "content": cfg.model.prompt.system}], tokenize=False)) for r in theirs)
