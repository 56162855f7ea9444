"""Shared fixtures: Hydra composition of the real configs, and a tiny micro base model built once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from harness.config import CONF_DIR, register_configs
from harness.validate import validate

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
ROOT = Path(__file__).resolve().parent.parent
TINY = ["model=micro_tiny", "logger=none", "train.steps=2", "train.prompts_per_step=2", "train.num_generations=2",
        "train.max_completion_length=24", "data.n_test=6", "eval.max_gen_toks=24", "threads=1"]
# TINY with a warm start long enough that completions close their thinking, and 4 prompts x 8 completions
# per step: every step has RL groups with reward spread, so RL and START move the weights in every stage
# and a determinism test comparing their weights can fail (TINY gives no spread: a zero gradient).
SPREAD = [o for o in TINY if not o.startswith(("train.steps=", "train.prompts_per_step=", "train.num_generations=",
                                               "train.max_completion_length=", "eval.max_gen_toks="))]
SPREAD += ["train.steps=4", "train.prompts_per_step=4", "train.num_generations=8", "train.max_completion_length=48",
           "eval.max_gen_toks=48",
           "model.micro.warm_start.steps=300", "model.micro.warm_start.threads=1",
           "eval.answerers=[]", "eval.truncation=[]"]  # (functions of the weights; the smoke sweep has them)


def char_tokenizer(chars: str, bpe_corpus: list[str] | None = None):
    """A tokenizer over ``chars`` without the micro world's tag tokens: one token per character, or a
    BPE trained on ``bpe_corpus`` (its merges may cross tag boundaries)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from harness.micro.tokenizer import EOS, PAD, UNK

    chars = sorted(set(chars))
    if bpe_corpus:
        tok = Tokenizer(models.BPE(unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split(" ", behavior="isolated")
        tok.train_from_iterator(bpe_corpus, trainers.BpeTrainer(vocab_size=120, special_tokens=[PAD, EOS, UNK],
                                                                initial_alphabet=chars))
    else:
        tok = Tokenizer(models.WordLevel(vocab={t: i for i, t in enumerate([PAD, EOS, UNK, *chars])}, unk_token=UNK))
        tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()  # token strings are text: decoding concatenates them
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def compose_cfg(overrides: list[str]):
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose(config_name="config", overrides=overrides, return_hydra_config=False)


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny_base(cache_dir) -> Path:
    """The micro_tiny base checkpoint, built once per test session."""
    from harness.micro.build import ensure_micro_model

    cfg = validate(compose_cfg(TINY + [f"cache_dir={cache_dir}"]))
    return ensure_micro_model(cfg.model.micro, cache_dir)


@pytest.fixture(scope="session")
def spread_base(cache_dir) -> Path:
    """The SPREAD base checkpoint, built once per test session."""
    from harness.micro.build import ensure_micro_model

    cfg = validate(compose_cfg(SPREAD + [f"cache_dir={cache_dir}"]))
    return ensure_micro_model(cfg.model.micro, cache_dir)


def run_harness(args: list[str], cwd: Path = ROOT, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python -m harness`` in a subprocess (as a user would), capturing its output."""
    proc = subprocess.run([sys.executable, "-m", "harness", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "HYDRA_FULL_ERROR": "0"}, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"harness failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def stand_ins(tmp_path_factory) -> dict[str, Path]:
    """The stand-in real models of ``tests/standin.py`` ({"qwen2.5": folder, "qwen3": folder}), built once."""
    from tests.standin import KINDS, build_stand_in

    root = tmp_path_factory.mktemp("stand_ins")
    return {kind: build_stand_in(root / kind, kind) for kind in KINDS}
