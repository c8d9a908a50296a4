"""SupCon and MCCL against brute-force loops written from their formulas (math.exp / math.log)."""

from __future__ import annotations

import math

import pytest
import torch

from ccre.objectives.mccl import mccl_class_scores, mccl_decide, mccl_loss
from ccre.objectives.supcon import supcon_loss


def _cos(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


def _labels(row: list[float]) -> set[int]:
    return {c for c, v in enumerate(row) if v > 0}


def _candidates(h, targets, memory_h, memory_targets, batch_ids, memory_ids, i):
    """(embedding, label set) of every candidate of anchor i: other batch rows, then memory rows not i."""
    out = [(h[j], _labels(targets[j])) for j in range(len(h)) if j != i]
    for m in range(len(memory_h)):
        if batch_ids is not None and memory_ids[m] == batch_ids[i]:
            continue
        out.append((memory_h[m], _labels(memory_targets[m])))
    return out


def _brute_supcon(h, targets, tau, memory_h=(), memory_targets=(), batch_ids=None, memory_ids=None) -> float:
    losses = []
    for i in range(len(h)):
        cands = _candidates(h, targets, memory_h, memory_targets, batch_ids, memory_ids, i)
        denom = sum(math.exp(_cos(h[i], a) / tau) for a, _ in cands)
        positives = [a for a, labels in cands if labels & _labels(targets[i])]
        if not positives:
            continue
        losses.append(-sum(math.log(math.exp(_cos(h[i], p) / tau) / denom) for p in positives) / len(positives))
    return sum(losses) / len(losses) if losses else 0.0


def _brute_scores(h, targets, tau2, memory_h=(), memory_targets=(), batch_ids=None, memory_ids=None, pool="mean"):
    """s_r(i) for every anchor and class, None where class r has no candidate instance."""
    num_classes = len(targets[0])
    scores = []
    for i in range(len(h)):
        cands = _candidates(h, targets, memory_h, memory_targets, batch_ids, memory_ids, i)
        row = []
        for r in range(num_classes):
            sims = [_cos(h[i], a) for a, labels in cands if r in labels]
            divisor = len(sims) if pool == "mean" else 1
            row.append(tau2 * math.log(sum(math.exp(s / tau2) for s in sims) / divisor) if sims else None)
        scores.append(row)
    return scores


def _brute_mccl(h, targets, tau1, tau2, multi_label, pool="mean", **memory) -> float:
    losses = []
    for i, row in enumerate(_brute_scores(h, targets, tau2, pool=pool, **memory)):
        z = {r: s / tau1 for r, s in enumerate(row) if s is not None}
        gold = _labels(targets[i]) & z.keys()
        if not gold or (multi_label and 0 not in z):
            continue
        if not multi_label:
            (y,) = gold
            losses.append(-math.log(math.exp(z[y]) / sum(math.exp(v) for v in z.values())))
            continue
        relations = gold - {0}
        denom_pos = sum(math.exp(z[r]) for r in relations) + math.exp(z[0])
        loss = -sum(math.log(math.exp(z[r]) / denom_pos) for r in relations)
        negatives = [r for r in z if r not in relations]  # includes no-relation itself
        loss -= math.log(math.exp(z[0]) / sum(math.exp(z[r]) for r in negatives))
        losses.append(loss)
    return sum(losses) / len(losses) if losses else 0.0


def _one_hot(labels: list[int], num_classes: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(torch.tensor(labels), num_classes).double()


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(8, 5, generator=g, dtype=torch.float64)
    # class 4 has a single instance (anchor 7): in-batch it has no other instance
    single = _one_hot([0, 1, 1, 2, 0, 3, 2, 4], 5)
    multi = torch.zeros(8, 5, dtype=torch.float64)
    for i, labels in enumerate([[0], [1, 2], [1], [2, 3], [0], [3], [1, 3], [4]]):
        multi[i, labels] = 1.0
    memory_h = torch.randn(6, 5, generator=g, dtype=torch.float64)
    memory_h[0] = h[3] * 2.0  # instance 3's own (older) embedding: id 13 below
    memory_single = _one_hot([2, 1, 0, 3, 1, 0], 5)
    memory_multi = memory_single.clone()
    memory_multi[1, 3] = 1.0
    batch_ids = torch.arange(10, 18)
    memory_ids = torch.tensor([13, 20, 21, 22, 23, 24])
    return h, single, multi, memory_h, memory_single, memory_multi, batch_ids, memory_ids


def _memory_kwargs(memory_h, memory_targets, batch_ids, memory_ids) -> dict:
    return {"memory_h": memory_h.tolist(), "memory_targets": memory_targets.tolist(),
            "batch_ids": batch_ids.tolist(), "memory_ids": memory_ids.tolist()}


@pytest.mark.parametrize("multi_label", [False, True])
def test_supcon_matches_formula_batch_only(multi_label: bool) -> None:
    h, single, multi, *_ = _data()
    targets = multi if multi_label else single
    expected = _brute_supcon(h.tolist(), targets.tolist(), 0.3)
    assert math.isclose(supcon_loss(h, targets, 0.3).item(), expected, rel_tol=1e-9)


@pytest.mark.parametrize("multi_label", [False, True])
def test_supcon_matches_formula_with_memory_and_self_exclusion(multi_label: bool) -> None:
    h, single, multi, memory_h, mem_single, mem_multi, batch_ids, memory_ids = _data(1)
    targets, mem_targets = (multi, mem_multi) if multi_label else (single, mem_single)
    got = supcon_loss(h, targets, 0.5, memory_h, mem_targets, batch_ids=batch_ids, memory_ids=memory_ids)
    expected = _brute_supcon(h.tolist(), targets.tolist(), 0.5,
                             **_memory_kwargs(memory_h, mem_targets, batch_ids, memory_ids))
    assert math.isclose(got.item(), expected, rel_tol=1e-9)
    # without ids, memory entry 0 (anchor 3's own copy) is a perfect positive: the loss differs
    without_ids = supcon_loss(h, targets, 0.5, memory_h, mem_targets)
    assert not math.isclose(without_ids.item(), expected, rel_tol=1e-6)


def test_supcon_gradient_flows_to_batch_not_memory() -> None:
    h, single, _, memory_h, mem_single, *_ = _data()
    h.requires_grad_(True)
    memory_h.requires_grad_(True)
    supcon_loss(h, single, 0.2, memory_h, mem_single).backward()
    assert h.grad is not None and torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    assert memory_h.grad is None


def test_supcon_without_positives_is_zero_with_grad() -> None:
    h = torch.randn(3, 4, requires_grad=True)
    loss = supcon_loss(h, torch.eye(3), 0.1)
    assert loss.item() == 0.0
    loss.backward()
    assert h.grad is not None and (h.grad == 0).all()


@pytest.mark.parametrize("pool", ["mean", "sum"])
def test_mccl_class_scores_match_formula_with_memory(pool: str) -> None:
    h, single, multi, memory_h, _, mem_multi, batch_ids, memory_ids = _data(2)
    from ccre.objectives.supcon import contrastive_candidates

    cand_h, cand_t, exclude = contrastive_candidates(h, multi, memory_h, mem_multi, batch_ids, memory_ids)
    got = mccl_class_scores(h, cand_h, cand_t, 0.7, exclude, pool=pool)
    expected = _brute_scores(h.tolist(), multi.tolist(), 0.7, pool=pool,
                             **_memory_kwargs(memory_h, mem_multi, batch_ids, memory_ids))
    for i, row in enumerate(expected):
        for r, s in enumerate(row):
            if s is None:
                assert got[i, r] == float("-inf")
            else:
                assert math.isclose(got[i, r].item(), s, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("multi_label", [False, True])
@pytest.mark.parametrize("with_memory", [False, True])
@pytest.mark.parametrize("pool", ["mean", "sum"])
def test_mccl_loss_matches_formula(multi_label: bool, with_memory: bool, pool: str) -> None:
    h, single, multi, memory_h, mem_single, mem_multi, batch_ids, memory_ids = _data(3)
    targets, mem_targets = (multi, mem_multi) if multi_label else (single, mem_single)
    if with_memory:
        got = mccl_loss(h, targets, 0.2, 0.5, memory_h, mem_targets, multi_label=multi_label,
                        batch_ids=batch_ids, memory_ids=memory_ids, pool=pool)
        memory = _memory_kwargs(memory_h, mem_targets, batch_ids, memory_ids)
    else:
        got = mccl_loss(h, targets, 0.2, 0.5, multi_label=multi_label, pool=pool)
        memory = {}
    expected = _brute_mccl(h.tolist(), targets.tolist(), 0.2, 0.5, multi_label, pool=pool, **memory)
    assert math.isclose(got.item(), expected, rel_tol=1e-9)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-4), (torch.float32, 1e-2)])
def test_mccl_tau2_limits_max_and_mean(dtype: torch.dtype, tol: float) -> None:
    g = torch.Generator().manual_seed(4)
    h = torch.randn(5, 8, generator=g).to(dtype)
    cand = torch.randn(30, 8, generator=g).to(dtype)
    cand_t = _one_hot(torch.randint(0, 3, (30,), generator=g).tolist(), 3).to(dtype)
    cos = torch.nn.functional.normalize(h, dim=1) @ torch.nn.functional.normalize(cand, dim=1).T
    sharp = mccl_class_scores(h, cand, cand_t, 1e-4)
    flat = mccl_class_scores(h, cand, cand_t, 1e4)
    for r in range(3):
        members = cand_t[:, r] > 0
        # tau2 -> 0: the largest similarity (error at most tau2 * log|S_r|)
        torch.testing.assert_close(sharp[:, r], cos[:, members].max(dim=1).values, atol=1e-3, rtol=0)
        # tau2 -> inf: the mean similarity (error about var / (2 tau2), plus float32 rounding times tau2)
        torch.testing.assert_close(flat[:, r], cos[:, members].mean(dim=1), atol=tol, rtol=0)


def test_mccl_gradient_and_skipped_anchors() -> None:
    h, single, multi, *_ = _data()
    for targets, multi_label in ((single, False), (multi, True)):
        x = h.clone().requires_grad_(True)
        loss = mccl_loss(x, targets, 0.1, 0.5, multi_label=multi_label)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
        # anchor 7 (class 4, no other instance) is skipped: the loss is the mean over the others
        kept = mccl_loss(x[:7], targets[:7], 0.1, 0.5, x[7:].detach(), targets[7:], multi_label=multi_label)
        assert math.isclose(loss.item(), kept.item(), rel_tol=1e-9)


def test_mccl_all_anchors_skipped_is_zero_with_grad() -> None:
    h = torch.randn(3, 4, requires_grad=True)
    for multi_label in (False, True):
        loss = mccl_loss(h, torch.eye(3), 0.1, 0.5, multi_label=multi_label)
        assert loss.item() == 0.0
        loss.backward()


def test_mccl_decide() -> None:
    inf = float("-inf")
    scores = torch.tensor([[0.1, 0.5, inf, 0.3], [0.4, 0.2, inf, 0.1], [inf, 0.2, inf, 0.3]])
    assert mccl_decide(scores).tolist() == [
        [False, True, False, False], [True, False, False, False], [False, False, False, True]
    ]
    assert mccl_decide(scores, multi_label=True).tolist() == [
        [False, True, False, True], [True, False, False, False], [False, True, False, True]
    ]
