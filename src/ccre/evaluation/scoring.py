"""Scoring predictions with the metric each data set defines (BioRED levels, or DocRED F1 / Ign F1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from ccre.data.documents import Document
from ccre.evaluation.biored import biored_scores
from ccre.evaluation.docred import docred_scores
from ccre.inference.predictor import (
    PredictedRelation,
    docred_result_list,
    with_predictions,
)

Scheme = Literal["biored", "docred"]


def scheme_for_format(fmt: str) -> Scheme:
    """DocRED JSON is scored with the DocRED scorer; PubTator and BioC with BioRED's three levels."""
    return "docred" if fmt == "docred" else "biored"


def score_predictions(
    gold: Sequence[Document],
    predictions: Sequence[Sequence[PredictedRelation]],
    scheme: Scheme,
    train: Sequence[Document] | None = None,
) -> dict:
    """The ``ccre evaluate --json`` object for in-process predictions on ``gold``'s documents."""
    if scheme == "docred":
        return docred_scores(gold, docred_result_list(gold, predictions), train)
    return biored_scores(gold, with_predictions(gold, predictions))


def score_files(
    gold: Sequence[Document],
    pred: Sequence[Document] | Sequence[Mapping],
    scheme: Scheme,
    train: Sequence[Document] | None = None,
) -> dict:
    """Score predictions read from a file: documents (BioRED) or a DocRED result list."""
    if scheme == "docred":
        return docred_scores(gold, pred, train)  # type: ignore[arg-type]
    return biored_scores(gold, pred)  # type: ignore[arg-type]


def headline(metrics: Mapping) -> float:
    """The figure a table leads with: pair+type F1 for BioRED, F1 for DocRED."""
    return float(metrics["type"]["f1"]) if "type" in metrics else float(metrics["f1"])
