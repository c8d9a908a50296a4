"""The calibrated no-relation margin of multi-label contrastive models (ccre.inference.threshold): the F1-optimal
threshold against a brute-force search, leave-one-document-out scores against a loop over documents, and
on real Re-DocRED documents."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from formats_helpers import data_file

from ccre.config import CcreConfig
from ccre.data.formats import read_documents
from ccre.data.labels import LabelSpace
from ccre.inference.predictor import Predictor
from ccre.inference.threshold import best_margin, held_out_scores
from ccre.modeling.embedding import build_memory
from ccre.modeling.memory import EmbeddingMemory, EntryMeta
from ccre.modeling.relation_model import RelationModel
from ccre.objectives.contrastive import MCCLObjective
from ccre.objectives.mccl import mccl_decide


def _f1_at(margins: np.ndarray, gold: np.ndarray, theta: float) -> float:
    predicted = margins > theta
    tp = int((predicted & gold).sum())
    return 2 * tp / (int(predicted.sum()) + int(gold.sum())) if tp else 0.0


def test_best_margin_hand_counted() -> None:
    # sorted margins 0.9 0.5 0.5 0.1 -0.3 with gold T T F F F (2 gold labels): predict 1: tp 1, F1 2/(1+2);
    # predict 3 (the tie goes together): tp 2, 4/(3+2) = 0.8; predict 4: 4/6; predict 5: 4/7.
    # Best: the first three, i.e. theta = 0.1 (the first margin left out)
    margins = np.array([0.5, 0.9, 0.1, 0.5, -0.3])
    gold = np.array([True, True, False, False, False])
    theta, f1 = best_margin(margins, gold)
    assert theta == 0.1 and math.isclose(f1, 0.8)
    assert (margins > theta).tolist() == [True, True, False, True, False]


@pytest.mark.parametrize("seed", range(6))
def test_best_margin_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    margins = np.round(rng.normal(size=(40, 5)), 1)  # rounding makes ties
    margins[rng.random(margins.shape) < 0.1] = -np.inf
    gold = rng.random(margins.shape) < 0.5 * (margins > 0) + 0.05
    theta, f1 = best_margin(margins, gold)
    candidates = [-np.inf, *np.unique(margins[np.isfinite(margins)])]
    brute = max(_f1_at(margins, gold, t) for t in candidates)
    assert math.isclose(f1, brute) and math.isclose(_f1_at(margins, gold, theta), brute)
    # ties go to the fewest predictions: no larger candidate reaches the same F1
    assert all(_f1_at(margins, gold, t) < brute - 1e-12 for t in candidates if t > theta)


def test_best_margin_without_gold_predicts_nothing() -> None:
    margins = np.array([0.3, -0.2, 0.7])
    theta, f1 = best_margin(margins, np.zeros(3, dtype=bool))
    assert f1 == 0.0 and not (margins > theta).any()


def _mccl_mean_score(q: np.ndarray, cands: np.ndarray, cand_targets: np.ndarray, c: int, tau2: float) -> float:
    """s_c of one query, written out: tau2 * log of the mean of exp(cos / tau2) over the instances of c."""
    sims = [float(q @ v / np.linalg.norm(q) / np.linalg.norm(v)) for v, t in zip(cands, cand_targets) if t[c] > 0]
    if not sims:
        return -math.inf
    return tau2 * math.log(sum(math.exp(s / tau2) for s in sims) / len(sims))


def test_held_out_scores_leave_each_document_out() -> None:
    rng = np.random.default_rng(0)
    n, c = 30, 4
    vectors = torch.from_numpy(rng.normal(size=(n, 6))).float()
    targets = torch.zeros(n, c)
    targets[torch.arange(n), torch.from_numpy(rng.integers(0, c, n))] = 1
    docs = [f"d{i % 4}" for i in range(n)]
    docs[-1] = ""  # an entry without a document is a document of its own
    objective = MCCLObjective(multi_label=True, tau=0.1, tau2=0.3)
    rows, scores = held_out_scores(vectors, targets, docs, objective.scorer.scores, budget=50)
    assert sorted(rows.tolist()) == list(range(n))
    v, t = vectors.numpy(), targets.numpy()
    for row, got in zip(rows.tolist(), scores.tolist()):
        others = [j for j in range(n) if (j != row if docs[row] == "" else docs[j] != docs[row])]
        want = [_mccl_mean_score(v[row], v[others], t[others], k, 0.3) for k in range(c)]
        assert got == pytest.approx(want, abs=1e-5)


def test_held_out_scores_samples_at_most_max_documents() -> None:
    vectors, targets = torch.randn(20, 3), torch.eye(2)[torch.arange(20) % 2]
    docs = [f"d{i}" for i in range(20)]
    objective = MCCLObjective(multi_label=True, tau=0.1, tau2=0.3)
    rows, _ = held_out_scores(vectors, targets, docs, objective.scorer.scores, budget=100, max_documents=5)
    assert len(rows) == 5 and len(set(rows.tolist())) == 5


def test_mccl_decide_with_margin() -> None:
    scores = torch.tensor([[0.2, 0.5, 0.25, -math.inf], [0.2, 0.1, 0.28, 0.6]])
    assert mccl_decide(scores, True, 0.1).tolist() == [[False, True, False, False], [False, False, False, True]]
    assert mccl_decide(scores, True, 0.5).tolist() == [[True, False, False, False], [True, False, False, False]]


def test_objective_calibrates_on_first_decision_and_again_after_new_memory() -> None:
    rng = np.random.default_rng(1)
    memory = EmbeddingMemory(4, 3)
    vectors = rng.normal(size=(24, 4))
    targets = np.eye(3)[np.arange(24) % 3].astype(np.float32)
    memory.add(vectors, targets, [EntryMeta(f"d{i % 3}", "h", "t") for i in range(24)])
    objective = MCCLObjective(multi_label=True, tau=0.1, tau2=0.3)
    objective.set_memory(memory)
    scores = objective.scores(torch.from_numpy(vectors).float())
    objective.decide(scores)
    rows, held = held_out_scores(*memory.tensors()[:2], [m.doc_id for m in memory.meta], objective.scorer.scores,
                                 budget=1000)
    expected, _ = best_margin((held[:, 1:] - held[:, :1]).numpy(), targets[rows, 1:] > 0)
    assert objective.decision.margin == pytest.approx(expected)
    objective.set_memory(memory)
    assert objective.decision.margin is None
    objective.decide(scores)
    objective.set_inference("knn")  # other scores, another margin
    assert objective.decision.margin is None and objective.scorer.mode == "knn" and objective.scorer.pool == "mean"
    knn = objective.scores(torch.from_numpy(vectors).float())
    objective.decide(knn)
    rows, held = held_out_scores(*memory.tensors()[:2], [m.doc_id for m in memory.meta], objective.scorer.scores,
                                 budget=1000)
    assert objective.decision.margin == pytest.approx(best_margin((held[:, 1:] - held[:, :1]).numpy(), targets[rows, 1:] > 0)[0])
    zero = MCCLObjective(multi_label=True, tau=0.1, tau2=0.3, na_margin="zero")
    zero.set_memory(memory)
    assert zero.decide(scores).equal(mccl_decide(scores, True)) and zero.decision.margin == 0.0


def test_calibrated_margin_on_real_redocred_documents() -> None:
    """An MCCL model scoring Re-DocRED pairs against a memory of 6 documents: "above no-relation" floods
    unseen documents with relations; the calibrated margin is the F1-best on the training documents left out
    one at a time, and predicts far fewer. (The model is untrained, so F1 itself is noise either way: what
    calibration does for trained models is measured by the study, ``benchmarks/results/study.jsonl``.)"""
    docs = read_documents(data_file("redocred/dev_revised.json"))
    train, test = docs[:6], docs[6:9]
    config = CcreConfig().with_overrides({"data.dataset": "redocred", "objective.name": "mccl",
                                          "encoder.max_length": 256, "encoder.window_overlap": 64})
    space = LabelSpace.from_documents(train)
    assert space.multi_label
    model = RelationModel.create(config, space).eval()
    memory = build_memory(model, train)
    counts = {}
    for margin in ("zero", "calibrated"):
        model.objective.decision.na_margin = margin
        model.set_memory(memory)
        counts[margin] = sum(map(len, Predictor(model).predict(test)))
    vectors, targets, _ = memory.tensors()
    rows, held = held_out_scores(vectors, targets, [m.doc_id for m in memory.meta], model.objective.scorer.scores,
                                 budget=1 << 20)
    assert sorted(set(m.doc_id for m in memory.meta)) == sorted(d.id for d in train) and len(rows) == len(memory)
    margins, gold = (held[:, 1:] - held[:, :1]).numpy(), targets[rows, 1:].numpy() > 0
    assert model.objective.decision.margin == pytest.approx(best_margin(margins, gold)[0])
    assert _f1_at(margins, gold, model.objective.decision.margin) >= _f1_at(margins, gold, 0.0)
    assert model.objective.decision.margin > 0 and counts["calibrated"] < counts["zero"] / 2


def test_contrastive_multi_label_mean_score_warns(caplog: pytest.LogCaptureFixture) -> None:
    """The warning fires for SupCon/MCCL with the mean score on Re-DocRED (multi-label), and not for CE, the sum
    score, or single-label BioRED."""
    from ccre.config import ObjectiveConfig
    from ccre.training.finetune import warn_contrastive_multi_label

    multi = LabelSpace.from_documents(read_documents(data_file("redocred/dev_revised.json"))[:5])
    single = LabelSpace.from_documents(read_documents(data_file("biored/Train.PubTator"))[:5])
    assert multi.multi_label and not single.multi_label
    with caplog.at_level("WARNING", logger="ccre.training.finetune"):
        assert warn_contrastive_multi_label(ObjectiveConfig(name="mccl"), multi)
        assert warn_contrastive_multi_label(ObjectiveConfig(name="supcon"), multi)
        assert not warn_contrastive_multi_label(ObjectiveConfig(name="mccl", mccl_pool="sum"), multi)
        assert not warn_contrastive_multi_label(ObjectiveConfig(name="ce"), multi)
        assert not warn_contrastive_multi_label(ObjectiveConfig(name="mccl"), single)
    assert len([r for r in caplog.records if "multi-label" in r.getMessage()]) == 2
