"""Every config composes; bad keys, types, options and combinations fail before any work, by name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ValidationError

from harness.config import CONF_DIR, ConfigError
from harness.validate import validate
from tests.conftest import ROOT, compose_cfg, run_harness

GROUPS = ["method", "algo", "model", "data", "eval", "logger", "train"]


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


def companions(group: str, option: str) -> list[str]:
    """Real models need real answerers (the default ladder reads the micro world)."""
    real = group == "model" and validate(compose_cfg([f"model={option}", "eval.answerers=[]"])).model.kind == "hf"
    return ["eval=qwen_ladder"] if real else []


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in options(g)])
def test_every_config_composes_and_validates(group, option):
    cfg = validate(compose_cfg([f"{group}={option}", *companions(group, option)]))
    assert getattr(cfg, group) is not None


@pytest.mark.parametrize("sweep", options("sweep"))
def test_every_sweep_composes(sweep):
    cfg = validate(compose_cfg([f"+sweep={sweep}"]))
    assert cfg.sweep_name == sweep and cfg.threads == 1


def test_method_configs_share_budgets():
    cfgs = [validate(compose_cfg([f"method={m}"])) for m in ("sft", "rl", "start")]
    assert len({(c.train.steps, c.train.prompts_per_step, c.seed) for c in cfgs}) == 1


def test_typo_key_fails():
    with pytest.raises(ConfigCompositionException, match="lrr"):
        compose_cfg(["method.lrr=0.1"])


def test_wrong_type_fails():
    with pytest.raises((ConfigCompositionException, ValidationError), match="steps"):
        compose_cfg(["train.steps=many"])


def test_unknown_option_lists_choices():
    with pytest.raises(ConfigCompositionException, match="Available options") as e:
        compose_cfg(["method=ppo"])
    assert "start" in str(e.value)


@pytest.mark.parametrize("override,key,valid", [("+foo.bar=1", "foo", "'method'"),
                                                 ("+method.extra=1", "extra", "'stage1_frac'")])
def test_added_unknown_key_fails_in_validation(override, key, valid):
    with pytest.raises(ConfigError, match=key) as e:
        validate(compose_cfg([override]))
    assert "valid keys there" in str(e.value) and valid in str(e.value)


@pytest.mark.parametrize("overrides,match", [
    (["method=sft", "method.stage1_frac=0.5"], "option of method start, which method=sft does not read"),
    (["method=start", "method.stage2=half"], "method.stage2"),
    (["method=rl", "train.num_generations=1"], "num_generations"),
    (["data=micro_gqa", "+data.params.shortcut_pp=0.3"], "shortcut_pp"),
    (["algo.loss_type=ppo"], "algo.loss_type"),
    (["model.kind=hf"], "model.path"),
])
def test_incompatible_combinations_fail(overrides, match):
    with pytest.raises(ConfigError, match=match):
        validate(compose_cfg(overrides))


def test_cli_config_error_is_one_line_and_exits_2(tmp_path):
    proc = run_harness(["+foo=1", f"hydra.run.dir={tmp_path}"], check=False)
    assert proc.returncode == 2
    assert "config error" in proc.stdout + proc.stderr and "foo" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "results.json").exists()


LIGHT_ENTRY = """
import runpy, sys
sys.argv = ["harness", *sys.argv[1:]]
try:
    runpy.run_module("harness", run_name="__main__")
except SystemExit as e:
    print("exit", e.code)
print("loaded", sorted(m for m in ("harness.run", "harness.validate", "torch", "transformers", "trl", "lm_eval",
                                   "datasets", "peft") if m in sys.modules))
"""


@pytest.mark.parametrize("args", [["--help"], ["train.stepz=3"], ["method=ppo"]])
def test_help_and_configs_that_do_not_compose_answer_before_the_training_stack_loads(args):
    """``python -m harness --help`` and a config Hydra cannot compose (unknown key, unknown option) need only
    Hydra and the schema: the heavy libraries load after composition, so the answer comes in about a second."""
    proc = subprocess.run([sys.executable, "-c", LIGHT_ENTRY, *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"}, timeout=300)
    out = proc.stdout + proc.stderr
    assert "loaded []" in out, out[-2000:]
    named = args[0].split("=")[0].split(".")[-1]  # --help, stepz, method
    assert ("exit 0" in out) if args == ["--help"] else ("exit 1" in out and named in out)
