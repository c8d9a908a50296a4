"""Pair embeddings of whole document sets: the memory of labelled instances, probing and plots."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ccre.documents import Document
from ccre.encoding import EncodedDocument
from ccre.memory import EmbeddingMemory, EntryMeta
from ccre.model import RelationModel


def embed_encoded(model: RelationModel, encoded: Sequence[EncodedDocument], batch_size: int = 8) -> torch.Tensor:
    """Pair embeddings ``(sum P, D)`` of every candidate pair, in the order of ``encoded`` and its pairs.

    Runs in eval mode under ``torch.inference_mode`` and restores the model's training mode afterwards.
    """
    was_training = model.training
    model.eval()
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    parts: dict[int, torch.Tensor] = {}
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            chunk = [i for i in order[s : s + batch_size] if len(encoded[i].pairs)]
            if not chunk:
                continue
            batch = model.collate([encoded[i] for i in chunk]).to(model.device)
            h = model.embed_pairs(batch).float().cpu()
            sizes = [len(encoded[i].pairs) for i in chunk]
            for i, part in zip(chunk, torch.split(h, sizes)):
                parts[i] = part
    model.train(was_training)
    dim = model.pair_embedder.out.out_features
    return torch.cat([parts.get(i, torch.zeros(0, dim)) for i in range(len(encoded))])


def build_memory(
    model: RelationModel,
    docs: Sequence[Document],
    encoded: Sequence[EncodedDocument] | None = None,
    first_id: int = 0,
    batch_size: int = 8,
) -> EmbeddingMemory:
    """A memory of every candidate pair of the labelled ``docs``: embedding, targets, origin, ids from
    ``first_id`` on (the ids the training loop gives the same instances)."""
    if encoded is None:
        encoded = [model.document_encoder.encode(d, model.space, with_targets=True) for d in docs]
    h = embed_encoded(model, encoded, batch_size)
    memory = EmbeddingMemory(h.shape[1], model.space.num_labels)
    if len(h) == 0:
        return memory
    targets = np.concatenate([e.targets for e in encoded if len(e.pairs)])
    meta = [
        EntryMeta(doc.id, doc.entities[hd].id, doc.entities[tl].id, int(nov))
        for doc, enc in zip(docs, encoded)
        for (hd, tl), nov in zip(enc.pairs, enc.novelty)
    ]
    memory.add(h, targets, meta, ids=np.arange(first_id, first_id + len(h)))
    return memory
