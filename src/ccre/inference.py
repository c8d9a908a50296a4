"""Prediction: documents -> candidate pairs -> relations with scores (and BioRED novelty)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ccre.documents import Document, Relation
from ccre.model import RelationModel
from ccre.progress import progress_bar


@dataclass(frozen=True)
class PredictedRelation:
    """A predicted relation between two entities (by ``Entity.id``) with its probability."""

    head: str
    tail: str
    type: str
    score: float
    directed: bool
    novel: bool | None = None

    def to_relation(self) -> Relation:
        return Relation(self.head, self.tail, self.type, directed=self.directed, novel=self.novel)


class Predictor:
    """Runs a trained :class:`RelationModel` over documents in length-sorted batches."""

    def __init__(self, model: RelationModel, batch_size: int = 8) -> None:
        self.model = model.eval()
        self.batch_size = batch_size

    def predict(self, docs: Sequence[Document], show_progress: bool = False) -> list[list[PredictedRelation]]:
        """Predicted relations of each document, in the order given."""
        results: list[list[PredictedRelation]] = [[] for _ in docs]
        encoded = {i: self.model.document_encoder.encode(d, self.model.space) for i, d in enumerate(docs)}
        todo = sorted((i for i, e in encoded.items() if len(e.pairs)), key=lambda i: len(encoded[i]))
        with progress_bar(show_progress) as progress, torch.inference_mode():
            task = progress.add_task("predicting", total=len(todo))
            for chunk in _chunks(todo, self.batch_size):
                batch = self.model.collate([encoded[i] for i in chunk]).to(self.model.device)
                decisions, scores, novelty = self.model.predict(batch)
                self._collect(chunk, docs, encoded, batch.pair_doc, decisions, scores, novelty, results)
                progress.update(task, advance=len(chunk))
        return results

    def _collect(self, chunk, docs, encoded, pair_doc, decisions, scores, novelty, results) -> None:
        space = self.model.space
        probs = self.model.objective.probabilities(scores).cpu().numpy()
        decided = decisions.cpu().numpy()
        nov = novelty.float().cpu().numpy() if novelty is not None else None
        pair_doc = pair_doc.cpu().numpy()
        rows, labels = np.nonzero(decided[:, 1:])
        for row, label in zip(rows, labels + 1):
            d = chunk[pair_doc[row]]
            local = row - np.searchsorted(pair_doc, pair_doc[row])
            h, t = encoded[d].pairs[local]
            ents = docs[d].entities
            results[d].append(
                PredictedRelation(
                    head=ents[h].id,
                    tail=ents[t].id,
                    type=space.labels[label],
                    score=float(probs[row, label]),
                    directed=space.directed,
                    novel=bool(nov[row] >= 0.5) if nov is not None else None,
                )
            )


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for s in range(0, len(items), size):
        yield items[s : s + size]


def with_predictions(docs: Sequence[Document], predictions: Sequence[Sequence[PredictedRelation]]) -> list[Document]:
    """Copies of ``docs`` whose relations are the predicted ones."""
    return [
        dataclasses.replace(d, relations=[p.to_relation() for p in preds]) for d, preds in zip(docs, predictions)
    ]


def docred_result_list(
    docs: Sequence[Document], predictions: Sequence[Sequence[PredictedRelation]]
) -> list[dict]:
    """The official DocRED result format: ``{title, h_idx, t_idx, r, score}`` per predicted fact."""
    return [
        {"title": d.id, "h_idx": int(p.head), "t_idx": int(p.tail), "r": p.type, "score": round(p.score, 6)}
        for d, preds in zip(docs, predictions)
        for p in preds
    ]
