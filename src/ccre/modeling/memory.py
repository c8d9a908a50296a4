"""An exact cosine-similarity memory of pair embeddings, with per-entry metadata (the classifiers that read
it are in :mod:`ccre.inference.scorers`).

The memory keeps the embeddings of training pairs (for MCCL/SupCon candidates during continual
finetuning, for kNN inference and for the probing analysis). Vectors are L2-normalized on the way in,
so the inner product of ``faiss.IndexFlatIP`` (exact, brute force) is the cosine similarity. For memories
of hundreds of thousands of instances, :meth:`EmbeddingMemory.reindex` swaps in an HNSW graph (approximate
search; ``ccre memory index``): measured by ``benchmarks/speed.py`` on 2 CPU cores, 100 queries against
10^6 vectors take 925 ms exact and 46 ms with HNSW (efSearch 128) at recall@10 0.95.

On disk a memory is a directory with ``index.faiss`` (``faiss.write_index``) and ``meta.npz`` (targets,
ids, novelty, document/head/tail ids); each file is written under a temporary name and renamed into place,
and loading checks that both describe the same entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
import torch

from ccre.errors import CcreError
from ccre.utils.io import atomic_open

INDEX_FILE = "index.faiss"
META_FILE = "meta.npz"
# faiss (1.15, pip wheel) scores batches of fewer than ``distance_compute_blas_threshold`` queries with its
# per-pair SIMD kernel; for 20 to ~1,000 queries that is up to 10x slower than its BLAS path on this
# project's CPUs (100 queries against 10^5 vectors: 740 ms against 77 ms), so searches of that size
# switch to BLAS for their duration. Larger batches keep faiss's own choice (faster there).
BLAS_QUERY_RANGE = (20, 1000)
SCORE_BUDGET = 1 << 25
"""Most (pair, memory entry) similarities scored at once (128 MiB of float32): scoring pairs against a large
memory is ``P x N``, so callers cut the pairs into chunks that keep within this."""


@dataclass(frozen=True)
class EntryMeta:
    """Where a memory entry comes from: its document, head and tail entity ids, and BioRED's novelty
    flag (1 novel, 0 known, -1 not applicable)."""

    doc_id: str
    head: str
    tail: str
    novelty: int = -1


def _float32(x: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=np.float32)


def l2_normalize(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as contiguous float32."""
    x = _float32(x)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


@contextmanager
def _blas_for(num_queries: int) -> Iterator[None]:
    """Within the block, a search of ``num_queries`` in ``BLAS_QUERY_RANGE`` takes faiss's BLAS path;
    the process-wide setting is restored afterwards."""
    low, high = BLAS_QUERY_RANGE
    if not low <= num_queries < high:
        yield
        return
    before = faiss.cvar.distance_compute_blas_threshold
    faiss.cvar.distance_compute_blas_threshold = low
    try:
        yield
    finally:
        faiss.cvar.distance_compute_blas_threshold = before


class EmbeddingMemory:
    """Normalized embeddings ``(N, D)`` in an exact inner-product faiss index, their multi-hot relation
    targets ``(N, C)`` (column 0 = no relation), integer instance ids and :class:`EntryMeta`."""

    def __init__(self, dim: int, num_labels: int) -> None:
        self.dim = dim
        self.num_labels = num_labels
        self._index = faiss.IndexFlatIP(dim)
        self._targets = np.zeros((0, num_labels), dtype=np.float32)
        self._ids = np.zeros(0, dtype=np.int64)
        self._meta: list[EntryMeta] = []

    def __len__(self) -> int:
        return self._index.ntotal

    def add(
        self,
        vectors: np.ndarray | torch.Tensor,
        targets: np.ndarray | torch.Tensor,
        meta: Sequence[EntryMeta] | None = None,
        ids: np.ndarray | torch.Tensor | None = None,
    ) -> None:
        """Append entries. ``meta`` may be left out for entries without provenance (probing), which get
        empty ids and novelty -1. ``ids`` identify instances (so that losses can keep an anchor from
        matching its own stored embedding); by default they are the entries' positions in the memory."""
        vectors = l2_normalize(vectors)
        targets = _float32(targets)
        n = vectors.shape[0]
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise ValueError(f"vectors must be (N, {self.dim}), got {tuple(vectors.shape)}")
        if targets.shape != (n, self.num_labels):
            raise ValueError(f"targets must be ({n}, {self.num_labels}), got {tuple(targets.shape)}")
        if meta is None:
            meta = [EntryMeta("", "", "")] * n
        if len(meta) != n:
            raise ValueError(f"{n} vectors but {len(meta)} metadata entries")
        if ids is None:
            new_ids = np.arange(len(self), len(self) + n, dtype=np.int64)
        else:
            new_ids = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64).reshape(-1)
            if new_ids.shape[0] != n:
                raise ValueError(f"{n} vectors but {new_ids.shape[0]} ids")
        self._index.add(vectors)
        self._targets = np.concatenate([self._targets, targets])
        self._ids = np.concatenate([self._ids, new_ids])
        self._meta.extend(meta)

    def search(self, queries: np.ndarray | torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Cosine similarities ``(Q, k)`` (descending) and entry indices ``(Q, k)`` of the ``k`` nearest
        entries of each (normalized) query; ``k`` is capped at the memory size."""
        if len(self) == 0:
            raise ValueError("search in an empty memory")
        queries = l2_normalize(queries)
        with _blas_for(len(queries)):
            return self._index.search(queries, min(k, len(self)))

    @property
    def index_kind(self) -> Literal["exact", "hnsw"]:
        return "hnsw" if isinstance(self._index, faiss.IndexHNSW) else "exact"

    def reindex(self, kind: Literal["exact", "hnsw"], ef_search: int = 128, m: int = 32) -> None:
        """Rebuild the index over the same vectors: ``exact`` (brute force) or ``hnsw`` (a graph of ``m``
        links per vector searched with a beam of ``ef_search``: approximate, sublinear; a larger
        ``ef_search`` is slower and finds more of the true neighbours). Entries keep their positions."""
        vectors = self.vectors
        if kind == "exact":
            index = faiss.IndexFlatIP(self.dim)
        elif kind == "hnsw":
            index = faiss.IndexHNSWFlat(self.dim, m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = 64
            index.hnsw.efSearch = ef_search
        else:
            raise ValueError(f"unknown index kind {kind!r} (exact or hnsw)")
        if len(vectors):
            index.add(vectors)
        self._index = index

    @property
    def vectors(self) -> np.ndarray:
        """The stored (normalized) vectors ``(N, D)``."""
        return self._index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, self.dim), np.float32)

    @property
    def targets(self) -> np.ndarray:
        return self._targets

    @property
    def ids(self) -> np.ndarray:
        return self._ids

    @property
    def meta(self) -> list[EntryMeta]:
        return list(self._meta)

    def tensors(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(vectors, targets, ids)`` as tensors: the ``memory_h``, ``memory_targets`` and ``memory_ids``
        arguments of :func:`ccre.objectives.supcon.supcon_loss` and :func:`ccre.objectives.mccl.mccl_loss`."""
        return (
            torch.from_numpy(self.vectors).to(device),
            torch.from_numpy(self._targets).to(device),
            torch.from_numpy(self._ids).to(device),
        )

    def save(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tmp = directory / f".{INDEX_FILE}.{os.getpid()}.tmp"
        try:
            faiss.write_index(self._index, str(tmp))
            os.replace(tmp, directory / INDEX_FILE)
        finally:
            tmp.unlink(missing_ok=True)
        with atomic_open(directory / META_FILE, "wb") as handle:
            np.savez(
                handle,
                targets=self._targets,
                ids=self._ids,
                novelty=np.array([m.novelty for m in self._meta], dtype=np.int64),
                doc_ids=np.array([m.doc_id for m in self._meta], dtype=str),
                heads=np.array([m.head for m in self._meta], dtype=str),
                tails=np.array([m.tail for m in self._meta], dtype=str),
            )

    @classmethod
    def load(cls, directory: str | Path) -> EmbeddingMemory:
        directory = Path(directory)
        missing = [n for n in (INDEX_FILE, META_FILE) if not (directory / n).exists()]
        if missing:
            raise CcreError(f"{directory} is not an embedding memory (missing {', '.join(missing)})")
        index = faiss.read_index(str(directory / INDEX_FILE))
        with np.load(directory / META_FILE, allow_pickle=False) as raw:
            targets, ids, novelty = raw["targets"], raw["ids"], raw["novelty"]
            doc_ids, heads, tails = raw["doc_ids"], raw["heads"], raw["tails"]
        if not (index.ntotal == len(targets) == len(ids) == len(novelty) == len(doc_ids)):
            raise CcreError(f"{directory}: {INDEX_FILE} holds {index.ntotal} vectors but {META_FILE} "
                            f"{len(targets)} entries (an interrupted save?)")
        memory = cls(index.d, targets.shape[1])
        memory._index = index
        memory._targets = targets.astype(np.float32)
        memory._ids = ids.astype(np.int64)
        memory._meta = [EntryMeta(str(d), str(h), str(t), int(n)) for d, h, t, n in zip(doc_ids, heads, tails, novelty)]
        return memory
