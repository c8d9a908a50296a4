"""Prediction: documents -> candidate pairs -> relations with scores, BioRED novelty and, on request,
explanations (the nearest labelled training instances of each prediction)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ccre.data.documents import Document, Relation
from ccre.data.labels import LabelSpace
from ccre.encoding.markers import EncodedDocument
from ccre.errors import CcreError
from ccre.modeling.memory import SCORE_BUDGET, EmbeddingMemory
from ccre.modeling.relation_model import RelationModel
from ccre.utils.progress import progress_bar


@dataclass(frozen=True)
class Neighbour:
    """A labelled training instance close to a prediction: why the model said what it said."""

    doc_id: str
    head: str
    tail: str
    relations: tuple[str, ...]
    similarity: float


@dataclass(frozen=True)
class PredictedRelation:
    """A predicted relation between two entities (by ``Entity.id``) with its probability."""

    head: str
    tail: str
    type: str
    score: float
    directed: bool
    novel: bool | None = None
    neighbours: tuple[Neighbour, ...] = ()

    def to_relation(self) -> Relation:
        return Relation(self.head, self.tail, self.type, directed=self.directed, novel=self.novel)


def relations_from_decisions(
    docs: Sequence[Document],
    encoded: Sequence[EncodedDocument],
    decided: np.ndarray,
    probs: np.ndarray,
    space: LabelSpace,
    novelty: np.ndarray | None = None,
    neighbours: dict[int, tuple[Neighbour, ...]] | None = None,
) -> list[list[PredictedRelation]]:
    """Per document, the relations set in ``decided`` ``(P, C)``, whose rows are the candidate pairs of
    ``encoded`` concatenated in order (no-relation, column 0, is never reported)."""
    first = np.concatenate([[0], np.cumsum([len(e.pairs) for e in encoded])])
    results: list[list[PredictedRelation]] = [[] for _ in docs]
    rows, labels = np.nonzero(decided[:, 1:])
    for row, label in zip(rows.tolist(), (labels + 1).tolist()):
        d = int(np.searchsorted(first, row, side="right") - 1)
        h, t = encoded[d].pairs[row - first[d]]
        ents = docs[d].entities
        results[d].append(
            PredictedRelation(
                head=ents[h].id,
                tail=ents[t].id,
                type=space.labels[label],
                score=float(probs[row, label]),
                directed=space.directed,
                novel=bool(novelty[row] >= 0.5) if novelty is not None else None,
                neighbours=neighbours.get(row, ()) if neighbours else (),
            )
        )
    return results


def nearest_training_instances(
    memory: EmbeddingMemory, h: torch.Tensor, rows: Sequence[int], space: LabelSpace, k: int
) -> dict[int, tuple[Neighbour, ...]]:
    """The ``k`` most similar memory entries of the pair embeddings ``h[rows]``."""
    if not rows:
        return {}
    sims, idx = memory.search(h[list(rows)].float().cpu().numpy(), k)
    meta, targets = memory.meta, memory.targets
    out = {}
    for row, s_row, i_row in zip(rows, sims, idx):
        out[row] = tuple(
            Neighbour(
                meta[i].doc_id, meta[i].head, meta[i].tail,
                tuple(space.labels[c] for c in np.flatnonzero(targets[i])), round(float(s), 4),
            )
            for s, i in zip(s_row, i_row)
            if i >= 0
        )
    return out


PAIR_CHUNK = 4096


def scoring_chunk(model: RelationModel, pair_chunk: int = PAIR_CHUNK) -> int:
    """Pairs to score at once: ``pair_chunk``, fewer when a contrastive objective scores each pair against a
    large memory (at most ``SCORE_BUDGET`` similarities at once)."""
    if model.objective.uses_memory and model.memory is not None and len(model.memory):
        return max(1, min(pair_chunk, SCORE_BUDGET // len(model.memory)))
    return pair_chunk


class Predictor:
    """Runs a trained :class:`RelationModel` over documents in length-sorted batches.

    Each batch goes through the encoder once; its candidate pairs are then embedded and scored
    ``pair_chunk`` at a time, so a document with hundreds of entities (tens of thousands of pairs) needs
    memory for ``pair_chunk`` pair embeddings and scores, not for all of them (fewer at a time when a
    contrastive objective scores against a large memory: at most ``SCORE_BUDGET`` similarities at once). ``explain_k > 0`` attaches
    to every predicted relation its ``explain_k`` nearest training instances from the model's memory.
    """

    def __init__(
        self, model: RelationModel, batch_size: int = 8, explain_k: int = 0, pair_chunk: int = PAIR_CHUNK
    ) -> None:
        if explain_k and model.memory is None:
            raise CcreError("this checkpoint has no memory of training instances to explain predictions with")
        if pair_chunk < 1:
            raise ValueError("pair_chunk must be at least 1")
        self.model = model.eval()
        self.batch_size = batch_size
        self.explain_k = explain_k
        self.pair_chunk = pair_chunk

    def predict(self, docs: Sequence[Document], show_progress: bool = False,
                encoded: Sequence[EncodedDocument] | None = None) -> list[list[PredictedRelation]]:
        """Predicted relations of each document, in the order given. Documents with fewer than two
        entities have no candidate pair and get no prediction. ``encoded``: the documents as the model's
        document encoder encodes them, when the caller already has them (scoring the same documents again)."""
        results: list[list[PredictedRelation]] = [[] for _ in docs]
        if encoded is None:
            encoded = [self.model.document_encoder.encode(d, self.model.space) for d in docs]
        todo = sorted((i for i, e in enumerate(encoded) if len(e.pairs)), key=lambda i: len(encoded[i]))
        with progress_bar(show_progress) as progress, torch.inference_mode():
            task = progress.add_task("predicting", total=len(todo))
            for chunk in _chunks(todo, self.batch_size):
                for i, relations in zip(chunk, self._predict_chunk([docs[i] for i in chunk], [encoded[i] for i in chunk])):
                    results[i] = relations
                progress.update(task, advance=len(chunk))
        return results

    def _predict_chunk(self, docs: list[Document], encoded: list[EncodedDocument]) -> list[list[PredictedRelation]]:
        model = self.model
        batch = model.collate(encoded).to(model.device)
        entities = model.encode_entities(batch)  # the one encoder pass of this batch
        heads, tails = batch.pair_heads, batch.pair_tails
        num_pairs = int(heads.shape[0])
        step = scoring_chunk(model, self.pair_chunk)
        decided = np.zeros((num_pairs, model.space.num_labels), dtype=bool)
        probs = np.zeros((num_pairs, model.space.num_labels), dtype=np.float32)
        novelty = np.zeros(num_pairs, dtype=np.float32) if model.novelty_head is not None else None
        neighbours: dict[int, tuple[Neighbour, ...]] | None = {} if self.explain_k else None
        for s in range(0, num_pairs, step):
            e = min(s + step, num_pairs)
            h = model.pair_embeddings(entities, heads[s:e], tails[s:e])
            scores = model.objective.scores(h)
            decided[s:e] = model.objective.decide(scores).cpu().numpy()
            probs[s:e] = model.objective.probabilities(scores).float().cpu().numpy()
            if novelty is not None:
                novelty[s:e] = torch.sigmoid(model.novelty_head(h).squeeze(-1)).float().cpu().numpy()
            if neighbours is not None:
                rows = sorted(set(np.nonzero(decided[s:e, 1:])[0].tolist()))
                found = nearest_training_instances(model.memory, h, rows, model.space, self.explain_k)
                neighbours.update({s + r: n for r, n in found.items()})
            del h, scores
        return relations_from_decisions(docs, encoded, decided, probs, model.space, novelty, neighbours)


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


def explanations(docs: Sequence[Document], predictions: Sequence[Sequence[PredictedRelation]]) -> list[dict]:
    """One JSON-ready record per predicted relation with its nearest training instances."""
    return [
        {
            "doc": d.id, "head": p.head, "tail": p.tail, "relation": p.type, "score": round(p.score, 6),
            "neighbours": [dataclasses.asdict(n) for n in p.neighbours],
        }
        for d, preds in zip(docs, predictions)
        for p in preds
    ]
