"""Relation-extraction metrics as pure functions over in-memory documents (no file I/O).

* :func:`ccre.evaluation.biored.biored_scores`: BioRED micro P/R/F1 at the pair, type and novelty levels.
* :func:`ccre.evaluation.docred.docred_scores`: the official DocRED scorer (F1 and Ign F1).
"""

from __future__ import annotations


def precision_recall_f1(tp: int, n_pred: int, n_gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; each is 0.0 where its denominator is 0."""
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    return p, r, f1_score(p, r)


def f1_score(p: float, r: float) -> float:
    """Harmonic mean of precision and recall; 0.0 when both are 0."""
    return 2.0 * p * r / (p + r) if p + r else 0.0
