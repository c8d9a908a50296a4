"""Looking inside a model: probing frozen pair embeddings, t-SNE plots, and growing a model's memory.

- :func:`probe_encoder`: the paper's probing analysis. Freeze an encoder, embed the candidate pairs of a
  few training documents, fit a softmax classifier, nearest centroid and kNN, score each on the test
  documents with the data set's metric.
- :func:`plot_relation_embeddings`: t-SNE (or UMAP) of the pair embeddings of documents, by gold relation.
- :func:`add_to_memory`: new labelled documents join a trained model's memory without retraining.
- :func:`neighbour_statistics`: what the k nearest neighbours of relation-bearing pairs are (same relation,
  no relation, same document): why a kNN classifier does well or badly on an embedding.
- :func:`same_pair_retrieval`: whether the same entity pair in other documents is an instance's nearest
  neighbour, the task of L_mtb: did pretraining learn it, and does it carry over to unseen documents.

A model here is either a trained checkpoint (``ccre train --output``) or an encoder: a Hugging Face
name/path or a ``ccre pretrain`` output, whose pretrained pair embedder is used. A plain Hugging Face
encoder has no trained pair embedder; its pair embedding uses the seeded, untrained one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from ccre.config import CcreConfig, EncoderConfig
from ccre.documents import Document
from ccre.embedding import build_memory, embed_encoded
from ccre.encoding import EncodedDocument
from ccre.errors import ConfigError
from ccre.evaluation import Scheme, score_predictions
from ccre.inference import relations_from_decisions
from ccre.labels import NO_RELATION, LabelSpace, pair_targets
from ccre.memory import EmbeddingMemory
from ccre.model import RelationModel
from ccre.probe import probe_predictions
from ccre.runtime import Precision, ResolvedPrecision, pick_device, seed_everything


def load_for_embedding(
    name_or_path: str | Path, space: LabelSpace, seed: int = 13, device: str | None = None,
    fresh_pair_embedder: bool = False, encoder: EncoderConfig | None = None,
) -> RelationModel:
    """A trained checkpoint as it is, or a fresh model on an encoder (seeded, so repeatable), encoding as
    ``encoder`` says (markers, windows; its ``name`` is replaced by ``name_or_path``);
    ``fresh_pair_embedder`` leaves out the pair embedder of a ``ccre pretrain`` output (only its encoder is
    used, under a seeded, untrained pair embedder)."""
    if (Path(name_or_path) / "heads.safetensors").exists():
        if fresh_pair_embedder:
            raise ConfigError(f"{name_or_path} is a finetuned checkpoint: --fresh-pair-embedder applies to "
                              "encoders and ccre pretrain outputs")
        return RelationModel.from_pretrained(name_or_path, pick_device(device))
    seed_everything(seed)
    encoder = (encoder or EncoderConfig()).model_copy(update={"name": str(name_or_path)})
    config = CcreConfig(encoder=encoder)
    model = RelationModel.create(config, space, pretrained_pair_embedder=not fresh_pair_embedder)
    return model.to(pick_device(device)).eval()


def encode_labelled(
    model: RelationModel, docs: Sequence[Document], space: LabelSpace
) -> tuple[list[EncodedDocument], np.ndarray]:
    """Encoded documents and multi-hot targets ``(N, C)`` of every candidate pair of labelled ``docs``, for a
    caller that embeds them its own way."""
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    return encoded, np.concatenate([e.targets for e in encoded])


def embed_labelled(
    model: RelationModel, docs: Sequence[Document], space: LabelSpace
) -> tuple[list[EncodedDocument], np.ndarray, np.ndarray]:
    """Encoded documents, pair embeddings ``(N, D)`` and multi-hot targets ``(N, C)`` of every candidate pair
    of labelled ``docs``."""
    encoded, targets = encode_labelled(model, docs, space)
    return encoded, embed_encoded(model, encoded).numpy(), targets


class ProbeOutcome(NamedTuple):
    """The metrics of each probe (``probe-softmax``, ``probe-centroid``, ``probe-knn``) and the arithmetic the
    encoder ran in (``auto`` resolved on the device used)."""

    scores: dict[str, dict]
    precision: ResolvedPrecision


def probe_encoder(
    model_name: str | Path,
    train_docs: Sequence[Document],
    test_docs: Sequence[Document],
    scheme: Scheme,
    k: int = 5,
    seed: int = 13,
    device: str | None = None,
    fresh_pair_embedder: bool = False,
    precision: Precision = "auto",
    encoder: EncoderConfig | None = None,
) -> ProbeOutcome:
    """Metrics of ``probe-softmax``, ``probe-centroid`` and ``probe-knn`` on frozen pair embeddings
    (``fresh_pair_embedder``, ``encoder``: see :func:`load_for_embedding`), the encoder run in ``precision``."""
    space = LabelSpace.from_documents(train_docs)
    model = load_for_embedding(model_name, space, seed, device, fresh_pair_embedder, encoder)
    model.precision = precision
    if model.space != space:
        model.space = space  # a checkpoint probed on other data: only its embedding is used
    _, train_h, train_targets = embed_labelled(model, train_docs, space)
    test_enc = [model.document_encoder.encode(d, space) for d in test_docs]
    test_h = embed_encoded(model, test_enc).numpy()
    decisions = probe_predictions(train_h, train_targets, test_h, k=k, multi_label=space.multi_label)
    results = {}
    for method, decided in decisions.items():
        predictions = relations_from_decisions(test_docs, test_enc, decided, decided.astype(np.float32), space)
        results[f"probe-{method}"] = score_predictions(test_docs, predictions, scheme, train=train_docs)
    return ProbeOutcome(results, model.resolved_precision)


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


def relation_embeddings(model: RelationModel, docs: Sequence[Document]) -> tuple[np.ndarray, list[str]]:
    """Pair embeddings of every candidate pair of ``docs`` and its gold relation name (the first, when a
    pair holds several; ``no-relation`` when none)."""
    own = LabelSpace(
        (NO_RELATION, *sorted({r.type for d in docs for r in d.relations})),
        model.space.directed, model.space.multi_label, model.space.novelty,
    )
    encoded = [model.document_encoder.encode(d, model.space) for d in docs]
    h = embed_encoded(model, encoded).numpy()
    labels: list[str] = []
    for doc, e in zip(docs, encoded):
        targets, _ = pair_targets(doc, e.pairs, own)
        labels.extend(own.labels[int(np.argmax(row[1:])) + 1] if row[1:].any() else NO_RELATION for row in targets)
    return h, labels


def plot_relation_embeddings(
    model_name: str | Path,
    docs: Sequence[Document],
    path: str | Path,
    method: str = "tsne",
    title: str | None = None,
    max_points: int = 3000,
    seed: int = 13,
    device: str | None = None,
) -> np.ndarray:
    """Write a PNG of the 2-D projection of the pair embeddings of ``docs``; returns the coordinates."""
    from ccre.plots import plot_embeddings

    model = load_for_embedding(model_name, LabelSpace.from_documents(docs), seed, device)
    h, labels = relation_embeddings(model, docs)
    return plot_embeddings(h, labels, path, method=method, title=title or str(model_name), max_points=max_points, seed=seed)


def add_to_memory(checkpoint: str | Path, docs: Sequence[Document], device: str | None = None) -> int:
    """Embed the candidate pairs of the labelled ``docs`` with a trained model and add them to its memory,
    saved back into the checkpoint. Returns the number of instances added."""
    model = RelationModel.from_pretrained(checkpoint, pick_device(device))
    memory = model.memory
    first_id = int(memory.ids.max()) + 1 if memory is not None and len(memory) else 0
    new = build_memory(model, docs, first_id=first_id)
    if memory is None:
        memory = new
    elif len(new):
        memory.add(new.vectors, new.targets, new.meta, new.ids)
    memory.save(Path(checkpoint) / "memory")
    return len(new)
