"""SupCon and MCCL as objectives: trained on pair embeddings, classifying by comparison with a memory.

Contrastive objectives have no classifier weights. At training time each anchor is compared with the
other instances of its batch and with a memory of the embeddings of every training instance (refreshed
by the training loop, see :meth:`MemoryObjective.set_memory`). An objective here does the loss; it is
assembled from parts with one job each:

- the memory (:class:`ccre.modeling.memory.EmbeddingMemory`, its tensors cached on the model's device);
- the loss (:func:`ccre.objectives.supcon.supcon_loss`, :func:`ccre.objectives.mccl.mccl_loss`), on anchors
  whose no-relation share ``na_keep`` thins;
- the scorer (:class:`ccre.inference.scorers.MemoryScorer`: mccl, knn or centroid against the memory);
- the decision (:class:`ccre.inference.decision.MarginDecision`: best class, or relations that beat no-relation
  by a zero or calibrated margin on multi-label data).
"""

from __future__ import annotations

import torch

from ccre.config import MCCLPool, NAMargin, ScorerName
from ccre.inference.decision import MarginDecision, calibrated_margin
from ccre.inference.scorers import MemoryScorer
from ccre.modeling.memory import SCORE_BUDGET, EmbeddingMemory
from ccre.objectives.base import PairObjective
from ccre.objectives.mccl import mccl_loss
from ccre.objectives.supcon import supcon_loss


class MemoryObjective(PairObjective):
    """The memory and the loss of the contrastive objectives; scoring and deciding go to their parts."""

    uses_memory = True

    def __init__(
        self,
        multi_label: bool,
        tau: float,
        tau2: float,
        inference: ScorerName = "mccl",
        k: int = 5,
        na_keep: float = 1.0,
        pool: MCCLPool = "mean",
        na_margin: NAMargin = "calibrated",
    ) -> None:
        super().__init__()
        self.multi_label = multi_label
        self.temperature = tau  # SupCon's tau, MCCL's tau1
        self.tau2 = tau2
        self.pool = pool
        self.na_keep = na_keep
        self.scorer = MemoryScorer(inference, k, tau2, pool, temperature=tau)
        self.decision = MarginDecision(multi_label, na_margin)
        self.memory: EmbeddingMemory | None = None
        self._memory_tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def set_memory(self, memory: EmbeddingMemory | None) -> None:
        """Use ``memory`` (normalized training embeddings, their targets and ids) from now on."""
        self.memory = memory
        self._memory_tensors = None if memory is None or len(memory) == 0 else memory.tensors()
        self.decision.reset()

    def set_inference(self, inference: ScorerName, pool: MCCLPool | None = None) -> None:
        """Score pairs by ``inference`` (and MCCL ``pool``) from now on, without retraining; a calibrated
        no-relation margin is calibrated again for the new scores."""
        self.scorer.mode = inference
        self.scorer.pool = pool or self.scorer.pool
        self.decision.reset()

    def _memory_on(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        if self._memory_tensors is None:
            return None
        if self._memory_tensors[0].device != device:
            self._memory_tensors = tuple(t.to(device) for t in self._memory_tensors)  # type: ignore[assignment]
        return self._memory_tensors

    def _anchors(self, h: torch.Tensor, targets: torch.Tensor, ids: torch.Tensor | None):
        """Subsample no-relation anchors (``na_keep``), so that the few positives are not drowned."""
        if self.na_keep >= 1.0:
            return h, targets, ids
        keep = (targets[:, 0] == 0) | (torch.rand(len(h), device=h.device) < self.na_keep)
        return h[keep], targets[keep], (ids[keep] if ids is not None else None)

    def loss(self, h: torch.Tensor, targets: torch.Tensor, ids: torch.Tensor | None = None) -> torch.Tensor:
        h, targets, ids = self._anchors(h, targets, ids)
        memory = self._memory_on(h.device)
        if memory is None:
            return self._loss(h, targets, None, None, None, None)
        memory_h, memory_targets, memory_ids = memory
        return self._loss(h, targets, memory_h, memory_targets, ids, memory_ids if ids is not None else None)

    def _loss(self, h, targets, memory_h, memory_targets, ids, memory_ids) -> torch.Tensor:
        """The loss function of the subclass, on the kept anchors, the memory and their ids."""
        raise NotImplementedError

    def scores(self, h: torch.Tensor) -> torch.Tensor:
        memory = self._memory_on(h.device)
        if memory is None or self.memory is None:
            raise RuntimeError("a contrastive objective needs a memory of labelled instances to score pairs")
        # kNN over a whole memory searches its faiss index (exact, or HNSW for a large memory)
        return self.scorer.scores(h, memory[0], memory[1], search=self.memory.search)

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        return self.decision.decide(scores, self.calibrate)

    def calibrate(self) -> float:
        """The no-relation margin with the best F1 on the memory's own documents, each scored against the
        others (:func:`ccre.inference.decision.calibrated_margin`)."""
        if self._memory_tensors is None or self.memory is None:
            raise RuntimeError("calibrating the no-relation margin needs a memory of labelled instances")
        vectors, targets, _ = self._memory_tensors
        return calibrated_margin(vectors, targets, [m.doc_id for m in self.memory.meta], self.scorer.scores,
                                 SCORE_BUDGET)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        return self.scorer.probabilities(scores)


class SupConObjective(MemoryObjective):
    """Supervised contrastive loss (Khosla et al., 2020); see :func:`ccre.objectives.supcon.supcon_loss`."""

    def _loss(self, h, targets, memory_h, memory_targets, ids, memory_ids) -> torch.Tensor:
        return supcon_loss(h, targets, self.temperature, memory_h, memory_targets, ids, memory_ids)


class MCCLObjective(MemoryObjective):
    """Multi-center contrastive loss; see :func:`ccre.objectives.mccl.mccl_loss`."""

    def _loss(self, h, targets, memory_h, memory_targets, ids, memory_ids) -> torch.Tensor:
        return mccl_loss(
            h, targets, self.temperature, self.tau2, memory_h, memory_targets, self.multi_label, ids, memory_ids,
            self.pool,
        )
