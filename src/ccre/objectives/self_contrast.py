"""Self-contrast (SimCSE-style) loss: an instance against itself encoded under different dropout.

With L2-normalized pair embeddings, ``h_hat`` the same instance encoded a second time under different
dropout, and ``H'`` every embedding of the batch (both views) except ``h`` itself (``h_hat`` included):

``L_self(h) = -log( exp(cos(h,h_hat)/tau) / sum_{h2 in H'} exp(cos(h,h2)/tau) )``,

averaged over every embedding of both views as the anchor.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def self_contrast_loss(h: torch.Tensor, h_hat: torch.Tensor, tau: float) -> torch.Tensor:
    """``h`` and ``h_hat`` ``(N, D)``: the two views, row ``i`` of each being the same instance."""
    n = h.shape[0]
    z = F.normalize(torch.cat([h, h_hat]), dim=-1)
    sim = z @ z.T / tau
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=h.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(h.device)
    return F.cross_entropy(sim, partner)
