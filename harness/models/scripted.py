"""``model.kind=scripted``: policies with known behaviour (``harness.evaluation.scripted``), never trained.

``model.path`` (or an answerer's ``path``) names the policy: faithful, shortcut, hedger, empty, reader.
They are served to lm-eval as the model ``starbench-scripted`` and write the micro world's prompt format.
"""

from __future__ import annotations

from pathlib import Path

from harness.config import AnswererConfig, Config, ConfigError
from harness.evaluation.lm_eval_bridge import SCRIPTED_LM, EvalModel
from harness.evaluation.scripted import POLICIES  # (importing it registers SCRIPTED_LM with lm-eval)
from harness.micro.tokenizer import build_tokenizer
from harness.models.kind import Answerer, Base, ModelKind, register_kind
from harness.results import hash_strings


def scripted_model(label: str, policy: str) -> EvalModel:
    return EvalModel(label, SCRIPTED_LM, f"policy={policy}")


@register_kind
class Scripted(ModelKind):
    name = "scripted"
    trainable = False

    def validate(self, cfg: Config) -> None:
        if cfg.model.path not in POLICIES:
            raise ConfigError(f"model.path={cfg.model.path!r} is not a scripted policy; choose from {sorted(POLICIES)}")
        if cfg.eval.lm_eval_tasks:
            raise ConfigError("eval.lm_eval_tasks need a model; scripted policies answer the harness's suites only")

    def validate_answerer(self, answerer: AnswererConfig, cfg: Config, where: str) -> None:
        if answerer.path not in POLICIES:
            raise ConfigError(f"{where}: scripted answerer path={answerer.path!r} is not one of {sorted(POLICIES)}")

    def prepare(self, cfg: Config) -> Base:
        return Base(None, build_tokenizer(), self.base_hash(cfg), f"scripted:{cfg.model.path}")

    def base_hash(self, cfg: Config) -> str:
        return hash_strings(["scripted", cfg.model.path])  # (a scripted policy is its code)

    def policy(self, cfg: Config, checkpoint: Path | None) -> EvalModel:
        return scripted_model("policy", cfg.model.path)

    def answerer(self, answerer: AnswererConfig, cfg: Config, policy_tokenizer) -> Answerer:
        return Answerer(answerer, scripted_model(answerer.name, answerer.path), policy_tokenizer)
