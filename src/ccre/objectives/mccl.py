"""Multi-center contrastive loss (MCCL; Zhou et al., ACL 2023, "Continual Contrastive Finetuning
Improves Low-Resource Relation Extraction").

A relation is represented by its instances rather than by one learned weight vector, so that a relation
with several distinct modes (clusters) is not forced into one center. The score of anchor ``i`` for
relation ``r`` over the instances ``S_r`` of ``r`` (batch and memory, without ``i`` itself) is

``s_r(i) = tau2 * log( 1/|S_r| * sum_{j in S_r} exp(cos(h_i, h_j) / tau2) )``

a smooth maximum: as ``tau2 -> 0`` it is the largest similarity to an instance of ``r`` (every instance
a center), as ``tau2 -> inf`` the mean similarity (one center). A relation with no instance among the
candidates cannot be scored; its score is ``-inf`` and it drops out of every softmax.

``pool="sum"`` is a variant (``objective.mccl_pool``) that drops the ``1/|S_r|``:
``s_r(i) = tau2 * log sum_{j in S_r} exp(cos(h_i, h_j) / tau2)``, i.e. the mean score plus
``tau2 * log|S_r|``. Read as a kernel density estimate, the mean is the class-conditional density (every
relation equally likely a priori) and the sum is the class posterior with the training frequencies as prior.
Few-shot data is very unbalanced (about 2,000 no-relation pairs against a single instance of some relations
in 20 BioRED documents): under the mean, a relation seen once wins whenever that one instance happens to be
the nearest neighbour; the sum weighs that chance against the size of each class.

Single-label data (BioRED): ``L_i = -log softmax_r( s_r(i) / tau1 )[y_i]``.

Multi-label data (DocRED): no-relation (class 0) is the threshold, as in adaptive thresholding (ATLOP):
the two log-softmax terms of :func:`~ccre.objectives.adaptive_threshold.adaptive_threshold_loss` on
``s / tau1`` make each gold relation score above no-relation and every non-gold relation, and no-relation
above every non-gold relation. Gold relations without an instance to compare with are left out of the
first term.

Anchors none of whose gold classes has another instance among the candidates (and, for multi-label data,
anchors when no-relation has none) are skipped; ``L`` is the mean over the remaining anchors, 0 if none.
"""

from __future__ import annotations

from typing import Literal

import torch

from ccre.objectives.adaptive_threshold import adaptive_threshold_loss
from ccre.objectives.supcon import contrastive_candidates, cosine_similarities

MCCLPool = Literal["mean", "sum"]


def mccl_class_scores(
    h: torch.Tensor,
    cand_h: torch.Tensor,
    cand_targets: torch.Tensor,
    tau2: float,
    exclude: torch.Tensor | None = None,
    pool: MCCLPool = "mean",
) -> torch.Tensor:
    """Scores ``s_r(i)`` ``(P, C)`` of anchors ``h`` ``(P, D)`` against candidates ``cand_h`` ``(N, D)``
    with multi-hot ``cand_targets`` ``(N, C)``; ``exclude`` ``(P, N)`` bool drops candidates per anchor;
    ``pool`` is ``"mean"`` (the ``1/|S_r|`` of the formula) or ``"sum"`` (without it).
    Classes without a (non-excluded) candidate get ``-inf``.

    The per-class logsumexp works on the ``nnz`` (candidate, class) memberships of ``cand_targets``
    rather than a dense ``(P, N, C)`` tensor, so memory stays ``O(P * nnz)`` even with DocRED's 97 classes;
    each class is shifted by its own maximum, which keeps tiny ``tau2`` exact.
    """
    p, c = h.shape[0], cand_targets.shape[1]
    z = cosine_similarities(h, cand_h) / tau2
    if exclude is not None:
        z = z.masked_fill(exclude, float("-inf"))
    member, cls = (cand_targets > 0).nonzero(as_tuple=True)
    zm = z[:, member]  # (P, nnz)
    index = cls.unsqueeze(0).expand(p, -1)
    shift = torch.full((p, c), float("-inf"), dtype=z.dtype, device=z.device)
    shift = shift.scatter_reduce(1, index, zm.detach(), reduce="amax", include_self=True)
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    total = z.new_zeros(p, c).scatter_add(1, index, torch.exp(zm - shift.gather(1, index)))
    count = z.new_zeros(p, c).scatter_add(1, index, torch.isfinite(zm).to(z.dtype))
    present = count > 0
    # safe values where a class is absent, so that log(0) never reaches the gradient
    log_pool = shift + torch.log(torch.where(present, total, torch.ones_like(total)))
    if pool == "mean":
        log_pool = log_pool - torch.log(count.clamp_min(1))
    return torch.where(present, tau2 * log_pool, torch.full_like(log_pool, float("-inf")))


def mccl_loss(
    h: torch.Tensor,
    targets: torch.Tensor,
    tau1: float,
    tau2: float,
    memory_h: torch.Tensor | None = None,
    memory_targets: torch.Tensor | None = None,
    multi_label: bool = False,
    batch_ids: torch.Tensor | None = None,
    memory_ids: torch.Tensor | None = None,
    pool: MCCLPool = "mean",
) -> torch.Tensor:
    """Mean MCCL of the anchors ``h`` ``(P, D)`` with multi-hot ``targets`` ``(P, C)`` (column 0 = no
    relation) over the batch plus the constant memory; ids as in :func:`ccre.objectives.supcon.supcon_loss`;
    ``pool`` as in :func:`mccl_class_scores`.
    """
    cand_h, cand_targets, exclude = contrastive_candidates(
        h, targets, memory_h, memory_targets, batch_ids, memory_ids
    )
    scores = mccl_class_scores(h, cand_h, cand_targets, tau2, exclude, pool)
    present = torch.isfinite(scores)
    gold = targets > 0
    keep = (gold & present).any(dim=1)
    if multi_label:
        keep &= present[:, 0]
    if not keep.any():
        return (h * 0.0).sum()
    logits, present, gold = scores[keep] / tau1, present[keep], gold[keep]
    if multi_label:
        very_negative = torch.finfo(logits.dtype).min
        return adaptive_threshold_loss(logits.masked_fill(~present, very_negative), (gold & present).to(logits.dtype))
    # single label: the gold class is the (one) column set in targets, present by the `keep` filter
    log_prob = torch.log_softmax(logits, dim=1)
    return -log_prob.gather(1, gold.to(torch.int64).argmax(dim=1, keepdim=True)).mean()


def mccl_decide(scores: torch.Tensor, multi_label: bool = False, margin: float = 0.0) -> torch.Tensor:
    """Decisions ``(P, C)`` bool from MCCL scores: single-label, the best-scoring class (absent classes
    score ``-inf`` and are never chosen while any class is present); multi-label, every relation whose score
    beats no-relation's by more than ``margin``, or no-relation alone when none does."""
    if not multi_label:
        return torch.nn.functional.one_hot(scores.argmax(dim=1), scores.shape[1]).bool()
    above = torch.zeros_like(scores, dtype=torch.bool)
    above[:, 1:] = (scores[:, 1:] - scores[:, :1]) > margin
    above[:, 0] = ~above[:, 1:].any(dim=1)
    return above
