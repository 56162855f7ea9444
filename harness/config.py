"""Typed config schemas (Hydra structured configs) and every cross-field check, in one place.

The schema is registered as ``base_config`` and sits under ``conf/config.yaml``, so a typo'd key or
a wrong type fails at composition. Keys added with ``+key=...`` and combinations that do not make
sense are caught by :func:`validate` before any compute starts, with a one-line message naming the key.
"""

from __future__ import annotations

import inspect
import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException


class ConfigError(ValueError):
    """A configuration problem, reported before any work starts."""


@dataclass
class MethodConfig:
    name: str = "base"
    trainer: str = "none"  # none | sft | rl
    lr: float = 0.0
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
    """Warm-start behaviour-mode mixture (research.md §4): probabilities of the careful thinking."""

    math_careful: list[float] = field(default_factory=lambda: [0.9, 0.6, 0.3, 0.15])  # by steps 1..4
    gqa_careful: list[float] = field(default_factory=lambda: [0.9, 0.5, 0.2])  # by hops 1..3
    gqa_answer: dict[str, float] = field(
        default_factory=lambda: {"follow": 0.85, "shortcut": 0.1, "hedge": 0.05})


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


JUDGE_PROMPT = """You are grading an answer to a question against the accepted gold answers.
The answer is correct if it means the same as one of the gold answers (ignore case, punctuation,
articles and wording that does not change what it names); it is wrong if it names something else,
names several candidates, or says nothing.
Question: {question}
Gold answers: {gold}
Answer: {answer}
Is the answer correct? Reply with one word: yes or no."""


@dataclass
class JudgeConfig:
    """An LLM judge of GQA answers: the reward ``data.reward=judge`` (harness.judge), set as ``data.params.judge``.

    It lives in the suite's parameters because the suite is the one place that defines the reward: the
    RL trainer and lm-eval's scorer (which rebuilds the suite from each task row) see the same judge.
    """

    kind: str = "hf"  # hf (a causal LM through transformers, in this process) | openai (an OpenAI-compatible endpoint)
    model: str | None = None  # hf: hub id or local folder; openai: the model name the endpoint serves
    url: str | None = None  # openai: the endpoint's base URL, e.g. http://localhost:8000/v1 (vllm serve)
    api_key_env: str | None = None  # openai: the env var holding the API key (null: none needed, e.g. local vLLM)
    # the template: fields {question}, {gold} (the aliases, ' | '-joined) and {answer}; null: JUDGE_PROMPT
    prompt: str | None = None
    max_tokens: int = 8  # the verdict's budget: the verdict is the first word of the reply
    batch_size: int = 16  # hf: prompts per generate call; openai: requests in flight at once
    device: str = "cpu"  # hf: cpu | cuda
    timeout_s: float = 60.0  # openai: per request (the client retries twice before it gives up)


@dataclass
class DataConfig:
    name: str = "micro_math"  # a registered suite
    n_train: int = 512
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


def register_configs() -> None:
    ConfigStore.instance().store(name="base_config", node=Config)


CHOICES = {
    "method.trainer": ("none", "sft", "rl"),
    "method.stage2": ("full", "answer", "none"),
    "algo.loss_type": ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "luspo", "vespo"),
    "algo.scale_rewards": ("group", "batch", "none"),
    "model.kind": ("micro", "hf", "scripted"),
    "logger.backend": ("wandb", "none"),
    "logger.mode": ("offline", "online"),
    "device": ("cpu", "cuda"),
    "dtype": ("float32", "bfloat16", "float16"),
}


ANSWERER_KINDS = ("micro", "hf", "scripted")
EVAL_BACKENDS = ("hf", "vllm")
OPEN_DICTS = ("data.params", "model.micro.suites", "model.micro.modes.gqa_answer")


def _get(cfg: DictConfig, dotted: str) -> Any:
    return OmegaConf.select(cfg, dotted)


def validate(cfg: DictConfig) -> Config:
    """Check ``cfg`` against the schema and across fields; return it as a typed object.

    Raises :class:`ConfigError` naming the offending key and how to fix it.
    """
    plain = OmegaConf.create(OmegaConf.to_container(cfg, resolve=False))
    plain.pop("hydra", None)
    schema = OmegaConf.structured(Config)
    OmegaConf.set_struct(schema, True)  # keys outside the schema (e.g. from `+key=`) are errors
    for free_form in OPEN_DICTS:  # their keys are checked by their owners (e.g. the suite's signature)
        OmegaConf.set_struct(OmegaConf.select(schema, free_form), False)
    try:
        merged = OmegaConf.merge(schema, plain)
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or "?"
        parent = OmegaConf.select(schema, key.rpartition(".")[0]) if "." in key else schema
        valid = f"; valid keys there: {sorted(parent)}" if isinstance(parent, DictConfig) else ""
        raise ConfigError(f"invalid config key '{key}': {str(e).splitlines()[0]}{valid}") from None
    for key, allowed in CHOICES.items():
        if _get(merged, key) not in allowed:
            raise ConfigError(f"{key}={_get(merged, key)!r} is not one of {list(allowed)}")
    m, t = merged.method, merged.train
    if not 0.0 <= m.stage1_frac <= 1.0:
        raise ConfigError(f"method.stage1_frac={m.stage1_frac} must be in [0, 1]")
    if m.trainer != "rl" and (m.stage1_frac > 0 or m.stage2 != "full"):
        raise ConfigError(f"method.stage1_frac/method.stage2 are START options, but method={m.name} uses "
                          f"trainer={m.trainer}; use method=start or drop them")
    if m.trainer != "none" and m.lr <= 0:
        raise ConfigError(f"method.lr={m.lr} must be > 0 for a training method")
    for key in ("steps", "prompts_per_step", "num_generations", "max_completion_length"):
        if getattr(t, key) < 1:
            raise ConfigError(f"train.{key}={getattr(t, key)} must be >= 1")
    if t.save_steps < 0:
        raise ConfigError(f"train.save_steps={t.save_steps} must be >= 0 (0 = no trainer checkpoints)")
    if m.trainer == "rl" and t.num_generations < 2:
        raise ConfigError("train.num_generations must be >= 2: group-relative advantages need two samples")
    if merged.model.kind == "hf" and not merged.model.path:
        raise ConfigError("model.kind=hf needs model.path (a hub id or a local directory)")
    if merged.model.kind == "scripted" and m.trainer != "none":
        raise ConfigError(f"model={merged.model.name} is a scripted policy: it cannot be trained; use method=base")
    ws = merged.model.micro.warm_start
    if list(ws.snapshots) != sorted(set(ws.snapshots)) or any(not 0 < s < ws.steps for s in ws.snapshots):
        raise ConfigError(f"model.micro.warm_start.snapshots={list(ws.snapshots)} must be increasing steps "
                          f"between 1 and warm_start.steps-1={ws.steps - 1}")
    _validate_eval(merged)
    if merged.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise ConfigError("device=cuda, but torch sees no GPU (a CPU build of torch, or no driver); "
                              "use device=cpu or install a CUDA build of torch")
    _validate_suite(merged.data)
    _validate_scale(merged)
    return OmegaConf.to_object(merged)


CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


def data_config(name: str) -> DataConfig:
    """The data config ``conf/data/<name>.yaml``, as ``data=<name>`` would compose it."""
    path = CONF_DIR / "data" / f"{name}.yaml"
    if not path.is_file():
        options = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"eval.extra_suites: no data config {name!r} (conf/data/{name}.yaml); choose from {options}")
    schema = OmegaConf.structured(DataConfig)
    OmegaConf.set_struct(schema.params, False)
    return OmegaConf.to_object(OmegaConf.merge(schema, OmegaConf.load(path)))


def _validate_eval(cfg: DictConfig) -> None:
    from harness.evaluation.scripted import POLICIES

    ev = cfg.eval
    for name in ev.extra_suites:
        _validate_suite(OmegaConf.structured(data_config(name)))
    if ev.lm_eval_tasks:
        from harness.evaluation.builtin_tasks import unknown_tasks

        if cfg.model.kind == "scripted":
            raise ConfigError("eval.lm_eval_tasks need a model; scripted policies answer the harness's suites only")
        unknown = unknown_tasks(list(ev.lm_eval_tasks), _include_path(ev))
        if unknown:
            where = " nor tasks of eval.lm_eval_include_path" if ev.lm_eval_include_path else ""
            raise ConfigError(f"eval.lm_eval_tasks: {unknown} are not lm-eval tasks{where} (see `lm_eval ls tasks`)")
    else:
        _include_path(ev)
    if ev.backend not in EVAL_BACKENDS:
        raise ConfigError(f"eval.backend={ev.backend!r} is not one of {list(EVAL_BACKENDS)}")
    if ev.backend == "vllm":
        _require_extra("vllm", "eval.backend=vllm")
    if any(not 0.0 <= lam <= 1.0 for lam in ev.truncation):
        raise ConfigError(f"eval.truncation={list(ev.truncation)}: every λ must be in [0, 1]")
    names = [a.name for a in ev.answerers]
    for i, a in enumerate(ev.answerers):
        where = f"eval.answerers[{i}] ({a.name})"
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", a.name) or names.count(a.name) > 1:
            raise ConfigError(f"{where}: name must be unique and made of letters, digits, '_' and '-'")
        if a.kind not in ANSWERER_KINDS:
            raise ConfigError(f"{where}: kind={a.kind!r} is not one of {list(ANSWERER_KINDS)}")
        if a.kind == "micro":
            if cfg.model.kind == "hf":
                raise ConfigError(f"{where}: micro answerers read the micro world; model={cfg.model.name} is a "
                                  "real model: use eval=qwen_ladder or set eval.answerers to hf models")
            if not 0 <= a.snapshot < len(cfg.model.micro.warm_start.snapshots):
                raise ConfigError(f"{where}: snapshot={a.snapshot} is not an index into "
                                  f"model.micro.warm_start.snapshots={list(cfg.model.micro.warm_start.snapshots)}")
        if a.kind == "hf" and not a.path:
            raise ConfigError(f"{where}: kind=hf needs path (a hub id or a local directory)")
        if a.kind == "scripted" and a.path not in POLICIES:
            raise ConfigError(f"{where}: scripted answerer path={a.path!r} is not one of {sorted(POLICIES)}")
    if cfg.model.kind == "scripted" and cfg.model.path not in POLICIES:
        raise ConfigError(f"model.path={cfg.model.path!r} is not a scripted policy; choose from {sorted(POLICIES)}")


def _include_path(ev: DictConfig) -> list[str]:
    """``eval.lm_eval_include_path``, every entry an existing folder."""
    for folder in ev.lm_eval_include_path:
        if not Path(folder).expanduser().is_dir():
            raise ConfigError(f"eval.lm_eval_include_path: {folder} is not a folder (of lm-eval task YAMLs)")
    return [str(Path(folder).expanduser()) for folder in ev.lm_eval_include_path]


def _validate_suite(data: DictConfig) -> None:
    from harness.suites import SUITES

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


def judge_config(raw: Any) -> JudgeConfig:
    """``data.params.judge`` as a checked :class:`JudgeConfig`; a :class:`ConfigError` names what is wrong."""
    from harness.judge import JUDGES
    from harness.optional import MissingExtraError

    if raw is None:
        raise ConfigError("data.reward=judge needs a judge: data.params.judge.{kind,model,url,...}, or a preset "
                          "from conf/judge/ (e.g. +judge=openai_local)")
    schema = OmegaConf.structured(JudgeConfig)
    OmegaConf.set_struct(schema, True)
    try:
        cfg = OmegaConf.to_object(OmegaConf.merge(schema, raw))
    except OmegaConfBaseException as e:
        raise ConfigError(f"invalid judge key 'data.params.judge.{getattr(e, 'full_key', '?')}': "
                          f"{str(e).splitlines()[0]}; valid keys: {sorted(schema)}") from None
    if cfg.kind not in JUDGES:
        raise ConfigError(f"data.params.judge.kind={cfg.kind!r} is not one of {sorted(JUDGES)}")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(cfg.prompt or JUDGE_PROMPT) if name is not None}
    except ValueError as e:
        raise ConfigError(f"data.params.judge.prompt is not a valid template ({e})") from None
    if "answer" not in fields or not fields <= {"question", "gold", "answer"}:
        raise ConfigError(f"data.params.judge.prompt has the fields {sorted(fields)}: it must use {{answer}} and may "
                          "use {question} and {gold}, nothing else (write literal braces as {{ and }})")
    for key in ("max_tokens", "batch_size"):
        if getattr(cfg, key) < 1:
            raise ConfigError(f"data.params.judge.{key}={getattr(cfg, key)} must be >= 1")
    try:
        JUDGES[cfg.kind].check(cfg)
    except (ValueError, MissingExtraError) as e:
        raise ConfigError(f"data.params.judge: {e}") from None
    return cfg


def _require_extra(module: str, feature: str) -> None:
    """A config error naming the pip extra when ``feature`` needs ``module`` and it is not installed."""
    from harness.optional import MissingExtraError, require

    try:
        require(module, feature)
    except MissingExtraError as e:
        raise ConfigError(str(e)) from None


def _validate_scale(cfg: DictConfig) -> None:
    """Real models, real data and scale-out (issue 5): prompt format, data files, vLLM rollouts."""
    from harness.suites import SUITES
    from harness.suites.files import FileSuite

    if cfg.model.kind != "hf" and (cfg.model.prompt.system is not None or cfg.model.prompt.enable_thinking is not None):
        raise ConfigError(f"model.prompt.* sets a real model's chat template (model.kind=hf); model={cfg.model.name} "
                          f"is kind={cfg.model.kind}, whose prompt format is fixed")
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
    t = cfg.train
    if t.vllm_mode not in ("colocate", "server"):
        raise ConfigError(f"train.vllm_mode={t.vllm_mode!r} is not one of ['colocate', 'server']")
    if not 0.0 < t.vllm_gpu_memory_utilization <= 1.0:
        raise ConfigError(f"train.vllm_gpu_memory_utilization={t.vllm_gpu_memory_utilization} must be in (0, 1]")
    if t.use_vllm:
        _require_extra("vllm", "train.use_vllm=true")
