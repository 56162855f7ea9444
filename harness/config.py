"""Typed config schemas (Hydra structured configs): the bottom of the import order.

The schema is registered as ``base_config`` and sits under ``conf/config.yaml``, so a typo'd key or a
wrong type fails at composition. Every default is written here, once: the YAML files under ``conf/``
set only what differs from it (``tests/test_config.py`` checks). Cross-field checks, which consult the
registries of suites, methods, model kinds and judges, are in :mod:`harness.validate`; this module
imports nothing of the harness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


@dataclass
class MethodConfig:
    """``method=<name>``: a registered method (harness/methods/<name>.py) and its options.

    Options a method does not read must keep their defaults (validation names the method that does).
    """

    name: str = "base"
    lr: float = 0.0  # learning rate of a training method
    # START: the first `stage1_frac` of the optimizer steps update thinking tokens only; then `stage2`.
    stage1_frac: float = 0.0
    stage2: str = "full"  # full | answer | none


@dataclass
class AlgoConfig:
    name: str = "dapo"
    loss_type: str = "dapo"  # TRL GRPOConfig.loss_type
    scale_rewards: str = "group"  # group | batch | none
    beta: float = 0.0  # KL coefficient; 0 = no reference model
    epsilon: float = 0.2
    epsilon_high: float = 0.2
    mask_truncated_completions: bool = False


@dataclass
class TrainConfig:
    steps: int = 30  # optimizer steps, the same for every training method
    prompts_per_step: int = 8
    num_generations: int = 8  # completions per prompt (RL)
    max_completion_length: int = 128
    temperature: float = 1.0
    warmup_steps: int = 0
    max_grad_norm: float = 1.0
    # a resumable trainer checkpoint (weights, optimizer, scheduler, RNG, trainer state) every
    # `save_steps` optimizer steps and at the last step, in <run>/trainer/; 0 = none (no resuming)
    save_steps: int = 10
    # recompute activations in the backward pass to save memory (TRL's default is on); null: on for
    # hf models, off for the micro model (nothing to save; 26% faster steps on CPU). The numbers do not
    # depend on it, so it is not part of the config hash.
    gradient_checkpointing: bool | None = None
    # RL rollouts with vLLM (TRL GRPOConfig.use_vllm; needs pip install -e ".[gpu]" and a GPU):
    # colocate = vLLM shares the training GPUs; server = a separate `trl vllm-serve` process
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3  # colocate: GPU memory fraction vLLM may take


@dataclass
class MicroArch:
    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 384


@dataclass
class WarmStart:
    steps: int = 800
    batch_size: int = 32
    lr: float = 2e-3
    items_per_suite: int = 20000
    val_items: int = 200
    seed: int = 0
    threads: int = 0  # 0 = all cores (the build runs once, before the runs start)
    # optimizer steps at which the build also saves the model: the micro answerer ladder of
    # Cross-Generation (eval.answerers with kind=micro pick one by its index in this list)
    snapshots: list[int] = field(default_factory=lambda: [100, 250, 600])


@dataclass
class Modes:
    """Warm-start behaviour-mode mixture (research.md §4, docs/findings.md "The world").

    Thinking: the probability of the careful derivation (else the shallow one), by question depth.
    Answer, drawn independently of the thinking: ``follow`` its conclusion, ``shortcut`` to the
    question's surface cue whatever the thinking says (micro_gqa: where the subject lives; micro_math:
    the digit written in the question), or ``hedge`` (micro_gqa: two candidates).
    """

    math_careful: list[float] = field(default_factory=lambda: [0.9, 0.6, 0.3, 0.15])  # by steps 1..4
    gqa_careful: list[float] = field(default_factory=lambda: [0.9, 0.5, 0.2])  # by hops 1..3
    gqa_answer: dict[str, float] = field(
        default_factory=lambda: {"follow": 0.5, "shortcut": 0.45, "hedge": 0.05})
    math_answer: dict[str, float] = field(default_factory=lambda: {"follow": 0.65, "shortcut": 0.35})


@dataclass
class MicroConfig:
    arch: MicroArch = field(default_factory=MicroArch)
    warm_start: WarmStart = field(default_factory=WarmStart)
    modes: Modes = field(default_factory=Modes)
    # generator knobs of each suite's warm-start traces
    suites: dict[str, Any] = field(default_factory=lambda: {"micro_math": {}, "micro_gqa": {"shortcut_p": 0.5}})


@dataclass
class PromptConfig:
    """A real model's prompt format (model.kind=hf), baked into its chat template (harness.models).

    The completion format itself is fixed: ``<think>…</think><answer>…</answer>`` (harness.suites.format).
    """

    system: str | None = None  # system turn before every question (null: the template's own default)
    enable_thinking: bool | None = None  # chat-template variable of thinking models (Qwen3); null: unset


@dataclass
class ModelConfig:
    name: str = "micro"
    # micro (built and cached by the harness) | hf (a hub id or local path) | scripted (a policy with
    # known behaviour, for validating metrics; `path` names it: faithful, shortcut, hedger, empty)
    kind: str = "micro"
    path: str | None = None
    micro: MicroConfig = field(default_factory=MicroConfig)
    prompt: PromptConfig = field(default_factory=PromptConfig)


@dataclass
class DataConfig:
    name: str = "micro_math"  # a registered suite (the training items: train.steps x train.prompts_per_step)
    n_test: int = 200
    gen_seed: int = 1234  # fixed across run seeds: every run of a sweep sees the same items
    reward: str = "em"  # one of the suite's reward_kinds: em; GQA also f1, judge (an LLM judge: params.judge)
    params: dict[str, Any] = field(default_factory=dict)  # the suite's own knobs
    # file-backed suites (gsm8k, nq_open): a folder with their JSONL files; null = the HF hub (online)
    path: str | None = None
    train_file: str | None = None  # file names inside `path`; null = the suite's default names
    test_file: str | None = None


@dataclass
class AnswererConfig:
    """One answerer of Cross-Generation: answers from (question, the policy's thinking) and (question, ∅)."""

    name: str = "???"
    kind: str = "micro"  # micro (a warm-start snapshot of the run's micro world) | hf | scripted
    path: str | None = None  # hf: hub id or local directory; scripted: the policy (e.g. reader)
    snapshot: int = 0  # micro: index into model.micro.warm_start.snapshots
    ladder: bool = True  # counts towards xgen_score and shortcut_rate (false: reported beside them)


@dataclass
class EvalConfig:
    batch_size: int = 64
    max_gen_toks: int = 128
    nothink: bool = True  # also evaluate with an empty thinking prefilled (nothink_acc, thinking_gain)
    answer_max_toks: int = 16  # budget of a forced answer (truncation curve, Cross-Generation)
    truncation: list[float] = field(default_factory=list)  # λ grid of the truncation curve; [] = off
    # interventions on the thinking (docs/metrics.md): the policy answers after its thinking with the
    # conclusion corrupted and after same-length filler; each answerer after another item's thinking
    interventions: bool = True
    answerers: list[AnswererConfig] = field(default_factory=list)  # the Cross-Generation ladder; [] = off
    # reuse an answerer's answers after an empty thinking across runs (they do not depend on the
    # policy; harness/evaluation/answer_cache.py says what the cache key covers)
    reuse_empty_answers: bool = True
    # reuse the whole evaluation of a policy the run did not train (method=base: the same in every seed
    # and in every run that evaluates the same suite) across runs; same cache, same key rules
    reuse_base_evals: bool = True
    # further suites every run is evaluated on, as configured in conf/data/<name>.yaml (transfer:
    # e.g. RLVR trained on micro_math, evaluated on micro_gqa too)
    extra_suites: list[str] = field(default_factory=list)
    # lm-eval's own tasks, run on the policy with its chat template, its thinking stripped and unclosed
    # thinking scored wrong (harness/evaluation/builtin_tasks.py; they need the HF hub or a filled
    # datasets cache): e.g. [gsm8k_cot, nq_open]; metrics lm_eval/<task>/<metric>, lm_eval/<task>/no_think_close
    lm_eval_tasks: list[str] = field(default_factory=list)
    # folders of the user's own lm-eval task YAMLs: their tasks can be named in lm_eval_tasks and run
    # exactly like built-in ones (lm-eval's --include_path)
    lm_eval_include_path: list[str] = field(default_factory=list)
    # warn when more than this share of the policy's generations never close their thinking
    truncation_warning: float = 0.1
    # lm-eval model that loads the policy and answerers: hf (transformers) | vllm (pip install -e ".[gpu]")
    backend: str = "hf"
    # more lm-eval --model_args for them, verbatim, e.g. "tensor_parallel_size=2,max_model_len=8192"
    backend_args: str = ""


@dataclass
class LoggerConfig:
    backend: str = "wandb"  # wandb | none
    mode: str = "offline"  # offline | online
    project: str = "starbench"
    entity: str | None = None


@dataclass
class Config:
    method: MethodConfig = field(default_factory=MethodConfig)
    algo: AlgoConfig = field(default_factory=AlgoConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    seed: int = 0
    threads: int = 0  # torch threads of this run; 0 = all cores (sweeps set 1)
    device: str = "cpu"  # cpu | cuda: where training and evaluation run
    dtype: str = "float32"  # float32 | bfloat16 | float16: evaluated weights; training autocast
    sweep_name: str = "single"
    cache_dir: str = "outputs/cache"
    # what a relaunch may reuse of an earlier attempt of the run (skip it when it finished, resume it
    # when it was interrupted): if_fingerprint_matches (config, harness source, base weights, data
    # files and library versions all unchanged: harness/fingerprint.py) | if_config_matches (the config
    # alone: for a code or version change known not to move a number). Not part of the config hash.
    reuse: str = "if_fingerprint_matches"


def register_configs() -> None:
    ConfigStore.instance().store(name="base_config", node=Config)


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def data_config(name: str) -> DataConfig:
    """The data config ``conf/data/<name>.yaml``, as ``data=<name>`` would compose it."""
    path = CONF_DIR / "data" / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"eval.extra_suites: no data config {name!r} (conf/data/{name}.yaml); choose from {options}")
    schema = OmegaConf.structured(DataConfig)
    OmegaConf.set_struct(schema.params, False)
    try:
        return OmegaConf.to_object(OmegaConf.merge(schema, OmegaConf.load(path)))
    except OmegaConfBaseException as e:
        raise ConfigError(f"{path}: {str(e).splitlines()[0]}") from None
