"""Encoder states -> mention, entity and pair embeddings.

The pair embedding ``h`` (:class:`PairEmbedder`) is the one relation embedding that every objective,
every inference mode and every plot uses:

- mention embedding: the encoder state at the mention's start marker;
- entity embedding ``e``: logsumexp pooling over the entity's mentions (a smooth max);
- pair embedding ``h = W2 gelu(W1 [e_h; e_t; e_h * e_t; c]) + T[type_h, type_t]``, symmetrized for undirected
  data (``(g(a, b) + g(b, a)) / 2``) so that BioRED's unordered pairs get one embedding whatever the order.
  ``c`` (optional, ``encoder.context_pooling``) is ATLOP's localized context (Zhou et al., 2021, *Document-Level
  Relation Extraction with Adaptive Thresholding and Localized Context Pooling*): the document's token states
  weighted by how much both entities attend to each token in the encoder's last layer,
  ``c = H^T q / sum(q)``, ``q = mean_heads(a_h * a_t)``, where an entity's attention ``a`` is the mean of its
  mentions' start-marker attention rows. It gives each pair the words that relate its two entities, the
  part of the text a typed relation is read from.
  ``T`` (optional, ``encoder.type_embedding``) is a learned vector per ordered pair of entity types, started
  at zero (or where a classifier reads the type pair's label distribution from it,
  :meth:`ccre.modeling.relation_model.RelationModel.start_at_label_distribution`): the entity types enter the
  representation directly and linearly, not only through the words of typed markers.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ccre.encoding.windows import Batch


@dataclass
class EntityStates:
    """What one encoder pass gives the pair embedder: every entity's embedding ``(E, H)`` and type number
    ``(E,)``; for context pooling also each entity's attention over the batch's tokens ``(E, heads, T)``, the
    token states ``(T, H)``, each entity's document ``(E,)`` and the documents' token offsets ``(D + 1,)``."""

    embeddings: torch.Tensor
    types: torch.Tensor
    attention: torch.Tensor | None = None
    tokens: torch.Tensor | None = None
    entity_doc: torch.Tensor | None = None
    doc_offsets: torch.Tensor | None = None

    def context(self, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """Localized context ``c`` ``(P, H)`` of the pairs ``heads[i], tails[i]``, each over its own document's
        tokens (entities of a pair share one document)."""
        if self.attention is None or self.tokens is None or self.entity_doc is None or self.doc_offsets is None:
            raise ValueError("these entity states were encoded without context pooling")
        docs = self.entity_doc[heads]
        context = self.tokens.new_zeros(len(heads), self.tokens.shape[1])
        for d in docs.unique().tolist():
            rows = (docs == d).nonzero(as_tuple=True)[0]
            lo, hi = int(self.doc_offsets[d]), int(self.doc_offsets[d + 1])
            both = (self.attention[heads[rows], :, lo:hi] * self.attention[tails[rows], :, lo:hi]).mean(dim=1)
            weights = both / (both.sum(dim=-1, keepdim=True) + 1e-5)
            context[rows] = weights @ self.tokens[lo:hi]
        return context


class PairEmbedder(nn.Module):
    """Entity pair embedding ``h`` from the head and tail entity embeddings (and their localized context)."""

    def __init__(self, hidden: int, pair_dim: int, directed: bool, dropout: float = 0.1, num_types: int = 0,
                 context: bool = False) -> None:
        """``num_types > 0``: a type-pair embedding over ``num_types`` entity types (unseen ones included);
        ``context``: the pair's localized context ``c`` is an input too."""
        super().__init__()
        self.directed = directed
        self.num_types = num_types
        self.context = context
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear((4 if context else 3) * hidden, pair_dim)
        self.out = nn.Linear(pair_dim, pair_dim)
        self.types = nn.Embedding(num_types * num_types, pair_dim) if num_types else None
        if self.types is not None:
            nn.init.zeros_(self.types.weight)

    def _ordered(self, head: torch.Tensor, tail: torch.Tensor, types: tuple[torch.Tensor, torch.Tensor] | None,
                 context: torch.Tensor | None) -> torch.Tensor:
        parts = [head, tail, head * tail] + ([] if context is None else [context])
        h = self.out(self.dropout(nn.functional.gelu(self.hidden(torch.cat(parts, dim=-1)))))
        if self.types is not None and types is not None:
            h = h + self.types(self.type_pair_index(*types))
        return h

    def type_pair_index(self, head_type: torch.Tensor, tail_type: torch.Tensor) -> torch.Tensor:
        """The row of :attr:`types` of each ordered pair of type numbers."""
        return head_type * self.num_types + tail_type

    def forward(self, head: torch.Tensor, tail: torch.Tensor, head_type: torch.Tensor | None = None,
                tail_type: torch.Tensor | None = None, context: torch.Tensor | None = None) -> torch.Tensor:
        """``(P, D)`` embeddings of the pairs ``head[i], tail[i]``; the type numbers are used with a type
        embedding (and required by it), the localized context ``(P, H)`` (symmetric in head and tail) with
        context pooling (and required by it)."""
        if self.types is not None and (head_type is None or tail_type is None):
            raise ValueError("this pair embedder has a type embedding: give the entities' types")
        if self.context != (context is not None):
            raise ValueError("this pair embedder " + ("reads" if self.context else "has no input for")
                             + " the pairs' localized context")
        types = None if head_type is None or tail_type is None else (head_type, tail_type)
        if self.directed:
            return self._ordered(head, tail, types, context)
        swapped = None if types is None else (types[1], types[0])
        return 0.5 * (self._ordered(head, tail, types, context) + self._ordered(tail, head, swapped, context))


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


def entity_attention(attention: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Each entity's attention over the batch's tokens ``(E, heads, num_tokens)``: the mean, over its mentions,
    of the last-layer attention row ``(windows, heads, Lw, Lw)`` at the mention's start marker, its keys moved
    to their token rows (the [CLS], [SEP] and padding keys dropped) and averaged over the windows that hold the
    marker."""
    target = batch.token_target
    heads, num_tokens = attention.shape[1], batch.num_tokens
    mention, window, position = (target.unsqueeze(0) == batch.mention_index[:, None, None]).nonzero(as_tuple=True)
    rows = attention[window, :, position, :]  # (hits, heads, Lw)
    keys = target[window].masked_fill(target[window] < 0, num_tokens)[:, None, :].expand_as(rows)
    placed = rows.new_zeros(len(mention), heads, num_tokens + 1).scatter_add_(2, keys, rows)[..., :num_tokens]
    num_mentions = len(batch.mention_index)
    per_mention = placed.new_zeros(num_mentions, heads, num_tokens).index_add_(0, mention, placed)
    per_mention = per_mention / torch.bincount(mention, minlength=num_mentions).clamp_min(1)[:, None, None]
    entity, slot = batch.entity_mask.nonzero(as_tuple=True)
    summed = per_mention.new_zeros(len(batch.entity_mask), heads, num_tokens).index_add_(
        0, entity, per_mention[batch.entity_mentions[entity, slot]])
    return summed / batch.entity_mask.sum(dim=1).clamp_min(1)[:, None, None]
