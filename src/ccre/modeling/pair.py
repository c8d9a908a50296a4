"""Encoder states -> mention, entity and pair embeddings.

The pair embedding ``h`` (:class:`PairEmbedder`) is the one relation embedding that every objective,
every inference mode and every plot uses:

- mention embedding: the encoder state at the mention's start marker;
- entity embedding ``e``: logsumexp pooling over the entity's mentions (a smooth max);
- pair embedding ``h = W2 gelu(W1 [e_h; e_t; e_h * e_t]) + T[type_h, type_t]``, symmetrized for undirected
  data (``(g(a, b) + g(b, a)) / 2``) so that BioRED's unordered pairs get one embedding whatever the order.
  ``T`` (optional, ``encoder.type_embedding``) is a learned vector per ordered pair of entity types, started
  at zero (or where a classifier reads the type pair's label distribution from it,
  :meth:`ccre.modeling.relation_model.RelationModel.start_at_label_distribution`): the entity types enter the
  representation directly and linearly, not only through the words of typed markers.
"""

from __future__ import annotations

import torch
from torch import nn

from ccre.encoding.windows import Batch


class PairEmbedder(nn.Module):
    """Entity pair embedding ``h`` from the head and tail entity embeddings."""

    def __init__(self, hidden: int, pair_dim: int, directed: bool, dropout: float = 0.1, num_types: int = 0) -> None:
        """``num_types > 0``: a type-pair embedding over ``num_types`` entity types (unseen ones included)."""
        super().__init__()
        self.directed = directed
        self.num_types = num_types
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(3 * hidden, pair_dim)
        self.out = nn.Linear(pair_dim, pair_dim)
        self.types = nn.Embedding(num_types * num_types, pair_dim) if num_types else None
        if self.types is not None:
            nn.init.zeros_(self.types.weight)

    def _ordered(self, head: torch.Tensor, tail: torch.Tensor, types: tuple[torch.Tensor, torch.Tensor] | None
                 ) -> torch.Tensor:
        h = self.out(self.dropout(nn.functional.gelu(self.hidden(torch.cat([head, tail, head * tail], dim=-1)))))
        if self.types is not None and types is not None:
            h = h + self.types(self.type_pair_index(*types))
        return h

    def type_pair_index(self, head_type: torch.Tensor, tail_type: torch.Tensor) -> torch.Tensor:
        """The row of :attr:`types` of each ordered pair of type numbers."""
        return head_type * self.num_types + tail_type

    def forward(self, head: torch.Tensor, tail: torch.Tensor, head_type: torch.Tensor | None = None,
                tail_type: torch.Tensor | None = None) -> torch.Tensor:
        """``(P, D)`` embeddings of the pairs ``head[i], tail[i]``; the type numbers are used with a type
        embedding (and required by it)."""
        if self.types is not None and (head_type is None or tail_type is None):
            raise ValueError("this pair embedder has a type embedding: give the entities' types")
        types = None if head_type is None or tail_type is None else (head_type, tail_type)
        if self.directed:
            return self._ordered(head, tail, types)
        swapped = None if types is None else (types[1], types[0])
        return 0.5 * (self._ordered(head, tail, types) + self._ordered(tail, head, swapped))


def merge_windows(states: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Per-document token states ``(num_tokens, H)``: window states averaged where windows overlap."""
    valid = batch.token_target >= 0
    target = batch.token_target[valid]
    flat = states.new_zeros(batch.num_tokens, states.shape[-1])
    flat.index_add_(0, target, states[valid])
    count = states.new_zeros(batch.num_tokens).index_add_(0, target, states.new_ones(target.shape[0]))
    return flat / count.clamp_min(1.0).unsqueeze(-1)


def pool_entities(mentions: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Entity embeddings ``(E, H)`` by logsumexp over each entity's mention embeddings."""
    gathered = mentions[batch.entity_mentions]  # (E, K, H)
    masked = gathered.masked_fill(~batch.entity_mask.unsqueeze(-1), float("-inf"))
    return torch.logsumexp(masked, dim=1)
