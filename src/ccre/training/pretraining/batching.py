"""Batches of documents that hold a positive for every anchor (the "miner" of pretraining, apart from the losses).

A batch is a list of :class:`BatchItem`: a document and the instances of it that take part. Guarantee: every
instance in a batch that has a positive anywhere in the corpus has at least one positive in another
document of the same batch. Instances without any positive in the corpus take part too (as negatives and
for L_self); an instance whose positives did not fit in this batch is left out of it (it is an anchor in
the batch of another document that holds its partner).

Per epoch, documents are visited in a seeded random order; each unused document seeds a batch, which grows
by following the seed's (then the partners') shared pair keys to partner documents, unused ones first,
until ``batch_size`` documents are in. Every document seeds or joins at least one batch per epoch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ccre.training.pretraining.corpus import PretrainCorpus


@dataclass(frozen=True)
class BatchItem:
    """One document of a batch (index into ``corpus.documents``) and its participating instances."""

    doc: int
    instances: tuple[int, ...]


def _grow(corpus: PretrainCorpus, batch: list[int], in_batch: set[int], used: set[int], batch_size: int,
          rng: np.random.Generator) -> None:
    """Add partner documents along shared keys, breadth first from the documents already in ``batch``."""
    frontier = 0
    while frontier < len(batch) and len(batch) < batch_size:
        d = batch[frontier]
        frontier += 1
        own = corpus.doc_instances[d]
        for i in (own[k] for k in rng.permutation(len(own))):
            if len(batch) >= batch_size:
                return
            if not corpus.has_positive(i):
                continue
            partners = {corpus.instances[j].doc for j in corpus.positives(i)}
            if partners & in_batch:
                continue
            fresh = sorted(partners - used)
            pool = fresh or sorted(partners)
            p = pool[int(rng.integers(len(pool)))]
            batch.append(p)
            in_batch.add(p)
            used.add(p)


def select_instances(corpus: PretrainCorpus, docs: list[int]) -> list[BatchItem]:
    """The items of a batch of documents: instances with a positive in another document of the batch, or
    with no positive anywhere. Documents left with no instance are dropped."""
    in_batch = set(docs)
    items = []
    for d in docs:
        keep = []
        for i in corpus.doc_instances[d]:
            if not corpus.has_positive(i):
                keep.append(i)
            elif any(corpus.instances[j].doc in in_batch for j in corpus.positives(i)):
                keep.append(i)
        if keep:
            items.append(BatchItem(d, tuple(keep)))
    return items


def epoch_batches(corpus: PretrainCorpus, batch_size: int, seed: int, epoch: int) -> list[list[BatchItem]]:
    """One epoch of batches, reproducible from ``(seed, epoch)``."""
    rng = np.random.default_rng([seed, epoch])
    used: set[int] = set()
    batches = []
    for d in rng.permutation(len(corpus.documents)):
        d = int(d)
        if d in used:
            continue
        batch, in_batch = [d], {d}
        used.add(d)
        _grow(corpus, batch, in_batch, used, batch_size, rng)
        # room left: seed the rest of the batch from further unused documents
        while len(batch) < batch_size and len(used) < len(corpus.documents):
            rest = [x for x in range(len(corpus.documents)) if x not in used]
            e = rest[int(rng.integers(len(rest)))]
            batch.append(e)
            in_batch.add(e)
            used.add(e)
            _grow(corpus, batch, in_batch, used, batch_size, rng)
        items = select_instances(corpus, batch)
        if items:
            batches.append(items)
    return batches

