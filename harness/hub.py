"""Where a model's files are: a local folder, or a Hugging Face hub id fetched or found in the HF cache.

Used by every model a run loads by name (the policy of ``model.kind=hf``, ``hf`` answerers, an ``hf``
judge). When neither is possible the error says what to do, before transformers is ever called.
"""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import constants, snapshot_download
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

# what a causal LM needs from a hub snapshot (no duplicate .bin/.pth/.gguf weights)
SNAPSHOT_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.jinja", "*.tiktoken"]
HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")


class ModelUnavailableError(RuntimeError):
    """``model.path`` is neither a local folder nor a hub model that can be had now."""


def local_folder(path: str) -> Path | None:
    """The local folder of ``path`` (a folder, or a hub id already in the HF cache) without fetching
    anything; None when it would have to be downloaded."""
    local = Path(path).expanduser()
    if local.is_dir():
        return local.resolve()
    if not HUB_ID.fullmatch(path) or path.startswith("."):
        return None
    try:
        return Path(snapshot_download(repo_id=path, allow_patterns=SNAPSHOT_FILES, local_files_only=True))
    except (LocalEntryNotFoundError, HfHubHTTPError, HFValidationError, OSError):
        return None


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
