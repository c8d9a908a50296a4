"""The Python API in five calls: read documents, train, load a saved model, predict, evaluate.

Each call is the library function the command line uses, with defaults a notebook user expects (no progress
bars unless asked, the device picked for you)::

    from ccre import CcreConfig, evaluate, load_model, predict, read_documents, train

    model = train(read_documents("Train.PubTator")[:20])
    predictions = predict(model, test_docs)
    evaluate(test_docs, predictions)["type"]["f1"]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ccre.config import CcreConfig
from ccre.data.documents import Document
from ccre.evaluation.scoring import Scheme, score_predictions
from ccre.inference.predictor import PredictedRelation, Predictor
from ccre.modeling.relation_model import RelationModel
from ccre.training.finetune import train_model
from ccre.utils.runtime import pick_device


def train(
    documents: Sequence[Document], config: CcreConfig | None = None, *, device: str | None = None,
    show_progress: bool = False,
) -> RelationModel:
    """A relation model trained on the labelled ``documents`` (all of them: ``config.data`` is for commands that
    read files) with ``config`` (default: :class:`CcreConfig`'s defaults)."""
    return train_model(config or CcreConfig(), documents, device=device, show_progress=show_progress)


def load_model(path: str | Path, device: str | None = None) -> RelationModel:
    """A model saved by ``model.save_pretrained(path)`` or ``ccre train --output path``."""
    return RelationModel.from_pretrained(path, pick_device(device))


def predict(
    model: RelationModel, documents: Sequence[Document], *, explain: int = 0, batch_size: int = 8,
    show_progress: bool = False,
) -> list[list[PredictedRelation]]:
    """The predicted relations of each document, in order; ``explain=k`` attaches to each prediction its ``k``
    nearest labelled training instances (``PredictedRelation.neighbours``)."""
    return Predictor(model, batch_size, explain_k=explain).predict(documents, show_progress=show_progress)


def evaluate(
    gold: Sequence[Document], predictions: Sequence[Sequence[PredictedRelation]], *,
    train_documents: Sequence[Document] | None = None, scheme: Scheme | None = None,
) -> dict:
    """Scores of ``predictions`` against the relations of ``gold``: BioRED's pair / type / novelty levels for
    undirected data, DocRED's F1 and Ign F1 (which leaves out facts of ``train_documents``) for directed data,
    unless ``scheme`` says which."""
    if scheme is None:
        directed = any(r.directed for d in gold for r in d.relations)
        scheme = "docred" if directed else "biored"
    return score_predictions(gold, predictions, scheme, train=train_documents)
