"""Pair embeddings of whole document sets: the memory of labelled instances (built after training, grown
with new documents without retraining), probing and plots.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ccre.data.documents import Document
from ccre.data.labels import NO_RELATION, LabelSpace, pair_targets
from ccre.encoding.markers import EncodedDocument
from ccre.modeling.checkpoint import PARTS, Manifest, add_part, require_manifest
from ccre.modeling.memory import EmbeddingMemory, EntryMeta
from ccre.modeling.relation_model import RelationModel
from ccre.utils.runtime import pick_device


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


def encode_labelled(
    model: RelationModel, docs: Sequence[Document], space: LabelSpace
) -> tuple[list[EncodedDocument], np.ndarray]:
    """Encoded documents and multi-hot targets ``(N, C)`` of every candidate pair of labelled ``docs``, for a
    caller that embeds them its own way."""
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    return encoded, np.concatenate([e.targets for e in encoded])


def embed_labelled(
    model: RelationModel, docs: Sequence[Document], space: LabelSpace
) -> tuple[list[EncodedDocument], np.ndarray, np.ndarray]:
    """Encoded documents, pair embeddings ``(N, D)`` and multi-hot targets ``(N, C)`` of every candidate pair
    of labelled ``docs``."""
    encoded, targets = encode_labelled(model, docs, space)
    return encoded, embed_encoded(model, encoded).numpy(), targets


def relation_embeddings(model: RelationModel, docs: Sequence[Document]) -> tuple[np.ndarray, list[str]]:
    """Pair embeddings of every candidate pair of ``docs`` and its gold relation name (the first, when a
    pair holds several; ``no-relation`` when none)."""
    own = LabelSpace(
        (NO_RELATION, *sorted({r.type for d in docs for r in d.relations})),
        model.space.directed, model.space.multi_label, model.space.novelty,
    )
    encoded = [model.document_encoder.encode(d, model.space) for d in docs]
    h = embed_encoded(model, encoded).numpy()
    labels: list[str] = []
    for doc, e in zip(docs, encoded):
        targets, _ = pair_targets(doc, e.pairs, own)
        labels.extend(own.labels[int(np.argmax(row[1:])) + 1] if row[1:].any() else NO_RELATION for row in targets)
    return h, labels


def add_to_memory(checkpoint: str | Path, docs: Sequence[Document], device: str | None = None) -> int:
    """Embed the candidate pairs of the labelled ``docs`` with a trained model and add them to its memory,
    saved back into the checkpoint. Returns the number of instances added."""
    manifest = require_manifest(checkpoint, "relation-model")
    model = RelationModel.from_pretrained(checkpoint, pick_device(device))
    memory = model.memory
    first_id = int(memory.ids.max()) + 1 if memory is not None and len(memory) else 0
    new = build_memory(model, docs, first_id=first_id)
    if memory is None:
        memory = new
    elif len(new):
        memory.add(new.vectors, new.targets, new.meta, new.ids)
    memory.save(checkpoint_memory(manifest))
    add_part(manifest, "memory")
    return len(new)


def checkpoint_memory(manifest: Manifest) -> Path:
    """Where a relation model's memory is (or goes, for a model saved without one)."""
    return manifest.directory / PARTS["memory"]
