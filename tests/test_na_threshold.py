"""The no-relation cut-off of single-label CE models, chosen on dev (ccre.inference.selection): the cut-off
search against a brute-force loop, the decision rule by hand, and trained models (with and without a dev-chosen
checkpoint) whose chosen cut-off gives, through the metric, the dev F1 the search reported."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ccre.cli import app
from ccre.data.documents import Document
from ccre.data.formats import read_documents, write_documents
from ccre.evaluation.scoring import score_predictions
from ccre.inference.predictor import Predictor
from ccre.inference.selection import choose_na_threshold
from ccre.inference.threshold import best_cutoff
from ccre.modeling.relation_model import RelationModel
from ccre.objectives.cross_entropy import CrossEntropyObjective
from formats_helpers import data_file


def brute_force_cutoff(values: np.ndarray, hits: np.ndarray, n_gold: int) -> tuple[float, float]:
    best = (1.0, 0.0)
    for theta in sorted(set(values.tolist()), reverse=True):
        chosen = values >= theta
        f1 = 2 * hits[chosen].sum() / (chosen.sum() + n_gold)
        if f1 > best[1]:
            best = (theta, f1)
    return best


@pytest.mark.parametrize("seed", range(20))
def test_cutoff_search_matches_a_brute_force_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    values = np.round(rng.random(n), 1)  # rounded: many ties
    hits = rng.random(n) < 0.3
    n_gold = int(hits.sum() + rng.integers(0, 5))
    theta, f1 = best_cutoff(values, hits, n_gold)
    ref_theta, ref_f1 = brute_force_cutoff(values, hits, n_gold)
    assert f1 == pytest.approx(ref_f1) and theta == pytest.approx(ref_theta)


def test_decision_rule_by_hand() -> None:
    """Probabilities (NA, r1, r2): (0.6, 0.3, 0.1) -> ratio 0.3/0.9 = 1/3; (0.5, 0.1, 0.4) -> 0.4/0.9 = 4/9."""
    probs = torch.tensor([[0.6, 0.3, 0.1], [0.5, 0.1, 0.4]])
    scores = probs.log()
    ce = CrossEntropyObjective(4, 3)
    assert ce.decide(scores).nonzero().tolist() == [[0, 0], [1, 0]]  # argmax: no-relation twice
    ce.na_threshold = 0.4
    assert ce.decide(scores).nonzero().tolist() == [[0, 0], [1, 2]]
    ce.na_threshold = 0.3
    assert ce.decide(scores).nonzero().tolist() == [[0, 1], [1, 2]]


def _train_with_dev(tmp_path: Path, *overrides: str) -> tuple[dict, RelationModel, list[Document]]:
    """A CE model trained on 3 BioRED documents with 6 dev documents and ``train.na_threshold_on_dev``, saved:
    its result line, the saved model and the dev documents."""
    docs = read_documents(data_file("biored/Train.PubTator"))
    dev = read_documents(data_file("biored/Dev.PubTator"))[:6]
    files = {}
    for name, part in (("train", docs[:3]), ("test", docs[3:6]), ("dev", dev)):
        files[name] = tmp_path / f"{name}.pubtator"
        write_documents(part, files[name], "pubtator")
    results = tmp_path / "r.jsonl"
    sets = [arg for o in ("encoder.max_length=64", "encoder.window_overlap=16", "train.na_threshold_on_dev=true",
                          *overrides) for arg in ("--set", o)]
    result = CliRunner().invoke(app, [
        "train", "--train", str(files["train"]), "--test", str(files["test"]), "--dev", str(files["dev"]),
        "--train-docs", "3", "--epochs", "2", *sets, "--output", str(tmp_path / "m"), "--results", str(results),
        "--no-progress"])
    assert result.exit_code == 0, result.output
    return json.loads(results.read_text()), RelationModel.from_pretrained(tmp_path / "m"), dev


def test_threshold_chosen_on_dev_gives_the_reported_dev_f1(tmp_path: Path) -> None:
    line, model, dev = _train_with_dev(tmp_path)
    assert model.objective.na_threshold == pytest.approx(line["na_threshold"], abs=1e-6)  # saved with the model
    f1 = score_predictions(dev, Predictor(model).predict(dev), "biored")["type"]["f1"]
    assert f1 == pytest.approx(line["na_threshold_dev_f1"], abs=1e-6)
    assert line["selected_dev_f1"] == line["na_threshold_dev_f1"]  # chosen with the kept weights, in one pass
    model.objective.na_threshold = None  # the plain argmax, which the search is compared with
    argmax = score_predictions(dev, Predictor(model).predict(dev), "biored")["type"]["f1"]
    assert argmax == pytest.approx(line["argmax_dev_f1"], abs=1e-6) and line["na_threshold_dev_f1"] >= argmax


def test_without_weight_selection_the_last_weights_get_their_cut_off(tmp_path: Path) -> None:
    """``train.eval_every=null``: no checkpoint is chosen on dev, yet the trainer still chooses the cut-off on dev
    for the weights it returns, saves it and reports it; the search run again on the saved model agrees."""
    line, model, dev = _train_with_dev(tmp_path, "train.eval_every=null")
    assert "selected_dev_f1" not in line  # the last weights, not a dev-chosen checkpoint
    again = choose_na_threshold(model, dev)
    assert model.objective.na_threshold == pytest.approx(line["na_threshold"], abs=1e-6)
    assert again.theta == pytest.approx(line["na_threshold"], abs=1e-6)
    assert again.f1 == pytest.approx(line["na_threshold_dev_f1"], abs=1e-6)
    f1 = score_predictions(dev, Predictor(model).predict(dev), "biored")["type"]["f1"]
    assert f1 == pytest.approx(line["na_threshold_dev_f1"], abs=1e-6)
