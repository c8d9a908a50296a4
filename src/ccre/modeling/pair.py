"""Encoder states -> mention, entity and pair embeddings.

The pair embedding ``h`` (:class:`PairEmbedder`) is the one relation embedding that every objective,
every inference mode and every plot uses:

- mention embedding: the encoder state at the mention's start marker;
- entity embedding ``e``: logsumexp pooling over the entity's mentions (a smooth max);
- pair embedding ``h = W2 gelu(W1 [e_h; e_t; e_h * e_t])``, symmetrized for undirected data
  (``(g(a, b) + g(b, a)) / 2``) so that BioRED's unordered pairs get one embedding whatever the order.
"""

from __future__ import annotations

import torch
from torch import nn

from ccre.encoding.windows import Batch


class PairEmbedder(nn.Module):
    """Entity pair embedding ``h`` from the head and tail entity embeddings."""

    def __init__(self, hidden: int, pair_dim: int, directed: bool, dropout: float = 0.1) -> None:
        super().__init__()
        self.directed = directed
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(3 * hidden, pair_dim)
        self.out = nn.Linear(pair_dim, pair_dim)

    def _ordered(self, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        x = torch.cat([head, tail, head * tail], dim=-1)
        return self.out(self.dropout(nn.functional.gelu(self.hidden(x))))

    def forward(self, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        if self.directed:
            return self._ordered(head, tail)
        return 0.5 * (self._ordered(head, tail) + self._ordered(tail, head))


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
