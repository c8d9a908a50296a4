"""The interface shared by every objective."""

from __future__ import annotations

import torch
from torch import nn


class PairObjective(nn.Module):
    """Base class: a loss on pair embeddings and the matching way to score and decide relations.

    ``ids`` ``(P,)`` identify the training instances of a batch, so that objectives that keep a memory of
    training embeddings (``uses_memory``) can keep an anchor from matching its own stored copy.
    """

    uses_memory = False

    def loss(self, h: torch.Tensor, targets: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        """Scores as per-class probabilities, reported with each prediction (softmax by default)."""
        return torch.softmax(scores.float(), dim=-1)


class ClassifierObjective(PairObjective):
    """An objective with a linear classifier over ``h``: its logits are the scores."""

    def __init__(self, pair_dim: int, num_labels: int) -> None:
        super().__init__()
        self.classifier = nn.Linear(pair_dim, num_labels)

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        return self.classifier(h)

    def prior_logits(self, counts: torch.Tensor, pairs: int) -> torch.Tensor:
        """The logits ``(C,)`` under which this classifier decides as a label distribution says: ``counts``
        ``(C,)`` pairs per class (column 0 no-relation) among ``pairs`` candidate pairs. For a softmax over
        classes, ``log(counts[c] / counts.sum())``: it then predicts the class frequencies (cross-entropy equal
        to the label entropy) instead of a uniform guess."""
        freq = counts.float().clamp_min(1e-3)
        return torch.log(freq / freq.sum())
