"""Adaptive-threshold loss for multi-label data (Zhou et al., 2021, ATLOP).

Class 0 (no relation) is a learned, per-pair threshold ``TH``. With logits ``z``, positive set ``P_T``
and negative set ``N_T`` of a pair:

``L = -log( exp(z_r)/sum_{r' in P_T ∪ {TH}} exp(z_r') ) summed over r in P_T
      - log( exp(z_TH)/sum_{r' in N_T ∪ {TH}} exp(z_r') )``

so every gold relation scores above the threshold and the threshold above every other relation.
At inference a relation is predicted when its logit exceeds the threshold's.
"""

from __future__ import annotations

import torch

from ccre.objectives.base import ClassifierObjective


class AdaptiveThresholdObjective(ClassifierObjective):
    def prior_logits(self, counts: torch.Tensor, pairs: int) -> torch.Tensor:
        """The threshold class at 0 and relation ``r`` at the log-odds ``log(p_r / (1 - p_r))`` of its rate
        ``p_r = counts[r] / pairs`` among the pairs: each relation is as likely to be decided as it is frequent."""
        rate = (counts.float().clamp_min(1e-3) / pairs).clamp(max=1 - 1e-6)
        logits = torch.log(rate / (1 - rate))
        logits[0] = 0.0
        return logits

    def loss(self, h: torch.Tensor, targets: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        return adaptive_threshold_loss(self.scores(h), targets)

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        above = scores > scores[:, :1]
        above[:, 0] = ~above[:, 1:].any(dim=1)
        return above


def adaptive_threshold_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over pairs of the adaptive-threshold loss; ``targets`` multi-hot with column 0 = no relation."""
    positive = targets.clone()
    positive[:, 0] = 0.0
    threshold = torch.zeros_like(targets)
    threshold[:, 0] = 1.0
    very_negative = torch.finfo(logits.dtype).min
    # rank positives against the threshold: mask out negatives
    keep_pos = (positive + threshold).bool()
    pos_logp = torch.log_softmax(logits.masked_fill(~keep_pos, very_negative), dim=-1)
    loss_pos = -(pos_logp * positive).sum(dim=1)
    # rank the threshold against negatives: mask out positives
    keep_neg = ~positive.bool()
    neg_logp = torch.log_softmax(logits.masked_fill(~keep_neg, very_negative), dim=-1)
    loss_neg = -(neg_logp * threshold).sum(dim=1)
    return (loss_pos + loss_neg).mean()
