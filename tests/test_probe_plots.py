"""Probing classifiers on synthetic geometries, and the figures (files, PNG header, determinism)."""

from __future__ import annotations

import numpy as np
import pytest

from ccre.analysis.plots import plot_embeddings, plot_loss_curves
from ccre.analysis.probe import above_half, probe_predictions, top_class
from ccre.data.labels import NO_RELATION
from ccre.errors import CcreError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _accuracy(decided: np.ndarray, targets: np.ndarray) -> float:
    return float((decided == (targets > 0)).all(axis=1).mean())


def _clusters(centers: np.ndarray, labels: list[int], per_cluster: int, noise: float, seed: int):
    """Gaussian blobs around ``centers``; blob ``b`` belongs to class ``labels[b]``."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([c + noise * rng.standard_normal((per_cluster, centers.shape[1])) for c in centers])
    y = np.repeat(labels, per_cluster)
    return x.astype(np.float32), np.eye(max(labels) + 1, dtype=np.float32)[y]


def test_all_probes_beat_chance_when_linearly_separable() -> None:
    centers = 3.0 * np.eye(16)[:4]
    train = _clusters(centers, [0, 1, 2, 3], 30, 0.5, seed=0)
    test_h, test_t = _clusters(centers, [0, 1, 2, 3], 20, 0.5, seed=1)
    for multi_label in (False, True):
        predictions = probe_predictions(*train, test_h, k=5, multi_label=multi_label)
        assert set(predictions) == {"softmax", "centroid", "knn"}
        for name, decided in predictions.items():
            assert decided.shape == test_t.shape and decided.dtype == bool
            assert _accuracy(decided, test_t) > 0.9, (name, multi_label)  # chance is 0.25


def test_knn_beats_centroid_on_a_two_cluster_class() -> None:
    # class 1 at angle 0; class 0 in two clusters at +-70 degrees: both class centroids point along
    # angle 0, so nearest centroid cannot tell them apart, while nearest neighbours can
    angle = np.deg2rad(70)
    centers = np.zeros((3, 8))
    centers[0, :2] = [np.cos(angle), np.sin(angle)]
    centers[1, :2] = [np.cos(angle), -np.sin(angle)]
    centers[2, 0] = 1.0
    train = _clusters(centers, [0, 0, 1], 30, 0.08, seed=2)
    test_h, test_t = _clusters(centers, [0, 0, 1], 20, 0.08, seed=3)
    predictions = probe_predictions(*train, test_h, k=5)
    knn = _accuracy(predictions["knn"], test_t)
    centroid = _accuracy(predictions["centroid"], test_t)
    assert knn > 0.95
    assert knn > centroid + 0.2


def test_multi_label_probes_predict_several_relations() -> None:
    # pairs holding relations 1 and 2 at once sit between the two relation clusters
    centers = 3.0 * np.eye(8)[:4]
    centers[3] = 3.0 * (np.eye(8)[1] + np.eye(8)[2]) / np.sqrt(2)
    train_h, train_t = _clusters(centers, [0, 1, 2, 3], 30, 0.3, seed=4)
    test_h, test_t = _clusters(centers, [0, 1, 2, 3], 10, 0.3, seed=5)
    both = np.array([[0, 1, 1]], dtype=np.float32)
    train_t = np.concatenate([train_t[:90, :3], np.repeat(both, 30, axis=0)])
    test_t = np.concatenate([test_t[:30, :3], np.repeat(both, 10, axis=0)])
    predictions = probe_predictions(train_h, train_t, test_h, k=5, multi_label=True)
    assert _accuracy(predictions["softmax"], test_t) > 0.9
    assert _accuracy(predictions["knn"], test_t) > 0.9
    assert (predictions["centroid"].sum(axis=1) == 1).all()  # one center per class: one class per pair


def test_decision_rules() -> None:
    scores = np.array([[0.1, 0.6, 0.0, 0.7], [0.9, 0.2, 0.0, 0.1]])
    assert top_class(scores).tolist() == [[False, False, False, True], [True, False, False, False]]
    assert above_half(scores).tolist() == [[False, True, False, True], [True, False, False, False]]


def _labelled_points(n: int = 60, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    kinds = [NO_RELATION, "Association", "Positive_Correlation"]
    labels = [kinds[i % 3] for i in range(n)]
    x = rng.standard_normal((n, 10)) + 4.0 * np.eye(10)[[i % 3 for i in range(n)]]
    return x, labels


def test_plot_embeddings_writes_png_and_is_deterministic(tmp_path) -> None:
    x, labels = _labelled_points(40)
    a = plot_embeddings(x, labels, tmp_path / "a.png", seed=7, max_points=30, title="test")
    b = plot_embeddings(x, labels, tmp_path / "b.png", seed=7, max_points=30)
    assert a.shape == (30, 2)
    np.testing.assert_array_equal(a, b)
    for name in ("a.png", "b.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 1000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]  # no temporary files left


def test_plot_embeddings_umap_missing_or_unknown_method(tmp_path) -> None:
    x, labels = _labelled_points(12)
    with pytest.raises(CcreError, match="unknown projection"):
        plot_embeddings(x, labels, tmp_path / "x.png", method="pca")
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(CcreError, match="umap-learn"):
            plot_embeddings(x, labels, tmp_path / "x.png", method="umap")


def test_plot_loss_curves(tmp_path) -> None:
    csv_path = tmp_path / "losses.csv"
    csv_path.write_text("step,total,mccl,mlm\n1,3.0,2.0,1.0\n2,2.5,1.8,\n3,2.0,1.5,0.5\n", encoding="utf-8")
    plot_loss_curves(csv_path, tmp_path / "out" / "losses.png")
    data = (tmp_path / "out" / "losses.png").read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 1000
    (tmp_path / "bad.csv").write_text("epoch,loss\n1,2\n", encoding="utf-8")
    with pytest.raises(CcreError, match="step"):
        plot_loss_curves(tmp_path / "bad.csv", tmp_path / "bad.png")
