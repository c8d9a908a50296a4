"""SupCon and MCCL as objectives: trained on pair embeddings, classifying by comparison with a memory.

Contrastive objectives have no classifier weights. At training time each anchor is compared with the
other instances of its batch and with a memory of the embeddings of every training instance (refreshed
by the training loop, see :meth:`MemoryObjective.set_memory`); at inference time the memory holds the
labelled training instances and a pair is scored against it in one of three ways (``inference``):

- ``mccl``: the multi-center score ``s_r`` of :func:`ccre.objectives.mccl.mccl_class_scores`
  (a smooth maximum of the similarities to the instances of each relation; ``pool`` mean or sum);
- ``knn``: votes of the ``k`` nearest instances (:func:`ccre.modeling.memory.knn_scores`, exact faiss search);
- ``centroid``: cosine similarity to each relation's mean embedding.

Decisions: single-label data takes the best-scoring class; multi-label data every relation whose score
beats no-relation's by more than a margin (``na_margin``): zero, or calibrated on the training documents
(:mod:`ccre.inference.threshold`; the default, computed on the first decision after the memory is set).
"""

from __future__ import annotations

import logging
from typing import Literal

import torch

from ccre.inference.threshold import best_margin, held_out_scores
from ccre.modeling.memory import SCORE_BUDGET, EmbeddingMemory, centroid_scores, knn_scores
from ccre.objectives.base import PairObjective
from ccre.objectives.mccl import MCCLPool, mccl_class_scores, mccl_decide, mccl_loss
from ccre.objectives.supcon import cosine_similarities, supcon_loss

InferenceMode = Literal["mccl", "knn", "centroid"]
NAMargin = Literal["zero", "calibrated"]

logger = logging.getLogger(__name__)


class MemoryObjective(PairObjective):
    """Shared memory handling and memory-based scoring of the contrastive objectives."""

    uses_memory = True

    def __init__(
        self,
        multi_label: bool,
        tau2: float,
        inference: InferenceMode = "mccl",
        k: int = 5,
        na_keep: float = 1.0,
        pool: MCCLPool = "mean",
        na_margin: NAMargin = "calibrated",
    ) -> None:
        super().__init__()
        self.multi_label = multi_label
        self.tau2 = tau2
        self.pool = pool
        self.inference = inference
        self.k = k
        self.na_keep = na_keep
        self.na_margin = na_margin
        self.margin: float | None = None
        """The multi-label no-relation margin in use (:meth:`decide`); ``None`` until the first decision."""
        self.temperature = 1.0  # set by subclasses: SupCon's tau, MCCL's tau1
        self.memory: EmbeddingMemory | None = None
        self._memory_tensors: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None

    def set_memory(self, memory: EmbeddingMemory | None) -> None:
        """Use ``memory`` (normalized training embeddings, their targets and ids) from now on."""
        self.memory = memory
        self._memory_tensors = None if memory is None or len(memory) == 0 else memory.tensors()
        self.margin = None

    def set_inference(self, inference: InferenceMode, pool: MCCLPool | None = None) -> None:
        """Score pairs by ``inference`` (and MCCL ``pool``) from now on, without retraining; a calibrated
        no-relation margin is calibrated again for the new scores."""
        self.inference = inference
        self.pool = pool or self.pool
        self.margin = None

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
        if self.inference == "knn":  # through the memory's faiss index (exact, or HNSW for large memories)
            sims, idx = self.memory.search(h.detach().float().cpu().numpy(), self.k)
            votes = knn_scores(sims, idx, self.memory.targets, self.k)
            return torch.from_numpy(votes).to(h.device, h.dtype)
        return self._scores_against(h, memory[0], memory[1])

    def _scores_against(self, h: torch.Tensor, memory_h: torch.Tensor, memory_targets: torch.Tensor) -> torch.Tensor:
        """Class scores ``(P, C)`` of ``h`` against the instances ``memory_h`` with ``memory_targets`` (kNN by
        exact search)."""
        if self.inference == "mccl":
            return mccl_class_scores(h, memory_h, memory_targets, self.tau2, pool=self.pool)
        queries = h.detach().float()
        if self.inference == "knn":
            sims, idx = cosine_similarities(queries, memory_h.float()).topk(min(self.k, len(memory_h)), dim=1)
            votes = knn_scores(sims.cpu().numpy(), idx.cpu().numpy(), memory_targets.cpu().numpy(), self.k)
        else:
            votes = centroid_scores(queries.cpu().numpy(), memory_h.cpu().numpy(), memory_targets.cpu().numpy())
        return torch.from_numpy(votes).to(h.device, h.dtype)

    def decide(self, scores: torch.Tensor) -> torch.Tensor:
        if not self.multi_label:
            return mccl_decide(scores)
        if self.margin is None:
            self.margin = self.calibrate() if self.na_margin == "calibrated" else 0.0
        return mccl_decide(scores, True, self.margin)

    def calibrate(self) -> float:
        """The no-relation margin with the best F1 on the memory's own documents, each scored against the
        others (:mod:`ccre.inference.threshold`); 0 when the memory holds fewer than two documents."""
        if self._memory_tensors is None or self.memory is None:
            raise RuntimeError("calibrating the no-relation margin needs a memory of labelled instances")
        vectors, targets, _ = self._memory_tensors
        doc_ids = [m.doc_id for m in self.memory.meta]
        with torch.no_grad():
            rows, scores = held_out_scores(vectors, targets, doc_ids, self._scores_against, SCORE_BUDGET)
        if len(rows) == 0:
            return 0.0
        gold = targets[torch.from_numpy(rows).to(targets.device), 1:].cpu().numpy() > 0
        margin, f1 = best_margin((scores[:, 1:] - scores[:, :1]).numpy(), gold)
        logger.info("no-relation margin %.4f, calibrated on %d training pairs left out by document (F1 %.4f)",
                    margin, len(rows), f1)
        return margin

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        """kNN votes are already fractions; similarity scores go through a softmax at the loss's temperature."""
        if self.inference == "knn":
            return scores.float()
        return torch.softmax(scores.float() / self.temperature, dim=-1)


class SupConObjective(MemoryObjective):
    """Supervised contrastive loss (Khosla et al., 2020); see :func:`ccre.objectives.supcon.supcon_loss`."""

    def __init__(self, multi_label: bool, tau: float, tau2: float, **kwargs) -> None:
        super().__init__(multi_label, tau2, **kwargs)
        self.temperature = tau

    def _loss(self, h, targets, memory_h, memory_targets, ids, memory_ids) -> torch.Tensor:
        return supcon_loss(h, targets, self.temperature, memory_h, memory_targets, ids, memory_ids)


class MCCLObjective(MemoryObjective):
    """Multi-center contrastive loss; see :func:`ccre.objectives.mccl.mccl_loss`."""

    def __init__(self, multi_label: bool, tau: float, tau2: float, **kwargs) -> None:
        super().__init__(multi_label, tau2, **kwargs)
        self.temperature = tau

    def _loss(self, h, targets, memory_h, memory_targets, ids, memory_ids) -> torch.Tensor:
        return mccl_loss(
            h, targets, self.temperature, self.tau2, memory_h, memory_targets, self.multi_label, ids, memory_ids,
            self.pool,
        )
