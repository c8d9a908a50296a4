"""The finetuning loop: documents -> batches -> loss -> AdamW with linear warm-up and decay."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from transformers import get_linear_schedule_with_warmup

from ccre.config import CcreConfig
from ccre.documents import Document
from ccre.encoding import Batch, DocumentEncoder, EncodedDocument, collate
from ccre.errors import CcreError
from ccre.labels import LabelSpace
from ccre.model import RelationModel
from ccre.progress import progress_bar
from ccre.runtime import pick_device, seed_everything

logger = logging.getLogger(__name__)


def batch_collator(model: RelationModel) -> Callable[[Sequence[EncodedDocument]], Batch]:
    """``collate`` bound to the model's tokenizer and window settings."""
    tok = model.tokenizer
    cfg = model.config.encoder

    def _collate(docs: Sequence[EncodedDocument]) -> Batch:
        return collate(
            docs,
            cls_id=tok.cls_token_id,
            sep_id=tok.sep_token_id,
            pad_id=tok.pad_token_id,
            max_length=cfg.max_length,
            overlap=cfg.window_overlap,
        )

    return _collate


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
    encoder = DocumentEncoder(model.tokenizer, config.encoder.marker)
    encoded = [e for e in (encoder.encode(d, space, with_targets=True) for d in train_docs) if len(e.pairs)]
    if not encoded:
        raise CcreError("no training document has two or more entities")
    make_batch = batch_collator(model)
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
            epoch_loss = 0.0
            for step, idx in enumerate(length_bucketed_batches(lengths, tc.batch_size, rng)):
                batch = make_batch([encoded[i] for i in idx]).to(model.device)
                loss = model.loss(batch)
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
    return model.eval()
