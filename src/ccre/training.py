"""The finetuning loop: documents -> batches -> loss -> AdamW with linear warm-up and decay.

Contrastive objectives compare each anchor with a memory of every training instance's embedding, rebuilt
at the start of every epoch. Every trained model ends with a memory of the training instances embedded by
the final weights (for kNN inference and explanations).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from ccre.config import CcreConfig
from ccre.documents import Document
from ccre.embedding import build_memory
from ccre.errors import CcreError
from ccre.labels import LabelSpace
from ccre.model import RelationModel
from ccre.progress import progress_bar
from ccre.runtime import pick_device, seed_everything

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


def train_model(
    config: CcreConfig,
    train_docs: Sequence[Document],
    *,
    device: str | None = None,
    show_progress: bool = True,
) -> RelationModel:
    """Train a relation model on ``train_docs`` with ``config`` and return it (in eval mode)."""
    seed_everything(config.train.seed)
    space = LabelSpace.from_documents(train_docs)
    model = RelationModel.create(config, space).to(pick_device(device))
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
    started = time.perf_counter()
    model.train()
    with progress_bar(show_progress) as progress:
        task = progress.add_task("training", total=total)
        for epoch in range(tc.epochs):
            if model.objective.uses_memory:
                model.set_memory(build_memory(model, docs, encoded))
            epoch_loss = 0.0
            for step, idx in enumerate(length_bucketed_batches(lengths, tc.batch_size, rng)):
                batch = model.collate([encoded[i] for i in idx]).to(model.device)
                ids = torch.from_numpy(np.concatenate([np.arange(first_pair[i], first_pair[i + 1]) for i in idx]))
                loss = model.loss(batch, ids.to(model.device))
                if not torch.isfinite(loss):
                    raise CcreError(
                        f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}; lower the learning "
                        "rate or check the input documents"
                    )
                loss.backward()
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
    model.eval()
    model.set_memory(build_memory(model, docs, encoded))
    return model
