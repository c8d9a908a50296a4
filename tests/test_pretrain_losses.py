"""The pretraining losses against brute-force loops over their formulas, and the input corruption."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from formats_helpers import data_file
from torch.nn import functional as F

from ccre.data.formats import read_documents
from ccre.encoding.markers import DocumentEncoder
from ccre.modeling.encoder import load_encoder
from ccre.objectives.mtb import mtb_loss
from ccre.objectives.self_contrast import self_contrast_loss
from ccre.training.pretraining.masking import IGNORE, corrupt


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a, b, dim=0))


def brute_mtb(h, pos, neg, tau):
    total, anchors = 0.0, 0
    for i in range(len(h)):
        P = [j for j in range(len(h)) if pos[i][j]]
        N = [j for j in range(len(h)) if neg[i][j]]
        if not P:
            continue
        s = 0.0
        for j in P:
            num = math.exp(_cos(h[i], h[j]) / tau)
            z = num + sum(math.exp(_cos(h[i], h[k]) / tau) for k in N)
            s += math.log(num / z)
        total += -s / len(P)
        anchors += 1
    return total / anchors if anchors else 0.0


def brute_self(h, h_hat, tau):
    allh = list(h) + list(h_hat)
    n = len(h)
    total = 0.0
    for i in range(2 * n):
        partner = i + n if i < n else i - n
        num = math.exp(_cos(allh[i], allh[partner]) / tau)
        den = sum(math.exp(_cos(allh[i], allh[j]) / tau) for j in range(2 * n) if j != i)
        total += -math.log(num / den)
    return total / (2 * n)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mtb_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    n = 9
    h = torch.randn(n, 6, generator=g, dtype=torch.float64)
    groups = torch.randint(0, 3, (n,), generator=g)
    docs = torch.randint(0, 4, (n,), generator=g)
    share = groups[:, None] == groups[None, :]
    pos = share & (docs[:, None] != docs[None, :])
    neg = ~share
    neg[0, :] = False  # an anchor with positives but no negatives
    for tau in (0.05, 0.5):
        got = mtb_loss(h, pos, neg, tau)
        assert got.item() == pytest.approx(brute_mtb(h, pos.tolist(), neg.tolist(), tau), rel=1e-9, abs=1e-9)


def test_mtb_without_anchors_is_zero_with_gradient():
    h = torch.randn(4, 3, requires_grad=True)
    none = torch.zeros(4, 4, dtype=torch.bool)
    loss = mtb_loss(h, none, ~none, 0.1)
    assert loss.item() == 0.0
    loss.backward()
    assert h.grad is not None


@pytest.mark.parametrize("seed", [0, 1])
def test_self_contrast_matches_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(5, 4, generator=g, dtype=torch.float64)
    h_hat = h + 0.3 * torch.randn(5, 4, generator=g, dtype=torch.float64)
    for tau in (0.05, 1.0):
        got = self_contrast_loss(h, h_hat, tau).item()
        assert got == pytest.approx(brute_self(h, h_hat, tau), rel=1e-9)


@pytest.fixture(scope="module")
def encoded_docs():
    _, tokenizer = load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    enc = DocumentEncoder(tokenizer)
    docs = read_documents(data_file("biored/Dev.PubTator"))[:5]
    return tokenizer, enc, [enc.encode(d) for d in docs]


def test_markers_and_specials_never_masked(encoded_docs):
    tokenizer, enc, docs = encoded_docs
    random_ids = np.array([i for i in range(len(tokenizer)) if i not in set(tokenizer.all_special_ids) | {enc.marker_id}])
    for seed in range(5):
        for doc in docs:
            rng = np.random.default_rng(seed)
            out, labels = corrupt(doc, rng, mask_id=tokenizer.mask_token_id, random_ids=random_ids,
                                  blank_prob=0.7, mlm_prob=0.5)
            markers = doc.input_ids == enc.marker_id
            assert (out.input_ids[markers] == enc.marker_id).all()
            assert (labels[markers] == IGNORE).all()
            # a marker never appears where there was none
            assert ((out.input_ids == enc.marker_id) == markers).all()
            assert not np.isin(out.input_ids[~markers], [tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id]).any()
            changed = out.input_ids != doc.input_ids
            assert np.isin(np.flatnonzero(changed), doc.piece_pos).all()


def test_blanking_and_mlm_proportions(encoded_docs):
    tokenizer, enc, docs = encoded_docs
    random_ids = np.arange(1000, 2000)
    doc = docs[0]
    out, labels = corrupt(doc, np.random.default_rng(0), mask_id=tokenizer.mask_token_id, random_ids=random_ids,
                          blank_prob=1.0, mlm_prob=0.0)
    for first, last in doc.mention_pieces:
        assert (out.input_ids[doc.piece_pos[first : last + 1]] == tokenizer.mask_token_id).all()
    assert (labels == IGNORE).all()
    chosen = masked = 0
    for seed in range(40):
        out, labels = corrupt(doc, np.random.default_rng(seed), mask_id=tokenizer.mask_token_id,
                              random_ids=random_ids, blank_prob=0.0, mlm_prob=0.15)
        t = labels != IGNORE
        chosen += t.sum()
        masked += (out.input_ids[t] == tokenizer.mask_token_id).sum()
        assert (labels[t] == doc.input_ids[t]).all()
    assert chosen / (40 * len(doc.piece_pos)) == pytest.approx(0.15, abs=0.02)
    assert masked / chosen == pytest.approx(0.8, abs=0.04)
