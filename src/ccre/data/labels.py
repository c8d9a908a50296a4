"""The relation label space and the candidate entity pairs of a document.

Label index 0 is always ``NO_RELATION``. Candidates are all ordered pairs of distinct entities for directed
data (DocRED) and unordered pairs of distinct concepts for undirected data (BioRED).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ccre.data.documents import Document, Relation
from ccre.errors import CcreError

NO_RELATION = "no-relation"


@dataclass(frozen=True)
class LabelSpace:
    """Relation types (index 0 is no-relation) and the shape of the task.

    Attributes:
        labels: ``[NO_RELATION, *relation types]``.
        directed: relations hold for ordered pairs (DocRED) or unordered ones (BioRED).
        multi_label: a pair can hold several relations at once (DocRED), decided by adaptive threshold.
        novelty: the data carries BioRED's novelty flag, so a novelty head is trained.
        entity_types: the entity types of the training documents, sorted (what a type embedding is indexed by;
            a type they never showed is :meth:`type_index` ``len(entity_types)``).
    """

    labels: tuple[str, ...]
    directed: bool
    multi_label: bool
    novelty: bool
    entity_types: tuple[str, ...] = ()

    @classmethod
    def from_documents(cls, docs: Sequence[Document]) -> LabelSpace:
        relations = [r for d in docs for r in d.relations]
        if not relations:
            raise CcreError("the training documents hold no relations: nothing to learn from")
        per_pair: dict[tuple[str, tuple[str, str]], int] = {}
        for d in docs:
            for r in d.relations:
                per_pair[(d.id, r.pair)] = per_pair.get((d.id, r.pair), 0) + 1
        return cls(
            labels=(NO_RELATION, *sorted({r.type for r in relations})),
            directed=any(r.directed for r in relations),
            multi_label=max(per_pair.values()) > 1,
            novelty=any(r.novel is not None for r in relations),
            entity_types=tuple(sorted({e.type for d in docs for e in d.entities})),
        )

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def index(self, label: str) -> int:
        try:
            return self._index[label]
        except KeyError:
            raise CcreError(
                f"relation type {label!r} is not in the trained label set ({', '.join(self.labels[1:])})"
            ) from None

    @property
    def _index(self) -> dict[str, int]:
        return {label: i for i, label in enumerate(self.labels)}

    def type_indices(self, types: Sequence[str]) -> np.ndarray:
        """Each entity type's position in :attr:`entity_types`; ``len(entity_types)`` for one they never showed."""
        known = {t: i for i, t in enumerate(self.entity_types)}
        return np.array([known.get(t, len(self.entity_types)) for t in types], dtype=np.int64)

    def save(self, path: str | Path) -> None:
        from ccre.utils.io import atomic_write_json

        atomic_write_json(path, {"labels": list(self.labels), "directed": self.directed,
                                 "multi_label": self.multi_label, "novelty": self.novelty,
                                 "entity_types": list(self.entity_types)})

    @classmethod
    def load(cls, path: str | Path) -> LabelSpace:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        return cls(tuple(raw["labels"]), raw["directed"], raw["multi_label"], raw["novelty"],
                   tuple(raw.get("entity_types", ())))


def candidate_pairs(doc: Document, directed: bool) -> np.ndarray:
    """Entity index pairs ``(P, 2)`` to classify: ordered pairs when directed, ``i < j`` otherwise."""
    n = len(doc.entities)
    heads, tails = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    keep = heads != tails if directed else heads < tails
    return np.stack([heads[keep], tails[keep]], axis=1).astype(np.int64)


def pair_targets(
    doc: Document, pairs: np.ndarray, space: LabelSpace, *, strict: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-hot relation targets ``(P, C)`` (column 0 set when no relation) and novelty ``(P,)``.

    Novelty is 1 for a novel relation, 0 for a known one, -1 where it does not apply. With ``strict``
    an unknown relation type raises; otherwise it is ignored (a test document may hold types the few
    training documents never showed).
    """
    index = doc.entity_index()
    row = {(int(h), int(t)): i for i, (h, t) in enumerate(pairs)}
    targets = np.zeros((len(pairs), space.num_labels), dtype=np.float32)
    novelty = np.full(len(pairs), -1, dtype=np.int64)
    for rel in doc.relations:
        key = _pair_key(rel, index, space.directed)
        if key is None or key not in row:
            continue
        if rel.type not in space.labels and not strict:
            continue
        targets[row[key], space.index(rel.type)] = 1.0
        if rel.novel is not None:
            novelty[row[key]] = int(rel.novel)
    targets[:, 0] = targets[:, 1:].sum(axis=1) == 0
    return targets, novelty


def _pair_key(rel: Relation, index: dict[str, int], directed: bool) -> tuple[int, int] | None:
    h, t = index.get(rel.head), index.get(rel.tail)
    if h is None or t is None or h == t:
        return None
    return (h, t) if directed or h < t else (t, h)


def fact_pair(head: str, tail: str, directed: bool) -> tuple[str, str]:
    """An entity pair as a relation fact names it: ordered when directed, sorted when not (:attr:`Relation.pair`)."""
    return (head, tail) if directed or head <= tail else (tail, head)


def gold_facts(docs: Sequence[Document]) -> set[tuple[int, tuple[str, str], str]]:
    """Every relation fact ``(document index, entity pair, relation type)`` of ``docs``: what pair+type micro
    F1 counts."""
    return {(d, r.pair, r.type) for d, doc in enumerate(docs) for r in doc.relations}
