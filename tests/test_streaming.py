"""Streaming prediction (chunks of documents read, predicted and appended) and chunked pair scoring
(one encoder pass per batch, pairs embedded and scored a chunk at a time).

The model is an untrained BioRED model (random heads on the default encoder): its decisions are
arbitrary but deterministic, which is all that "streamed equals whole" and "chunked equals unchunked"
need, and it takes seconds instead of a training run.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from formats_helpers import data_file
from typer.testing import CliRunner

from ccre.cli import app
from ccre.config import CcreConfig
from ccre.data.documents import Document, Entity, Mention
from ccre.data.formats import iter_documents, read_documents, write_documents
from ccre.data.labels import LabelSpace
from ccre.errors import FormatError
from ccre.inference.predictor import Predictor, with_predictions
from ccre.inference.streaming import _ListWriter, predict_path
from ccre.modeling.embedding import build_memory
from ccre.modeling.relation_model import RelationModel

TINY = {"encoder.max_length": 128, "encoder.window_overlap": 32}


@pytest.fixture(scope="module")
def biored_docs() -> list[Document]:
    return read_documents(data_file("biored/Test.PubTator"), "pubtator")[:7]


@pytest.fixture(scope="module")
def model(biored_docs) -> RelationModel:
    torch.manual_seed(0)
    space = LabelSpace.from_documents(read_documents(data_file("biored/Train.PubTator"), "pubtator"))
    m = RelationModel.create(CcreConfig().with_overrides(TINY), space).eval()
    m.set_memory(build_memory(m, biored_docs[5:7]))
    return m


def _pubtator(tmp: Path, name: str, docs: list[Document]) -> Path:
    path = tmp / name
    write_documents(docs, path, "pubtator")
    return path


def _whole(model: RelationModel, docs: list[Document], path: Path, **kw) -> str:
    """The non-streaming reference: predict every document at once, write once."""
    write_documents(with_predictions(docs, Predictor(model, **kw).predict(docs)), path, "pubtator")
    return path.read_text()


def test_streamed_file_equals_whole_file_prediction(model, biored_docs, tmp_path: Path) -> None:
    docs = biored_docs[:5]
    src = _pubtator(tmp_path, "in.pubtator", docs)
    summary = predict_path(Predictor(model, batch_size=2), src, tmp_path / "out.pubtator", chunk_size=2)
    expected = _whole(model, docs, tmp_path / "ref.pubtator")
    assert (tmp_path / "out.pubtator").read_text() == expected
    assert summary.documents == 5 and summary.relations == sum(len(d.relations) for d in read_documents(tmp_path / "ref.pubtator"))
    assert summary.relations > 0  # the comparison is not between two empty files
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pubtator", "out.pubtator", "ref.pubtator"]  # no temp left


def test_freed_memory_is_released_after_every_chunk(model, biored_docs, tmp_path: Path, monkeypatch) -> None:
    import ccre.inference.streaming
    from ccre.utils.runtime import release_free_memory

    calls = []
    monkeypatch.setattr(ccre.inference.streaming, "release_free_memory", lambda: calls.append(1) or release_free_memory())
    src = _pubtator(tmp_path, "in.pubtator", biored_docs[:5])
    predict_path(Predictor(model, batch_size=2), src, tmp_path / "out.pubtator", chunk_size=2)
    assert len(calls) == 3  # chunks of 2, 2 and 1 documents


def test_iter_documents_reads_pubtator_lazily(biored_docs, tmp_path: Path) -> None:
    src = _pubtator(tmp_path, "in.pubtator", biored_docs[:3])
    with open(src, "a", encoding="utf-8") as f:
        f.write("broken|t|title\nbroken\t0\t5\tnot\tGene\t1\n\n")  # a bad 4th document
    it = iter_documents(src)
    assert [next(it).id for _ in range(3)] == [d.id for d in biored_docs[:3]]  # read before the bad one
    with pytest.raises(FormatError):
        next(it)
    skipped = []
    assert len(list(iter_documents(src, lenient=True, on_skip=skipped.append))) == 3 and len(skipped) == 1


def test_failed_stream_leaves_no_output(model, biored_docs, tmp_path: Path) -> None:
    src = _pubtator(tmp_path, "in.pubtator", biored_docs[:3])
    with open(src, "a", encoding="utf-8") as f:
        f.write("broken|t|title\nbroken\t0\t5\tnot\tGene\t1\n\n")
    out = tmp_path / "out.pubtator"
    with pytest.raises(FormatError):
        predict_path(Predictor(model), src, out, chunk_size=2)  # first chunk already appended when it fails
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.pubtator"]


def test_directory_input_through_the_cli(model, biored_docs, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    model.save_pretrained(ckpt)
    inputs = tmp_path / "in"
    inputs.mkdir()
    _pubtator(inputs, "a.pubtator", biored_docs[:3])
    _pubtator(inputs, "b.PubTator", biored_docs[3:5])
    (inputs / "notes.md").write_text("not a corpus file\n")
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["predict", "--model", str(ckpt), "-i", str(inputs), "-o", str(out),
                                 "--chunk-size", "2", "--no-progress", "--explain", "2"])
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["a.pubtator", "a.pubtator.explain.jsonl", "b.PubTator", "b.PubTator.explain.jsonl"]
    assert (out / "a.pubtator").read_text() == _whole(model, biored_docs[:3], tmp_path / "ref_a.pubtator")
    assert (out / "b.PubTator").read_text() == _whole(model, biored_docs[3:5], tmp_path / "ref_b.pubtator")
    lines = (out / "a.pubtator.explain.jsonl").read_text().splitlines()
    assert len(lines) == sum(len(d.relations) for d in read_documents(out / "a.pubtator"))
    assert all(len(json.loads(line)["neighbours"]) == 2 for line in lines)
    # a directory input needs a directory output, never the input directory itself
    r = CliRunner().invoke(app, ["predict", "--model", str(ckpt), "-i", str(inputs), "-o", str(inputs), "--no-progress"])
    assert r.exit_code == 1


def test_docred_result_list_is_written_like_json_dumps(tmp_path: Path) -> None:
    records = [{"title": "a", "h_idx": 0, "t_idx": 1, "r": "P17", "score": 0.5},
               {"title": "b\u00e9", "h_idx": 2, "t_idx": 0, "r": "P6", "score": 0.25}]
    for split in ([], [records], [records[:1], [], records[1:]]):
        path = tmp_path / "out.json"
        with open(path, "w", encoding="utf-8") as f:
            writer = _ListWriter(f)
            for part in split:
                writer.extend(part)
            writer.close()
        flat = [r for part in split for r in part]
        assert path.read_text(encoding="utf-8") == json.dumps(flat, ensure_ascii=False)


def test_chunked_pairs_equal_unchunked(model, biored_docs) -> None:
    docs = biored_docs[:4]
    assert sum(len(d.entities) * (len(d.entities) - 1) // 2 for d in docs) > 50
    whole = Predictor(model, batch_size=4, pair_chunk=10**9).predict(docs)
    chunked = Predictor(model, batch_size=4, pair_chunk=7).predict(docs)
    key = lambda p: (p.head, p.tail, p.type, p.novel)  # noqa: E731
    assert [[key(p) for p in d] for d in chunked] == [[key(p) for p in d] for d in whole]
    assert [p.score for d in chunked for p in d] == pytest.approx([p.score for d in whole for p in d], abs=1e-5)
    # and the split methods give what embed_pairs gives
    with torch.inference_mode():
        batch = model.collate([model.document_encoder.encode(d, model.space) for d in docs])
        entities = model.encode_entities(batch)
        parts = [model.pair_embeddings(entities, batch.pair_heads[s : s + 7], batch.pair_tails[s : s + 7])
                 for s in range(0, len(batch.pair_heads), 7)]
        torch.testing.assert_close(torch.cat(parts), model.embed_pairs(batch), atol=1e-5, rtol=1e-5)


def many_entity_document(n: int, doc_id: str = "many") -> Document:
    """A document naming ``n`` distinct genes, one mention each."""
    words, mentions, pos = [], [], 0
    for i in range(n):
        word = f"gene{i}"
        mentions.append(Mention(pos, pos + len(word), word, "GeneOrGeneProduct"))
        words.append(word)
        pos += len(word) + 1
    entities = [Entity(id=f"G{i}", type="GeneOrGeneProduct", mentions=[i], kb_ids=(f"G{i}",)) for i in range(n)]
    return Document(id=doc_id, text=" ".join(words), mentions=mentions, entities=entities, relations=[])


def _peak_kib() -> int | None:
    try:
        return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
    except (OSError, AttributeError):
        return None


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def test_150_entity_document_in_bounded_memory(model) -> None:
    doc = many_entity_document(150)
    assert len(model.document_encoder.encode(doc, model.space).pairs) == 150 * 149 // 2  # 11,175 (undirected)
    predictor = Predictor(model, pair_chunk=4096)
    predictor.predict([many_entity_document(3)])  # warm up the kernels outside the measure
    model.objective.na_threshold = 0.0  # every pair gets its best relation: all 11,175 are written out
    try:
        measured = _reset_peak()
        before = _peak_kib()
        (preds,) = predictor.predict([doc])
        after = _peak_kib()
    finally:
        model.objective.na_threshold = None
    assert len(preds) == 150 * 149 // 2 and all(p.head != p.tail for p in preds)
    assert len({(p.head, p.tail) for p in preds}) == len(preds)  # single-label: one relation per pair at most
    if measured and before is not None and after is not None:
        # the unchunked pair embedder alone would hold ~2 x 11,175 x 1,152 floats (~100 MB) at once
        assert (after - before) / 1024 < 400, f"peak RSS grew by {(after - before) / 1024:.0f} MiB"


def test_documents_with_fewer_than_two_entities_get_no_pairs(model, biored_docs) -> None:
    docs = [many_entity_document(0, "none"), many_entity_document(1, "one"), biored_docs[0]]
    docs[0] = Document(id="none", text="no entity here", mentions=[], entities=[], relations=[])
    preds = Predictor(model, pair_chunk=5).predict(docs)
    assert preds[0] == [] and preds[1] == []
    assert preds[2] == Predictor(model, pair_chunk=5).predict([biored_docs[0]])[0]
    assert Predictor(model).predict(docs[:2]) == [[], []]


def test_bioc_input_is_predicted_in_chunks_and_written_whole(model, biored_docs, tmp_path: Path) -> None:
    docs = biored_docs[:3]
    src = tmp_path / "in.json"
    write_documents(docs, src, "bioc-json")
    predict_path(Predictor(model), src, tmp_path / "out.json", chunk_size=2)
    write_documents(with_predictions(docs, Predictor(model).predict(docs)), tmp_path / "ref.json", "bioc-json")
    assert (tmp_path / "out.json").read_text() == (tmp_path / "ref.json").read_text()


def test_contrastive_scoring_chunks_by_memory_size(model, biored_docs, monkeypatch) -> None:
    import ccre.inference.predictor

    torch.manual_seed(0)
    mccl = RelationModel.create(CcreConfig().with_overrides({**TINY, "objective.name": "mccl"}), model.space).eval()
    mccl.set_memory(build_memory(mccl, biored_docs[5:7]))
    docs = biored_docs[:2]
    whole = Predictor(mccl, pair_chunk=10**9).predict(docs)
    monkeypatch.setattr(ccre.inference.predictor, "SCORE_BUDGET", 3 * len(mccl.memory))  # 3 pairs at a time
    chunked = Predictor(mccl).predict(docs)
    key = lambda p: (p.head, p.tail, p.type, p.novel)  # noqa: E731
    assert [[key(p) for p in d] for d in chunked] == [[key(p) for p in d] for d in whole]
    assert [p.score for d in chunked for p in d] == pytest.approx([p.score for d in whole for p in d], abs=1e-5)


def test_the_library_leaves_the_allocator_alone_and_ccre_predict_sets_it(model, biored_docs, tmp_path: Path,
                                                                          monkeypatch) -> None:
    """``mallopt`` is process-wide and stays set: a library call (``predict_path``, ``predict_file``) does not
    call it unless asked; ``ccre predict`` calls it for its own process."""
    import ccre.utils.runtime

    asked: list[str] = []

    def libc(name: str):
        asked.append(name)
        return (lambda *args: 1) if name == "mallopt" else None  # this test process's allocator stays as it is

    monkeypatch.setattr(ccre.utils.runtime, "_libc", libc)
    src = _pubtator(tmp_path, "in.pubtator", biored_docs[:2])
    predict_path(Predictor(model, batch_size=2), src, tmp_path / "out.pubtator", chunk_size=1)
    assert "mallopt" not in asked
    model.save_pretrained(tmp_path / "ckpt")
    r = CliRunner().invoke(app, ["predict", "--model", str(tmp_path / "ckpt"), "-i", str(src), "-o",
                                 str(tmp_path / "cli.pubtator"), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "mallopt" in asked
