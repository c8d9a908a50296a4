"""Softmax classifier with cross-entropy: the paper's CE baseline for single-label data (BioRED).

``L = -log softmax(W h + b)[y]``, where ``y`` is the pair's relation or no-relation (class 0).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from ccre.objectives.base import ClassifierObjective


class CrossEntropyObjective(ClassifierObjective):
    def loss(self, h: torch.Tensor, targets: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        return F.cross_entropy(self.scores(h), targets.argmax(dim=1))

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        return F.one_hot(scores.argmax(dim=1), scores.shape[1]).bool()
