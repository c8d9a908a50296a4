"""From class scores to decisions: the best class for single-label data; for multi-label data every relation
whose score beats no-relation's by more than a margin, zero or calibrated on the training documents
(:mod:`ccre.inference.threshold`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

from ccre.config import NAMargin
from ccre.inference.threshold import best_margin, held_out_scores
from ccre.objectives.mccl import mccl_decide

logger = logging.getLogger(__name__)

Score = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``(h, candidate vectors, candidate targets) -> class scores``, as :meth:`ccre.inference.scorers.MemoryScorer.scores`."""


class MarginDecision:
    """Decisions ``(P, C)`` from scores; on multi-label data the no-relation margin is fixed on first use (and
    again after :meth:`reset`, when the scores it was fitted to change)."""

    def __init__(self, multi_label: bool, na_margin: NAMargin = "calibrated") -> None:
        self.multi_label = multi_label
        self.na_margin = na_margin
        self.margin: float | None = None
        """The multi-label no-relation margin in use; ``None`` until the first multi-label decision."""

    def reset(self) -> None:
        self.margin = None

    def decide(self, scores: torch.Tensor, calibrate: Callable[[], float]) -> torch.Tensor:
        """``calibrate()`` gives the margin when ``na_margin`` is ``calibrated`` and none is set yet."""
        if not self.multi_label:
            return mccl_decide(scores)
        if self.margin is None:
            self.margin = calibrate() if self.na_margin == "calibrated" else 0.0
        return mccl_decide(scores, True, self.margin)


def calibrated_margin(vectors: torch.Tensor, targets: torch.Tensor, doc_ids: Sequence[str], score: Score,
                      budget: int) -> float:
    """The no-relation margin with the best F1 on labelled instances, each document's scored against the
    others (leave-one-document-out); 0 when there are fewer than two documents."""
    with torch.no_grad():
        rows, scores = held_out_scores(vectors, targets, doc_ids, score, budget)
    if len(rows) == 0:
        return 0.0
    gold = targets[torch.from_numpy(rows).to(targets.device), 1:].cpu().numpy() > 0
    margin, f1 = best_margin((scores[:, 1:] - scores[:, :1]).numpy(), gold)
    logger.info("no-relation margin %.4f, calibrated on %d training pairs left out by document (F1 %.4f)",
                margin, len(rows), f1)
    return margin
