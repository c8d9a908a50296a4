"""Embedding memory: faiss search equals brute force, save/load round trip, kNN and centroid scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ccre.errors import CcreError
from ccre.inference.scorers import centroid_scores, knn_scores
from ccre.modeling.memory import EmbeddingMemory, EntryMeta


def _memory(n: int = 1000, dim: int = 64, num_labels: int = 4, seed: int = 0) -> EmbeddingMemory:
    rng = np.random.default_rng(seed)
    memory = EmbeddingMemory(dim, num_labels)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    targets = np.eye(num_labels, dtype=np.float32)[rng.integers(0, num_labels, n)]
    meta = [EntryMeta(f"doc{i // 10}", f"e{i % 7}", f"e{i % 5}", int(i % 3) - 1) for i in range(n)]
    memory.add(vectors, targets, meta, ids=np.arange(n) + 100)
    return memory


@pytest.mark.parametrize("num_queries", [5, 50, 1200])  # faiss's own kernel, BLAS (scoped), faiss's own again
def test_search_matches_brute_force_topk(num_queries: int) -> None:
    import faiss

    memory = _memory()
    threshold = faiss.cvar.distance_compute_blas_threshold
    queries = torch.randn(num_queries, 64, generator=torch.Generator().manual_seed(1))
    scores, indices = memory.search(queries, k=10)
    stored = torch.nn.functional.normalize(torch.from_numpy(memory.vectors), dim=1)
    sims = torch.nn.functional.normalize(queries, dim=1) @ stored.T
    expected_scores, expected_indices = sims.topk(10, dim=1)
    assert np.array_equal(indices, expected_indices.numpy())
    np.testing.assert_allclose(scores, expected_scores.numpy(), atol=1e-5)
    assert faiss.cvar.distance_compute_blas_threshold == threshold  # the process-wide setting is restored


def test_vectors_are_normalized_and_k_is_capped() -> None:
    memory = EmbeddingMemory(3, 2)
    memory.add(torch.tensor([[3.0, 0.0, 4.0], [0.0, 2.0, 0.0]]), np.eye(2), [EntryMeta("d", "a", "b")] * 2)
    np.testing.assert_allclose(memory.vectors, [[0.6, 0.0, 0.8], [0.0, 1.0, 0.0]], atol=1e-7)
    scores, indices = memory.search(np.array([[0.0, 5.0, 0.0]]), k=5)
    assert indices.tolist() == [[1, 0]]
    np.testing.assert_allclose(scores, [[1.0, 0.0]], atol=1e-7)
    assert memory.ids.tolist() == [0, 1]


def test_add_checks_shapes() -> None:
    memory = EmbeddingMemory(3, 2)
    with pytest.raises(ValueError, match="targets"):
        memory.add(np.ones((2, 3)), np.ones((2, 3)), [EntryMeta("d", "a", "b")] * 2)
    with pytest.raises(ValueError, match="metadata"):
        memory.add(np.ones((2, 3)), np.ones((2, 2)), [EntryMeta("d", "a", "b")])


def test_save_load_round_trip(tmp_path) -> None:
    memory = _memory(n=200, dim=16)
    memory.save(tmp_path / "mem")
    loaded = EmbeddingMemory.load(tmp_path / "mem")
    assert len(loaded) == 200 and loaded.dim == 16 and loaded.num_labels == 4
    assert np.array_equal(loaded.vectors, memory.vectors)
    assert np.array_equal(loaded.targets, memory.targets)
    assert np.array_equal(loaded.ids, memory.ids)
    assert loaded.meta == memory.meta
    queries = np.random.default_rng(3).standard_normal((5, 16))
    for got, expected in zip(loaded.search(queries, 7), memory.search(queries, 7)):
        assert np.array_equal(got, expected)
    assert sorted(p.name for p in (tmp_path / "mem").iterdir()) == ["index.faiss", "meta.npz"]
    h, t, ids = loaded.tensors()
    assert h.shape == (200, 16) and t.shape == (200, 4) and ids.dtype == torch.int64


def test_load_rejects_mismatched_files(tmp_path) -> None:
    _memory(n=20, dim=8).save(tmp_path / "a")
    _memory(n=30, dim=8).save(tmp_path / "b")
    (tmp_path / "b" / "meta.npz").replace(tmp_path / "a" / "meta.npz")
    with pytest.raises(CcreError, match="20 vectors"):
        EmbeddingMemory.load(tmp_path / "a")
    with pytest.raises(CcreError, match="missing meta.npz"):
        EmbeddingMemory.load(tmp_path / "b")


def test_knn_votes_by_hand() -> None:
    targets = np.array([[1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]], dtype=np.float32)
    sims = np.array([[0.9, 0.5, 0.2], [0.8, -0.4, 0.1]])
    idx = np.array([[1, 2, 0], [3, 0, -1]])
    plain = knn_scores(sims, idx, targets, k=3)
    # query 0: neighbours 1, 2, 0 -> labels {1}, {1, 2}, {0}; query 1: neighbours 3, 0 (third missing)
    np.testing.assert_allclose(plain, [[1 / 3, 2 / 3, 1 / 3], [1 / 2, 0, 1 / 2]])
    np.testing.assert_allclose(knn_scores(sims, idx, targets, k=1), [[0, 1, 0], [0, 0, 1]])
    weighted = knn_scores(sims, idx, targets, k=3, weighted=True)
    # query 0 weights 0.9, 0.5, 0.2; query 1 weights 0.8, 0 (negative similarity clipped)
    np.testing.assert_allclose(weighted, [[0.2 / 1.6, 1.4 / 1.6, 0.5 / 1.6], [0, 0, 1]])


def test_centroid_scores_by_hand() -> None:
    vectors = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 3.0]])
    targets = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 0]], dtype=np.float32)
    # class 0: mean of (1,0) and (0,1) -> (1,1)/sqrt2; class 1 the same; class 2 has no vectors
    scores = centroid_scores(np.array([[1.0, 0.0], [0.0, -2.0]]), vectors, targets)
    s = 1 / np.sqrt(2)
    np.testing.assert_allclose(scores[:, :2], [[s, s], [-s, -s]])
    assert np.isneginf(scores[:, 2]).all()
    targets = np.array([[1, 0], [0, 1], [1, 1], [0, 1]], dtype=np.float32)
    # multi-hot entry 2 counts in both: class 0 = mean((1,0),(1,0)) = (1,0); class 1 = (1,2)/3 -> /sqrt5
    scores = centroid_scores(np.array([[0.0, 1.0]]), vectors, targets)
    np.testing.assert_allclose(scores, [[0.0, 2 / np.sqrt(5)]])


def test_hnsw_index_finds_most_true_neighbours_and_round_trips(tmp_path) -> None:
    from typer.testing import CliRunner

    from ccre.cli import app

    rng = np.random.default_rng(3)
    centers = rng.standard_normal((20, 32)).astype(np.float32)
    vectors = centers[rng.integers(0, 20, 3000)] + 0.5 * rng.standard_normal((3000, 32)).astype(np.float32)
    queries = centers[rng.integers(0, 20, 50)] + 0.5 * rng.standard_normal((50, 32)).astype(np.float32)
    memory = EmbeddingMemory(32, 2)
    memory.add(vectors, np.eye(2, dtype=np.float32)[rng.integers(0, 2, 3000)])
    exact = memory.search(queries, 10)[1]
    stored = memory.vectors
    from ccre.modeling.checkpoint import write_model_folder

    write_model_folder(tmp_path / "ckpt", "relation-model", lambda folder: memory.save(folder / "memory"))
    result = CliRunner().invoke(app, ["memory", "index", "--model", str(tmp_path / "ckpt"), "--ef-search", "64"])
    assert result.exit_code == 0, result.output
    hnsw = EmbeddingMemory.load(tmp_path / "ckpt" / "memory")
    assert hnsw.index_kind == "hnsw" and len(hnsw) == 3000 and hnsw._index.hnsw.efSearch == 64
    np.testing.assert_array_equal(hnsw.vectors, stored)  # entries keep their positions
    found = hnsw.search(queries, 10)[1]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall >= 0.9
    hnsw.reindex("exact")
    assert hnsw.index_kind == "exact"
    np.testing.assert_array_equal(hnsw.search(queries, 10)[1], exact)
    bad = CliRunner().invoke(app, ["memory", "index", "--model", str(tmp_path / "ckpt"), "--kind", "ivf"])
    assert bad.exit_code == 1
