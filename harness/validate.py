"""Every cross-field check of a run's config, before any work starts: one-line errors naming the key.

:func:`validate` checks the composed config against the schema (:mod:`harness.config`: keys outside it,
e.g. from ``+key=...``, are errors) and then across fields, consulting the registries it sits above:
methods (their options and their own checks), model kinds (the policy's and each answerer's), suites
(rewards and parameters), judges, and lm-eval's task index.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from harness.config import Config, ConfigError, MethodConfig, data_config
from harness.evaluation.builtin_tasks import unknown_tasks
from harness.judge import judge_config
from harness.methods import METHODS, get_method
from harness.models import KINDS, get_kind
from harness.optional import MissingExtraError, require
from harness.suites import SUITES
from harness.suites.files import FileSuite

CHOICES = {
    "algo.loss_type": ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"),
    "algo.scale_rewards": ("group", "batch", "none"),
    "logger.backend": ("wandb", "none"),
    "logger.mode": ("offline", "online"),
    "device": ("cpu", "cuda"),
    "dtype": ("float32", "bfloat16", "float16"),
    "eval.backend": ("hf", "vllm"),
    "train.vllm_mode": ("colocate", "server"),
    "reuse": ("if_fingerprint_matches", "if_config_matches"),
}
OPEN_DICTS = ("data.params", "model.micro.suites", "model.micro.modes.gqa_answer",
              "model.micro.modes.math_answer")
METHOD_OPTIONS = tuple(f.name for f in fields(MethodConfig) if f.name not in ("name", "lr"))


def validate(cfg: DictConfig) -> Config:
    """Check ``cfg`` against the schema and across fields; return it as a typed object.

    Raises :class:`ConfigError` naming the offending key and how to fix it.
    """
    merged = _merge_schema(cfg)
    for key, allowed in CHOICES.items():
        if OmegaConf.select(merged, key) not in allowed:
            raise ConfigError(f"{key}={OmegaConf.select(merged, key)!r} is not one of {list(allowed)}")
    try:
        typed: Config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as e:
        raise ConfigError(f"invalid config value '{getattr(e, 'full_key', None) or '?'}': "
                          f"{str(e).splitlines()[0]}") from None
    _validate_method(typed)
    _validate_train(typed)
    _validate_model(typed)
    _validate_eval(typed)
    _validate_suite(typed.data)
    _validate_data_files(typed)
    return typed


def _merge_schema(cfg: DictConfig) -> DictConfig:
    plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    plain.pop("hydra", None)
    schema = OmegaConf.structured(Config)
    OmegaConf.set_struct(schema, True)  # keys outside the schema (e.g. from `+key=`) are errors
    for free_form in OPEN_DICTS:  # their keys are checked by their owners (e.g. the suite's signature)
        OmegaConf.set_struct(OmegaConf.select(schema, free_form), False)
    try:
        return OmegaConf.merge(schema, plain)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        parent = OmegaConf.select(schema, key.rpartition(".")[0]) if "." in key else schema
        valid = f"; valid keys there: {sorted(parent)}" if isinstance(parent, DictConfig) else ""
        raise ConfigError(f"invalid config key '{key}': {str(e).splitlines()[0]}{valid}") from None


def _validate_method(cfg: Config) -> None:
    """The method exists; options it does not read keep their defaults; its own checks pass."""
    m = cfg.method
    try:
        method = get_method(m.name)
    except KeyError as e:
        raise ConfigError(f"method.name: {e.args[0]}") from None
    defaults = MethodConfig()
    for option in METHOD_OPTIONS:
        if option not in method.options and getattr(m, option) != getattr(defaults, option):
            owners = sorted(n for n, other in METHODS.items() if option in other.options)
            raise ConfigError(f"method.{option}={getattr(m, option)!r} is an option of method {'/'.join(owners)}, "
                              f"which method={m.name} does not read; use method={owners[0]} or drop it")
    if method.trains and m.lr <= 0:
        raise ConfigError(f"method.lr={m.lr} must be > 0 for a training method")
    if method.samples and cfg.train.num_generations < 2:
        raise ConfigError("train.num_generations must be >= 2: group-relative advantages need two samples")
    method.validate(cfg)


def _validate_train(cfg: Config) -> None:
    t = cfg.train
    for key in ("steps", "prompts_per_step", "num_generations", "max_completion_length"):
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key}={getattr(t, key)} must be >= 1")
    if t.save_steps < 0:
        raise ConfigError(f"train.save_steps={t.save_steps} must be >= 0 (0 = no trainer checkpoints)")
    if not 0.0 < t.vllm_gpu_memory_utilization <= 1.0:
        raise ConfigError(f"train.vllm_gpu_memory_utilization={t.vllm_gpu_memory_utilization} must be in (0, 1]")
    if t.use_vllm:
        _require_extra("vllm", "train.use_vllm=true")
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device=cuda, but torch sees no GPU (a CPU build of torch, or no driver); "
                              "use device=cpu or install a CUDA build of torch")


def _validate_model(cfg: Config) -> None:
    """The policy's kind and its own checks; whether it can be trained; the prompt format; the micro snapshots."""
    try:
        kind = get_kind(cfg.model.kind)
    except KeyError as e:
        raise ConfigError(f"model.kind: {e.args[0]}") from None
    if not kind.trainable and get_method(cfg.method.name).trains:
        raise ConfigError(f"model={cfg.model.name} is a {kind.name} policy: it cannot be trained; use method=base")
    prompt = cfg.model.prompt
    if not kind.real and (prompt.system is not None or prompt.enable_thinking is not None):
        raise ConfigError(f"model.prompt.* sets a real model's chat template (model.kind=hf); model={cfg.model.name} "
                          f"is kind={cfg.model.kind}, whose prompt format is fixed")
    kind.validate(cfg)
    ws = cfg.model.micro.warm_start
    if list(ws.snapshots) != sorted(set(ws.snapshots)) or any(not 0 < s < ws.steps for s in ws.snapshots):
        raise ConfigError(f"model.micro.warm_start.snapshots={list(ws.snapshots)} must be increasing steps "
                          f"between 1 and warm_start.steps-1={ws.steps - 1}")


def _validate_eval(cfg: Config) -> None:
    ev = cfg.eval
    for name in ev.extra_suites:
        _validate_suite(data_config(name))
    include = _include_path(ev)
    if ev.lm_eval_tasks:
        unknown = unknown_tasks(list(ev.lm_eval_tasks), include)
        if unknown:
            where = " nor tasks of eval.lm_eval_include_path" if include else ""
            raise ConfigError(f"eval.lm_eval_tasks: {unknown} are not lm-eval tasks{where} (see `lm_eval ls tasks`)")
    if ev.backend == "vllm":
        _require_extra("vllm", "eval.backend=vllm")
    if any(not 0.0 <= lam <= 1.0 for lam in ev.truncation):
        raise ConfigError(f"eval.truncation={list(ev.truncation)}: every λ must be in [0, 1]")
    names = [a.name for a in ev.answerers]
    for i, a in enumerate(ev.answerers):
        where = f"eval.answerers[{i}] ({a.name})"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", a.name) or names.count(a.name) > 1:
            raise ConfigError(f"{where}: name must be unique and made of letters, digits, '_' and '-'")
        if a.kind not in KINDS:
            raise ConfigError(f"{where}: kind={a.kind!r} is not one of {sorted(KINDS)}")
        get_kind(a.kind).validate_answerer(a, cfg, where)


def _include_path(ev: Any) -> list[str]:
    """``eval.lm_eval_include_path``, every entry an existing folder."""
    for folder in ev.lm_eval_include_path:
        if not Path(folder).expanduser().is_dir():
            raise ConfigError(f"eval.lm_eval_include_path: {folder} is not a folder (of lm-eval task YAMLs)")
    return [str(Path(folder).expanduser()) for folder in ev.lm_eval_include_path]


def _validate_suite(data: Any) -> None:
    """``data`` (a data config) names a registered suite, one of its rewards and only its parameters."""
    if data.name not in SUITES:
        raise ConfigError(f"data.name={data.name!r} is not a registered suite; choose from {sorted(SUITES)}")
    suite = SUITES[data.name]
    if data.reward not in suite.reward_kinds:
        raise ConfigError(f"data.reward={data.reward!r} is not a reward of suite {data.name}; "
                          f"choose from {list(suite.reward_kinds)}")
    accepted = set(inspect.signature(suite.__init__).parameters) - {"self", "kw", "reward"}
    accepted |= {"judge"} if "judge" in suite.reward_kinds else set()
    unknown = sorted(set(data.params) - accepted)
    if unknown:
        raise ConfigError(f"data.params.{unknown[0]} is not a parameter of suite {data.name}; "
                          f"valid: {sorted(accepted)}")
    if data.reward == "judge":
        judge_config(data.params.get("judge"))
    elif data.params.get("judge") is not None:
        raise ConfigError(f"data.params.judge is set, but data.reward={data.reward}: set data.reward=judge "
                          "or drop the judge")


def _validate_data_files(cfg: Config) -> None:
    """Local files of file-backed suites exist; generated suites take none."""
    d = cfg.data
    local = {"data.path": d.path, "data.train_file": d.train_file, "data.test_file": d.test_file}
    if not issubclass(SUITES[d.name], FileSuite):
        given = [k for k, v in local.items() if v is not None]
        if given:
            raise ConfigError(f"{given[0]} is for file-backed suites; {d.name} generates its items")
    elif d.path is not None:
        for split in ("train", "test"):
            file = SUITES[d.name].data_file(split, d)
            if not file.is_file():
                raise ConfigError(f"data.{split}_file: {file} does not exist (data.path={d.path}); "
                                  f"{SUITES[d.name].files_hint}")


def _require_extra(module: str, feature: str) -> None:
    """A config error naming the pip extra when ``feature`` needs ``module`` and it is not installed."""
    try:
        require(module, feature)
    except MissingExtraError as e:
        raise ConfigError(str(e)) from None
