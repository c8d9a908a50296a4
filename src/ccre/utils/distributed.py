"""Data parallelism over the processes of ``accelerate launch`` (or ``torchrun``): one model per process,
each embedding its share of every batch, losses computed on the whole batch.

Contrastive losses compare every anchor with the whole batch, so each process gathers the pair embeddings
of all processes *with gradients* (:func:`gather_rows`) and computes the loss of the global batch. The
gather's backward sums the gradients every process computes for a row, so a process receives ``W`` times
the gradient of its own rows, and averaging the parameter gradients over the ``W`` processes
(:func:`average_gradients`) gives exactly the gradient of one process training on the whole batch.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from ccre.utils.runtime import pick_device


@dataclass(frozen=True)
class Workers:
    """This process's place among ``world`` data-parallel processes, and its device."""

    world: int
    rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_world_size() -> int:
    """Processes started together by ``accelerate launch`` / ``torchrun`` (1 for a plain run)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process writes files and prints results (rank 0, or a plain run)."""
    return int(os.environ.get("RANK", "0")) == 0


def workers(device: str | None = None) -> Workers:
    """The process group this process belongs to, initialized on first use (gloo on CPU, NCCL on GPUs);
    ``device`` is honoured in a plain run; launched runs use the device accelerate assigns (``cpu``
    keeps every process on the CPU)."""
    if launched_world_size() == 1:
        return Workers(1, 0, pick_device(device))
    from accelerate import PartialState

    state = PartialState(cpu=device == "cpu")
    return Workers(state.num_processes, state.process_index, state.device)


def gather_rows(local: torch.Tensor, sizes: Sequence[int], rank: int) -> torch.Tensor:
    """The first ``sizes[r]`` rows of every process ``r``'s ``local``, concatenated in process order.

    Rows of a tensor that requires gradients keep them (the backward pass sends each process the summed
    gradient of its own rows). Every process must call this with the same ``sizes``.
    """
    import torch.distributed as dist

    local = local[: sizes[rank]]
    pad = max(sizes) - local.shape[0]
    if pad:
        local = torch.cat([local, local.new_zeros((pad, *local.shape[1:]))])
    if local.requires_grad:
        import torch.distributed.nn as dist_nn

        parts = dist_nn.all_gather(local)
    else:
        parts = [torch.empty_like(local) for _ in sizes]
        dist.all_gather(parts, local.contiguous())
    return torch.cat([part[:n] for part, n in zip(parts, sizes)])


def average_gradients(parameters: Iterable[torch.nn.Parameter], world: int) -> None:
    """Replace each gradient by its mean over the processes (one all-reduce of a flat buffer; a parameter
    without a gradient in this process counts as zero)."""
    import torch.distributed as dist

    params = [p for p in parameters if p.requires_grad]
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    dist.all_reduce(flat)
    flat /= world
    offset = 0
    for p in params:
        p.grad.copy_(flat[offset : offset + p.numel()].view_as(p))
        offset += p.numel()


def shard_bounds(count: int, world: int) -> list[tuple[int, int]]:
    """Contiguous ``(start, end)`` shares of ``count`` items, one per process, in order, sizes differing
    by at most one (a process may get none when ``count < world``)."""
    base, extra = divmod(count, world)
    bounds, start = [], 0
    for r in range(world):
        end = start + base + (r < extra)
        bounds.append((start, end))
        start = end
    return bounds
