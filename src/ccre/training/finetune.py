"""Finetuning a relation model: documents -> length-bucketed batches -> loss, on the shared loop
(:mod:`ccre.training.loop`: AdamW with linear warm-up and decay, clipping, resumable state).

A run takes ``train.epochs`` passes over the documents; by default 30, or more where ``train.min_steps`` asks
for more updates than that (a handful of documents make a handful of batches). With dev documents and
``train.eval_every``, the dev documents are scored every so many steps and after the last, and the run ends
with the weights that scored best (:class:`DevSelection`, recorded as ``model.selection``).

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from ccre.config import CcreConfig, ObjectiveConfig
from ccre.data.documents import Document
from ccre.data.labels import LabelSpace
from ccre.encoding.markers import EncodedDocument
from ccre.errors import CcreError, ConfigError
from ccre.inference.selection import DevCutoff, choose_na_threshold, dev_f1, encode_dev
from ccre.modeling.embedding import build_memory
from ccre.modeling.relation_model import RelationModel
from ccre.objectives.base import ClassifierObjective
from ccre.training.loop import (
    STATE_FILE,
    Plan,
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


def cutoff_applies(config: CcreConfig, space: LabelSpace) -> bool:
    """Whether ``train.na_threshold_on_dev`` concerns this run: a single-label CE model (a multi-label one learns
    its threshold class; contrastive models calibrate ``inference.na_margin``)."""
    return config.train.na_threshold_on_dev and config.objective.name == "ce" and not space.multi_label


def training_plan(lengths: Sequence[int], batch_size: int, epochs: int, seed: int) -> Plan[list[int]]:
    """``(epoch, batch)`` of every step: ``epochs`` passes of :func:`length_bucketed_batches`."""
    rng = np.random.default_rng(seed)
    return [(epoch, idx) for epoch in range(epochs) for idx in length_bucketed_batches(lengths, batch_size, rng)]


@dataclass
class DevSelection:
    """How a run chose its weights on dev: the dev F1 after each evaluated number of steps (0: the starting
    weights), the step whose weights it kept and, for a model scored at its best no-relation cut-off, that
    cut-off (the kept weights' own, set in the model with them)."""

    curve: list[tuple[int, float]] = field(default_factory=list)
    best_step: int = 0
    best_f1: float = -1.0
    cutoff: DevCutoff | None = None

    def record(self) -> dict[str, object]:
        """The fields a result line records."""
        return {"selected_step": self.best_step, "selected_dev_f1": round(self.best_f1, 6),
                "dev_curve": [[s, round(f, 6)] for s, f in self.curve]}


class _Finetuning(TrainingTask[list[int]]):
    """A step's loss is that of its documents (:func:`batch_loss`); with a memory of training instances to
    contrast with, the memory is embedded again by the current weights when an epoch starts. With ``dev``
    documents, every ``eval_every`` steps and after the last the model is scored on them and the best weights
    are kept (:class:`DevSelection`)."""

    def __init__(self, model: RelationModel, docs: Sequence[Document], encoded: Sequence[EncodedDocument],
                 team: Workers, refresh_memory: bool, total_steps: int, dev: Sequence[Document] | None = None,
                 eval_every: int | None = None, cutoff: bool = False) -> None:
        self.model, self.docs, self.encoded, self.team = model, docs, encoded, team
        self.refresh_memory = refresh_memory
        # instance ids: position of each candidate pair in the concatenation of all documents' pairs
        self.first_pair = np.concatenate([[0], np.cumsum([len(e.pairs) for e in encoded])])
        self.total_steps, self.dev, self.eval_every, self.cutoff = total_steps, dev, eval_every, cutoff
        self.selection = DevSelection() if dev is not None and eval_every is not None else None
        self.dev_encoded = None if self.selection is None else encode_dev(model, dev)
        self.best_weights: dict[str, torch.Tensor] | None = None

    def start_epoch(self, epoch: int) -> None:
        if self.refresh_memory:
            self.model.set_memory(build_memory(self.model, self.docs, self.encoded))

    def step_loss(self, step: int, batch: list[int]) -> StepLoss:
        loss = batch_loss(self.model, self.encoded, batch, self.first_pair, self.team)
        return StepLoss(loss, {"total": loss.item()})

    def end_step(self, step: int, epoch: int, loss: StepLoss, lr: float, seconds: float) -> None:
        done = step + 1
        if self.selection is not None and (done % self.eval_every == 0 or done == self.total_steps):
            self.evaluate(done)

    def evaluate(self, done: int) -> None:
        """Score the dev documents after ``done`` steps (0: the starting weights) and keep the weights if best."""
        f1, cutoff = self._score_dev()
        self.selection.curve.append((done, f1))
        if f1 > self.selection.best_f1:
            self.selection.best_step, self.selection.best_f1, self.selection.cutoff = done, f1, cutoff
            self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()}
        logger.info("step %d: dev pair+type F1 %.2f (best %.2f at step %d)", done, 100 * f1,
                    100 * self.selection.best_f1, self.selection.best_step)

    def _score_dev(self) -> tuple[float, DevCutoff | None]:
        """The dev F1 of the current weights, at their best no-relation cut-off (returned too) when the run
        chooses one; a contrastive model is scored against a memory embedded by them (the training memory is
        put back after), and the model is back in training mode after. Every process makes the same choice."""
        model, memory = self.model, self.model.memory
        if model.objective.uses_memory:
            model.set_memory(build_memory(model, self.docs, self.encoded))
        cutoff = choose_na_threshold(model, self.dev, self.dev_encoded) if self.cutoff else None
        f1 = dev_f1(model, self.dev, self.dev_encoded) if cutoff is None else cutoff.f1
        model.set_memory(memory)
        model.train()
        return f1, cutoff

    def keep_best(self) -> None:
        """Load the weights that scored best on dev (when dev documents were scored)."""
        if self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        if self.selection is None:
            self.model.selection = None
            return
        cutoff = self.selection.cutoff
        self.model.selection = {**self.selection.record(), **({} if cutoff is None else cutoff.apply(self.model))}

    def state(self) -> dict[str, object] | None:
        if self.selection is None:
            return None
        cutoff = self.selection.cutoff
        return {"curve": self.selection.curve, "best_step": self.selection.best_step,
                "best_f1": self.selection.best_f1, "best_weights": self.best_weights,
                "cutoff": None if cutoff is None else asdict(cutoff)}

    def load_state(self, state: dict[str, object]) -> None:
        cutoff = state.get("cutoff")
        self.selection = DevSelection([tuple(c) for c in state["curve"]], state["best_step"], state["best_f1"],
                                      None if cutoff is None else DevCutoff(**cutoff))
        self.best_weights = state["best_weights"]


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
    dev: Sequence[Document] | None = None,
) -> RelationModel:
    """Train a relation model on ``train_docs`` with ``config`` and return it (in eval mode).

    With ``dev`` documents and ``train.eval_every``, the returned weights are those that scored best on them
    (:class:`DevSelection`; ``model.selection`` says which step and the dev curve); without dev documents the
    last weights are returned. With ``dev`` and ``train.na_threshold_on_dev`` (single-label CE), the no-relation
    cut-off is chosen on dev with the returned weights and set in the model; ``model.selection`` records it.

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
                      None if state_dir is None else Path(state_dir) / STATE_FILE, resume, dev)


def _train(config: CcreConfig, train_docs: Sequence[Document], team: Workers, precision: Precision,
           show_progress: bool, state_path: Path | None, resume: bool,
           dev: Sequence[Document] | None) -> RelationModel:
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
    if config.objective.bias_init == "frequency" and isinstance(model.objective, ClassifierObjective):
        model.start_at_label_distribution(encoded)
    plan = training_plan([len(e) for e in encoded], tc.batch_size, tc.epochs_for(len(encoded)), tc.seed)
    epochs = plan[-1][0] + 1
    logger.info(
        "training on %d documents (%d pairs), %d epochs of %d steps, device %s",
        len(encoded), sum(len(e.pairs) for e in encoded), epochs, len(plan) // epochs, model.device,
    )
    loop = TrainingLoop(model, model.encoder, tc, plan, team, state_path=state_path,
                        identity={"config": config.model_dump(), "documents": documents_fingerprint(docs)},
                        label="training", show_progress=show_progress)
    loop.restore(resume)
    if team.world > 1 and loop.step == 0:  # identical initial weights (same seed) but a dropout stream per process
        torch.manual_seed(tc.seed + team.rank)
    cutoff = cutoff_applies(config, space)
    task = _Finetuning(model, docs, encoded, team, model.objective.uses_memory and tc.contrast_memory, len(plan),
                       dev=dev if tc.eval_every is not None else None, eval_every=tc.eval_every, cutoff=cutoff)
    if task.selection is not None and loop.step == 0:
        task.evaluate(0)  # the starting weights compete too (with bias_init=frequency, the prior's decisions)
    loop.run(task)
    task.keep_best()
    model.eval()
    model.set_memory(build_memory(model, docs, encoded))
    if task.selection is None and dev is not None and cutoff:  # the last weights' cut-off
        model.selection = choose_na_threshold(model, dev).apply(model)
    return model
