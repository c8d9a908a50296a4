"""The schedule by steps (train.min_steps), class biases started at the label distribution (objective.bias_init)
and the weights chosen on dev during training (train.eval_every): plans counted by hand, biases against the
frequencies they encode, and a trained model whose kept weights score on dev what the run recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ccre.cli import app
from ccre.config import TrainConfig
from ccre.objectives.adaptive_threshold import AdaptiveThresholdObjective
from ccre.objectives.cross_entropy import CrossEntropyObjective
from ccre.training.finetune import training_plan
from formats_helpers import data_file


@pytest.mark.parametrize(("docs", "batch", "epochs", "min_steps", "expected_epochs"), [
    (5, 2, None, 0, 30),  # the default: 30 epochs of 3 batches
    (5, 2, None, 120, 40),  # 120 steps asked: 40 epochs of 3
    (5, 2, None, 60, 30),  # the 30 epochs already make 90
    (4, 4, None, 100, 100),  # the study's smallest cell: one batch an epoch
    (4, 4, 2, 100, 2),  # epochs given: exactly those
])
def test_plan_takes_enough_epochs_for_min_steps(docs: int, batch: int, epochs: int | None, min_steps: int,
                                                expected_epochs: int) -> None:
    tc = TrainConfig(epochs=epochs, batch_size=batch, min_steps=min_steps)
    assert tc.epochs_for(docs) == expected_epochs
    plan = training_plan(list(range(10, 10 + docs)), batch, tc.epochs_for(docs), seed=3)
    per_epoch = -(-docs // batch)
    assert len(plan) == expected_epochs * per_epoch
    assert [e for e, _ in plan] == [e for e in range(expected_epochs) for _ in range(per_epoch)]
    for e in range(expected_epochs):  # every epoch sees every document once
        assert sorted(i for epoch, idx in plan if epoch == e for i in idx) == list(range(docs))


def test_softmax_prior_logits_give_the_class_frequencies() -> None:
    ce = CrossEntropyObjective(8, 3)
    probs = torch.softmax(ce.prior_logits(torch.tensor([80.0, 15.0, 5.0]), 100), dim=0)
    assert probs.tolist() == pytest.approx([0.80, 0.15, 0.05], abs=1e-6)


def test_adaptive_threshold_prior_logits_give_each_relation_rate() -> None:
    """Multi-label: relation r is decided when its logit beats the threshold class's; at the log-odds of r's rate
    (threshold 0), sigmoid(z_r - z_TH) is the rate."""
    atl = AdaptiveThresholdObjective(8, 3)
    logits = atl.prior_logits(torch.tensor([90.0, 8.0, 3.0]), 100)  # r1 in 8 of 100 pairs, r2 in 3
    assert logits[0].item() == 0.0
    assert torch.sigmoid(logits[1:] - logits[0]).tolist() == pytest.approx([0.08, 0.03], abs=1e-6)


@pytest.mark.parametrize("type_embedding", [False, True])
def test_classifier_starts_at_each_type_pairs_label_distribution(type_embedding: bool) -> None:
    """Counted by hand over the candidate pairs: the biases give the overall class frequencies and, with a type
    embedding, W T[t] + b gives type pair t's frequencies smoothed by one pair of the overall distribution."""
    from collections import Counter, defaultdict

    from ccre.config import ModelConfig
    from ccre.data.formats import read_documents
    from ccre.data.labels import LabelSpace
    from ccre.modeling.relation_model import RelationModel

    docs = read_documents(data_file("biored/Train.PubTator"))[:4]
    space = LabelSpace.from_documents(docs)
    model = RelationModel.create(ModelConfig().with_overrides({"encoder.type_embedding": type_embedding}), space)
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    model.start_at_label_distribution(encoded)
    overall: Counter[int] = Counter()
    by_types: dict[tuple[str, str], Counter[int]] = defaultdict(Counter)
    for doc, enc in zip(docs, encoded):
        for (h, t), row in zip(enc.pairs, enc.targets):
            label = int(np.flatnonzero(row)[0])  # BioRED: one label per pair
            overall[label] += 1
            by_types[tuple(sorted((doc.entities[h].type, doc.entities[t].type)))][label] += 1
    n = sum(overall.values())
    freq = np.array([overall[c] for c in range(space.num_labels)]) / n
    bias = model.objective.classifier.bias.detach()
    present = freq > 0
    assert torch.softmax(bias, 0).numpy()[present] == pytest.approx(freq[present], abs=1e-3)
    if not type_embedding:
        return
    emb = model.pair_embedder
    for (a, b), counts in by_types.items():
        ia, ib = space.type_indices([a, b]).tolist()
        smoothed = (np.array([counts[c] for c in range(space.num_labels)]) + freq) / (sum(counts.values()) + 1)
        for row in (ia * emb.num_types + ib, ib * emb.num_types + ia):  # unordered: both orders alike
            probs = torch.softmax(model.objective.classifier(emb.types.weight[row]).detach(), 0).numpy()
            assert probs[present] == pytest.approx(smoothed[present], abs=1e-3)


def _split(tmp_path: Path) -> dict[str, Path]:
    from ccre.data.formats import read_documents, write_documents

    docs = read_documents(data_file("biored/Train.PubTator"))
    dev = read_documents(data_file("biored/Dev.PubTator"))[:5]
    files = {}
    for name, part in (("train", docs[:3]), ("test", docs[3:5]), ("dev", dev)):
        files[name] = tmp_path / f"{name}.pubtator"
        write_documents(part, files[name], "pubtator")
    return files


def test_training_keeps_the_weights_that_scored_best_on_dev(tmp_path: Path) -> None:
    from ccre.data.formats import read_documents
    from ccre.inference.selection import dev_f1
    from ccre.modeling.relation_model import RelationModel

    files = _split(tmp_path)
    results = tmp_path / "r.jsonl"
    result = CliRunner().invoke(app, [
        "train", "--train", str(files["train"]), "--test", str(files["test"]), "--dev", str(files["dev"]),
        "--train-docs", "3", "--epochs", "2", "--batch-size", "1",
        "--set", "train.eval_every=2", "--set", "train.lr=3e-4", "--set", "train.head_lr=3e-2",
        "--set", "objective.bias_init=frequency", "--set", "encoder.max_length=64",
        "--set", "encoder.window_overlap=16", "--output", str(tmp_path / "m"), "--results", str(results),
        "--no-progress"])
    assert result.exit_code == 0, result.output
    line = json.loads(results.read_text())
    curve = line["dev_curve"]
    assert [s for s, _ in curve] == [0, 2, 4, 6]  # the start, every 2 steps, the last included
    scores = np.array([f for _, f in curve])
    assert line["selected_step"] == curve[int(scores.argmax())][0]  # the first of the best
    assert line["selected_dev_f1"] == pytest.approx(scores.max(), abs=1e-6)
    model = RelationModel.from_pretrained(tmp_path / "m")  # the saved weights are the selected step's
    dev = read_documents(files["dev"])
    assert dev_f1(model, dev) == pytest.approx(line["selected_dev_f1"], abs=1e-6)
    run = json.loads((tmp_path / "m" / "run.json").read_text())  # the model folder says what dev chose too
    assert run["selected_step"] == line["selected_step"] and run["dev_curve"] == curve


def test_without_dev_documents_the_last_weights_are_kept(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    files = _split(tmp_path)
    results = tmp_path / "r.jsonl"
    result = CliRunner().invoke(app, [
        "train", "--train", str(files["train"]), "--test", str(files["test"]), "--train-docs", "3",
        "--epochs", "1", "--set", "train.eval_every=2", "--set", "train.na_threshold_on_dev=true",
        "--set", "encoder.max_length=64", "--set", "encoder.window_overlap=16", "--results", str(results),
        "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "no dev documents" in caplog.text and "train.eval_every" in caplog.text
    line = json.loads(results.read_text())
    assert "dev_curve" not in line and "na_threshold" not in line
