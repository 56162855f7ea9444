"""Optional dependencies: a check that names the pip extra to install instead of a bare ImportError.

``vllm`` (``train.use_vllm``, ``eval.backend=vllm``) comes with ``pip install -e ".[gpu]"``, the Slurm launcher with
``pip install -e ".[slurm]"``, the ``openai`` client of an LLM judge behind an endpoint
(``data.params.judge.kind=openai``) with ``pip install -e ".[judge]"`` (DeepSpeed, also in ``[gpu]``,
is checked by ``accelerate launch``).
:class:`RequireExtra` is a Hydra callback that runs the check before a multirun starts its launcher
(``conf/hydra/launcher/slurm.yaml``): Hydra's own error for a missing launcher plugin does not say
what to install.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from hydra.experimental.callback import Callback

# module -> (pip package, extra of this project that installs it)
EXTRAS = {
    "vllm": ("vllm", "gpu"),
    "hydra_plugins.hydra_submitit_launcher": ("hydra-submitit-launcher", "slurm"),
    "openai": ("openai", "judge"),
}


class MissingExtraError(ImportError):
    """An optional package a configured feature needs is not installed."""


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a dotted name whose parent package is missing
        return False


def require(module: str, feature: str) -> None:
    """Raise :class:`MissingExtraError` naming the extra when ``module`` (needed by ``feature``) is missing."""
    if installed(module):
        return
    package, extra = EXTRAS[module]
    raise MissingExtraError(f"{feature} needs the '{package}' package, which is not installed; "
                            f"install it with: pip install -e \".[{extra}]\"")


class RequireExtra(Callback):
    """Hydra callback: fail a multirun before its launcher starts when ``module`` is missing."""

    def __init__(self, module: str, feature: str) -> None:
        self.module, self.feature = module, feature

    def on_multirun_start(self, config: Any, **kwargs: Any) -> None:
        require(self.module, self.feature)
