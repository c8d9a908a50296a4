"""The official DocRED scorer (``evaluation.py`` of thunlp/DocRED), on in-memory documents.

Gold facts are ``(title, h_idx, t_idx, r)``; documents are identified by their DocRED title, which is
``Document.title`` (or ``Document.id`` when the title is empty). As in the official code:

* predictions are de-duplicated on ``(title, h_idx, t_idx, r)`` (after sorting on that key);
* a prediction whose title is not a gold document can never be correct but still counts in the
  precision denominator (the official loop skips it after the submission length is fixed);
* Ign F1 discounts correct predictions whose fact already appears in the training data, compared by
  mention *names*: a correct fact is "in train" if some (head mention name, tail mention name, r) is
  one of the training facts.

Unlike the official script, empty predictions or an empty gold set give 0 instead of dividing by zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ccre.data.documents import Document, Entity
from ccre.evaluation.counts import f1_score

Fact = tuple[str, int, int, str]


def _title(doc: Document) -> str:
    return doc.title or doc.id


def _mention_names(doc: Document, entity: Entity) -> list[str]:
    """DocRED's ``name`` of every mention of ``entity`` (the mention text when it has no name)."""
    return [m.name if m.name is not None else m.text for m in doc.entity_mentions(entity)]


def train_facts(train: Sequence[Document]) -> set[tuple[str, str, str]]:
    """``(head name, tail name, r)`` for every training relation and every pair of its mention names."""
    facts: set[tuple[str, str, str]] = set()
    for doc in train:
        index = doc.entity_index()
        for rel in doc.relations:
            heads = _mention_names(doc, doc.entities[index[rel.head]])
            tails = _mention_names(doc, doc.entities[index[rel.tail]])
            facts.update((n1, n2, rel.type) for n1 in heads for n2 in tails)
    return facts


def docred_scores(
    gold: Sequence[Document],
    pred: Iterable[Mapping],
    train: Sequence[Document] | None = None,
) -> dict[str, float | int]:
    """Score DocRED-style predictions ``{"title", "h_idx", "t_idx", "r"}`` against gold documents.

    ``train`` holds the training documents for Ign F1; without it Ign F1 equals F1.
    Returns ``{"p", "r", "f1", "ign_f1", "tp", "n_pred", "n_gold"}`` where ``n_pred`` counts the
    de-duplicated predictions and ``n_gold`` the distinct gold facts.
    """
    docs: dict[str, Document] = {}
    gold_facts: set[Fact] = set()
    for doc in gold:
        title = _title(doc)
        if title in docs:
            raise ValueError(f"gold documents contain title {title!r} twice")
        docs[title] = doc
        gold_facts.update((title, int(rel.head), int(rel.tail), rel.type) for rel in doc.relations)

    predictions = sorted({(str(x["title"]), int(x["h_idx"]), int(x["t_idx"]), str(x["r"])) for x in pred})
    in_train = train_facts(train) if train is not None else set()

    correct = correct_in_train = 0
    for fact in predictions:
        if fact not in gold_facts:
            continue
        correct += 1
        title, h_idx, t_idx, r = fact
        doc = docs[title]
        index = doc.entity_index()
        heads = _mention_names(doc, doc.entities[index[str(h_idx)]])
        tails = _mention_names(doc, doc.entities[index[str(t_idx)]])
        if any((n1, n2, r) in in_train for n1 in heads for n2 in tails):
            correct_in_train += 1

    n_pred, n_gold = len(predictions), len(gold_facts)
    p = correct / n_pred if n_pred else 0.0
    r = correct / n_gold if n_gold else 0.0
    ign_denominator = n_pred - correct_in_train
    p_ign = (correct - correct_in_train) / ign_denominator if ign_denominator else 0.0
    return {
        "p": p,
        "r": r,
        "f1": f1_score(p, r),
        "ign_f1": f1_score(p_ign, r),
        "tp": correct,
        "n_pred": n_pred,
        "n_gold": n_gold,
    }
