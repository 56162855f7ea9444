"""Build (once) and cache the micro world's base checkpoint: a tiny Llama warm-started by SFT.

The cache key is a hash of the micro config and ``WORLD_VERSION``: the same config reuses the same
files in every run and sweep; a changed config builds anew. Parallel runs that need the same build
wait on a file lock while one of them builds it. The result is a plain ``save_pretrained`` folder
that stock ``AutoModelForCausalLM`` / ``AutoTokenizer`` load, chat template included.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import random
import shutil
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import LlamaConfig, LlamaForCausalLM, TrainerCallback
from trl import SFTConfig, SFTTrainer

from harness.config import MicroConfig
from harness.micro.tokenizer import build_tokenizer
from harness.micro.validate import validate_answerers, validate_world
from harness.prompts import format_prompt
from harness.results import hash_config, write_json
from harness.suites import get_suite
from harness.suites.format import render_completion
from harness.threads import torch_threads

log = logging.getLogger(__name__)

#: bump when the generators, tokenizer or build procedure change what a config produces
WORLD_VERSION = 5  # 5: answer-level shortcut modes (issue 14); validation per depth
MICRO_SUITES = ("micro_math", "micro_gqa")


def config_hash(micro: MicroConfig) -> str:
    return hash_config(micro, v=WORLD_VERSION)


def snapshot_dir(build: Path, step: int) -> Path:
    """Where the build keeps the model saved at warm-start ``step`` (a micro answerer)."""
    return Path(build) / "snapshots" / f"step-{step}"


def answerer_folders(build: Path, micro: MicroConfig) -> dict[str, Path]:
    """The warm-start snapshots and the final model of a build, by label (``step-<N>``)."""
    folders = {f"step-{s}": snapshot_dir(build, s) for s in micro.warm_start.snapshots}
    folders[f"step-{micro.warm_start.steps}"] = Path(build)
    return folders


class SaveSnapshots(TrainerCallback):
    """Save model + tokenizer at the configured warm-start steps (the micro answerer ladder)."""

    def __init__(self, steps: list[int], folder: Path, tokenizer) -> None:
        self.steps, self.folder, self.tokenizer = set(steps), folder, tokenizer

    def on_step_end(self, args, state, control, model=None, **kwargs):
        if state.global_step in self.steps:
            out = snapshot_dir(self.folder, state.global_step)
            model.save_pretrained(out)
            self.tokenizer.save_pretrained(out)


def build_dir(micro: MicroConfig, cache_dir: str | Path) -> Path:
    """Where the build of ``micro`` is cached (built or not)."""
    return Path(cache_dir).resolve() / "micro" / config_hash(micro)


def is_built(build: Path) -> bool:
    return (Path(build) / "build_report.json").exists()  # (written last, before the folder is renamed into place)


def ensure_micro_model(micro: MicroConfig, cache_dir: str | Path) -> Path:
    """Return the folder of the warm-started micro model, building it first if needed."""
    target = build_dir(micro, cache_dir)
    if is_built(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run may be building it: wait, then reuse
        if not is_built(target):
            _build(micro, target)
    return target


def build_model(micro: MicroConfig, tokenizer) -> LlamaForCausalLM:
    arch = micro.arch
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=arch.hidden_size, intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_layers, num_attention_heads=arch.num_heads, num_key_value_heads=arch.num_heads,
        max_position_embeddings=arch.max_position_embeddings, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=None,
    )
    torch.manual_seed(micro.warm_start.seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def warm_start_rows(micro: MicroConfig, tokenizer) -> list[dict[str, str]]:
    """Warm-start SFT traces: each suite's items, each completion drawn from the mode mixture."""
    rng = random.Random(micro.warm_start.seed)
    modes = dataclasses.asdict(micro.modes)
    rows = []
    for name in MICRO_SUITES:
        suite = get_suite(name, **micro.suites.get(name, {}))
        for item in suite.generate("warm", micro.warm_start.items_per_suite, rng, distinct=False):
            thinking, answer = suite.sample_trace(item, rng, modes)
            rows.append({"prompt": format_prompt(tokenizer, item.question),
                         "completion": render_completion(thinking, answer)})
    rng.shuffle(rows)
    return rows


def _build(micro: MicroConfig, target: Path) -> None:
    ws = micro.warm_start
    log.info("building the micro base model (once; cached at %s)", target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = build_tokenizer()
    with torch_threads(ws.threads):
        model = build_model(micro, tokenizer)
        args = SFTConfig(
            output_dir=str(tmp / "trainer"), max_steps=ws.steps, per_device_train_batch_size=ws.batch_size,
            learning_rate=ws.lr, lr_scheduler_type="cosine", warmup_steps=max(1, ws.steps // 20),
            weight_decay=0.0, use_cpu=True, bf16=False, logging_steps=max(1, ws.steps // 20),
            save_strategy="no", report_to=[], seed=ws.seed, data_seed=ws.seed, disable_tqdm=False,
            gradient_checkpointing=False,  # TRL's default recomputes activations: same weights, 26% slower
        )
        trainer = SFTTrainer(model=model, args=args, processing_class=tokenizer,
                             train_dataset=Dataset.from_list(warm_start_rows(micro, tokenizer)),
                             callbacks=[SaveSnapshots(ws.snapshots, tmp, tokenizer)])
        started = time.perf_counter()
        trainer.train()
        seconds = {"warm_start": round(time.perf_counter() - started, 1)}
        model.eval()
        shutil.rmtree(tmp / "trainer", ignore_errors=True)
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        started = time.perf_counter()
        report = {"config_hash": target.name, "params": sum(p.numel() for p in model.parameters()),
                  "train_log": trainer.state.log_history,
                  "validation": validate_world(model, tokenizer, micro, MICRO_SUITES),
                  "answerers": validate_answerers(answerer_folders(tmp, micro), micro, MICRO_SUITES),
                  "seconds": {**seconds, "validation": round(time.perf_counter() - started, 1)}}
    write_json(tmp / "build_report.json", report)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log.info("micro base model ready: %s", json.dumps(report["validation"]))
