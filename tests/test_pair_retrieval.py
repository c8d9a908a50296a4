"""``same_pair_retrieval`` (the L_mtb diagnostic) against a hand-counted example and a brute-force loop."""

from __future__ import annotations

import numpy as np
import pytest

from ccre.analysis.neighbours import same_pair_retrieval


def test_hand_counted_example() -> None:
    # instances: 0 (doc 0, pair AB), 1 (doc 0, pair AC), 2 (doc 1, pair AB), 3 (doc 1, pair CD), 4 (doc 2, AB or AC)
    keys = [[("A", "B")], [("A", "C")], [("A", "B")], [("C", "D")], [("A", "B"), ("A", "C")]]
    docs = np.array([0, 0, 1, 1, 2])
    h = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [0.9, 0.1], [0.1, 0.9]])
    out = same_pair_retrieval(h, keys, docs)
    # queries: 0 (partners 2, 4), 1 (partner 4), 2 (partners 0, 4), 4 (partners 0, 1, 2); 3 has none
    assert out["queries"] == 4
    # nearest other-document candidate (cosines): 0 -> 3 (0.99; miss, then 2 at 0.71: rank 2), 1 -> 4 (0.99, hit),
    # 2 -> 4 (0.78 against 0.71 for 0 and 1, hit), 4 -> 1 (0.99, hit)
    assert out["recall_at_1"] == pytest.approx(3 / 4)
    assert out["mrr"] == pytest.approx((1 / 2 + 1 + 1 + 1) / 4)
    # chance: 0: 2 of 3 candidates (2, 3, 4), 1: 1 of 3, 2: 2 of 3 (0, 1, 4), 4: 3 of 4
    assert out["chance_recall_at_1"] == pytest.approx((2 / 3 + 1 / 3 + 2 / 3 + 3 / 4) / 4)
    assert out["candidates_per_query"] == pytest.approx((3 + 3 + 3 + 4) / 4)


def test_matches_brute_force_loop() -> None:
    rng = np.random.default_rng(0)
    n = 80
    h = rng.normal(size=(n, 6))
    docs = rng.integers(0, 12, n)
    pool = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "d"), ("d", "e")]
    keys = [[pool[j] for j in sorted(set(rng.integers(0, len(pool), rng.integers(1, 3))))] for _ in range(n)]
    out = same_pair_retrieval(h, keys, docs)
    hn = h / np.linalg.norm(h, axis=1, keepdims=True)
    recall, rr, chance = [], [], []
    for q in range(n):
        cands = [j for j in range(n) if docs[j] != docs[q]]
        same = [j for j in cands if set(keys[j]) & set(keys[q])]
        if not same:
            continue
        ranked = sorted(cands, key=lambda j: -float(hn[q] @ hn[j]))
        recall.append(ranked[0] in same)
        rr.append(1 / (1 + next(r for r, j in enumerate(ranked) if j in same)))
        chance.append(len(same) / len(cands))
    assert out["queries"] == len(recall)
    assert out["recall_at_1"] == pytest.approx(np.mean(recall))
    assert out["mrr"] == pytest.approx(np.mean(rr))
    assert out["chance_recall_at_1"] == pytest.approx(np.mean(chance))


def test_no_shared_pair_is_an_error() -> None:
    with pytest.raises(ValueError, match="same pair"):
        same_pair_retrieval(np.eye(2), [[("a", "b")], [("c", "d")]], np.array([0, 1]))
