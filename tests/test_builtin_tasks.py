"""lm-eval's built-in tasks as eval suites: names resolved offline, thinking stripped by token id."""

from __future__ import annotations

import pytest

from harness.config import ConfigError
from harness.evaluation.builtin_tasks import think_end_token, thinking_stripped, unknown_tasks
from harness.micro.tokenizer import build_tokenizer
from harness.suites.format import THINK_CLOSE
from harness.validate import validate
from tests.conftest import compose_cfg


@pytest.mark.parametrize("option", ["paper_math", "paper_gqa"])
def test_paper_eval_configs_name_real_lm_eval_tasks(option):
    cfg = validate(compose_cfg([f"eval={option}", "model=qwen2.5-0.5b-instruct"]))
    assert cfg.eval.lm_eval_tasks and unknown_tasks(list(cfg.eval.lm_eval_tasks)) == []


def test_a_misspelled_task_is_named_before_any_work():
    with pytest.raises(ConfigError, match="gsm8k_cott"):
        validate(compose_cfg(["eval.lm_eval_tasks=[gsm8k_cott]"]))


def test_thinking_is_stripped_at_the_end_of_thinking_token():
    tok = build_tokenizer()
    marker = think_end_token(tok)
    assert isinstance(marker, int) and tok.convert_ids_to_tokens(marker) == THINK_CLOSE

    class FakeHFLM:  # the one attribute HFLM reads to strip thinking
        think_end_token = None

    lm = FakeHFLM()
    with thinking_stripped(lm, marker):
        assert lm.think_end_token == marker
    assert lm.think_end_token is None  # the harness's own tasks keep the thinking
