"""``model.kind=micro``: the embedded micro world (``harness.micro``), built once and cached by config hash.

Its answerers (``kind: micro``) are the warm-start snapshots the build saves
(``model.micro.warm_start.snapshots``, picked by index): the Cross-Generation ladder of the micro world.
"""

from __future__ import annotations

from transformers import AutoTokenizer

from harness.config import AnswererConfig, Config, ConfigError
from harness.evaluation.lm_eval_bridge import EvalModel
from harness.micro.build import build_dir, ensure_micro_model, is_built, snapshot_dir
from harness.models.kind import KINDS, Answerer, Base, ModelKind, register_kind
from harness.results import hash_checkpoint


@register_kind
class Micro(ModelKind):
    name = "micro"

    def validate_answerer(self, answerer: AnswererConfig, cfg: Config, where: str) -> None:
        if KINDS.lookup(cfg.model.kind).real:
            raise ConfigError(f"{where}: micro answerers read the micro world; model={cfg.model.name} is a "
                              "real model: use eval=qwen_ladder or set eval.answerers to hf models")
        snapshots = list(cfg.model.micro.warm_start.snapshots)
        if not 0 <= answerer.snapshot < len(snapshots):
            raise ConfigError(f"{where}: snapshot={answerer.snapshot} is not an index into "
                              f"model.micro.warm_start.snapshots={snapshots}")

    def prepare(self, cfg: Config) -> Base:
        path = ensure_micro_model(cfg.model.micro, cfg.cache_dir)
        return Base(path, AutoTokenizer.from_pretrained(path), hash_checkpoint(path), str(path))

    def base_hash(self, cfg: Config) -> str | None:
        build = build_dir(cfg.model.micro, cfg.cache_dir)
        return hash_checkpoint(build) if is_built(build) else None

    def answerer(self, answerer: AnswererConfig, cfg: Config, policy_tokenizer) -> Answerer:
        build = ensure_micro_model(cfg.model.micro, cfg.cache_dir)
        path = snapshot_dir(build, cfg.model.micro.warm_start.snapshots[answerer.snapshot])
        return Answerer(answerer, EvalModel.of(answerer.name, path, cfg), AutoTokenizer.from_pretrained(path))
