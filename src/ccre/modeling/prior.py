"""The no-text floor: a predictor that reads no text, only the entity types of a candidate pair.

For each type pair ``t`` (ordered for directed data, unordered otherwise) it counts, over the candidate pairs of
the training documents, how often each relation holds. A candidate pair of type pair ``t`` is predicted to hold
``t``'s most frequent relation ``r*(t)`` when that relation's rate ``P(r*(t) | t)`` reaches a threshold ``theta``,
chosen for micro F1 on selection documents (the training documents themselves, or a dev split). On BioRED a
prediction is called novel when most training instances of ``r*(t)`` with type pair ``t`` were.

Every trained model is read beside this floor: a model that does not beat it has learned nothing from the text.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ccre.data.documents import Document
from ccre.data.labels import (
    LabelSpace,
    candidate_pairs,
    fact_pair,
    gold_facts,
    pair_targets,
)
from ccre.errors import ConfigError
from ccre.inference.predictor import PredictedRelation
from ccre.inference.threshold import best_cutoff
from ccre.modeling.checkpoint import PARTS, require_manifest, write_model_folder
from ccre.utils.io import atomic_write_json

TypePair = tuple[str, str]


def type_pair(doc: Document, head: int, tail: int, directed: bool) -> TypePair:
    pair = (doc.entities[head].type, doc.entities[tail].type)
    return pair if directed else tuple(sorted(pair))  # type: ignore[return-value]


@dataclass
class TypePairPrior:
    """Per type pair: its most frequent relation, that relation's rate, and whether its instances are mostly
    novel; ``threshold`` is the rate from which it is predicted. ``counts`` (filled by :meth:`fit`, not saved):
    per type pair, how many of its training candidate pairs hold each label of ``space`` (column 0: none)."""

    space: LabelSpace
    relation: dict[TypePair, str] = field(default_factory=dict)
    rate: dict[TypePair, float] = field(default_factory=dict)
    novel: dict[TypePair, bool] = field(default_factory=dict)
    threshold: float = 1.0
    counts: dict[TypePair, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def fit(cls, train: Sequence[Document], select: Sequence[Document] | None = None) -> TypePairPrior:
        """Count on ``train``, then choose the threshold for micro F1 on ``select`` (default: ``train``)."""
        space = LabelSpace.from_documents(train)
        pairs: Counter[TypePair] = Counter()
        counts: dict[TypePair, np.ndarray] = defaultdict(lambda: np.zeros(space.num_labels))
        novelty: dict[tuple[TypePair, int], list[int]] = defaultdict(list)
        for doc in train:
            candidates = candidate_pairs(doc, space.directed)
            targets, novel = pair_targets(doc, candidates, space)
            for (h, t), row, nov in zip(candidates, targets, novel):
                key = type_pair(doc, int(h), int(t), space.directed)
                pairs[key] += 1
                counts[key] += row
                if nov >= 0:
                    for label in np.flatnonzero(row[1:]) + 1:
                        novelty[(key, int(label))].append(int(nov))
        prior = cls(space, counts=dict(counts))
        for key, row in prior.counts.items():
            held = np.flatnonzero(row[1:]) + 1
            if not len(held):
                continue
            count, name, label = max((row[i], space.labels[i], int(i)) for i in held)  # ties: the last name
            prior.relation[key], prior.rate[key] = name, count / pairs[key]
            votes = novelty.get((key, label))
            if votes:
                prior.novel[key] = sum(votes) * 2 > len(votes)
        prior.threshold = prior.best_threshold(select if select is not None else train)
        return prior

    def _candidates(self, docs: Sequence[Document]):
        """``(document index, head, tail, type pair)`` of every candidate pair whose type pair carries a relation."""
        for d, doc in enumerate(docs):
            for h, t in candidate_pairs(doc, self.space.directed):
                key = type_pair(doc, int(h), int(t), self.space.directed)
                if key in self.relation:
                    yield d, int(h), int(t), key

    def best_threshold(self, docs: Sequence[Document]) -> float:
        """The rate threshold with the best micro F1 (relation facts, pair and type) on ``docs``; ties go to the
        highest threshold (fewest predictions)."""
        gold = gold_facts(docs)
        if not gold:
            raise ConfigError("the documents that choose the prior's threshold hold no relation")
        rates, hits = [], []
        for d, h, t, key in self._candidates(docs):
            ents = docs[d].entities
            pair = fact_pair(ents[h].id, ents[t].id, self.space.directed)
            rates.append(self.rate[key])
            hits.append((d, pair, self.relation[key]) in gold)
        if not rates:
            return 1.0
        return best_cutoff(np.asarray(rates), np.asarray(hits), len(gold))[0]

    def predict(self, docs: Sequence[Document]) -> list[list[PredictedRelation]]:
        """Per document, the relations of its candidate pairs whose type pair's rate reaches the threshold."""
        out: list[list[PredictedRelation]] = [[] for _ in docs]
        for d, h, t, key in self._candidates(docs):
            if self.rate[key] >= self.threshold:
                ents = docs[d].entities
                out[d].append(PredictedRelation(
                    head=ents[h].id, tail=ents[t].id, type=self.relation[key], score=self.rate[key],
                    directed=self.space.directed, novel=self.novel.get(key) if self.space.novelty else None,
                ))
        return out

    def save_pretrained(self, directory: str | Path, run: dict | None = None) -> None:
        def write(folder: Path) -> None:
            self.space.save(folder / PARTS["labels"])
            atomic_write_json(folder / PARTS["prior"], {
                "threshold": self.threshold,
                "type_pairs": [{"types": list(k), "relation": self.relation[k], "rate": self.rate[k],
                                **({"novel": self.novel[k]} if k in self.novel else {})} for k in sorted(self.relation)],
            })
            if run is not None:
                atomic_write_json(folder / PARTS["run"], run)

        write_model_folder(directory, "prior", write)

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TypePairPrior:
        manifest = require_manifest(directory, "prior")
        raw = json.loads(manifest.path("prior").read_text(encoding="utf-8"))
        prior = cls(LabelSpace.load(manifest.path("labels")), threshold=float(raw["threshold"]))
        for item in raw["type_pairs"]:
            key = tuple(item["types"])
            prior.relation[key], prior.rate[key] = item["relation"], float(item["rate"])
            if "novel" in item:
                prior.novel[key] = bool(item["novel"])
        return prior
