"""Real-model configs: composition, a local folder standing in for a hub model, prompt format, clear errors
(one line and exit status 2 from ``python -m harness``; a failed run in a sweep)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from harness.config import ConfigError
from harness.hub import ModelUnavailableError, resolve
from harness.micro.tokenizer import build_tokenizer
from harness.models import get_kind
from harness.models.hf import prepare_base
from harness.prompts import bake_chat_template, format_prompt
from harness.results import hash_checkpoint
from harness.validate import validate
from tests.conftest import char_tokenizer, compose_cfg, run_harness
from tests.standin import CHATML

REAL_MODELS = sorted(p.stem for p in (Path(__file__).parent.parent / "conf" / "model").glob("qwen*.yaml"))
NO_MICRO_EVAL = ["eval.answerers=[]"]  # the default ladder is micro answerers, which read only the micro world


@pytest.fixture(scope="module")
def local_model(tmp_path_factory) -> Path:
    """A tiny random causal LM with a ChatML template, saved like a downloaded hub model."""
    folder = tmp_path_factory.mktemp("hub_model")
    tokenizer = build_tokenizer()
    tokenizer.chat_template = CHATML
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("name", REAL_MODELS)
def test_every_real_model_config_composes_and_validates(name):
    cfg = validate(compose_cfg([f"model={name}", *NO_MICRO_EVAL]))
    assert cfg.model.name == name and cfg.model.kind == "hf" and cfg.model.path.startswith("Qwen/")
    assert "<answer>" in cfg.model.prompt.system
    assert cfg.model.prompt.enable_thinking is (True if name.startswith("qwen3") else None)


def test_required_real_models_are_there():
    assert {"qwen2.5-0.5b-instruct", "qwen2.5-1.5b-instruct", "qwen2.5-7b-instruct", "qwen3-0.6b"} <= set(REAL_MODELS)


def test_micro_prompt_bytes_are_unchanged():
    # the micro cache key and every micro run depend on these exact bytes
    assert format_prompt(build_tokenizer(), "h(q(7))?") == "<|user|>h(q(7))?<|assistant|>"


def test_baked_template_sets_system_and_thinking_switch():
    tokenizer = build_tokenizer()
    tokenizer.chat_template = bake_chat_template(CHATML, 'Answer in "<answer>" tags.\nBe brief.', False)
    assert format_prompt(tokenizer, "2+2?") == ('<|im_start|>system\nAnswer in "<answer>" tags.\nBe brief.<|im_end|>\n'
                                                "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
                                                "<think>\n\n</think>\n\n")
    own = tokenizer.apply_chat_template([{"role": "system", "content": "S"}, {"role": "user", "content": "q"}],
                                        tokenize=False, add_generation_prompt=True)
    assert own.startswith("<|im_start|>system\nS<|im_end|>") and own.count("system") == 1


def test_local_folder_stands_in_for_a_hub_model(local_model, tmp_path):
    cfg = validate(compose_cfg(["model=qwen3-0.6b", f"model.path={local_model}", f"cache_dir={tmp_path}",
                                *NO_MICRO_EVAL]))
    base = get_kind("hf").prepare(cfg).path
    assert base.parent == tmp_path / "models" and get_kind("hf").prepare(cfg).path == base  # prepared once, then reused
    prompt = format_prompt(AutoTokenizer.from_pretrained(base), "2+2?")
    assert prompt.startswith(f"<|im_start|>system\n{cfg.model.prompt.system}<|im_end|>\n")
    assert prompt.endswith("<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n")
    weights = base / "model.safetensors"
    assert weights.is_symlink() and hash_checkpoint(base) == hash_checkpoint(local_model)  # linked, not copied


def test_no_prompt_format_uses_the_folder_itself(local_model, tmp_path):
    cfg = validate(compose_cfg(["model.kind=hf", f"model.path={local_model}", *NO_MICRO_EVAL]))
    assert prepare_base(cfg.model, tmp_path) == local_model.resolve()


def test_unreachable_hub_id_gives_a_clear_error(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cfg = validate(compose_cfg(["model=qwen2.5-0.5b-instruct", "model.path=starbench-tests/no-such-model",
                                *NO_MICRO_EVAL]))
    with pytest.raises(ModelUnavailableError) as e:
        get_kind("hf").prepare(cfg)
    message = str(e.value)
    assert "model.path='starbench-tests/no-such-model'" in message and "HF_HUB_OFFLINE=1" in message
    assert "hf download starbench-tests/no-such-model" in message and "model.path=<that folder>" in message


def test_missing_local_folder_is_named():
    with pytest.raises(ModelUnavailableError, match="'/no/such/model' is not a folder"):
        resolve("/no/such/model")


def test_unavailable_model_is_one_line_and_exit_2(tmp_path):
    proc = run_harness(["model.kind=hf", "model.path=/no/such/model", *NO_MICRO_EVAL, "logger=none",
                        f"hydra.run.dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}"], check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in output, output[-3000:]
    assert "ModelUnavailableError: model.path='/no/such/model' is not a folder" in output
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    assert result["status"] == "failed" and result["error"].startswith("ModelUnavailableError: model.path=")


def test_unavailable_model_in_a_sweep_is_a_failed_run(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # hub ids that are in no cache: unavailable at once
    proc = run_harness(["-m", "model.kind=hf", "model.path=no-such-model-a,no-such-model-b", *NO_MICRO_EVAL,
                        "logger=none", f"hydra.sweep.dir={tmp_path / 'sweep'}", f"cache_dir={tmp_path / 'cache'}"])
    assert "Traceback" not in proc.stdout + proc.stderr
    runs = sorted((tmp_path / "sweep").glob("*/results.json"))
    assert len(runs) == 2 and (tmp_path / "sweep" / "analysis" / "report.md").is_file()  # the sweep end still ran
    for path in runs:
        result = json.loads(path.read_text())
        assert result["status"] == "failed" and "HF_HUB_OFFLINE=1" in result["error"]
        assert f"{path.parent.name} failed (recorded in {path}): ModelUnavailableError: " in proc.stdout + proc.stderr


def test_start_refuses_a_tokenizer_that_cannot_spell_the_end_of_thinking(tmp_path):
    from harness.micro.tokenizer import CHARSET
    from harness.run import run

    folder = tmp_path / "no_angle_brackets"  # '<' and '>' are not in its vocabulary: '</think>' cannot be found
    tokenizer = char_tokenizer(CHARSET)
    tokenizer.chat_template = CHATML
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    common = ["model=qwen2.5-0.5b-instruct", f"model.path={folder}", *NO_MICRO_EVAL, f"cache_dir={tmp_path}",
              "logger=none", "train.steps=1", "train.prompts_per_step=2", "train.num_generations=2",
              "train.max_completion_length=4", "eval.max_gen_toks=4", "eval.truncation=[]", "threads=1",
              "data.n_test=2"]
    with pytest.raises(ValueError, match="cannot locate the end of thinking '</think>'"):
        run(validate(compose_cfg([*common, "method=start"])), tmp_path / "start")
    assert not (tmp_path / "start" / "curve.jsonl").exists()  # it failed before any training step
    assert run(validate(compose_cfg([*common, "method=rl"])), tmp_path / "rl").status == "ok"  # rl needs no marker


def test_prompt_format_is_for_real_models_only():
    with pytest.raises(ConfigError, match="model.prompt"):
        validate(compose_cfg(["model.prompt.system=hello"]))

