"""A calibrated no-relation margin for the multi-label decisions of memory-based (SupCon, MCCL) models.

On multi-label data (DocRED) a pair gets every relation that scores above no-relation. A classifier trained
with adaptive thresholding (ATLOP) learns that cut-off as a class of its own. A contrastive model has no such
class: its scores compare a pair with a memory of training instances, and no-relation's score pools the
similarities to thousands of no-relation instances while a rare relation's pools one or two, so the two are
not on one scale. On 31 Re-DocRED documents "above no-relation" gave an MTB+MCCL model 4.8 million
predictions on the test set, F1 0.19 (``benchmarks/results/study.jsonl``).

Calibrated instead, relation ``r`` is predicted when ``s_r - s_NA > theta``, with one global ``theta`` that
maximizes micro F1 on the training documents themselves, each scored against the memory of the *other*
training documents (leave-one-document-out), so that an instance never meets itself or the other pairs of
its own document, as a test pair would not. This is the global threshold of the DocRED baseline (Yao et al.,
ACL 2019), which tunes it on development data; here it needs none, as fits a low-resource setting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

#: most training documents scored (a seeded sample beyond this) when calibrating: every one is scored
#: against the whole memory, so calibration costs up to ``MAX_DOCUMENTS / documents`` of an ``N x N`` pass
MAX_DOCUMENTS = 64


def best_margin(margins: np.ndarray, gold: np.ndarray) -> tuple[float, float]:
    """``(theta, f1)``: the threshold whose decisions ``margins > theta`` have the best micro F1 against the
    boolean ``gold`` (same shape), and that F1. Ties go to the largest ``theta`` (fewest predictions).
    ``-inf`` or NaN margins are never predicted; with no gold label, or no ``theta`` that finds one,
    ``theta`` is the largest margin (nothing is predicted) and F1 is 0."""
    m = np.asarray(margins, dtype=np.float64).ravel()
    g = np.asarray(gold, dtype=bool).ravel()
    if m.shape != g.shape:
        raise ValueError(f"margins {np.shape(margins)} and gold {np.shape(gold)} differ in shape")
    m = np.where(np.isnan(m), -np.inf, m)
    if len(m) == 0:
        return 0.0, 0.0
    order = np.argsort(-m, kind="stable")
    m, g = m[order], g[order]
    total = int(g.sum())
    tp = np.cumsum(g)
    f1 = 2 * tp / (np.arange(1, len(m) + 1) + total) if total else np.zeros(len(m))
    # predicting the first i+1 margins is a threshold only where the next margin is smaller
    cut = np.r_[m[:-1] > m[1:], True] & (m > -np.inf)
    f1 = np.where(cut, f1, -1.0)
    best = int(np.argmax(f1))
    if f1[best] <= 0:
        return float(m[0]), 0.0
    theta = float(m[best + 1]) if best + 1 < len(m) else float("-inf")
    return theta, float(f1[best])


def held_out_scores(
    vectors: torch.Tensor,
    targets: torch.Tensor,
    doc_ids: Sequence[str],
    score: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    budget: int,
    max_documents: int = MAX_DOCUMENTS,
    seed: int = 0,
) -> tuple[np.ndarray, torch.Tensor]:
    """Leave-one-document-out scores of memory entries: ``(rows, scores)``, where ``scores[i]`` is
    ``score(vectors[rows[i]], other_vectors, other_targets)`` over the entries of every *other* document.

    ``doc_ids`` name each entry's document (an empty id counts as a document of its own). At most
    ``max_documents`` documents are scored (a sample drawn with ``seed`` beyond that), each in chunks of at
    most ``budget`` (query, candidate) similarities. Documents whose removal leaves nothing are skipped."""
    ids = np.array([d if d else f"\0{i}" for i, d in enumerate(doc_ids)], dtype=object)
    if len(ids) != len(vectors):
        raise ValueError(f"{len(vectors)} entries but {len(ids)} document ids")
    documents, group = np.unique(ids, return_inverse=True)
    chosen = np.arange(len(documents))
    if len(chosen) > max_documents:
        chosen = np.sort(np.random.default_rng(seed).choice(chosen, max_documents, replace=False))
    rows: list[np.ndarray] = []
    scores: list[torch.Tensor] = []
    for d in chosen.tolist():
        inside = group == d
        if inside.all():
            continue
        own, others = np.flatnonzero(inside), torch.from_numpy(np.flatnonzero(~inside)).to(vectors.device)
        cand_h, cand_targets = vectors[others], targets[others]
        step = max(1, budget // len(others))
        for start in range(0, len(own), step):
            chunk = own[start:start + step]
            rows.append(chunk)
            scores.append(score(vectors[torch.from_numpy(chunk).to(vectors.device)], cand_h, cand_targets).float().cpu())
    if not rows:
        return np.zeros(0, dtype=np.int64), torch.zeros(0, targets.shape[1])
    return np.concatenate(rows), torch.cat(scores)


def best_cutoff(values: np.ndarray, hits: np.ndarray, n_gold: int) -> tuple[float, float]:
    """``(theta, f1)``: the cut-off whose predictions ``values >= theta`` (one candidate fact each, ``hits``
    saying which are gold) have the best micro F1 against ``n_gold`` gold facts, and that F1. Ties go to the
    highest ``theta`` (fewest predictions); with no candidate, or no ``theta`` that finds a gold fact, ``theta`` is
    1.0 and F1 0."""
    values = np.asarray(values, dtype=np.float64).ravel()
    hits = np.asarray(hits, dtype=bool).ravel()
    if values.shape != hits.shape:
        raise ValueError(f"values {values.shape} and hits {hits.shape} differ in shape")
    if len(values) == 0 or n_gold <= 0:
        return 1.0, 0.0
    order = np.argsort(-values, kind="stable")
    v, tp = values[order], np.cumsum(hits[order])
    last = np.r_[v[:-1] > v[1:], True]  # predicting down to index i is a cut-off only at the last of equal values
    f1 = np.where(last, 2 * tp / (np.arange(1, len(v) + 1) + n_gold), -1.0)
    best = int(np.argmax(f1))
    return (float(v[best]), float(f1[best])) if f1[best] > 0 else (1.0, 0.0)
