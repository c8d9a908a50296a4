"""The one training loop of finetuning and pretraining, and the resumable state it saves.

A run follows a *plan* fixed in advance from its seed and data: for every optimizer step, the epoch it
belongs to and the batch it takes. :class:`TrainingLoop` owns everything the two trainings share: AdamW over
two parameter groups (the encoder at ``lr``, every other parameter at ``head_lr``), a linear warm-up and
decay over the plan, gradient averaging over data-parallel processes (:mod:`ccre.utils.distributed`),
clipping, a stop with a clear error on a non-finite loss, the progress bar, and saving and restoring the
state. A :class:`TrainingTask` supplies what differs: the loss of a step, what happens when an epoch starts
(the finetuning memory refresh) and what is recorded after a step (the pretraining loss log).

The state is one file, :data:`STATE_FILE` (``torch.save`` of a dict, replaced atomically), written every
``save_every`` steps, or at the end of every epoch, and after the last step::

    format                         STATE_FORMAT
    step                           optimizer steps done
    world                          number of processes (a run resumes with as many)
    identity                       what the run is (settings, input fingerprint): resuming with others is refused
    model, optimizer, scheduler    state dicts
    rng                            per process: its python, numpy, torch (and CUDA) generator states
    task                           what the task keeps across steps (:meth:`TrainingTask.state`), or None

Resuming restores all of it and continues at ``step``, so a resumed run ends exactly where an uninterrupted
one ends, on every process.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import numpy as np
import torch
from torch import nn
from transformers import get_linear_schedule_with_warmup

from ccre.data.documents import Document
from ccre.errors import CcreError, ConfigError
from ccre.utils.distributed import Workers, average_gradients
from ccre.utils.io import atomic_open
from ccre.utils.progress import progress_bar

logger = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
STATE_FORMAT = 1
"""Version of the layout of :data:`STATE_FILE`; a state of another version is refused, not misread."""

B = TypeVar("B")
Plan = Sequence[tuple[int, B]]
"""``(epoch, batch)`` of every optimizer step, in order."""


class OptimizerSettings(Protocol):
    """The hyperparameters the loop reads (fields of both :class:`ccre.config.TrainConfig` and
    :class:`ccre.training.pretraining.config.PretrainConfig`)."""

    lr: float
    head_lr: float
    weight_decay: float
    warmup_ratio: float
    max_grad_norm: float


@dataclass(frozen=True)
class StepLoss:
    """One step's loss: ``backward`` is differentiated (this process's part of the batch's loss); ``terms``
    are the values reported, ``"total"`` (checked to be finite and shown) first, then its parts."""

    backward: torch.Tensor
    terms: dict[str, float]

    @property
    def total(self) -> float:
        return self.terms["total"]


class TrainingTask(ABC, Generic[B]):
    """What a kind of training adds to the loop."""

    @abstractmethod
    def step_loss(self, step: int, batch: B) -> StepLoss:
        """The loss of plan step ``step`` (0-based), whose batch is ``batch``."""

    def start_epoch(self, epoch: int) -> None:
        """Called before the first step of every epoch the loop runs (also a resumed one)."""

    def end_step(self, step: int, epoch: int, loss: StepLoss, lr: float, seconds: float) -> None:
        """Called after the update of plan step ``step``, with the encoder's learning rate after the scheduler
        step and the step's wall time."""

    def state(self) -> dict[str, Any] | None:
        """What the task keeps across steps (saved with the training state, so that a resumed run has it)."""
        return None

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""


def documents_fingerprint(documents: Iterable[Document]) -> str:
    """A short hash of the documents' ids and texts, to tell a resumed run's inputs from others."""
    h = hashlib.sha256()
    for d in documents:
        for part in (d.id, d.text):
            h.update(part.encode())
            h.update(b"\0")
    return h.hexdigest()[:16]


def save_state(path: Path, **state: object) -> None:
    """Write a training state atomically: a kill during the write leaves the previous state intact."""
    with atomic_open(path, "wb", encoding=None) as handle:
        torch.save(state, handle)


def saved_step(path: Path) -> int:
    """The optimizer steps the training state at ``path`` holds; 0 when there is none or it cannot be read
    (its tensors are mapped, not read)."""
    try:
        return int(torch.load(path, map_location="cpu", weights_only=False, mmap=True)["step"])
    except (OSError, RuntimeError, ValueError, KeyError, TypeError, EOFError, pickle.UnpicklingError):
        return 0


def _rng_state(device: torch.device) -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _differences(saved: Mapping, current: Mapping, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested mappings."""
    keys: list[str] = []
    for key in sorted(set(saved) | set(current), key=str):
        a, b = saved.get(key), current.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            keys += _differences(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


class TrainingLoop(Generic[B]):
    """Trains ``model`` along ``plan``: the optimizer, scheduler and state of one run.

    ``encoder`` is the submodule whose parameters learn at ``settings.lr`` (all others at ``head_lr``).
    With ``state_path`` the state is saved there every ``save_every`` steps (``None``: at the end of every
    epoch, for tasks that can only resume where an epoch starts) and after the last step; ``identity``
    (settings, a fingerprint of the inputs) is saved with it and must match on resume. Only the main process
    writes and shows progress.
    """

    def __init__(
        self,
        model: nn.Module,
        encoder: nn.Module,
        settings: OptimizerSettings,
        plan: Plan[B],
        team: Workers,
        *,
        state_path: Path | None = None,
        identity: dict[str, object] | None = None,
        save_every: int | None = None,
        label: str = "training",
        show_progress: bool = True,
    ) -> None:
        self.model = model
        self.plan = list(plan)
        self.team = team
        self.state_path = state_path
        self.identity = identity or {}
        self.save_every = save_every
        self.label = label
        self.show_progress = show_progress
        self.max_grad_norm = settings.max_grad_norm
        in_encoder = {id(p) for p in encoder.parameters()}
        params = list(model.parameters())
        self.optimizer = torch.optim.AdamW(
            [
                {"params": [p for p in params if id(p) in in_encoder], "lr": settings.lr},
                {"params": [p for p in params if id(p) not in in_encoder], "lr": settings.head_lr},
            ],
            weight_decay=settings.weight_decay,
        )
        total = len(self.plan)
        self.scheduler = get_linear_schedule_with_warmup(self.optimizer, int(settings.warmup_ratio * total), total)
        self.step = 0  # optimizer steps done
        self._saved: int | None = None  # the step of the last state written or restored
        self._task_state: dict[str, Any] | None = None  # restored, handed to the task when it runs
        self._task: TrainingTask[B] | None = None

    # ------------------------------------------------------------------------------------- state
    def restore(self, resume: bool) -> None:
        """With ``resume``, continue from the saved state: weights, optimizer, schedule, this process's random
        generators and the step. Without it, refuse to overwrite a saved (unfinished) run."""
        path = self.state_path
        exists = path is not None and path.exists()
        if exists and not resume:
            raise CcreError(f"{path} holds an unfinished run: continue it with --resume, or remove it")
        if not resume:
            return
        if not exists:
            raise ConfigError(f"nothing to resume: no training state {path or 'is kept without a state directory'}")
        state = torch.load(path, map_location="cpu", weights_only=False)
        self._check(path, state)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"][self.team.rank], self.team.device)
        self.step = self._saved = state["step"]
        self._task_state = state.get("task")
        logger.info("resuming at step %d of %d from %s", self.step, len(self.plan), path)

    def _check(self, path: Path, state: dict) -> None:
        if state.get("format") != STATE_FORMAT:
            raise ConfigError(f"{path} is a training state of another ccre version; remove it to start again")
        if state["world"] != self.team.world:
            raise ConfigError(f"{path} was written by {state['world']} processes; resume with as many")
        changed = _differences(state["identity"], self.identity)
        if changed:
            raise ConfigError(f"{path} was written by a run with other settings or inputs ({', '.join(changed)}); "
                              "resume with the same ones, or remove it")

    def _save(self) -> None:
        if self.state_path is None:
            return
        rng = _rng_state(self.team.device)
        rngs = [rng]
        if self.team.world > 1:
            import torch.distributed as dist

            rngs = [None] * self.team.world
            dist.all_gather_object(rngs, rng)
        if self.team.is_main:
            save_state(
                self.state_path, format=STATE_FORMAT, step=self.step, world=self.team.world, identity=self.identity,
                model=self.model.state_dict(), optimizer=self.optimizer.state_dict(),
                scheduler=self.scheduler.state_dict(), rng=rngs,
                task=None if self._task is None else self._task.state(),
            )
        self._saved = self.step

    # -------------------------------------------------------------------------------------- loop
    def run(self, task: TrainingTask[B], stop_after: int | None = None) -> bool:
        """Take the plan's remaining steps with ``task``; True once the plan is done. ``stop_after``: save the
        state and return False after that many steps of this call (what a kill right after a save leaves)."""
        total = len(self.plan)
        epochs = self.plan[-1][0] + 1
        first_of_epoch: dict[int, int] = {}
        for s, (e, _) in enumerate(self.plan):
            first_of_epoch.setdefault(e, s)
        self._task = task
        if self._task_state is not None:
            task.load_state(self._task_state)
            self._task_state = None
        start = self.step
        started = time.perf_counter()
        epoch_losses: list[float] = []
        self.model.train()
        with progress_bar(self.show_progress and self.team.is_main) as progress:
            bar = progress.add_task(self.label, total=total, completed=start)
            while self.step < total:
                step = self.step
                epoch, batch = self.plan[step]
                if step == start or epoch != self.plan[step - 1][0]:
                    task.start_epoch(epoch)
                    epoch_losses = []
                t0 = time.perf_counter()
                loss = task.step_loss(step, batch)
                if not math.isfinite(loss.total):
                    raise CcreError(self._non_finite(loss, step, epoch, step - first_of_epoch[epoch]))
                self._update(loss.backward)
                self.step += 1
                task.end_step(step, epoch, loss, self.scheduler.get_last_lr()[0], time.perf_counter() - t0)
                epoch_losses.append(loss.total)
                progress.update(bar, advance=1,
                                description=f"{self.label}: epoch {epoch + 1}/{epochs} loss {loss.total:.4f}")
                epoch_ends = self.step == total or self.plan[self.step][0] != epoch
                if epoch_ends:
                    logger.info("epoch %d/%d: mean loss %.4f (%.0f s)", epoch + 1, epochs,
                                sum(epoch_losses) / len(epoch_losses), time.perf_counter() - started)
                due = epoch_ends if self.save_every is None else self.step % self.save_every == 0
                stop = stop_after is not None and self.step - start >= stop_after and self.step < total
                if due or stop or self.step == total:
                    self._save()
                if stop:
                    return False
        return True

    def _update(self, loss: torch.Tensor) -> None:
        loss.backward()
        if self.team.world > 1:
            average_gradients(self.model.parameters(), self.team.world)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    def _non_finite(self, loss: StepLoss, step: int, epoch: int, in_epoch: int) -> str:
        terms = ", ".join(f"{k} {v:.4g}" for k, v in loss.terms.items())
        if self.state_path is None:
            where = "stopped"
        elif self._saved is None:
            where = "stopped before the first state was saved"
        else:
            where = f"stopped: the last good checkpoint (step {self._saved}) is in {self.state_path}"
        return (f"loss became {loss.total} at epoch {epoch + 1}, step {in_epoch + 1} (step {step + 1} of the run: "
                f"{terms}); {where}. Lower the learning rate (or the temperature of a contrastive loss) or check "
                "the input documents")
