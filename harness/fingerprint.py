"""The fingerprint of a run: everything that decides its numbers, in five named parts.

=========  ===========================================================================================
config     the run's config hash (:func:`harness.results.hash_run_config`: execution-only keys left out)
code       the harness's own source: every ``harness/**/*.py`` and ``*.yaml`` file's bytes, by path
base       the content hash of the base checkpoint's weights (``budget.base_checkpoint_hash``)
data       content hashes of the local data files (``data.path``); ``generated`` for suites the code
           generates (config + code cover them); ``hub:<id>`` for a data set read from the HF hub
versions   the libraries that compute the numbers (:data:`NUMERIC_LIBRARIES`) and Python's minor version
=========  ===========================================================================================

A relaunch skips a finished run, resumes an interrupted one, and the cross-run evaluation caches
reuse an entry only when the fingerprint matches (``reuse=if_config_matches`` compares the config
part alone, for a change known to be cosmetic: see ``harness.run.reuse_verdict``). What it does not
cover: the machine (CPU, BLAS, thread count) and a hub data set's revision; see README,
"Reproducibility". This module sits on the bottom floor: it imports nothing of the harness.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

PARTS = ("config", "code", "base", "data", "versions")
#: libraries whose version can change a run's numbers (the evaluation caches are keyed on them too)
NUMERIC_LIBRARIES = ("torch", "transformers", "tokenizers", "trl", "accelerate", "datasets", "lm_eval",
                     "math-verify")
PACKAGE = Path(__file__).resolve().parent
#: what each part means, for the line that says why a run is rerun
MEANING = {"config": "config", "code": "harness source", "base": "base weights", "data": "data files",
           "versions": "library versions"}


@functools.cache
def code_hash() -> str:
    """Hash of the harness's source files (``*.py`` and ``*.yaml`` under ``harness/``, bytes, sorted by path).

    Read once per process: the source a process runs is the one it imported at its start."""
    h = hashlib.sha256()
    for path in sorted(p for pattern in ("*.py", "*.yaml") for p in PACKAGE.rglob(pattern)
                       if "__pycache__" not in p.parts):
        h.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def versions(packages: tuple[str, ...]) -> dict[str, str]:
    """The installed version of each of ``packages`` ("not installed" when it is not)."""
    out = {}
    for name in packages:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


@functools.cache
def numeric_versions() -> dict[str, str]:
    """Versions of :data:`NUMERIC_LIBRARIES` and Python (major.minor)."""
    return {"python": f"{sys.version_info.major}.{sys.version_info.minor}", **versions(NUMERIC_LIBRARIES)}


def hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def fingerprint(config_hash: str, base: str | None, data: dict[str, str]) -> dict[str, Any]:
    """The run's fingerprint; ``base`` is None when the base checkpoint is not available locally (yet)."""
    return {"config": config_hash, "code": code_hash(), "base": base, "data": dict(sorted(data.items())),
            "versions": numeric_versions()}


def changes(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """What differs between a recorded fingerprint and the current one, one phrase per part, e.g.
    ``code changed (harness source)``, ``versions changed (transformers 5.23.0 → 5.24.0)``; [] if none."""
    if not isinstance(recorded, dict):
        return ["no fingerprint recorded (finished by an older harness)"]
    out = []
    for part in PARTS:
        old, new = recorded.get(part), current.get(part)
        if old == new:
            continue
        if part == "base" and new is None:
            out.append("base weights not available to compare (not built or not downloaded yet)")
        elif isinstance(old, dict) and isinstance(new, dict):
            diff = ", ".join(f"{k} {old.get(k, '-')} → {new.get(k, '-')}" for k in sorted(set(old) | set(new))
                             if old.get(k) != new.get(k))
            out.append(f"{part} changed ({diff})")
        else:
            out.append(f"{part} changed ({MEANING[part]})")
    return out
