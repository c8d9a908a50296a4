"""What an embedding's neighbourhoods hold: why kNN does well or badly on it, and whether pretraining
learned its own task.

- :func:`neighbour_statistics`: what the k nearest neighbours of relation-bearing pairs are (same relation,
  no relation, same document).
- :func:`same_pair_retrieval`: whether the same entity pair in other documents is an instance's nearest
  neighbour, the task of L_mtb: did pretraining learn it, and does it carry over to unseen documents.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ccre.modeling.memory import EmbeddingMemory


def neighbour_statistics(
    train_h: np.ndarray,
    train_targets: np.ndarray,
    train_docs: np.ndarray,
    k: int = 5,
    query_h: np.ndarray | None = None,
    query_targets: np.ndarray | None = None,
    train_groups: np.ndarray | None = None,
    query_groups: np.ndarray | None = None,
) -> dict[str, float]:
    """Where the ``k`` most cosine-similar train pairs of each relation-bearing query pair come from.

    Targets are multi-hot ``(N, C)`` with column 0 = no relation. Without queries the train pairs query
    each other, leaving each one out of its own neighbourhood, and ``train_docs`` ``(N,)`` (a document
    index per pair) adds how many neighbours come from the query's own document. Returns means over the
    queries that hold a relation: ``relation_match`` (fraction of neighbours sharing one of its relations),
    ``no_relation`` (fraction of neighbours holding none), and for train queries ``same_doc`` with
    ``same_doc_chance`` (the fraction a random neighbourhood would have) and ``queries``. With
    ``train_groups`` (and ``query_groups`` for outside queries), one label per pair such as its entity types,
    ``same_group`` is the fraction of neighbours in the query's group.
    """
    leave_one_out = query_h is None
    if leave_one_out:
        query_h, query_targets, query_groups = train_h, train_targets, train_groups
    train_targets = np.asarray(train_targets) > 0
    query_targets = np.asarray(query_targets) > 0
    memory = EmbeddingMemory(train_h.shape[1], train_targets.shape[1])
    memory.add(np.asarray(train_h, dtype=np.float32), train_targets.astype(np.float32))
    queries = np.flatnonzero(query_targets[:, 1:].any(axis=1))
    if len(queries) == 0:
        raise ValueError("no query pair holds a relation")
    _, idx = memory.search(np.asarray(query_h, dtype=np.float32)[queries], k + leave_one_out)
    if leave_one_out:  # drop the query itself (not always first when embeddings coincide)
        idx = np.stack([row[row != q][:k] for row, q in zip(idx, queries)])
    rel = query_targets[queries, 1:]
    neigh = train_targets[idx, 1:]  # (Q, k, C-1)
    stats = {
        "relation_match": float((neigh & rel[:, None, :]).any(axis=2).mean()),
        "no_relation": float((~neigh.any(axis=2)).mean()),
        "queries": int(len(queries)),
    }
    if train_groups is not None:
        stats["same_group"] = float((np.asarray(train_groups)[idx] == np.asarray(query_groups)[queries, None]).mean())
    if leave_one_out:
        docs = np.asarray(train_docs)
        sizes = np.bincount(docs)
        stats["same_doc"] = float((docs[idx] == docs[queries, None]).mean())
        stats["same_doc_chance"] = float(((sizes[docs[queries]] - 1) / (len(docs) - 1)).mean())
    return stats


def same_pair_retrieval(h: np.ndarray, keys: Sequence[Sequence], docs: np.ndarray) -> dict[str, float]:
    """How well embeddings ``h`` ``(N, D)`` find the same entity pair in other documents (what L_mtb trains).

    ``keys[i]`` are instance ``i``'s pair keys (two instances are the same pair when they share one) and
    ``docs`` ``(N,)`` its document. A query is an instance with a same-pair instance in another document; its
    candidates are all instances of other documents, ranked by cosine similarity (ties in index order).
    Returns ``queries``, ``candidates_per_query``, ``recall_at_1`` (the nearest candidate is the same pair),
    ``mrr`` (mean reciprocal rank of the first same-pair candidate) and ``chance_recall_at_1`` (the mean
    fraction of a query's candidates that are the same pair).
    """
    key_ids: dict = {}
    rows, cols = [], []
    for r, ks in enumerate(keys):
        for k in ks:
            rows.append(r)
            cols.append(key_ids.setdefault(k, len(key_ids)))
    member = np.zeros((len(keys), len(key_ids)), dtype=np.float32)
    member[rows, cols] = 1.0
    docs = np.asarray(docs)
    other = docs[:, None] != docs[None, :]
    same = ((member @ member.T) > 0) & other
    queries = np.flatnonzero(same.any(axis=1))
    if len(queries) == 0:
        raise ValueError("no instance has the same pair in another document")
    hn = np.asarray(h, dtype=np.float64)
    hn = hn / np.linalg.norm(hn, axis=1, keepdims=True)
    sim = np.where(other[queries], hn[queries] @ hn.T, -np.inf)
    order = np.argsort(-sim, axis=1, kind="stable")
    hits = np.take_along_axis(same[queries], order, axis=1)
    return {
        "queries": int(len(queries)),
        "candidates_per_query": float(other[queries].sum(axis=1).mean()),
        "recall_at_1": float(hits[:, 0].mean()),
        "mrr": float((1.0 / (1 + hits.argmax(axis=1))).mean()),
        "chance_recall_at_1": float((same[queries].sum(axis=1) / other[queries].sum(axis=1)).mean()),
    }
