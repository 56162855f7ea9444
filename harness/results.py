"""The run-folder contract: ``results.json``, the budget record, provenance, atomic writes.

Every file a result is read from is written to a temporary name and renamed into place, so a
crashed run never leaves a half-written file that looks like a result.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.fingerprint import versions

RESULTS_FILE = "results.json"
TRACKED_LIBRARIES = ("torch", "transformers", "trl", "accelerate", "datasets", "lm_eval", "hydra-core",
                     "wandb", "math-verify", "numpy", "pandas")


def write_text(path: Path, text: str) -> None:
    """Write ``text`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


@dataclass
class Budget:
    """What a run consumed; the analysis compares these before it compares runs."""

    base_checkpoint_hash: str = ""
    prompt_ids_hash: str = ""
    optimizer_steps: int = 0
    completions_sampled: int = 0
    tokens_generated: int = 0
    wall_time_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


#: run-config keys that change how a run is carried out, not what it computes: left out of its hash,
#: so changing them neither reruns a finished run nor stops an interrupted one from resuming
EXECUTION_ONLY_KEYS = ("train.save_steps", "train.gradient_checkpointing", "eval.reuse_base_evals", "reuse")


def hash_config(obj: Any, *, exclude: tuple[str, ...] = (), **extra: Any) -> str:
    """Content hash of a config dataclass (plus ``extra`` fields), without the dotted keys in ``exclude``:
    same values, same hash."""
    cfg = asdict(obj)
    for dotted in exclude:
        *parents, leaf = dotted.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        del node[leaf]
    payload = json.dumps({"cfg": cfg, **extra}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def hash_run_config(cfg: Any) -> str:
    """The ``config_hash`` of a run: what decides whether a relaunch skips, resumes or restarts it."""
    return hash_config(cfg, exclude=EXECUTION_ONLY_KEYS)


def hash_strings(values: list[str]) -> str:
    h = hashlib.sha256()
    for v in values:
        h.update(v.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def hash_checkpoint(folder: Path) -> str:
    """Hash of a checkpoint's weight files (stable across copies of the same weights).

    Each file set is read once per process: the evaluation caches ask for the same models' hashes on
    every lm-eval call, and a real model's weights are gigabytes. A file rewritten since (another size
    or modification time) is read again.
    """
    files = sorted(p for p in Path(folder).glob("*.safetensors")) or sorted(Path(folder).glob("*.bin"))
    if not files:
        return "unhashed:" + str(folder)  # a hub id: the analysis still compares it by name
    # (by the files links point to: a folder of links to another's weights is read once for both)
    return _hash_files(tuple((str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=64)
def _hash_files(stamps: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for path, _, _ in stamps:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def library_versions() -> dict[str, str]:
    return versions(TRACKED_LIBRARIES)


@functools.cache
def machine_info() -> dict[str, Any]:
    """The machine a run computed on: not part of its fingerprint (README, "Reproducibility"), recorded so
    that numbers that moved between machines can be traced to the CPU or its BLAS."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    blas = next((part.split("=", 1)[1] for part in torch.__config__.show().replace(",", " ").split()
                 if part.startswith("BLAS_INFO=")), "unknown")
    return {"cpu": cpu, "arch": platform.machine(), "cores": os.cpu_count(), "system": platform.system(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(), "blas": blas}


def git_commit() -> str:
    """The commit of the harness checkout (with ``-dirty`` when it has uncommitted changes)."""
    root = Path(__file__).resolve().parent.parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                             check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return sha + ("-dirty" if dirty else "")


@dataclass
class RunResult:
    status: str  # ok | failed | running
    method: str
    data: str
    algo: str
    seed: int
    model: str
    sweep: str
    # what the analysis shows of the method (harness.methods.registry.Display): order, style, role
    method_info: dict[str, Any] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)
    metrics: dict[str, float] = field(default_factory=dict)
    # answerers (ladder order), the ladder and the λ grid behind the thinking-quality metrics
    thinking_eval: dict[str, Any] = field(default_factory=dict)
    eval_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each evaluation call
    checkpoint: str = ""
    config_hash: str = ""
    # everything that decides the numbers (harness.fingerprint): config, code, base, data, versions
    fingerprint: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    resumed_from_step: int | None = None  # training resumed from the trainer checkpoint of this step
    versions: dict[str, str] = field(default_factory=library_versions)
    git_commit: str = field(default_factory=git_commit)
    machine: dict[str, Any] = field(default_factory=machine_info)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["budget"] = self.budget.to_json()
        return d
