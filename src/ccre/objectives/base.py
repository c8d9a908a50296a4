"""The interface shared by every objective."""

from __future__ import annotations

import torch
from torch import nn


class PairObjective(nn.Module):
    """Base class: a loss on pair embeddings and the matching way to score and decide relations."""

    def loss(self, h: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
