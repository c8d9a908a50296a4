"""Metrics on hand-counted examples, edge cases, and DocRED against a brute-force reimplementation."""

from __future__ import annotations

import random

import pytest

from ccre.data.documents import Document, Entity, Mention, Relation
from ccre.evaluation.biored import biored_scores
from ccre.evaluation.docred import docred_scores


def rel(head: str, tail: str, type_: str, novel: bool | None = None) -> Relation:
    return Relation(head, tail, type_, directed=False, novel=novel)


# ----------------------------------------------------------------------------------------------- BioRED


def biored_case() -> tuple[list[Document], list[Document]]:
    gold = [
        Document(
            id="d1",
            text="",
            relations=[
                rel("A", "B", "Association", True),
                rel("A", "C", "Positive_Correlation", False),
                rel("B", "C", "Bind", False),
            ],
        ),
        Document(id="d2", text="", relations=[rel("X", "Y", "Association", False)]),
        # d3 has no prediction document at all: its relation is a false negative at every level.
        Document(id="d3", text="", relations=[rel("P", "Q", "Cotreatment", True)]),
    ]
    pred = [
        Document(
            id="d1",
            text="",
            relations=[
                rel("B", "A", "Association", True),  # reversed pair, right type, right novelty
                rel("A", "B", "Association", True),  # duplicate of the line above
                rel("C", "A", "Positive_Correlation", True),  # reversed, right type, wrong novelty
                rel("B", "C", "Association", False),  # right pair, wrong type
            ],
        ),
        Document(
            id="d2",
            text="",
            relations=[
                rel("Y", "X", "Association", False),  # reversed, fully right
                rel("X", "Z", "Association", False),  # pair not in gold
            ],
        ),
    ]
    return gold, pred


def test_biored_hand_counted() -> None:
    gold, pred = biored_case()
    scores = biored_scores(gold, pred)
    # pair level, gold d1 {AB, AC, BC}, d2 {XY}, d3 {PQ} = 5; pred d1 {AB, AC, BC}, d2 {XY, XZ} = 5
    #   tp = 3 (d1) + 1 (XY) = 4, fp = 1 (XZ), fn = 1 (PQ)
    assert (scores["pair"]["tp"], scores["pair"]["fp"], scores["pair"]["fn"]) == (4, 1, 1)
    assert scores["pair"]["p"] == pytest.approx(4 / 5)
    assert scores["pair"]["r"] == pytest.approx(4 / 5)
    assert scores["pair"]["f1"] == pytest.approx(4 / 5)
    # type level, pred d1 {AB-Assoc, AC-PosCorr, BC-Assoc}: AB and AC right, BC-Assoc wrong (gold BC-Bind)
    #   tp = 2 (d1) + 1 (XY) = 3, fp = 1 (BC-Assoc) + 1 (XZ) = 2, fn = 1 (BC-Bind) + 1 (PQ) = 2
    assert (scores["type"]["tp"], scores["type"]["fp"], scores["type"]["fn"]) == (3, 2, 2)
    assert scores["type"]["p"] == pytest.approx(3 / 5)
    assert scores["type"]["r"] == pytest.approx(3 / 5)
    assert scores["type"]["f1"] == pytest.approx(3 / 5)
    # novelty level, AC has novel=True against gold False: it moves from tp to fp and fn
    #   tp = 1 (AB) + 1 (XY) = 2, fp = 2 (AC, BC) + 1 (XZ) = 3, fn = 2 (AC, BC) + 1 (PQ) = 3
    assert (scores["novelty"]["tp"], scores["novelty"]["fp"], scores["novelty"]["fn"]) == (2, 3, 3)
    assert scores["novelty"]["p"] == pytest.approx(2 / 5)
    assert scores["novelty"]["r"] == pytest.approx(2 / 5)
    assert scores["novelty"]["f1"] == pytest.approx(2 / 5)


def test_biored_unequal_precision_and_recall() -> None:
    gold = [Document(id="d", text="", relations=[rel("A", "B", "Bind"), rel("A", "C", "Bind")])]
    pred = [Document(id="d", text="", relations=[rel("B", "A", "Bind")])]
    s = biored_scores(gold, pred)["type"]
    # tp 1, fp 0, fn 1: p = 1, r = 1/2, f1 = 2 * 1 * 0.5 / 1.5 = 2/3
    assert (s["tp"], s["fp"], s["fn"]) == (1, 0, 1)
    assert (s["p"], s["r"]) == (1.0, 0.5)
    assert s["f1"] == pytest.approx(2 / 3)


def test_biored_empty_predictions_are_zero() -> None:
    gold, _ = biored_case()
    for pred in ([], [Document(id="d1", text="")]):
        scores = biored_scores(gold, pred)
        for level in ("pair", "type", "novelty"):
            assert scores[level]["p"] == scores[level]["r"] == scores[level]["f1"] == 0.0
            assert scores[level]["tp"] == scores[level]["fp"] == 0
    assert biored_scores(gold, [])["pair"]["fn"] == 5
    empty = biored_scores([], [])
    assert empty["type"] == {"p": 0.0, "r": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}


def test_biored_perfect_prediction() -> None:
    gold, _ = biored_case()
    scores = biored_scores(gold, gold)
    assert all(scores[level]["f1"] == 1.0 for level in ("pair", "type", "novelty"))


def test_biored_unknown_predicted_document_is_named() -> None:
    gold, pred = biored_case()
    with pytest.raises(ValueError, match="'nope'"):
        biored_scores(gold, pred + [Document(id="nope", text="")])


# ----------------------------------------------------------------------------------------------- DocRED


def docred_doc(title: str, names: list[list[str]], labels: list[tuple[int, int, str]]) -> Document:
    """A DocRED-like document: one entity per vertex (id = vertex index), mentions carrying names."""
    mentions: list[Mention] = []
    entities: list[Entity] = []
    for i, vertex in enumerate(names):
        idx = []
        for name in vertex:
            idx.append(len(mentions))
            mentions.append(Mention(0, 0, name.lower(), "MISC", sent_id=0, name=name))
        entities.append(Entity(id=str(i), type="MISC", mentions=idx, name=vertex[0]))
    relations = [Relation(str(h), str(t), r) for h, t, r in labels]
    return Document(id=title, title=title, text="", mentions=mentions, entities=entities, relations=relations)


def docred_case() -> tuple[list[Document], list[dict], list[Document]]:
    gold = [
        docred_doc(
            "T1",
            [["Paris", "the city"], ["France"], ["Seine"]],
            [(0, 1, "P17"), (2, 1, "P17"), (0, 2, "P206")],
        ),
        docred_doc("T2", [["Berlin"], ["Germany", "FRG"]], [(0, 1, "P17"), (1, 0, "P150")]),
    ]
    train = [
        # (Paris, France, P17) is a training fact, through the head's first mention name.
        docred_doc("train1", [["Paris"], ["France"]], [(0, 1, "P17")]),
        # (Berlin, FRG, P17): matches T2's (0, 1, P17) through the tail's second mention name.
        docred_doc("train2", [["Berlin"], ["FRG"]], [(0, 1, "P17")]),
        # same names but another relation: not a training fact for P206 or P150
        docred_doc("train3", [["Seine"], ["France"]], [(0, 1, "P206")]),
    ]
    pred = [
        {"title": "T1", "h_idx": 0, "t_idx": 1, "r": "P17"},  # correct, in train (Paris, France, P17)
        {"title": "T1", "h_idx": 0, "t_idx": 1, "r": "P17"},  # duplicate: dropped
        {"title": "T1", "h_idx": 2, "t_idx": 1, "r": "P17"},  # correct, not in train
        {"title": "T1", "h_idx": 1, "t_idx": 0, "r": "P17"},  # wrong direction
        {"title": "T2", "h_idx": 0, "t_idx": 1, "r": "P17"},  # correct, in train via name "FRG"
        {"title": "T2", "h_idx": 1, "t_idx": 0, "r": "P150"},  # correct, not in train
        {"title": "T9", "h_idx": 0, "t_idx": 1, "r": "P17"},  # unknown title: wrong, still counted
    ]
    return gold, pred, train


def test_docred_hand_counted() -> None:
    gold, pred, train = docred_case()
    # gold facts: 3 (T1) + 2 (T2) = 5. predictions after de-duplication: 6. correct: 4.
    # p = 4/6 = 2/3, r = 4/5, f1 = 2 * (2/3) * (4/5) / (2/3 + 4/5) = (16/15) / (22/15) = 8/11
    s = docred_scores(gold, pred)
    assert (s["tp"], s["n_pred"], s["n_gold"]) == (4, 6, 5)
    assert s["p"] == pytest.approx(2 / 3)
    assert s["r"] == pytest.approx(4 / 5)
    assert s["f1"] == pytest.approx(8 / 11)
    assert s["ign_f1"] == s["f1"]  # no training data: nothing to ignore
    # With train: correct in train = 2 (T1 Paris-France P17, T2 Berlin-FRG P17).
    # p_ign = (4 - 2) / (6 - 2) = 1/2; ign_f1 = 2 * (1/2) * (4/5) / (1/2 + 4/5) = (4/5) / (13/10) = 8/13
    s = docred_scores(gold, pred, train=train)
    assert s["f1"] == pytest.approx(8 / 11)
    assert s["ign_f1"] == pytest.approx(8 / 13)


def test_docred_accepts_string_indices_and_any_iterable() -> None:
    gold, pred, _ = docred_case()
    as_strings = ({**x, "h_idx": str(x["h_idx"]), "t_idx": str(x["t_idx"])} for x in pred)
    assert docred_scores(gold, as_strings) == docred_scores(gold, pred)


def test_docred_empty_predictions_are_zero() -> None:
    gold, _, train = docred_case()
    s = docred_scores(gold, [], train=train)
    assert s == {"p": 0.0, "r": 0.0, "f1": 0.0, "ign_f1": 0.0, "tp": 0, "n_pred": 0, "n_gold": 5}
    assert docred_scores([], [])["f1"] == 0.0


def test_docred_all_correct_in_train() -> None:
    # every prediction is a correct training fact: p_ign's denominator is 0, so ign_f1 is 0
    gold = [docred_doc("T", [["A"], ["B"]], [(0, 1, "P1")])]
    s = docred_scores(gold, [{"title": "T", "h_idx": 0, "t_idx": 1, "r": "P1"}], train=gold)
    assert s["f1"] == 1.0
    assert s["ign_f1"] == 0.0


def brute_force(gold_json: list[dict], pred: list[dict], train_json: list[dict]) -> tuple[float, float]:
    """A literal re-reading of the official scorer over DocRED JSON dicts: (F1, Ign F1)."""
    fact_in_train = set()
    for d in train_json:
        for lab in d["labels"]:
            for n1 in d["vertexSet"][lab["h"]]:
                for n2 in d["vertexSet"][lab["t"]]:
                    fact_in_train.add((n1["name"], n2["name"], lab["r"]))
    std = {}
    vertex_sets = {}
    for d in gold_json:
        vertex_sets[d["title"]] = d["vertexSet"]
        for lab in d["labels"]:
            std[(d["title"], lab["r"], lab["h"], lab["t"])] = True
    answers = []
    for x in sorted(pred, key=lambda x: (x["title"], x["h_idx"], x["t_idx"], x["r"])):
        if not answers or (x["title"], x["h_idx"], x["t_idx"], x["r"]) != tuple(
            answers[-1][k] for k in ("title", "h_idx", "t_idx", "r")
        ):
            answers.append(x)
    correct = correct_in_train = 0
    for x in answers:
        if x["title"] not in vertex_sets:
            continue
        if (x["title"], x["r"], x["h_idx"], x["t_idx"]) in std:
            correct += 1
            vs = vertex_sets[x["title"]]
            if any(
                (n1["name"], n2["name"], x["r"]) in fact_in_train for n1 in vs[x["h_idx"]] for n2 in vs[x["t_idx"]]
            ):
                correct_in_train += 1
    p = correct / len(answers) if answers else 0.0
    r = correct / len(std) if std else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    denominator = len(answers) - correct_in_train
    p_ign = (correct - correct_in_train) / denominator if denominator else 0.0
    ign = 2 * p_ign * r / (p_ign + r) if p_ign + r else 0.0
    return f1, ign


def random_json_doc(rng: random.Random, title: str) -> dict:
    names = ["A", "B", "C", "D", "E", "F"]
    n_vertices = rng.randint(2, 5)
    vertex_set = [[{"name": rng.choice(names)} for _ in range(rng.randint(1, 3))] for _ in range(n_vertices)]
    labels = [
        {"h": rng.randrange(n_vertices), "t": rng.randrange(n_vertices), "r": rng.choice(["P1", "P2", "P3"])}
        for _ in range(rng.randint(0, 6))
    ]
    return {"title": title, "vertexSet": vertex_set, "labels": labels}


def json_to_document(d: dict) -> Document:
    return docred_doc(d["title"], [[m["name"] for m in v] for v in d["vertexSet"]], [(x["h"], x["t"], x["r"]) for x in d["labels"]])


def test_docred_matches_brute_force_on_random_facts() -> None:
    rng = random.Random(7)
    for trial in range(200):
        gold_json = [random_json_doc(rng, f"G{i}") for i in range(rng.randint(0, 4))]
        train_json = [random_json_doc(rng, f"train{i}") for i in range(rng.randint(0, 4))]
        pred = []
        for _ in range(rng.randint(0, 15)):
            if gold_json and rng.random() < 0.9:
                doc = rng.choice(gold_json)
                n = len(doc["vertexSet"])
                title = doc["title"]
            else:
                n, title = 3, "unknown"
            pred.append(
                {"title": title, "h_idx": rng.randrange(n), "t_idx": rng.randrange(n), "r": rng.choice(["P1", "P2", "P3"])}
            )
        f1, ign = brute_force(gold_json, pred, train_json)
        gold_docs = [json_to_document(d) for d in gold_json]
        s = docred_scores(gold_docs, pred, train=[json_to_document(d) for d in train_json])
        assert s["f1"] == pytest.approx(f1), trial
        assert s["ign_f1"] == pytest.approx(ign), trial
