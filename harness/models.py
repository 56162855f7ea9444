"""Real causal LMs (``model.kind=hf``): a hub id or a local folder, made into the run's base folder.

:func:`resolve` turns ``model.path`` into a local folder: the folder itself, or the hub snapshot
(downloaded when online, read from the Hugging Face cache when not). When neither is possible the
error says what to do, before transformers is ever called. :func:`prepare_base` then bakes the
config's prompt format (``model.prompt``) into the tokenizer's chat template, in a folder under the
cache whose weights are links to the resolved ones (nothing is copied); without a prompt format
the resolved folder is the base itself.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

from harness.config import ModelConfig
from harness.prompts import bake_chat_template
from harness.results import hash_strings

# what a causal LM needs from a hub snapshot (no duplicate .bin/.pth/.gguf weights)
SNAPSHOT_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


class ModelUnavailableError(RuntimeError):
    """``model.path`` is neither a local folder nor a hub model that can be had now."""


def resolve(path: str, key: str = "model.path") -> Path:
    """The local folder of ``path`` (a folder, or a hub id fetched or found in the HF cache); errors name ``key``."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local.resolve()
    if not HUB_ID.fullmatch(path) or path.startswith("."):
        raise ModelUnavailableError(f"{key}={path!r} is not a folder (nor a hub id such as owner/name)")
    try:
        return Path(snapshot_download(repo_id=path, allow_patterns=SNAPSHOT_FILES))
    except (LocalEntryNotFoundError, HfHubHTTPError, HFValidationError, OSError) as e:
        why = "HF_HUB_OFFLINE=1" if constants.HF_HUB_OFFLINE else f"{type(e).__name__}: {str(e).splitlines()[0]}"
        raise ModelUnavailableError(
            f"{key}={path!r} is not a local folder, not in the Hugging Face cache, and cannot be fetched "
            f"from the hub now ({why}). Either go online (the first run downloads it), or download it where "
            f"you are online (`hf download {path}`), copy the folder here and set {key}=<that folder>"
        ) from None


def prepare_base(model: ModelConfig, cache_dir: str | Path) -> Path:
    """The folder a run starts from: ``model.path`` resolved, with ``model.prompt`` baked in."""
    from transformers import AutoTokenizer

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
