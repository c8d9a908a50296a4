"""Scoring pair embeddings against labelled instances: the three ways a contrastive model (and a probe)
classifies by comparison.

- ``mccl``: the multi-center score ``s_r`` of :func:`ccre.objectives.mccl.mccl_class_scores` (a smooth maximum of
  the similarities to the instances of each relation; ``pool`` mean or sum);
- ``knn``: votes of the ``k`` nearest instances (:func:`knn_scores`). Neighbours come from a search function:
  the memory's faiss index for a whole memory (exact, or HNSW for a large one), exact cosine search over tensors
  (:func:`exact_search`) for any other set of instances; the votes are counted one way;
- ``centroid``: cosine similarity to each relation's mean embedding (:func:`centroid_scores`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ccre.config import MCCLPool, ScorerName
from ccre.modeling.memory import l2_normalize
from ccre.objectives.mccl import mccl_class_scores
from ccre.objectives.supcon import cosine_similarities

Search = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]
"""``(queries (Q, D), k) -> (similarities (Q, k), indices (Q, k))``, index -1 where there is no neighbour."""


def knn_scores(
    sims: np.ndarray, idx: np.ndarray, targets: np.ndarray, k: int, weighted: bool = False
) -> np.ndarray:
    """Label votes ``(Q, C)`` of the ``k`` nearest neighbours (``sims``/``idx`` as from
    :meth:`EmbeddingMemory.search`; index ``-1`` marks no neighbour and is ignored).

    Plain (default): the fraction of the ``k`` neighbours carrying each label. Weighted: each neighbour
    votes with its cosine similarity clipped at 0, normalized by the total weight, so closer neighbours
    count more and dissimilar ones not at all. Multi-hot neighbours vote for each of their labels.
    """
    sims, idx = sims[:, :k], idx[:, :k]
    valid = idx >= 0
    weights = np.clip(sims, 0.0, None) if weighted else np.ones_like(sims, dtype=np.float64)
    weights = np.where(valid, weights, 0.0)
    votes = np.einsum("qk,qkc->qc", weights, targets[np.where(valid, idx, 0)])
    return votes / np.maximum(weights.sum(axis=1, keepdims=True), 1e-12)


def centroid_scores(queries: np.ndarray, vectors: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Cosine similarity ``(Q, C)`` of each query to each class centroid, the normalized mean of the
    class's normalized vectors (a multi-hot entry counts in each of its classes); ``-inf`` for a class
    without vectors."""
    vectors = l2_normalize(vectors).astype(np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    counts = targets.sum(axis=0)
    centroids = (targets.T @ vectors) / np.maximum(counts, 1.0)[:, None]
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    scores = l2_normalize(queries).astype(np.float64) @ centroids.T
    scores[:, counts == 0] = -np.inf
    return scores


def exact_search(vectors: torch.Tensor) -> Search:
    """Exact cosine search over the rows of ``vectors``."""

    def search(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)).to(vectors.device)
        sims, idx = cosine_similarities(q, vectors.float()).topk(min(k, len(vectors)), dim=1)
        return sims.cpu().numpy(), idx.cpu().numpy()

    return search


class MemoryScorer:
    """Class scores ``(P, C)`` of pair embeddings against labelled instances, by ``mode``.

    ``temperature`` (SupCon's tau, MCCL's tau1) turns similarity scores into probabilities; kNN votes already
    are fractions.
    """

    def __init__(self, mode: ScorerName = "mccl", k: int = 5, tau2: float = 0.2, pool: MCCLPool = "mean",
                 temperature: float = 1.0) -> None:
        self.mode = mode
        self.k = k
        self.tau2 = tau2
        self.pool = pool
        self.temperature = temperature

    def scores(self, h: torch.Tensor, vectors: torch.Tensor, targets: torch.Tensor,
               search: Search | None = None) -> torch.Tensor:
        """Scores of ``h`` against the instances ``vectors`` with multi-hot ``targets``; kNN finds neighbours
        with ``search`` (default: :func:`exact_search` over ``vectors``)."""
        if self.mode == "mccl":
            return mccl_class_scores(h, vectors, targets, self.tau2, pool=self.pool)
        queries = h.detach().float().cpu().numpy()
        if self.mode == "knn":
            sims, idx = (search or exact_search(vectors))(queries, self.k)
            votes = knn_scores(sims, idx, targets.cpu().numpy(), self.k)
        else:
            votes = centroid_scores(queries, vectors.cpu().numpy(), targets.cpu().numpy())
        return torch.from_numpy(votes).to(h.device, h.dtype)

    def probabilities(self, scores: torch.Tensor) -> torch.Tensor:
        """Per-class probabilities reported with each prediction."""
        if self.mode == "knn":
            return scores.float()
        return torch.softmax(scores.float() / self.temperature, dim=-1)
