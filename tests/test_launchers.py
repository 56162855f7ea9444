"""Scale-out configs: every sweep file dry-run with each launcher, Slurm/accelerate configs, optional extras."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from harness.config import CONF_DIR, ConfigError, register_configs
from harness.optional import MissingExtraError, RequireExtra, installed, require
from harness.validate import validate
from tests.conftest import ROOT, TINY, compose_cfg

SWEEPS = sorted(p.stem for p in (Path(CONF_DIR) / "sweep").glob("*.yaml"))
SLURM = ["hydra/launcher=slurm"]


def compose_with_hydra(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=True)


def launcher_schema(target: str):
    if target.endswith("SlurmLauncher"):
        from hydra_plugins.hydra_submitit_launcher.config import SlurmQueueConf as schema
    else:
        from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf as schema
    return OmegaConf.structured(schema)


def sweep_jobs(params) -> list[list[str]]:
    """The override lists of a sweep's jobs, as Hydra's basic sweeper expands them."""
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = [[f"{o.get_key_element()}={v}" for v in (o.sweep_string_iterator() if o.is_sweep_override()
                                                     else [o.get_value_element_as_str()])] for o in parsed]
    return [list(job) for job in itertools.product(*axes)]


@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_job_of_every_sweep_composes_and_validates(sweep):
    """The dry run of a sweep: what each of its jobs would run with, without running it."""
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        hydra_cfg = compose(config_name="config", overrides=[f"+sweep={sweep}"], return_hydra_config=True).hydra
        jobs = sweep_jobs(hydra_cfg.sweeper.params)
        assert jobs
        for job in jobs:
            validate(compose(config_name="config", overrides=[f"+sweep={sweep}", *job]))


@pytest.mark.parametrize("launcher", ["local", "slurm"])
@pytest.mark.parametrize("sweep", SWEEPS)
def test_every_sweep_composes_with_each_launcher(sweep, launcher):
    """A sweep file names no launcher keys: hydra/launcher=slurm alone swaps its local launcher out."""
    overrides = [f"+sweep={sweep}", *(SLURM if launcher == "slurm" else [])]
    cfg = compose_with_hydra(overrides)
    assert cfg.hydra.mode.name == "MULTIRUN" and cfg.hydra.launcher._target_.endswith(
        "SlurmLauncher" if launcher == "slurm" else "JoblibLauncher")
    if launcher == "local":  # the default: joblib, two runs at a time (conf/hydra/launcher/local.yaml)
        assert cfg.hydra.launcher.n_jobs == 2
    launcher_cfg = OmegaConf.to_container(cfg.hydra.launcher, resolve=False)
    schema = launcher_schema(launcher_cfg["_target_"])
    OmegaConf.set_struct(schema, True)
    OmegaConf.merge(schema, launcher_cfg)  # every key is one the launcher accepts


def test_local_launcher_is_joblib_with_two_jobs_and_overridable():
    cfg = compose_with_hydra(["hydra/launcher=local"])
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher") and cfg.hydra.launcher.n_jobs == 2
    assert compose_with_hydra(["+sweep=smoke", "hydra.launcher.n_jobs=1"]).hydra.launcher.n_jobs == 1


def test_slurm_launcher_has_gpu_defaults_and_checks_its_extra():
    cfg = compose_with_hydra(SLURM)
    launcher = cfg.hydra.launcher
    assert launcher.gpus_per_node == 1 and launcher.tasks_per_node == 1 and launcher.timeout_min >= 60
    assert launcher.partition is None or isinstance(launcher.partition, str)
    check = cfg.hydra.callbacks.require_slurm_launcher
    assert check._target_ == "harness.optional.RequireExtra" and installed(check.module)


def test_slurm_partition_and_account_come_from_config_or_environment(monkeypatch):
    monkeypatch.setenv("STARBENCH_SLURM_ACCOUNT", "lab")
    cfg = compose_with_hydra([*SLURM, "hydra.launcher.partition=gpu"])
    assert (cfg.hydra.launcher.partition, cfg.hydra.launcher.account) == ("gpu", "lab")


def test_missing_launcher_plugin_names_the_slurm_extra(monkeypatch):
    monkeypatch.setattr("harness.optional.installed", lambda module: False)
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[slurm\]"') as e:
        RequireExtra("hydra_plugins.hydra_submitit_launcher", "hydra/launcher=slurm").on_multirun_start(config=None)
    assert "hydra/launcher=slurm needs the 'hydra-submitit-launcher' package" in str(e.value)


def test_vllm_rollouts_need_the_gpu_extra(monkeypatch):
    monkeypatch.setattr("harness.optional.installed", lambda module: False)
    with pytest.raises(MissingExtraError, match=r'pip install -e "\.\[gpu\]"'):
        require("vllm", "train.use_vllm=true")
    with pytest.raises(ConfigError, match=r"train.use_vllm=true needs the 'vllm' package.*\.\[gpu\]"):
        validate(compose_cfg(["method=rl", "train.use_vllm=true"]))


@pytest.mark.parametrize("overrides,match", [(["train.vllm_mode=remote"], "train.vllm_mode"),
                                             (["train.vllm_gpu_memory_utilization=0"], "vllm_gpu_memory_utilization")])
def test_vllm_options_are_checked(overrides, match):
    with pytest.raises(ConfigError, match=match):
        validate(compose_cfg(overrides))


def test_vllm_options_reach_trl(tmp_path):
    from harness.methods.rl import grpo_args

    cfg = validate(compose_cfg(["method=rl", "train.vllm_mode=server", "train.vllm_gpu_memory_utilization=0.5"]))
    args = grpo_args(SimpleNamespace(cfg=cfg, run_dir=tmp_path))
    assert (args.use_vllm, args.vllm_mode, args.vllm_gpu_memory_utilization) == (False, "server", 0.5)


@pytest.mark.parametrize("name,kind,stage", [("ddp", "MULTI_GPU", None), ("zero2", "DEEPSPEED", 2),
                                             ("zero3", "DEEPSPEED", 3)])
def test_accelerate_configs_load(name, kind, stage):
    from accelerate.commands.config.config_args import load_config_from_file

    config = load_config_from_file(str(ROOT / "conf" / "accelerate" / f"{name}.yaml"))  # rejects unknown keys
    assert config.distributed_type.name == kind and config.mixed_precision == "bf16" and not config.use_cpu
    assert config.deepspeed_config.get("zero_stage") == stage


def test_gpu_smoke_script_composes(tmp_path):
    proc = subprocess.run(["bash", str(ROOT / "bench" / "gpu_smoke.sh"), str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "DRY_RUN": "1", "OUT": str(tmp_path / "out")})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stdout.count("name: qwen2.5-0.5b-instruct") == 2 and "steps: 2" in proc.stdout


def test_accelerate_launch_trains_on_every_process_and_writes_once(tmp_path, cache_dir, tiny_base):
    """Two CPU processes (gloo) through ``accelerate launch``: one run folder, one evaluation, the budget
    of the whole step. Each process stamps its own Hydra folder name (microseconds): the main one's wins."""
    import sys

    # --multi_gpu is accelerate's torchrun launcher (its --cpu runs one process); without a GPU it joins over gloo
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "harness", *TINY,
           "method=start",
           "train.max_completion_length=16", "data.n_test=4", "eval.max_gen_toks=16", f"cache_dir={cache_dir}",
           f"hydra.run.dir={tmp_path}/run-${{now:%H%M%S%f}}"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0", "OMP_NUM_THREADS": "1"})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    results = list(tmp_path.glob("run-*/results.json"))
    assert len(results) == 1, [p.name for p in tmp_path.iterdir()]
    result = json.loads(results[0].read_text())
    assert result["status"] == "ok" and "micro_math/acc" in result["metrics"]
    # 2 steps × 2 prompts × 2 completions, although each process generated half of them
    assert result["budget"]["completions_sampled"] == 8 and result["budget"]["optimizer_steps"] == 2
    assert "process 1 of 2: training done; the main process evaluates" in out  # (it returns before evaluating)
    assert len((results[0].parent / "curve.jsonl").read_text().splitlines()) == 2


def test_a_step_budget_that_does_not_split_over_the_processes_is_named(monkeypatch):
    from harness.distributed import per_process

    monkeypatch.setenv("WORLD_SIZE", "3")
    assert per_process(6, "train.prompts_per_step") == 2
    with pytest.raises(ConfigError, match="train.prompts_per_step = 8 per optimizer step does not split evenly"):
        per_process(8, "train.prompts_per_step")


def test_vllm_evaluation_needs_the_gpu_extra(monkeypatch):
    monkeypatch.setattr("harness.optional.installed", lambda module: False)
    with pytest.raises(ConfigError, match=r"eval.backend=vllm needs the 'vllm' package.*\.\[gpu\]"):
        validate(compose_cfg(["eval.backend=vllm"]))
    with pytest.raises(ConfigError, match=r"eval.backend='tgi' is not one of \['hf', 'vllm'\]"):
        validate(compose_cfg(["eval.backend=tgi"]))


def test_vllm_evaluation_is_lm_evals_vllm_model(monkeypatch, tmp_path, tiny_base):
    from harness.evaluation.answer_cache import model_fingerprint
    from harness.evaluation.lm_eval_bridge import EvalModel, cli_command
    from harness.results import hash_checkpoint

    monkeypatch.setattr("harness.optional.installed", lambda module: True)  # (not installed on a CPU box)
    cfg = validate(compose_cfg(["eval.backend=vllm", "eval.backend_args='tensor_parallel_size=2'", "dtype=bfloat16"]))
    policy = EvalModel.of("policy", tiny_base, cfg)
    args = f"pretrained={tiny_base},dtype=bfloat16,tensor_parallel_size=2"
    assert (policy.lm_name, policy.model_args) == ("vllm", args)
    assert cli_command(policy, tmp_path, ["micro_math"], 64, tmp_path).startswith("lm_eval --model vllm --model_args")
    assert model_fingerprint(policy).endswith(hash_checkpoint(tiny_base))  # cached by its weights, as with hf
