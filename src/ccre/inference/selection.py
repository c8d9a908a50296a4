"""What is chosen on dev documents (never on test): the no-relation cut-off of a single-label classifier, and
the dev score by which training keeps its best weights."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ccre.data.documents import Document
from ccre.data.labels import fact_pair, gold_facts
from ccre.encoding.markers import EncodedDocument
from ccre.evaluation.counts import precision_recall_f1
from ccre.inference.predictor import Predictor
from ccre.inference.threshold import best_cutoff
from ccre.modeling.embedding import embed_encoded
from ccre.modeling.relation_model import RelationModel
from ccre.objectives.cross_entropy import relation_odds


def encode_dev(model: RelationModel, dev: Sequence[Document]) -> list[EncodedDocument]:
    """The ``dev`` documents as ``model`` encodes them for scoring (they depend on its tokenizer, markers and
    label space, not on its weights: a run that scores dev documents repeatedly encodes them once)."""
    return [model.document_encoder.encode(d, model.space) for d in dev]


@dataclass(frozen=True)
class DevCutoff:
    """A no-relation cut-off chosen on dev (:func:`choose_na_threshold`): ``theta``, the dev F1 it gives and
    that of the plain argmax decision."""

    theta: float
    f1: float
    argmax_f1: float

    def apply(self, model: RelationModel) -> dict[str, float]:
        """Set the cut-off in ``model`` (its objective and its saved configuration); returns what a result line
        records of it."""
        model.objective.na_threshold = self.theta
        model.config = model.config.with_overrides({"inference.na_threshold": self.theta})
        return {"na_threshold": round(self.theta, 6), "na_threshold_dev_f1": round(self.f1, 6),
                "argmax_dev_f1": round(self.argmax_f1, 6)}


def choose_na_threshold(
    model: RelationModel, dev: Sequence[Document], encoded: Sequence[EncodedDocument] | None = None
) -> DevCutoff:
    """The cut-off on ``P(r) / (P(r) + P(no-relation))`` (``r`` each pair's most probable relation) with the best
    pair+type micro F1 on the labelled ``dev`` documents, beside the dev F1 of the plain most-probable-class
    decision it is compared with (which predicts where the ratio exceeds 1/2). ``encoded``: the documents by
    :func:`encode_dev`, when the caller has them."""
    if encoded is None:
        encoded = encode_dev(model, dev)
    h = embed_encoded(model, encoded)
    with torch.inference_mode():
        best, ratio = relation_odds(model.objective.scores(h.to(model.device)))
    best, ratio = best.cpu().numpy(), ratio.cpu().numpy()
    gold = gold_facts(dev)
    hits, row = np.zeros(len(best), dtype=bool), 0
    for d, (doc, enc) in enumerate(zip(dev, encoded)):
        for h_idx, t_idx in enc.pairs:
            pair = fact_pair(doc.entities[h_idx].id, doc.entities[t_idx].id, model.space.directed)
            hits[row] = (d, pair, model.space.labels[best[row]]) in gold
            row += 1
    theta, f1 = best_cutoff(ratio, hits, len(gold))
    argmax = ratio > 0.5
    return DevCutoff(theta, f1, precision_recall_f1(int(hits[argmax].sum()), int(argmax.sum()), len(gold))[2])


def dev_f1(model: RelationModel, dev: Sequence[Document], encoded: Sequence[EncodedDocument] | None = None) -> float:
    """Pair+type micro F1 of ``model``'s own decisions on the labelled ``dev`` documents (a model whose cut-off
    is to be chosen on dev is scored at its best cut-off instead, :func:`choose_na_threshold`). ``encoded``: the
    documents by :func:`encode_dev`, when the caller has them."""
    predictions = Predictor(model).predict(dev, encoded=encoded)
    gold = gold_facts(dev)
    found = {(d, fact_pair(p.head, p.tail, p.directed), p.type) for d, preds in enumerate(predictions) for p in preds}
    return precision_recall_f1(len(found & gold), len(found), len(gold))[2]
