"""The finetuning loop: documents -> batches -> loss -> AdamW with linear warm-up and decay.

Contrastive objectives compare each anchor with a memory of every training instance's embedding, rebuilt
at the start of every epoch. Every trained model ends with a memory of the training instances embedded by
the final weights (for kNN inference and explanations).

Under ``accelerate launch`` (several processes, GPUs or machines) each step's documents are split among
the processes and the loss is that of the whole batch (:mod:`ccre.utils.distributed`): the same updates as one
process taking the same batches, up to floating-point order and dropout.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from ccre.config import CcreConfig, TrainConfig
from ccre.data.documents import Document
from ccre.data.labels import LabelSpace
from ccre.encoding.markers import EncodedDocument
from ccre.errors import CcreError, ConfigError
from ccre.modeling.embedding import build_memory
from ccre.modeling.relation_model import RelationModel
from ccre.utils.distributed import Workers, average_gradients, gather_rows, shard_bounds, workers
from ccre.utils.progress import progress_bar
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


STATE_FILE = "train_state.pt"


def _save_state(path: Path, **state: object) -> None:
    """Write the training state atomically: a kill during the write leaves the previous state intact."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_state(path: Path, config: CcreConfig, doc_ids: list[str]) -> dict:
    state = torch.load(path, map_location="cpu", weights_only=False)
    if state["config"] != config.model_dump() or state["doc_ids"] != doc_ids:
        raise CcreError(
            f"{path} was written by a run with another configuration or other training documents; "
            "remove it or rerun with the same settings"
        )
    return state


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


def warn_contrastive_multi_label(config: TrainConfig, space: LabelSpace) -> bool:
    """Log a warning (and return true) when a contrastive objective meets multi-label data with the mean
    MCCL score, the setting under which Re-DocRED contrastive models stayed near F1 0 (README, "Multi-label
    data")."""
    if config.objective == "ce" or not space.multi_label or config.mccl_pool != "mean":
        return False
    logger.warning(
        "%s on multi-label data with the mean MCCL score: on Re-DocRED that left contrastive models near F1 0, "
        "while --mccl-pool sum --batch-only trained (README, 'Multi-label data')", config.objective,
    )
    return True


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

    With ``state_dir``, the full training state (weights, optimizer, schedule, random generators) is saved
    there after every epoch; ``resume=True`` continues from it, ending in exactly the state a run without
    interruption reaches. The state file is removed once training finishes.

    Launched on several processes (``accelerate launch``), every process returns the same model and only
    the main one writes the state and shows progress; resuming restores weights, optimizer and schedule,
    while dropout draws restart from the seed.
    """
    team = workers(device)
    if team.world > config.train.batch_size:
        raise ConfigError(f"batch_size {config.train.batch_size} is smaller than the number of processes ({team.world})")
    seed_everything(config.train.seed)
    # parallel CPU reductions (index_add, embedding gradients) otherwise add in varying order
    torch.use_deterministic_algorithms(config.train.deterministic, warn_only=True)
    space = LabelSpace.from_documents(train_docs)
    warn_contrastive_multi_label(config.train, space)
    model = RelationModel.create(config, space).to(team.device)
    model.precision = precision
    docs = [d for d in train_docs if len(d.entities) >= 2]
    if not docs:
        raise CcreError("no training document has two or more entities")
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    # instance ids: position of each candidate pair in the concatenation of all documents' pairs
    first_pair = np.concatenate([[0], np.cumsum([len(e.pairs) for e in encoded])])
    tc = config.train
    steps_per_epoch = math.ceil(len(encoded) / tc.batch_size)
    total = steps_per_epoch * tc.epochs
    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": list(model.encoder.parameters()), "lr": tc.lr},
            {"params": head_params, "lr": tc.head_lr},
        ],
        weight_decay=tc.weight_decay,
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, int(tc.warmup_ratio * total), total)
    rng = np.random.default_rng(tc.seed)
    lengths = [len(e) for e in encoded]
    logger.info(
        "training on %d documents (%d pairs), %d epochs of %d steps, device %s",
        len(encoded), sum(len(e.pairs) for e in encoded), tc.epochs, steps_per_epoch, model.device,
    )
    state_path = Path(state_dir) / STATE_FILE if state_dir is not None else None
    doc_ids = [d.id for d in docs]
    start_epoch = 0
    if state_path is not None and state_path.exists():
        if not resume:
            raise CcreError(f"{state_path} holds an unfinished run: resume it with --resume, or remove it")
        state = _load_state(state_path, config, doc_ids)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        rng.bit_generator.state = state["numpy_rng"]
        torch.set_rng_state(state["torch_rng"])
        start_epoch = state["epoch"] + 1
        logger.info("resuming after epoch %d from %s", start_epoch, state_path)
    if team.world > 1:  # identical initial weights (same seed) but a dropout stream per process
        torch.manual_seed(tc.seed + 1000 * start_epoch + team.rank)
    started = time.perf_counter()
    model.train()
    with progress_bar(show_progress and team.is_main) as progress:
        task = progress.add_task("training", total=total, completed=start_epoch * steps_per_epoch)
        for epoch in range(start_epoch, tc.epochs):
            if model.objective.uses_memory and tc.contrast_memory:
                model.set_memory(build_memory(model, docs, encoded))
            epoch_loss = 0.0
            for step, idx in enumerate(length_bucketed_batches(lengths, tc.batch_size, rng)):
                loss = batch_loss(model, encoded, idx, first_pair, team)
                if not torch.isfinite(loss):
                    raise CcreError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; lower the learning "
                        "rate or check the input documents"
                    )
                loss.backward()
                if team.world > 1:
                    average_gradients(model.parameters(), team.world)
                torch.nn.utils.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                epoch_loss += loss.item()
                progress.update(task, advance=1, description=f"epoch {epoch + 1}/{tc.epochs} loss {loss.item():.4f}")
            logger.info(
                "epoch %d/%d: mean loss %.4f (%.0f s)",
                epoch + 1, tc.epochs, epoch_loss / steps_per_epoch, time.perf_counter() - started,
            )
            if state_path is not None and team.is_main:
                state_path.parent.mkdir(parents=True, exist_ok=True)
                _save_state(
                    state_path, epoch=epoch, config=config.model_dump(), doc_ids=doc_ids,
                    model=model.state_dict(), optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                    numpy_rng=rng.bit_generator.state, torch_rng=torch.get_rng_state(),
                )
    model.eval()
    model.set_memory(build_memory(model, docs, encoded))
    return model
