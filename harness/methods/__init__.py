"""Methods (``method=<name>``), one module each, registered by name: base, sft, rl, start.

The interface is :class:`harness.methods.registry.Method`; shared training machinery (trainer
arguments, the training curve, resumable checkpoints) is in :mod:`harness.methods.training`.
"""

from harness.methods.registry import METHODS, Display, Method, get_method, register_method
from harness.registry import import_submodules

import_submodules(__name__)

__all__ = ["METHODS", "Display", "Method", "get_method", "register_method"]
