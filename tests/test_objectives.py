"""Objectives against brute-force loops written from their formulas."""

from __future__ import annotations

import math

import torch

from ccre.objectives.adaptive_threshold import (
    AdaptiveThresholdObjective,
    adaptive_threshold_loss,
)
from ccre.objectives.cross_entropy import CrossEntropyObjective


def _brute_atloss(logits: torch.Tensor, targets: torch.Tensor) -> float:
    total = 0.0
    for z, y in zip(logits.tolist(), targets.tolist()):
        positives = [r for r in range(1, len(z)) if y[r] == 1]
        negatives = [r for r in range(1, len(z)) if y[r] == 0]
        denom_pos = sum(math.exp(z[r]) for r in positives) + math.exp(z[0])
        loss = -sum(math.log(math.exp(z[r]) / denom_pos) for r in positives)
        denom_neg = sum(math.exp(z[r]) for r in negatives) + math.exp(z[0])
        loss -= math.log(math.exp(z[0]) / denom_neg)
        total += loss
    return total / len(logits)


def test_adaptive_threshold_matches_formula() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(7, 5, generator=g, dtype=torch.float64)
    targets = torch.zeros(7, 5, dtype=torch.float64)
    targets[0, 1] = targets[0, 3] = 1  # two relations
    targets[1, 2] = 1
    targets[2, 4] = 1
    targets[3:, 0] = 1  # no relation
    targets[:3, 0] = 0
    assert math.isclose(adaptive_threshold_loss(logits, targets).item(), _brute_atloss(logits, targets), rel_tol=1e-9)


def test_adaptive_threshold_decides_relations_above_threshold() -> None:
    obj = AdaptiveThresholdObjective(2, 4)
    scores = torch.tensor([[0.0, 1.0, -1.0, 2.0], [3.0, 1.0, 2.0, 0.0]])
    decided = obj.decide(scores)
    assert decided.tolist() == [[False, True, False, True], [True, False, False, False]]


def test_cross_entropy_matches_formula() -> None:
    torch.manual_seed(0)
    obj = CrossEntropyObjective(3, 4)
    h = torch.randn(5, 3)
    labels = [0, 2, 1, 3, 0]
    targets = torch.nn.functional.one_hot(torch.tensor(labels), 4).float()
    logits = obj.scores(h)
    brute = -sum(torch.log_softmax(logits[i], dim=0)[labels[i]].item() for i in range(5)) / 5
    assert math.isclose(obj.loss(h, targets).item(), brute, rel_tol=1e-5)
    assert obj.decide(logits).sum(dim=1).tolist() == [1] * 5
