"""The no-text prior (ccre.modeling.prior): counts, rates and threshold against a hand-counted example, a save/load
round trip, and `ccre train --objective prior` on real BioRED documents."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccre.cli import app
from ccre.data.documents import Document, Entity, Relation
from ccre.modeling.prior import TypePairPrior
from formats_helpers import data_file


def doc(doc_id: str, types: list[str], relations: list[tuple[int, int, str]]) -> Document:
    entities = [Entity(f"{doc_id}-{i}", t) for i, t in enumerate(types)]
    return Document(doc_id, "", entities=entities,
                    relations=[Relation(entities[h].id, entities[t].id, r, directed=False) for h, t, r in relations])


def hand_counted() -> list[Document]:
    """Type pair X-Y: 4 candidate pairs, 2 with R (rate 1/2). X-Z: 3 pairs, 1 with S (rate 1/3). Y-Z: none.

    Thresholds, micro F1 over the 3 gold facts: 1/2 predicts the 4 X-Y pairs, 2 right: 2*2/(4+3) = 0.571;
    1/3 adds the 3 X-Z pairs, 1 more right: 2*3/(7+3) = 0.6. So the threshold is 1/3."""
    return [
        doc("a", ["X", "Y", "Y"], [(0, 1, "R")]),      # X-Y twice (one R), Y-Y once
        doc("b", ["X", "Y", "Z"], [(0, 1, "R")]),      # X-Y (R), X-Z, Y-Z
        doc("c", ["Y", "X", "Z", "Z"], [(1, 2, "S")]),  # X-Y, X-Z twice (one S), Y-Z twice, Z-Z
    ]


def test_counts_and_threshold_match_the_hand_count() -> None:
    prior = TypePairPrior.fit(hand_counted())
    assert prior.relation == {("X", "Y"): "R", ("X", "Z"): "S"}
    assert prior.rate[("X", "Y")] == pytest.approx(2 / 4) and prior.rate[("X", "Z")] == pytest.approx(1 / 3)
    assert prior.threshold == pytest.approx(1 / 3)
    none, r, s = (prior.space.index(name) for name in (prior.space.labels[0], "R", "S"))
    expected = {("X", "Y"): {none: 2, r: 2}, ("X", "Z"): {none: 2, s: 1}, ("Y", "Y"): {none: 1},
                ("Y", "Z"): {none: 3}, ("Z", "Z"): {none: 1}}  # candidate pairs per label, by hand
    assert {k: {i: int(n) for i, n in enumerate(row) if n} for k, row in prior.counts.items()} == expected
    predicted = prior.predict([doc("new", ["Z", "X", "Y"], [])])[0]
    assert sorted((p.head, p.tail, p.type) for p in predicted) == [("new-0", "new-1", "S"), ("new-1", "new-2", "R")]


def test_a_dev_split_chooses_the_threshold(tmp_path: Path) -> None:
    """On documents where X-Z pairs never hold S, the threshold rises to X-Y's rate."""
    dev = [doc("d", ["X", "Y", "Z"], [(0, 1, "R")])]
    prior = TypePairPrior.fit(hand_counted(), select=dev)
    assert prior.threshold == pytest.approx(1 / 2)
    prior.save_pretrained(tmp_path / "prior")
    loaded = TypePairPrior.from_pretrained(tmp_path / "prior")
    assert (loaded.relation, loaded.rate, loaded.threshold) == (prior.relation, prior.rate, prior.threshold)


def test_ccre_train_objective_prior_on_biored(tmp_path: Path) -> None:
    data = data_file("biored/Train.PubTator").parents[1]
    results = tmp_path / "r.jsonl"
    result = CliRunner().invoke(app, ["train", "--objective", "prior", "--data-dir", str(data), "--train-docs", "20",
                                      "--results", str(results), "--output", str(tmp_path / "m"), "--no-progress"])
    assert result.exit_code == 0, result.output
    line = json.loads(results.read_text())
    assert line["method"] == "prior" and line["train_docs"] == 20 and line["prior_selected_on"] == "dev"
    assert 0.05 < line["metrics"]["type"]["f1"] < 0.5  # a floor, far from perfect, well above nothing
    assert json.loads((tmp_path / "m" / "ccre.json").read_text())["kind"] == "prior"


def test_a_trained_model_is_printed_and_recorded_beside_its_floor(tmp_path: Path) -> None:
    """`ccre train` prints the prior's P / R / F1 beside the model's and records them in the result line: the
    prior fit on the same training documents, scored on the same test documents."""
    from ccre.data.formats import read_documents
    from ccre.evaluation.scoring import score_predictions

    train_file, test_file = data_file("biored/Train.PubTator"), data_file("biored/Test.PubTator")
    train, test = read_documents(train_file)[:3], read_documents(test_file)[:5]
    small = tmp_path / "train.pubtator"
    small_test = tmp_path / "test.pubtator"
    from ccre.data.formats import write_documents

    write_documents(train, small, "pubtator")
    write_documents(test, small_test, "pubtator")
    results = tmp_path / "r.jsonl"
    result = CliRunner().invoke(app, [
        "train", "--train", str(small), "--test", str(small_test), "--train-docs", "3", "--epochs", "1",
        "--set", "encoder.max_length=64", "--set", "encoder.window_overlap=16", "--results", str(results),
        "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "prior F1" in result.output
    line = json.loads(results.read_text())
    expected = score_predictions(test, TypePairPrior.fit(train).predict(test), "biored", train=train)
    assert line["prior_metrics"] == expected
    assert f"{100 * expected['type']['f1']:.2f}" in result.output
