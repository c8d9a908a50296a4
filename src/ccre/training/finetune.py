"""Finetuning a relation model: documents -> length-bucketed batches -> loss, on the shared loop
(:mod:`ccre.training.loop`: AdamW with linear warm-up and decay, clipping, resumable state).

Contrastive objectives compare each anchor with a memory of every training instance's embedding, rebuilt
at the start of every epoch. Every trained model ends with a memory of the training instances embedded by
the final weights (for kNN inference and explanations).

Under ``accelerate launch`` (several processes, GPUs or machines) each step's documents are split among
the processes and the loss is that of the whole batch (:mod:`ccre.utils.distributed`): the same updates as one
process taking the same batches, up to floating-point order and dropout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch

from ccre.config import CcreConfig, ObjectiveConfig
from ccre.data.documents import Document
from ccre.data.labels import LabelSpace
from ccre.encoding.markers import EncodedDocument
from ccre.errors import CcreError, ConfigError
from ccre.modeling.embedding import build_memory
from ccre.modeling.relation_model import RelationModel
from ccre.training.loop import (
    STATE_FILE,
    StepLoss,
    TrainingLoop,
    TrainingTask,
    documents_fingerprint,
)
from ccre.utils.distributed import Workers, gather_rows, shard_bounds, workers
from ccre.utils.runtime import Precision, seed_everything

logger = logging.getLogger(__name__)


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, rng: np.random.Generator, bucket_batches: int = 50
) -> Iterator[list[int]]:
    """Shuffled batches of indices whose documents have similar lengths (less padding).

    Indices are shuffled, cut into buckets of ``bucket_batches * batch_size``, sorted by length inside a
    bucket and split into batches; the batches are then shuffled.
    """
    order = rng.permutation(len(lengths))
    bucket = batch_size * bucket_batches
    batches = []
    for s in range(0, len(order), bucket):
        chunk = sorted(order[s : s + bucket], key=lambda i: lengths[i])
        batches.extend(chunk[j : j + batch_size] for j in range(0, len(chunk), batch_size))
    for b in rng.permutation(len(batches)):
        yield [int(i) for i in batches[b]]


def batch_loss(
    model: RelationModel, encoded: Sequence[EncodedDocument], idx: list[int], first_pair: np.ndarray, team: Workers
) -> torch.Tensor:
    """The loss of the documents ``idx`` (one step's batch). With several processes each embeds its
    contiguous share of ``idx`` and the rows are gathered; a process whose share is empty embeds the first
    document as a stand-in that contributes no rows, so that it still joins the gather and its backward."""
    ids = torch.from_numpy(np.concatenate([np.arange(first_pair[i], first_pair[i + 1]) for i in idx]))
    if team.world == 1:
        return model.loss(model.collate([encoded[i] for i in idx]).to(model.device), ids.to(model.device))
    shares = [idx[a:b] for a, b in shard_bounds(len(idx), team.world)]
    sizes = [sum(len(encoded[i].pairs) for i in share) for share in shares]
    mine = shares[team.rank] or idx[:1]
    batch = model.collate([encoded[i] for i in mine]).to(model.device)
    return model.loss(batch, ids.to(model.device), gather=lambda rows: gather_rows(rows, sizes, team.rank))


def warn_contrastive_multi_label(config: ObjectiveConfig, space: LabelSpace) -> bool:
    """Log a warning (and return true) when a contrastive objective meets multi-label data with the mean
    MCCL score, the setting under which Re-DocRED contrastive models stayed near F1 0 (README, "Multi-label
    data")."""
    if config.name == "ce" or not space.multi_label or config.mccl_pool != "mean":
        return False
    logger.warning(
        "%s on multi-label data with the mean MCCL score: on Re-DocRED that left contrastive models near F1 0, "
        "while --mccl-pool sum --batch-only trained (README, 'Multi-label data')", config.name,
    )
    return True


class _Finetuning(TrainingTask[list[int]]):
    """A step's loss is that of its documents (:func:`batch_loss`); with a memory of training instances to
    contrast with, the memory is embedded again by the current weights when an epoch starts."""

    def __init__(self, model: RelationModel, docs: Sequence[Document], encoded: Sequence[EncodedDocument],
                 team: Workers, refresh_memory: bool) -> None:
        self.model, self.docs, self.encoded, self.team = model, docs, encoded, team
        self.refresh_memory = refresh_memory
        # instance ids: position of each candidate pair in the concatenation of all documents' pairs
        self.first_pair = np.concatenate([[0], np.cumsum([len(e.pairs) for e in encoded])])

    def start_epoch(self, epoch: int) -> None:
        if self.refresh_memory:
            self.model.set_memory(build_memory(self.model, self.docs, self.encoded))

    def step_loss(self, step: int, batch: list[int]) -> StepLoss:
        loss = batch_loss(self.model, self.encoded, batch, self.first_pair, self.team)
        return StepLoss(loss, {"total": loss.item()})


@contextmanager
def _deterministic_algorithms(enabled: bool) -> Iterator[None]:
    """``torch.use_deterministic_algorithms(enabled, warn_only=True)`` inside the block, and the caller's
    setting again after it: a library call leaves process-wide state as it found it."""
    before = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(enabled, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])


def train_model(
    config: CcreConfig,
    train_docs: Sequence[Document],
    *,
    device: str | None = None,
    precision: Precision = "auto",
    show_progress: bool = True,
    state_dir: str | Path | None = None,
    resume: bool = False,
) -> RelationModel:
    """Train a relation model on ``train_docs`` with ``config`` and return it (in eval mode).

    With ``state_dir``, the full training state (:mod:`ccre.training.loop`) is saved there as
    :data:`STATE_FILE` after every epoch, the last one included (the caller removes it once the model is
    saved); ``resume=True`` continues from it, ending in exactly the state a run without interruption
    reaches.

    Launched on several processes (``accelerate launch``), every process returns the same model and only
    the main one writes the state and shows progress; each process draws its own dropout masks, and a
    resumed run restores every process's random generators.
    """
    # parallel CPU reductions (index_add, embedding gradients) otherwise add in varying order
    with _deterministic_algorithms(config.train.deterministic):
        return _train(config, train_docs, workers(device), precision, show_progress,
                      None if state_dir is None else Path(state_dir) / STATE_FILE, resume)


def _train(config: CcreConfig, train_docs: Sequence[Document], team: Workers, precision: Precision,
           show_progress: bool, state_path: Path | None, resume: bool) -> RelationModel:
    """:func:`train_model` under the run's determinism setting, on the processes of ``team``."""
    tc = config.train
    if team.world > tc.batch_size:
        raise ConfigError(f"batch_size {tc.batch_size} is smaller than the number of processes ({team.world})")
    seed_everything(tc.seed)
    space = LabelSpace.from_documents(train_docs)
    warn_contrastive_multi_label(config.objective, space)
    model = RelationModel.create(config.model, space).to(team.device)
    model.precision = precision
    docs = [d for d in train_docs if len(d.entities) >= 2]
    if not docs:
        raise CcreError("no training document has two or more entities")
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    lengths = [len(e) for e in encoded]
    rng = np.random.default_rng(tc.seed)
    plan = [(epoch, idx) for epoch in range(tc.epochs) for idx in length_bucketed_batches(lengths, tc.batch_size, rng)]
    logger.info(
        "training on %d documents (%d pairs), %d epochs of %d steps, device %s",
        len(encoded), sum(len(e.pairs) for e in encoded), tc.epochs, len(plan) // tc.epochs, model.device,
    )
    loop = TrainingLoop(model, model.encoder, tc, plan, team, state_path=state_path,
                        identity={"config": config.model_dump(), "documents": documents_fingerprint(docs)},
                        label="training", show_progress=show_progress)
    loop.restore(resume)
    if team.world > 1 and loop.step == 0:  # identical initial weights (same seed) but a dropout stream per process
        torch.manual_seed(tc.seed + team.rank)
    loop.run(_Finetuning(model, docs, encoded, team, model.objective.uses_memory and tc.contrast_memory))
    model.eval()
    model.set_memory(build_memory(model, docs, encoded))
    return model
