"""Train -> checkpoint -> predict -> evaluate through the CLI on real BioRED and Re-DocRED documents.

The runs are tiny (a few documents, one epoch, short windows) so they take seconds; the point is that the
pieces fit: the file written by ``ccre predict`` scores exactly like the in-process evaluation, and a
reloaded checkpoint predicts exactly like the model that was saved.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from formats_helpers import data_file
from typer.testing import CliRunner

from ccre.cli import app
from ccre.config import CcreConfig
from ccre.data.formats import read_documents, write_documents
from ccre.data.formats.docred import read_docred_predictions
from ccre.experiments.run import train_and_evaluate
from ccre.inference.predictor import Predictor
from ccre.modeling.relation_model import RelationModel

TINY = {"train.epochs": 1, "encoder.max_length": 128, "encoder.window_overlap": 32, "train.batch_size": 2}


def _subset(src: Path, dst: Path, fmt: str, n: int) -> Path:
    write_documents(read_documents(src, fmt)[:n], dst, fmt)
    return dst


@pytest.fixture(scope="module")
def biored_run(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("biored")
    train = _subset(data_file("biored/Train.PubTator"), tmp / "train.pubtator", "pubtator", 6)
    test = _subset(data_file("biored/Test.PubTator"), tmp / "test.pubtator", "pubtator", 6)
    cfg = CcreConfig().with_overrides(
        {**TINY, "data.dataset": None, "data.train": str(train), "data.test": str(test), "data.train_docs": 4}
    )
    outcome = train_and_evaluate(cfg, output=tmp / "ckpt", results=tmp / "results.jsonl", show_progress=False)
    return tmp, train, test, outcome


def test_predict_file_scores_like_in_process_evaluation(biored_run) -> None:
    tmp, train, test, outcome = biored_run
    runner = CliRunner()
    pred = tmp / "pred.pubtator"
    r = runner.invoke(app, ["predict", "--model", str(tmp / "ckpt"), "-i", str(test), "-o", str(pred), "--no-progress"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate", "--gold", str(test), "--pred", str(pred), "--json"])
    assert r.exit_code == 0, r.output
    from_file = json.loads(r.stdout.strip().splitlines()[-1])
    assert from_file == outcome.metrics
    assert set(from_file) == {"pair", "type", "novelty"}
    # the prediction file holds the same documents and mentions, only the relations changed
    gold, predicted = read_documents(test), read_documents(pred)
    assert [d.mentions for d in gold] == [d.mentions for d in predicted]


def test_result_line_has_the_convention_fields(biored_run) -> None:
    tmp, *_ = biored_run
    record = json.loads((tmp / "results.jsonl").read_text().splitlines()[-1])
    for key in ("dataset", "train_docs", "method", "encoder", "seed", "metrics", "command", "commit", "machine", "date", "wall_s"):
        assert key in record
    assert record["train_docs"] == 4 and record["method"] == "plm+ce"
    assert record["precision"] == "fp32"  # auto on a CPU; a GPU run in bf16 says so in its lines


def test_checkpoint_reloads_exactly(biored_run) -> None:
    tmp, _, test, outcome = biored_run
    docs = read_documents(test)
    reloaded = RelationModel.from_pretrained(tmp / "ckpt")
    assert reloaded.config == outcome.model.config and reloaded.space == outcome.model.space
    for a, b in zip(outcome.model.state_dict().values(), reloaded.state_dict().values()):
        assert torch.equal(a.cpu(), b.cpu())
    assert Predictor(reloaded).predict(docs) == outcome.predictions


def test_docred_predict_and_evaluate_with_ign_f1(tmp_path: Path) -> None:
    train = _subset(data_file("redocred/dev_revised.json"), tmp_path / "train.json", "docred", 3)
    test = _subset(data_file("redocred/test_revised.json"), tmp_path / "test.json", "docred", 3)
    cfg = CcreConfig().with_overrides(
        {**TINY, "data.dataset": None, "data.train": str(train), "data.test": str(test), "data.train_docs": None}
    )
    outcome = train_and_evaluate(cfg, output=tmp_path / "ckpt", show_progress=False)
    assert outcome.model.space.directed and outcome.model.space.multi_label
    runner = CliRunner()
    pred = tmp_path / "pred.json"
    r = runner.invoke(app, ["predict", "--model", str(tmp_path / "ckpt"), "-i", str(test), "-o", str(pred), "--no-progress"])
    assert r.exit_code == 0, r.output
    facts = read_docred_predictions(pred)
    assert all({"title", "h_idx", "t_idx", "r", "score"} <= set(f) for f in facts)
    r = runner.invoke(app, ["evaluate", "--gold", str(test), "--pred", str(pred), "--train", str(train), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout.strip().splitlines()[-1]) == outcome.metrics


def test_bad_input_is_one_clear_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pubtator"
    bad.write_text("1|t|Aspirin helps.\n1|a|Yes.\n1\t0\t7\tAspirim\tChemical\tD1\n")
    r = CliRunner().invoke(app, ["evaluate", "--gold", str(bad), "--pred", str(bad)])
    assert r.exit_code == 1
    assert "Traceback" not in r.output and "bad.pubtator:3" in r.output


def test_probe_lines_name_the_probed_encoder_kind(biored_run) -> None:
    """``ccre probe --results`` writes one line per probe, each saying which kind of encoder it probed, so the
    report groups them without looking for the encoder's directory."""
    from ccre.experiments.report import record_encoder_kind

    tmp, train, test, _ = biored_run
    results = tmp / "probe.jsonl"
    r = CliRunner().invoke(app, ["probe", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--train", str(train),
                                 "--test", str(test), "--train-docs", "4", "--results", str(results)])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert sorted(line["method"] for line in lines) == ["probe-centroid", "probe-knn", "probe-softmax"]
    assert {line["encoder_kind"] for line in lines} == {"plm"}
    assert {line["precision"] for line in lines} == {"fp32"}
    # a typed-marker probe encodes otherwise and is told apart by its overrides
    typed = tmp / "probe_typed.jsonl"
    r = CliRunner().invoke(app, ["probe", "--model", "sentence-transformers/all-MiniLM-L6-v2", "--train", str(train),
                                 "--test", str(test), "--train-docs", "4", "--typed-markers", "--results", str(typed)])
    assert r.exit_code == 0, r.output
    typed_lines = [json.loads(line) for line in typed.read_text().splitlines()]
    assert {json.dumps(line["overrides"]) for line in typed_lines} == {'{"encoder.typed_markers": true}'}
    assert len({line["overrides_hash"] for line in typed_lines}) == 1
    # lines from before probes recorded their kind: told apart by the encoder's name, not by the disk
    legacy = {"method": "probe-knn", "encoder": "runs/no-such-pretrained-dir"}
    assert record_encoder_kind(legacy) == "mtb"
    assert record_encoder_kind({**legacy, "encoder": "sentence-transformers/all-MiniLM-L6-v2"}) == "plm"
    assert record_encoder_kind({**legacy, "encoder_kind": "mtb-no-mlm"}) == "mtb-no-mlm"
