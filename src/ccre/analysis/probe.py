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

A model probed here is a trained checkpoint (``ccre train --output``) or an encoder: a Hugging Face
name/path or a ``ccre pretrain`` output, whose pretrained pair embedder is used. A plain Hugging Face
encoder has no trained pair embedder; its pair embedding uses the seeded, untrained one.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.multiclass import OneVsRestClassifier

from ccre.config import EncoderConfig, ModelConfig
from ccre.data.documents import Document
from ccre.data.labels import LabelSpace
from ccre.errors import ConfigError
from ccre.evaluation.scoring import Scheme, score_predictions
from ccre.inference.predictor import relations_from_decisions
from ccre.inference.scorers import centroid_scores, knn_scores
from ccre.modeling.checkpoint import read_manifest
from ccre.modeling.embedding import embed_encoded, embed_labelled
from ccre.modeling.memory import EmbeddingMemory
from ccre.modeling.relation_model import RelationModel
from ccre.utils.runtime import (
    Precision,
    ResolvedPrecision,
    pick_device,
    seeded,
)


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


def load_for_embedding(
    name_or_path: str | Path, space: LabelSpace, seed: int = 13, device: str | None = None,
    fresh_pair_embedder: bool = False, encoder: EncoderConfig | None = None,
) -> RelationModel:
    """A trained checkpoint as it is, or a fresh model on an encoder (seeded, so repeatable), encoding as
    ``encoder`` says (markers, windows; its ``name`` is replaced by ``name_or_path``);
    ``fresh_pair_embedder`` leaves out the pair embedder of a ``ccre pretrain`` output (only its encoder is
    used, under a seeded, untrained pair embedder)."""
    manifest = read_manifest(name_or_path) if Path(name_or_path).is_dir() else None
    if manifest is not None and manifest.kind == "relation-model":
        if fresh_pair_embedder:
            raise ConfigError(f"{name_or_path} is a finetuned checkpoint: --fresh-pair-embedder applies to "
                              "encoders and ccre pretrain outputs")
        return RelationModel.from_pretrained(name_or_path, pick_device(device))
    encoder = (encoder or EncoderConfig()).model_copy(update={"name": str(name_or_path)})
    with seeded(seed):  # the untrained parts are repeatable, the caller's random streams untouched
        model = RelationModel.create(ModelConfig(encoder=encoder), space, pretrained_pair_embedder=not fresh_pair_embedder)
    return model.to(pick_device(device)).eval()


class ProbeOutcome(NamedTuple):
    """The metrics of each probe (``probe-softmax``, ``probe-centroid``, ``probe-knn``) and the arithmetic the
    encoder ran in (``auto`` resolved on the device used)."""

    scores: dict[str, dict]
    precision: ResolvedPrecision


def probe_encoder(
    model_name: str | Path,
    train_docs: Sequence[Document],
    test_docs: Sequence[Document],
    scheme: Scheme,
    k: int = 5,
    seed: int = 13,
    device: str | None = None,
    fresh_pair_embedder: bool = False,
    precision: Precision = "auto",
    encoder: EncoderConfig | None = None,
) -> ProbeOutcome:
    """Metrics of ``probe-softmax``, ``probe-centroid`` and ``probe-knn`` on frozen pair embeddings
    (``fresh_pair_embedder``, ``encoder``: see :func:`load_for_embedding`), the encoder run in ``precision``."""
    space = LabelSpace.from_documents(train_docs)
    model = load_for_embedding(model_name, space, seed, device, fresh_pair_embedder, encoder)
    model.precision = precision
    if model.space != space:
        model.space = space  # a checkpoint probed on other data: only its embedding is used
    _, train_h, train_targets = embed_labelled(model, train_docs, space)
    test_enc = [model.document_encoder.encode(d, space) for d in test_docs]
    test_h = embed_encoded(model, test_enc).numpy()
    decisions = probe_predictions(train_h, train_targets, test_h, k=k, multi_label=space.multi_label)
    results = {}
    for method, decided in decisions.items():
        predictions = relations_from_decisions(test_docs, test_enc, decided, decided.astype(np.float32), space)
        results[f"probe-{method}"] = score_predictions(test_docs, predictions, scheme, train=train_docs)
    return ProbeOutcome(results, model.resolved_precision)
