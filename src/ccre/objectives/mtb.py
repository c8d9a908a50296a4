"""Matching-the-blanks contrastive loss over a batch of pair embeddings (entity-linked supervision).

With L2-normalized pair embeddings ``h``, temperature ``tau``, and for an anchor ``h`` its positives ``P``
(instances of the same linked entity pair in other documents) and negatives ``N`` in the batch:

``L_mtb(h) = -1/|P| * sum_{h1 in P} log( exp(cos(h,h1)/tau) / Z(h1) )``,
``Z(h1) = exp(cos(h,h1)/tau) + sum_{h2 in N} exp(cos(h,h2)/tau)``,

averaged over the anchors that have at least one positive (0 when none has).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def mtb_loss(h: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, tau: float) -> torch.Tensor:
    """``h`` ``(N, D)``; ``positive``/``negative`` ``(N, N)`` bool masks (row = anchor; the diagonal and pairs
    that are neither are ignored)."""
    z = F.normalize(h, dim=-1)
    sim = z @ z.T / tau  # (N, N)
    very_negative = torch.finfo(sim.dtype).min
    # log sum_{h2 in N} exp(sim): (N, 1)
    neg_lse = torch.logsumexp(sim.masked_fill(~negative, very_negative), dim=1, keepdim=True)
    has_neg = negative.any(dim=1, keepdim=True)
    neg_lse = torch.where(has_neg, neg_lse, torch.full_like(neg_lse, float("-inf")))
    # log Z(h1) = logaddexp(sim(h, h1), neg_lse)
    log_prob = sim - torch.logaddexp(sim, neg_lse)
    pos = positive.to(sim.dtype)
    count = pos.sum(dim=1)
    anchors = count > 0
    if not anchors.any():
        return h.sum() * 0.0
    per_anchor = -(log_prob * pos).sum(dim=1)[anchors] / count[anchors]
    return per_anchor.mean()
