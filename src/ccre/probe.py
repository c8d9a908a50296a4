"""Probing a frozen encoder (the paper's analysis): how well do its pair embeddings support a linear
softmax classifier, a nearest-centroid classifier (one center per relation) and k-nearest neighbours
(many centers)? A representation whose relations form several clusters does well under kNN but not
under nearest centroid, which is the case MCCL is designed for.

Each classifier is fit on train embeddings ``(N, D)`` with multi-hot targets ``(N, C)`` (column 0 = no
relation) and returns boolean decisions ``(Q, C)`` on test embeddings:

- softmax: multinomial logistic regression on the raw embeddings (what a linear head sees), the most
  probable class; for multi-label data one-vs-rest logistic regressions, every relation with p > 0.5;
- centroid: cosine to each class centroid, the nearest class (one center per relation means one class
  per pair, also for multi-label data: cosines are no probabilities to threshold per label);
- knn: similarity-weighted votes of the ``k`` most cosine-similar train pairs (weights break the ties
  that plain votes leave), the class with most votes; for multi-label data every relation holding in
  more than half of the (weighted) neighbourhood.

Where no relation passes, no-relation (column 0) is predicted alone.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from ccre.memory import EmbeddingMemory, centroid_scores, knn_scores


def top_class(scores: np.ndarray) -> np.ndarray:
    """One-hot decisions ``(Q, C)``: the best-scoring class of each row."""
    decided = np.zeros(scores.shape, dtype=bool)
    decided[np.arange(len(scores)), scores.argmax(axis=1)] = True
    return decided


def above_half(probs: np.ndarray) -> np.ndarray:
    """Multi-label decisions ``(Q, C)``: every relation (column >= 1) with probability above 0.5, or
    no-relation alone when none is."""
    decided = probs > 0.5
    decided[:, 0] = ~decided[:, 1:].any(axis=1)
    return decided


def softmax_scores(
    train_h: np.ndarray, train_targets: np.ndarray, test_h: np.ndarray, multi_label: bool
) -> np.ndarray:
    """Class probabilities ``(Q, C)`` of a logistic-regression probe; classes absent from training get
    probability 0 (multi-label, one-vs-rest) or are never predicted (single-label, ``-inf``)."""
    num_classes = train_targets.shape[1]
    if multi_label:
        with warnings.catch_warnings():
            # constant label columns (a relation never or always present) are fit as constants
            warnings.filterwarnings("ignore", message=r"Label (not )?\d+ is present in all training examples")
            clf = OneVsRestClassifier(LogisticRegression(max_iter=2000)).fit(train_h, train_targets > 0)
        return clf.predict_proba(test_h)
    clf = LogisticRegression(max_iter=2000).fit(train_h, train_targets.argmax(axis=1))
    scores = np.full((len(test_h), num_classes), -np.inf)
    scores[:, clf.classes_] = clf.predict_proba(test_h)
    return scores


def probe_predictions(
    train_h: np.ndarray,
    train_targets: np.ndarray,
    test_h: np.ndarray,
    k: int = 5,
    multi_label: bool = False,
) -> dict[str, np.ndarray]:
    """Decisions ``(Q, C)`` bool of the ``"softmax"``, ``"centroid"`` and ``"knn"`` probes."""
    train_h = np.asarray(train_h, dtype=np.float32)
    test_h = np.asarray(test_h, dtype=np.float32)
    train_targets = np.asarray(train_targets, dtype=np.float32)
    memory = EmbeddingMemory(train_h.shape[1], train_targets.shape[1])
    memory.add(train_h, train_targets)
    sims, idx = memory.search(test_h, k)
    softmax = softmax_scores(train_h, train_targets, test_h, multi_label)
    knn = knn_scores(sims, idx, memory.targets, k, weighted=True)
    decide = above_half if multi_label else top_class
    return {
        "softmax": decide(softmax),
        "centroid": top_class(centroid_scores(test_h, train_h, train_targets)),
        "knn": decide(knn),
    }
