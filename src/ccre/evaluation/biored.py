"""BioRED evaluation: micro-averaged P/R/F1 over all documents at three levels of strictness.

Relations hold between normalized entity IDs and are undirected, so pairs are compared as
``Relation.pair`` (sorted for undirected relations), in one ID space (a ``MESH:`` prefix dropped). The levels are

* ``pair``: the entity pair has some relation (relation extraction without typing);
* ``type``: pair and relation type (the headline BioRED score);
* ``novelty``: pair, type and novelty flag.

Within a document and level every key is counted once, so duplicate predictions are neither rewarded
nor punished.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

from ccre.data.documents import Document, Relation
from ccre.data.formats.ids import concept_key
from ccre.data.labels import fact_pair
from ccre.evaluation.counts import precision_recall_f1

LEVELS = ("pair", "type", "novelty")


def _keys(relation: Relation) -> dict[str, Hashable]:
    """The comparison key of ``relation`` at each level, its entities in one ID space (``MESH:D006973`` is
    ``D006973``: :func:`ccre.data.formats.ids.concept_key`)."""
    pair = fact_pair(concept_key(relation.head), concept_key(relation.tail), relation.directed)
    return {
        "pair": pair,
        "type": (pair, relation.type),
        "novelty": (pair, relation.type, relation.novel),
    }


def _key_sets(doc: Document) -> dict[str, set[Hashable]]:
    sets: dict[str, set[Hashable]] = {level: set() for level in LEVELS}
    for relation in doc.relations:
        for level, key in _keys(relation).items():
            sets[level].add(key)
    return sets


def _by_id(docs: Sequence[Document], role: str) -> dict[str, Document]:
    index: dict[str, Document] = {}
    for doc in docs:
        if doc.id in index:
            raise ValueError(f"{role} documents contain document {doc.id!r} twice")
        index[doc.id] = doc
    return index


def biored_scores(gold: Sequence[Document], pred: Sequence[Document]) -> dict[str, dict[str, float | int]]:
    """Score predicted against gold relations, matching documents by ``Document.id``.

    A gold document missing from ``pred`` counts as one with no predictions (its relations are false
    negatives). A predicted document absent from ``gold`` is a mistake in the caller's pairing of files
    and raises ``ValueError``.

    Returns ``{level: {"p", "r", "f1", "tp", "fp", "fn"}}`` for each level in :data:`LEVELS`.
    """
    gold_by_id = _by_id(gold, "gold")
    pred_by_id = _by_id(pred, "predicted")
    unknown = [doc_id for doc_id in pred_by_id if doc_id not in gold_by_id]
    if unknown:
        raise ValueError(f"predicted document {unknown[0]!r} is not among the gold documents ({len(unknown)} unknown)")

    counts = {level: {"tp": 0, "fp": 0, "fn": 0} for level in LEVELS}
    for doc_id, gold_doc in gold_by_id.items():
        gold_sets = _key_sets(gold_doc)
        pred_doc = pred_by_id.get(doc_id)
        pred_sets = _key_sets(pred_doc) if pred_doc is not None else {level: set() for level in LEVELS}
        for level in LEVELS:
            tp = len(gold_sets[level] & pred_sets[level])
            counts[level]["tp"] += tp
            counts[level]["fp"] += len(pred_sets[level]) - tp
            counts[level]["fn"] += len(gold_sets[level]) - tp

    scores: dict[str, dict[str, float | int]] = {}
    for level, c in counts.items():
        p, r, f1 = precision_recall_f1(c["tp"], c["tp"] + c["fp"], c["tp"] + c["fn"])
        scores[level] = {"p": p, "r": r, "f1": f1, **c}
    return scores
