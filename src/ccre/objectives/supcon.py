"""Supervised contrastive loss (Khosla et al., 2020, "Supervised Contrastive Learning"), with a memory.

On L2-normalized pair embeddings, with candidates ``A(i)`` = every other instance of the batch plus every
memory entry that is not ``i`` itself, and positives ``P(i)`` = the candidates that share a relation label
with ``i`` (multi-hot targets: any shared label; no-relation, column 0, counts as a label):

``L_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip / tau) / sum_{a in A(i)} exp(s_ia / tau) )``

where ``s`` is the cosine similarity. ``L`` is the mean of ``L_i`` over the anchors that have positives;
anchors without any are skipped (they carry no supervision), and a batch without any gives 0.

Memory entries (embeddings of earlier batches, as in the paper's continual finetuning) are constants:
they receive no gradient. Instances carry integer ids so that an anchor whose own (older) embedding sits
in the memory does not count it as a positive.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def contrastive_candidates(
    h: torch.Tensor,
    targets: torch.Tensor,
    memory_h: torch.Tensor | None = None,
    memory_targets: torch.Tensor | None = None,
    batch_ids: torch.Tensor | None = None,
    memory_ids: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The candidates every anchor is compared with: the batch followed by the (detached) memory.

    Returns ``cand_h`` ``(N, D)``, ``cand_targets`` ``(N, C)`` and ``exclude`` ``(P, N)`` bool, true where
    candidate ``j`` is anchor ``i`` itself: the diagonal of the batch block, and the memory entries whose
    id equals the anchor's id (only when both ``batch_ids`` and ``memory_ids`` are given; without ids
    the memory is taken to be disjoint from the batch).
    """
    p = h.shape[0]
    exclude = torch.eye(p, dtype=torch.bool, device=h.device)
    if memory_h is None:
        return h, targets, exclude
    if memory_targets is None:
        raise ValueError("memory_h needs memory_targets")
    if (batch_ids is None) != (memory_ids is None):
        raise ValueError("give both batch_ids and memory_ids, or neither")
    memory_h = memory_h.detach().to(h.dtype)
    memory_targets = memory_targets.to(targets.dtype)
    if batch_ids is not None and memory_ids is not None:
        memory_self = batch_ids.view(-1, 1).to(memory_ids.device) == memory_ids.view(1, -1)
        memory_self = memory_self.to(h.device)
    else:
        memory_self = torch.zeros(p, memory_h.shape[0], dtype=torch.bool, device=h.device)
    return (
        torch.cat([h, memory_h]),
        torch.cat([targets, memory_targets]),
        torch.cat([exclude, memory_self], dim=1),
    )


def cosine_similarities(h: torch.Tensor, cand_h: torch.Tensor) -> torch.Tensor:
    """``(P, N)`` cosine similarities of anchors and candidates."""
    return F.normalize(h, dim=-1) @ F.normalize(cand_h, dim=-1).T


def supcon_loss(
    h: torch.Tensor,
    targets: torch.Tensor,
    tau: float,
    memory_h: torch.Tensor | None = None,
    memory_targets: torch.Tensor | None = None,
    batch_ids: torch.Tensor | None = None,
    memory_ids: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean supervised contrastive loss of the anchors ``h`` ``(P, D)`` (targets ``(P, C)`` multi-hot).

    ``memory_h`` ``(M, D)`` / ``memory_targets`` ``(M, C)`` add constant candidates; ``batch_ids`` ``(P,)``
    and ``memory_ids`` ``(M,)`` identify instances so that an anchor is never its own positive.
    """
    cand_h, cand_targets, exclude = contrastive_candidates(
        h, targets, memory_h, memory_targets, batch_ids, memory_ids
    )
    logits = (cosine_similarities(h, cand_h) / tau).masked_fill(exclude, float("-inf"))
    positive = ((targets @ cand_targets.T) > 0) & ~exclude
    counts = positive.sum(dim=1)
    has = counts > 0
    if not has.any():
        return (h * 0.0).sum()
    logits, positive, counts = logits[has], positive[has], counts[has]
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    # excluded entries are -inf; `where` (not a product) keeps them out of the sum and its gradient
    per_anchor = -torch.where(positive, log_prob, torch.zeros_like(log_prob)).sum(dim=1) / counts
    return per_anchor.mean()
