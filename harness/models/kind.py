"""The model-kind interface and registry: what a run needs of a kind of model, whatever it is.

A kind (``model.kind`` for the policy, ``eval.answerers[*].kind`` for an answerer) is one object that
checks its config, resolves the checkpoint a run starts from, and builds the lm-eval models of the
policy and of an answerer. The kinds are ``micro`` (the embedded world, built and cached by the
harness), ``hf`` (any causal LM by hub id or folder) and ``scripted`` (policies with known behaviour).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from harness.config import AnswererConfig, Config
from harness.evaluation.lm_eval_bridge import EvalModel
from harness.registry import Registry

KINDS: Registry[ModelKind] = Registry("model kind")


def register_kind(cls: type[ModelKind]) -> type[ModelKind]:
    KINDS.register(cls.name)(cls())
    return cls


def get_kind(name: str) -> ModelKind:
    return KINDS.lookup(name)


@dataclass
class Base:
    """What a run starts from."""

    path: Path | None  # the checkpoint training starts from (None: a model with nothing to load or train)
    tokenizer: Any  # writes the policy's prompts
    hash: str  # budget.base_checkpoint_hash: the analysis compares runs only from one base
    label: str  # results.json ``checkpoint`` when the run trains nothing


@dataclass
class Answerer:
    """A Cross-Generation answerer: its config, its lm-eval model and its tokenizer (for its prompts)."""

    config: AnswererConfig
    model: EvalModel
    tokenizer: Any


class ModelKind:
    """One kind of model; subclasses register themselves with :func:`register_kind`."""

    name: ClassVar[str]
    trainable: ClassVar[bool] = True  # methods that train may start from it
    real: ClassVar[bool] = False  # a real LM: its own chat template (model.prompt applies), no micro world
    # the default of train.gradient_checkpointing (null): recompute activations to save memory
    gradient_checkpointing: ClassVar[bool] = False

    def validate(self, cfg: Config) -> None:
        """Raise ``ConfigError`` when ``cfg.model`` cannot work for this kind (the policy)."""

    def validate_answerer(self, answerer: AnswererConfig, cfg: Config, where: str) -> None:
        """Raise ``ConfigError`` (prefixed with ``where``) when ``answerer`` cannot work for this kind."""

    def prepare(self, cfg: Config) -> Base:
        """The run's starting point: build, fetch or resolve the base checkpoint."""
        raise NotImplementedError

    def base_hash(self, cfg: Config) -> str | None:
        """The ``Base.hash`` :meth:`prepare` would give, without building or downloading anything: what a
        relaunch compares with a finished run's fingerprint. None when the base is not at hand yet."""
        return None

    def policy(self, cfg: Config, checkpoint: Path | None) -> EvalModel:
        """The lm-eval model of the policy at ``checkpoint`` (the trained or the base one)."""
        return EvalModel.of("policy", checkpoint, cfg)

    def answerer(self, answerer: AnswererConfig, cfg: Config, policy_tokenizer) -> Answerer:
        raise NotImplementedError
