"""``model.kind=hf``: a real causal LM (a hub id or a local folder), made into the run's base folder.

:func:`prepare_base` resolves ``model.path`` (:func:`harness.hub.resolve`) and bakes the config's
prompt format (``model.prompt``) into the tokenizer's chat template, in a folder under the cache
whose weights are links to the resolved ones (nothing is copied); without a prompt format the
resolved folder is the base itself. Any hub id or folder is also an answerer (``kind: hf``).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from transformers import AutoTokenizer

from harness.config import AnswererConfig, Config, ConfigError, ModelConfig
from harness.evaluation.lm_eval_bridge import EvalModel
from harness.hub import local_folder, resolve
from harness.models.kind import Answerer, Base, ModelKind, register_kind
from harness.prompts import bake_chat_template
from harness.results import hash_checkpoint, hash_strings


def prepare_base(model: ModelConfig, cache_dir: str | Path) -> Path:
    """The folder a run starts from: ``model.path`` resolved, with ``model.prompt`` baked in."""
    source = resolve(model.path)
    prompt = model.prompt
    if prompt.system is None and prompt.enable_thinking is None:
        return source
    tokenizer = AutoTokenizer.from_pretrained(source)
    if not isinstance(tokenizer.chat_template, str):
        raise ValueError(f"model.path={model.path!r} has no (single) chat template to put model.prompt into; "
                         "unset model.prompt.system/enable_thinking or use a chat model")
    tokenizer.chat_template = bake_chat_template(tokenizer.chat_template, prompt.system, prompt.enable_thinking)
    out = Path(cache_dir) / "models" / f"{source.name}-{hash_strings([str(source), tokenizer.chat_template])}"
    if out.is_dir():
        return out
    tmp = out.with_name(f"{out.name}.tmp{os.getpid()}")
    tokenizer.save_pretrained(tmp)
    for f in source.iterdir():
        if not (tmp / f.name).exists():
            (tmp / f.name).symlink_to(f.resolve())
    try:
        tmp.rename(out)
    except OSError:  # another run of the sweep prepared the same folder first
        shutil.rmtree(tmp)
    return out


@register_kind
class HF(ModelKind):
    name = "hf"
    real = True
    gradient_checkpointing = True  # saves GPU memory on real models

    def validate(self, cfg: Config) -> None:
        if not cfg.model.path:
            raise ConfigError("model.kind=hf needs model.path (a hub id or a local directory)")

    def validate_answerer(self, answerer: AnswererConfig, cfg: Config, where: str) -> None:
        if not answerer.path:
            raise ConfigError(f"{where}: kind=hf needs path (a hub id or a local directory)")

    def prepare(self, cfg: Config) -> Base:
        path = prepare_base(cfg.model, cfg.cache_dir)
        return Base(path, AutoTokenizer.from_pretrained(path), hash_checkpoint(path), str(path))

    def base_hash(self, cfg: Config) -> str | None:
        # the weights prepare_base links to: the same content hash, read once per process (hash_checkpoint)
        folder = local_folder(cfg.model.path)
        return None if folder is None else hash_checkpoint(folder)

    def answerer(self, answerer: AnswererConfig, cfg: Config, policy_tokenizer) -> Answerer:
        return Answerer(answerer, EvalModel.of(answerer.name, answerer.path, cfg),
                        AutoTokenizer.from_pretrained(answerer.path))
