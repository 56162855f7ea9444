"""One run under ``accelerate launch``: every process trains; the main process alone writes and evaluates.

``accelerate launch --num_processes N -m harness ...`` (docs/scale.md) starts N copies of the job.
They compose the same config and train together (TRL and accelerate split the batches); the run
folder is the main process's; only the main process writes result files, logs to W&B and evaluates.
Evaluation is one process: once training is saved, the other processes end and the main one leaves
the process group, so lm-eval (which would otherwise split its work across the launched processes)
sees a single process. Budgets stay per optimizer step: each process gets its share of the step's
prompts, and the counts a run records are summed over the processes. Without ``accelerate launch``
(no ``WORLD_SIZE`` in the environment) every function here is a no-op.
"""

from __future__ import annotations

import os
from typing import TypeVar

from harness.config import ConfigError

T = TypeVar("T")

#: what torchrun / accelerate launch tell a process about the group; cleared when the main one leaves it
LAUNCH_ENV = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
              "ROLE_RANK", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "TORCHELASTIC_RUN_ID",
              "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def describe() -> str:
    return f"process {os.environ.get('RANK', '0')} of {world_size()}"


def _state():
    from accelerate import PartialState

    return PartialState()  # joins the process group on first use


def wait_for_everyone() -> None:
    if world_size() > 1:
        _state().wait_for_everyone()


def main_value(value: T) -> T:
    """``value`` as the main process has it, on every process (e.g. the run folder, whose name Hydra
    stamps with each process's own clock)."""
    if world_size() == 1:
        return value
    from accelerate.utils import broadcast_object_list

    _state()
    return broadcast_object_list([value], from_process=0)[0]


def per_process(total: int, what: str) -> int:
    """Each process's share of a per-step budget (``train.*`` budgets count the whole step)."""
    if total % world_size():
        raise ConfigError(f"{what} = {total} per optimizer step does not split evenly over the {world_size()} "
                          "launched processes; make it a multiple of --num_processes")
    return total // world_size()


def total(count: int) -> int:
    """``count`` summed over the launched processes (every process calls this at the same point)."""
    if world_size() == 1:
        return count
    import torch
    from accelerate.utils import reduce

    return int(reduce(torch.tensor(count, dtype=torch.long, device=_state().device), reduction="sum"))


def leave_process_group() -> None:
    """From here on this process is a job of its own (the main process, once training is saved)."""
    if world_size() == 1:
        return
    import torch.distributed as dist
    from accelerate.state import AcceleratorState

    if dist.is_initialized():
        dist.destroy_process_group()
    AcceleratorState._reset_state(reset_partial_state=True)
    for key in LAUNCH_ENV:
        os.environ.pop(key, None)
