"""Training methods, registered by trainer name (``method.trainer``): none, sft, rl.

``method=start`` is the ``rl`` trainer with a START span-mask schedule; ``method=base`` trains nothing.
"""

from harness.methods import rl, sft  # noqa: F401,E402  (registration)
from harness.methods.base import TRAINERS, TrainContext, TrainOutput, get_trainer

__all__ = ["TRAINERS", "TrainContext", "TrainOutput", "get_trainer"]
