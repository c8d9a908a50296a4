"""Softmax classifier with cross-entropy: the paper's CE baseline for single-label data (BioRED).

``L = -log softmax(W h + b)[y]``, where ``y`` is the pair's relation or no-relation (class 0).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ccre.objectives.base import ClassifierObjective


class CrossEntropyObjective(ClassifierObjective):
    """Decides the most probable class, or with ``na_threshold`` the best relation ``r`` wherever
    ``P(r) / (P(r) + P(no-relation))`` reaches it (a no-relation cut-off chosen on dev data: argmax is 0.5)."""

    def __init__(self, pair_dim: int, num_labels: int, na_threshold: float | None = None) -> None:
        super().__init__(pair_dim, num_labels)
        self.na_threshold = na_threshold

    def loss(self, h: torch.Tensor, targets: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        return F.cross_entropy(self.scores(h), targets.argmax(dim=1))

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        if self.na_threshold is None:
            return F.one_hot(scores.argmax(dim=1), scores.shape[1]).bool()
        best, ratio = relation_odds(scores)
        return F.one_hot(torch.where(ratio >= self.na_threshold, best, 0), scores.shape[1]).bool()


def relation_odds(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per pair, the most probable relation ``r`` (class >= 1) and ``P(r) / (P(r) + P(no-relation))``."""
    probs = torch.softmax(scores.float(), dim=-1)
    top, index = probs[:, 1:].max(dim=1)
    return index + 1, top / (top + probs[:, 0]).clamp_min(1e-12)
