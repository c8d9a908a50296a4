"""The pretraining corpus: entity-linked documents -> instances (linked entity pairs) with cross-document positives.

Linking key of an entity: each of its ``kb_ids`` (a PubTator composite mention already gives one entity per
component; ``HMDB:1|CHEBI:2`` gives both keys), or, when it has none and is not an unlinked mention
(DocRED vertices), its normalized name. Entities of unlinked mentions (ID ``-`` or empty) get no key.

An *instance* is an unordered pair of linked entities of one document; its keys are the sorted pairs of
their linking keys. Two instances are *positives* of each other when they share a key and come from
different documents; every other instance of a batch is a negative. Each document keeps at most
``max_pairs_per_doc`` instances, those with positives elsewhere first, so that a step stays cheap.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ccre.data.documents import Document, Entity

_UNLINKED = re.compile(r"-?:[0-9]+-[0-9]+")  # Entity.id of an unlinked PubTator/BioC mention
_SPACE = re.compile(r"\s+")

PairKey = tuple[str, str]


def normalize_text(text: str) -> str:
    """Case-folded, NFKC, whitespace-collapsed text (for names and for matching documents by content)."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def linking_keys(entity: Entity) -> tuple[str, ...]:
    """The keys that link ``entity`` across documents (empty: not linked)."""
    if entity.kb_ids:
        return tuple(sorted({k for k in entity.kb_ids if k and k != "-"}))
    if _UNLINKED.fullmatch(entity.id):
        return ()
    name = normalize_text(entity.name)
    return (f"name:{name}",) if name else ()


@dataclass(frozen=True)
class Instance:
    """One linked entity pair of a document: entity indices ``head < tail`` and its pair keys."""

    doc: int
    head: int
    tail: int
    keys: tuple[PairKey, ...]


@dataclass
class PretrainCorpus:
    """Documents, their (capped) instances and the index from pair key to instances.

    Attributes:
        documents: the documents that have at least one instance.
        instances: every kept instance; ``doc_instances[d]`` lists the indices of document ``d``'s.
        key_instances: pair key -> indices of instances with that key.
        total_instances: instances before the per-document cap.
    """

    documents: list[Document]
    instances: list[Instance]
    doc_instances: list[list[int]]
    key_instances: dict[PairKey, list[int]]
    total_instances: int
    _positive_cache: dict[int, bool] = field(default_factory=dict, repr=False)

    def key_documents(self, key: PairKey) -> set[int]:
        return {self.instances[i].doc for i in self.key_instances.get(key, ())}

    def positives(self, i: int) -> set[int]:
        """Indices of the instances (in other documents) that are positives of instance ``i``."""
        doc = self.instances[i].doc
        return {j for k in self.instances[i].keys for j in self.key_instances[k] if self.instances[j].doc != doc}

    def has_positive(self, i: int) -> bool:
        if i not in self._positive_cache:
            doc = self.instances[i].doc
            self._positive_cache[i] = any(
                self.instances[j].doc != doc for k in self.instances[i].keys for j in self.key_instances[k]
            )
        return self._positive_cache[i]


def document_pairs(doc: Document) -> list[tuple[int, int, tuple[PairKey, ...]]]:
    """Every unordered pair of linked entities of ``doc`` with its pair keys."""
    keys = [linking_keys(e) for e in doc.entities]
    linked = [i for i, k in enumerate(keys) if k]
    out = []
    for a, i in enumerate(linked):
        for j in linked[a + 1 :]:
            pk = {(x, y) if x < y else (y, x) for x in keys[i] for y in keys[j] if x != y}
            if pk:
                out.append((i, j, tuple(sorted(pk))))
    return out


def build_corpus(docs: Iterable[Document], max_pairs_per_doc: int | None = 64, seed: int = 0) -> PretrainCorpus:
    """Instances of ``docs``, capped per document (pairs with positives in other documents kept first)."""
    docs = list(docs)
    pairs = [document_pairs(d) for d in docs]
    key_docs: dict[PairKey, set[int]] = defaultdict(set)
    for d, ps in enumerate(pairs):
        for _, _, keys in ps:
            for k in keys:
                key_docs[k].add(d)
    total = sum(len(p) for p in pairs)
    rng = np.random.default_rng(seed)
    documents: list[Document] = []
    instances: list[Instance] = []
    doc_instances: list[list[int]] = []
    for d, ps in enumerate(pairs):
        if not ps:
            continue
        if max_pairs_per_doc is not None and len(ps) > max_pairs_per_doc:
            shared = [p for p in ps if any(len(key_docs[k]) > 1 for k in p[2])]
            alone = [p for p in ps if not any(len(key_docs[k]) > 1 for k in p[2])]
            order = [shared[i] for i in rng.permutation(len(shared))] + [alone[i] for i in rng.permutation(len(alone))]
            ps = sorted(order[:max_pairs_per_doc], key=lambda p: (p[0], p[1]))
        new_doc = len(documents)
        documents.append(docs[d])
        doc_instances.append([])
        for head, tail, keys in ps:
            doc_instances[-1].append(len(instances))
            instances.append(Instance(new_doc, head, tail, keys))
    key_instances: dict[PairKey, list[int]] = defaultdict(list)
    for i, inst in enumerate(instances):
        for k in inst.keys:
            key_instances[k].append(i)
    return PretrainCorpus(documents, instances, doc_instances, dict(key_instances), total)


def corpus_stats(corpus: PretrainCorpus) -> dict[str, int]:
    """Documents, instances (kept and before the cap), distinct pairs, pairs in 2+ documents, and how many
    instances have a positive in another document."""
    shared = sum(1 for k in corpus.key_instances if len(corpus.key_documents(k)) > 1)
    return {
        "documents": len(corpus.documents),
        "instances": len(corpus.instances),
        "instances_before_cap": corpus.total_instances,
        "distinct_pairs": len(corpus.key_instances),
        "pairs_in_2plus_documents": shared,
        "instances_with_positives": sum(1 for i in range(len(corpus.instances)) if corpus.has_positive(i)),
    }


def document_fingerprints(doc: Document) -> tuple[str, str]:
    """What identifies a document across files: its id and its normalized title + text."""
    text = doc.text if not doc.title or doc.text.startswith(doc.title) else f"{doc.title} {doc.text}"
    return doc.id, normalize_text(text)


def exclude_documents(docs: Sequence[Document], excluded: Iterable[Document]) -> tuple[list[Document], int]:
    """``docs`` without every document that also appears in ``excluded`` (same id, or same normalized
    title + text when ids differ); returns the kept documents and how many were dropped."""
    ids, texts = set(), set()
    for d in excluded:
        i, t = document_fingerprints(d)
        ids.add(i)
        texts.add(t)
    kept = []
    for d in docs:
        i, t = document_fingerprints(d)
        if i not in ids and t not in texts:
            kept.append(d)
    return kept, len(docs) - len(kept)


def deduplicate(docs: Sequence[Document]) -> tuple[list[Document], int]:
    """The first of every set of documents with the same id or content (inputs may overlap)."""
    seen_ids, seen_texts, kept = set(), set(), []
    for d in docs:
        i, t = document_fingerprints(d)
        if i in seen_ids or t in seen_texts:
            continue
        seen_ids.add(i)
        seen_texts.add(t)
        kept.append(d)
    return kept, len(docs) - len(kept)
