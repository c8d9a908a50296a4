"""Marked documents -> padded encoder windows, batched.

Documents longer than the encoder's window are cut into overlapping windows; :func:`collate` records, for
every window position, where it sits in its document, so that the model can average the states of positions
seen by several windows and no mention is ever dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ccre.encoding.markers import EncodedDocument


@dataclass
class Batch:
    """Tensors for one forward pass over several documents.

    Window rows: ``input_ids``/``attention_mask`` ``(R, Lw)``; ``token_target`` ``(R, Lw)`` maps each
    window position to a row of the flat per-document state buffer (``-1`` for [CLS], [SEP], padding);
    ``num_tokens`` is that buffer's length. ``mention_index`` ``(M,)`` points into the buffer;
    ``entity_mentions`` ``(E, K)`` into the mentions with ``entity_mask``; ``pair_heads``/``pair_tails``
    ``(P,)`` into the entities. ``pair_doc`` gives each pair's document (its position in the batch),
    ``entity_doc`` ``(E,)`` each entity's; document ``d``'s tokens are the buffer rows
    ``doc_offsets[d]:doc_offsets[d + 1]``. ``entity_types`` ``(E,)`` is each entity's type number
    (:attr:`EncodedDocument.entity_types`).
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_target: torch.Tensor
    num_tokens: int
    mention_index: torch.Tensor
    entity_mentions: torch.Tensor
    entity_mask: torch.Tensor
    pair_heads: torch.Tensor
    pair_tails: torch.Tensor
    pair_doc: torch.Tensor
    entity_doc: torch.Tensor
    doc_offsets: torch.Tensor
    entity_types: torch.Tensor
    targets: torch.Tensor | None
    novelty: torch.Tensor | None

    def to(self, device: torch.device | str) -> Batch:
        moved = {
            k: (v.to(device, non_blocking=True) if isinstance(v, torch.Tensor) else v)
            for k, v in self.__dict__.items()
        }
        return Batch(**moved)


def window_starts(length: int, window: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``window`` positions covering ``length``, consecutive ones sharing
    at least ``overlap`` positions; the last window ends exactly at ``length``."""
    if length <= window:
        return [0]
    stride = window - overlap
    starts = list(range(0, length - window, stride))
    starts.append(length - window)
    return starts


def collate(
    docs: Sequence[EncodedDocument],
    *,
    cls_id: int,
    sep_id: int,
    pad_id: int,
    max_length: int,
    overlap: int,
) -> Batch:
    """Cut documents into windows, pad to the longest window of the batch and index everything flat."""
    inner = max_length - 2
    rows: list[np.ndarray] = []
    targets_rows: list[np.ndarray] = []
    mention_index, entity_lists, heads, tails, pair_doc, entity_doc = [], [], [], [], [], []
    doc_offsets = [0]
    token_offset = mention_offset = entity_offset = 0
    for d, doc in enumerate(docs):
        for s in window_starts(len(doc), inner, overlap):
            piece = doc.input_ids[s : s + inner]
            rows.append(np.concatenate([[cls_id], piece, [sep_id]]))
            targets_rows.append(np.concatenate([[-1], token_offset + s + np.arange(len(piece)), [-1]]))
        mention_index.append(token_offset + doc.mention_pos)
        entity_lists.extend(mention_offset + m for m in doc.entity_mentions)
        heads.append(entity_offset + doc.pairs[:, 0])
        tails.append(entity_offset + doc.pairs[:, 1])
        pair_doc.append(np.full(len(doc.pairs), d, dtype=np.int64))
        entity_doc.append(np.full(len(doc.entity_mentions), d, dtype=np.int64))
        token_offset += len(doc)
        doc_offsets.append(token_offset)
        mention_offset += len(doc.mention_pos)
        entity_offset += len(doc.entity_mentions)
    width = max(len(r) for r in rows)
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    token_target = np.full((len(rows), width), -1, dtype=np.int64)
    for i, (r, t) in enumerate(zip(rows, targets_rows)):
        input_ids[i, : len(r)] = r
        token_target[i, : len(t)] = t
    attention = np.zeros_like(input_ids)
    for i, r in enumerate(rows):
        attention[i, : len(r)] = 1
    k = max((len(m) for m in entity_lists), default=1)
    ent = np.zeros((len(entity_lists), k), dtype=np.int64)
    ent_mask = np.zeros((len(entity_lists), k), dtype=bool)
    for i, m in enumerate(entity_lists):
        ent[i, : len(m)] = m
        ent_mask[i, : len(m)] = True
    labelled = all(doc.targets is not None for doc in docs)
    return Batch(
        input_ids=torch.from_numpy(input_ids),
        attention_mask=torch.from_numpy(attention),
        token_target=torch.from_numpy(token_target),
        num_tokens=token_offset,
        mention_index=torch.from_numpy(np.concatenate(mention_index)),
        entity_mentions=torch.from_numpy(ent),
        entity_mask=torch.from_numpy(ent_mask),
        pair_heads=torch.from_numpy(np.concatenate(heads)),
        pair_tails=torch.from_numpy(np.concatenate(tails)),
        pair_doc=torch.from_numpy(np.concatenate(pair_doc)),
        entity_doc=torch.from_numpy(np.concatenate(entity_doc)),
        doc_offsets=torch.tensor(doc_offsets, dtype=torch.int64),
        entity_types=torch.from_numpy(np.concatenate([d.entity_types for d in docs])),
        targets=torch.from_numpy(np.concatenate([d.targets for d in docs])) if labelled else None,
        novelty=torch.from_numpy(np.concatenate([d.novelty for d in docs])) if labelled else None,
    )
