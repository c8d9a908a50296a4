"""``neighbour_statistics`` against a hand-counted example and a brute-force loop."""

from __future__ import annotations

import numpy as np
import pytest

from ccre.analysis.neighbours import neighbour_statistics


def test_hand_counted_example() -> None:
    # 2-d points; classes: 0 = no relation, 1 = A, 2 = B. Documents 0, 0, 1, 1, 1.
    h = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9], [0.8, 0.3]])
    targets = np.array([[0, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 0], [1, 0, 0]])
    docs = np.array([0, 0, 1, 1, 1])
    stats = neighbour_statistics(h, targets, docs, k=1)
    # relation-bearing pairs 0, 1, 2; nearest other pair: 0 -> 1 (A, doc 0), 1 -> 0 (A, doc 0), 2 -> 3 (none, doc 1)
    assert stats["queries"] == 3
    assert stats["relation_match"] == pytest.approx(2 / 3)
    assert stats["no_relation"] == pytest.approx(1 / 3)
    assert stats["same_doc"] == pytest.approx(1.0)
    # chance: pair 0 and 1 have 1 other pair of 4 in their document, pair 2 has 2 of 4
    assert stats["same_doc_chance"] == pytest.approx((1 / 4 + 1 / 4 + 2 / 4) / 3)
    # queries from elsewhere: the point (0, 1) of relation B sees pair 2 (B) first
    out = neighbour_statistics(h, targets, docs, k=2, query_h=np.array([[0.0, 1.0]]), query_targets=np.array([[0, 0, 1]]))
    assert out["relation_match"] == pytest.approx(1 / 2) and out["no_relation"] == pytest.approx(1 / 2)
    assert "same_doc" not in out
    groups = np.array(["g-c", "g-c", "c-d", "g-d", "c-d"])
    out = neighbour_statistics(h, targets, docs, k=2, query_h=np.array([[0.0, 1.0]]), query_targets=np.array([[0, 0, 1]]),
                               train_groups=groups, query_groups=np.array(["c-d"]))
    assert out["same_group"] == pytest.approx(1 / 2)  # neighbours 2 (c-d) and 3 (g-d)


def test_matches_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    n, c, k = 60, 4, 5
    h = rng.normal(size=(n, 8))
    targets = np.zeros((n, c), dtype=int)
    targets[np.arange(n), rng.integers(0, c, n)] = 1
    targets[rng.random(n) < 0.2, 2] = 1  # some multi-label pairs
    targets[targets[:, 1:].any(axis=1), 0] = 0
    docs = rng.integers(0, 6, n)
    groups = rng.integers(0, 3, n)
    stats = neighbour_statistics(h, targets, docs, k=k, train_groups=groups)
    unit = h / np.linalg.norm(h, axis=1, keepdims=True)
    match = none = same = chance = group = 0.0
    queries = [q for q in range(n) if targets[q, 1:].any()]
    for q in queries:
        sims = unit @ unit[q]
        sims[q] = -np.inf
        nearest = np.argsort(-sims)[:k]
        for j in nearest:
            match += bool((targets[j, 1:] & targets[q, 1:]).any())
            none += not targets[j, 1:].any()
            same += docs[j] == docs[q]
            group += groups[j] == groups[q]
        chance += ((docs == docs[q]).sum() - 1) / (n - 1)
    total = len(queries) * k
    assert stats["relation_match"] == pytest.approx(match / total)
    assert stats["no_relation"] == pytest.approx(none / total)
    assert stats["same_doc"] == pytest.approx(same / total)
    assert stats["same_doc_chance"] == pytest.approx(chance / len(queries))
    assert stats["same_group"] == pytest.approx(group / total)


def test_no_relation_bearing_query_is_an_error() -> None:
    with pytest.raises(ValueError, match="no query pair holds a relation"):
        neighbour_statistics(np.eye(3), np.array([[1, 0], [1, 0], [1, 0]]), np.zeros(3, dtype=int))
