"""Model kinds, one module each, registered by name (``model.kind``, ``eval.answerers[*].kind``).

``micro`` (the embedded world), ``hf`` (a hub id or local folder), ``scripted`` (policies with known
behaviour). The interface is :class:`harness.models.kind.ModelKind`; a new kind is a new module here
that subclasses it and applies :func:`register_kind`.
"""

from harness.models.kind import KINDS, Answerer, Base, ModelKind, get_kind, register_kind
from harness.registry import import_submodules

import_submodules(__name__)

__all__ = ["KINDS", "Answerer", "Base", "ModelKind", "get_kind", "register_kind"]
