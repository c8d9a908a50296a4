"""Contrastive finetuning end to end on real BioRED documents: memory, kNN, explanations, memory add,
probing and t-SNE (tiny runs: a few documents, one epoch, short windows)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from formats_helpers import data_file
from typer.testing import CliRunner

from ccre.analysis.probe import probe_encoder
from ccre.cli import app
from ccre.config import CcreConfig
from ccre.data.formats import read_documents, write_documents
from ccre.evaluation.scoring import score_predictions
from ccre.inference.predictor import Predictor
from ccre.modeling.embedding import add_to_memory
from ccre.modeling.relation_model import RelationModel
from ccre.training.finetune import train_model

TINY = {"train.epochs": 1, "encoder.max_length": 128, "encoder.window_overlap": 32, "train.batch_size": 2}


@pytest.fixture(scope="module")
def mccl_checkpoint(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("mccl")
    train = read_documents(data_file("biored/Train.PubTator"))[:4]
    test = read_documents(data_file("biored/Test.PubTator"))[:3]
    cfg = CcreConfig().with_overrides({**TINY, "objective.name": "mccl", "inference.scorer": "knn", "inference.knn_k": 1})
    model = train_model(cfg, train, show_progress=False)
    model.save_pretrained(tmp / "ckpt")
    return tmp, train, test, model


def test_memory_holds_every_training_pair(mccl_checkpoint) -> None:
    tmp, train, _, model = mccl_checkpoint
    n_pairs = sum(len(d.entities) * (len(d.entities) - 1) // 2 for d in train)
    assert len(model.memory) == n_pairs
    reloaded = RelationModel.from_pretrained(tmp / "ckpt")
    assert len(reloaded.memory) == n_pairs
    assert [m.doc_id for m in reloaded.memory.meta] == [m.doc_id for m in model.memory.meta]


def test_memory_add_changes_the_prediction_it_should(mccl_checkpoint, tmp_path: Path) -> None:
    tmp, _, test, _ = mccl_checkpoint
    ckpt = tmp_path / "ckpt"
    import shutil

    shutil.copytree(tmp / "ckpt", ckpt)
    doc = [d for d in test if {r.type for r in d.relations} <= set(RelationModel.from_pretrained(ckpt).space.labels)][:1]
    assert doc, "need a test document whose relation types the model knows"
    before = Predictor(RelationModel.from_pretrained(ckpt)).predict(doc)
    added = add_to_memory(ckpt, doc)
    assert added == len(doc[0].entities) * (len(doc[0].entities) - 1) // 2
    after = Predictor(RelationModel.from_pretrained(ckpt)).predict(doc)
    # with 1-NN over a memory that now holds these very pairs, each pair takes its own gold label
    assert score_predictions(doc, after, "biored")["type"]["f1"] == 1.0
    assert before != after


def test_explanations_name_nearest_training_instances(mccl_checkpoint, tmp_path: Path) -> None:
    tmp, train, test, _ = mccl_checkpoint
    src = tmp_path / "test.pubtator"
    write_documents(test, src, "pubtator")
    out = tmp_path / "pred.pubtator"
    r = CliRunner().invoke(
        app, ["predict", "--model", str(tmp / "ckpt"), "-i", str(src), "-o", str(out), "--explain", "3", "--no-progress"]
    )
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in Path(f"{out}.explain.jsonl").read_text().splitlines()]
    assert records, "the model predicted nothing to explain"
    train_ids = {d.id for d in train}
    for rec in records:
        sims = [n["similarity"] for n in rec["neighbours"]]
        assert len(sims) == 3 and sims == sorted(sims, reverse=True)
        assert all(n["doc_id"] in train_ids for n in rec["neighbours"])
        # 1-NN inference: the prediction is the nearest instance's relation
        assert rec["relation"] in rec["neighbours"][0]["relations"]


def test_probe_reports_three_classifiers() -> None:
    train = read_documents(data_file("biored/Train.PubTator"))[:4]
    test = read_documents(data_file("biored/Test.PubTator"))[:3]
    results, precision = probe_encoder("sentence-transformers/all-MiniLM-L6-v2", train, test, "biored", k=3)
    assert precision == "fp32"  # auto on a CPU
    assert set(results) == {"probe-softmax", "probe-centroid", "probe-knn"}
    assert all(0.0 <= m["type"]["f1"] <= 1.0 for m in results.values())


def test_plot_tsne_writes_png(mccl_checkpoint, tmp_path: Path) -> None:
    tmp, _, test, _ = mccl_checkpoint
    src = tmp_path / "test.pubtator"
    write_documents(test, src, "pubtator")
    png = tmp_path / "tsne.png"
    r = CliRunner().invoke(app, ["plot", "tsne", "--model", str(tmp / "ckpt"), "-i", str(src), "-o", str(png)])
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_inference_overrides_rescore_without_retraining(mccl_checkpoint, tmp_path: Path) -> None:
    tmp, _, test, _ = mccl_checkpoint
    src = tmp_path / "test.pubtator"
    write_documents(test, src, "pubtator")
    out = tmp_path / "pred.pubtator"
    args = ["--inference", "mccl", "--mccl-pool", "sum", "--tau2", "0.05"]
    r = CliRunner().invoke(app, ["predict", "--model", str(tmp / "ckpt"), "-i", str(src), "-o", str(out), "--no-progress", *args])
    assert r.exit_code == 0, r.output
    model = RelationModel.from_pretrained(
        tmp / "ckpt", inference={"inference.scorer": "mccl", "objective.mccl_pool": "sum", "objective.tau2": 0.05}
    )
    assert (model.objective.scorer.mode, model.objective.scorer.pool, model.objective.scorer.tau2) == ("mccl", "sum", 0.05)
    expected = Predictor(model).predict(test)
    written = read_documents(out)
    assert [sorted((r.head, r.tail, r.type) for r in d.relations) for d in written] == [
        sorted((p.head, p.tail, p.type) for p in doc_preds) for doc_preds in expected
    ]


def test_inference_overrides_refused_for_ce_and_unknown_fields(mccl_checkpoint, tmp_path: Path) -> None:
    import shutil

    from ccre.errors import ConfigError

    tmp, *_ = mccl_checkpoint
    with pytest.raises(ConfigError, match="not an inference setting: train.lr"):
        RelationModel.from_pretrained(tmp / "ckpt", inference={"train.lr": 1.0})
    ce = tmp_path / "ce"
    shutil.copytree(tmp / "ckpt", ce)
    config = json.loads((ce / "config.json").read_text())
    config["objective"]["name"] = "ce"
    (ce / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="trained with cross-entropy"):
        RelationModel.from_pretrained(ce, inference={"inference.scorer": "knn"})


def test_rescore_script_matches_predict_with_each_inference_mode(mccl_checkpoint) -> None:
    from ccre_study import rescore

    tmp, train, test, _ = mccl_checkpoint
    record = {"checkpoint": str(tmp / "ckpt"), "dataset": "biored", "train_docs": len(train), "method": "plm+mccl",
              "encoder": "x", "seed": 1}
    lines = {r["overrides"]["predict"]: r for r in rescore.rescore(record, "dev", test, "0" * 40)}
    assert set(lines) == {"mccl-mean", "mccl-sum", "knn", "centroid"}
    assert all(r["dataset"] == "biored-dev" for r in lines.values())
    for mode, (inference, pool) in rescore.MODES.items():
        model = RelationModel.from_pretrained(tmp / "ckpt", inference={"inference.scorer": inference, "objective.mccl_pool": pool})
        assert lines[mode]["metrics"] == score_predictions(test, Predictor(model).predict(test), "biored"), mode


@pytest.mark.parametrize("contrast_memory", [True, False])
def test_contrast_memory_switches_the_training_candidates(monkeypatch: pytest.MonkeyPatch, contrast_memory: bool) -> None:
    """With ``train.contrast_memory`` false no memory is built before or during the epochs, every loss sees the
    batch alone, and the trained model still gets the memory of every training pair for inference."""
    import ccre.training.finetune
    from ccre.objectives.contrastive import MemoryObjective

    built, seen = [], []
    real_build, real_loss = ccre.training.finetune.build_memory, MemoryObjective.loss
    monkeypatch.setattr(ccre.training.finetune, "build_memory", lambda *a, **k: built.append(1) or real_build(*a, **k))

    def spy(self, h, targets, ids=None):
        seen.append(self._memory_tensors is not None)
        return real_loss(self, h, targets, ids)

    monkeypatch.setattr(MemoryObjective, "loss", spy)
    train = read_documents(data_file("biored/Train.PubTator"))[:2]
    cfg = CcreConfig().with_overrides({**TINY, "train.epochs": 2, "objective.name": "mccl",
                                       "train.contrast_memory": contrast_memory})
    model = train_model(cfg, train, show_progress=False)
    assert seen and all(s == contrast_memory for s in seen)
    assert len(built) == (3 if contrast_memory else 1)
    n_pairs = sum(len(model.document_encoder.encode(d, model.space).pairs) for d in train)
    assert model.memory is not None and len(model.memory) == n_pairs
