"""DocRED / Re-DocRED: real-file round trips and counts, hand-checked offsets, located errors, result files."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from formats_helpers import assert_located, data_file, view

from ccre.data.documents import Document, Entity, Mention
from ccre.data.formats import (
    detect_format,
    read_documents,
    validate_file,
    write_documents,
)
from ccre.data.formats.docred import read_docred_predictions, write_docred_predictions
from ccre.errors import FormatError


def without_derived_keys(data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Re-DocRED data less ``global_pos`` and ``index``, which the writer does not keep."""
    drop = ("global_pos", "index")
    return [
        {**d, "vertexSet": [[{k: v for k, v in m.items() if k not in drop} for m in e] for e in d["vertexSet"]]}
        for d in data
    ]


@pytest.mark.parametrize("name", ["redocred/dev_revised.json", "redocred/test_revised.json"])
def test_real_file_counts_and_round_trip(name: str, tmp_path: Path) -> None:
    path = data_file(name)
    assert detect_format(path) == "docred"
    raw = json.loads(path.read_text(encoding="utf-8"))
    docs = read_documents(path)
    assert len(docs) == len(raw)
    assert sum(len(d.mentions) for d in docs) == sum(len(v) for d in raw for v in d["vertexSet"])
    assert sum(len(d.relations) for d in docs) == sum(len(d["labels"]) for d in raw)
    for doc, item in zip(docs, raw):
        for entity, vertex in zip(doc.entities, item["vertexSet"]):
            assert [doc.mentions[i].name for i in entity.mentions] == [m["name"] for m in vertex]
            assert [doc.mentions[i].text.split(" ") for i in entity.mentions] == [
                item["sents"][m["sent_id"]][m["pos"][0] : m["pos"][1]] for m in vertex
            ]
    out = tmp_path / "out.json"
    write_documents(docs, out, "docred")
    assert [view(d) for d in read_documents(out)] == [view(d) for d in docs]
    assert json.loads(out.read_text(encoding="utf-8")) == without_derived_keys(raw)


HAND = {
    "title": "Alice in Paris",
    "sents": [["Alice", "met", "Bob", "."], ["She", "left", "Paris", "."]],
    "vertexSet": [
        [{"name": "Alice", "pos": [0, 1], "sent_id": 0, "type": "PER"},
         {"name": "She", "pos": [0, 1], "sent_id": 1, "type": "PER"}],
        [{"name": "Bob", "pos": [2, 3], "sent_id": 0, "type": "PER"}],
        [{"name": "Paris city", "pos": [2, 4], "sent_id": 1, "type": "LOC"}],
    ],
    "labels": [{"r": "P551", "h": 0, "t": 2, "evidence": [1]}],
}


def _write(tmp_path: Path, data: Any, name: str = "x.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_hand_written_offsets(tmp_path: Path) -> None:
    (doc,) = read_documents(_write(tmp_path, [HAND]))
    # "Alice met Bob . She left Paris ."
    #  0     6   10  14 16  20   25    31
    assert doc.text == "Alice met Bob . She left Paris ."
    assert doc.tokens == [[(0, 5), (6, 9), (10, 13), (14, 15)], [(16, 19), (20, 24), (25, 30), (31, 32)]]
    assert [(m.start, m.end, m.text, m.sent_id, m.name) for m in doc.mentions] == [
        (0, 5, "Alice", 0, "Alice"), (16, 19, "She", 1, "She"),
        (10, 13, "Bob", 0, "Bob"), (25, 32, "Paris .", 1, "Paris city"),
    ]
    assert [(e.id, e.type, e.mentions, e.kb_ids, e.name) for e in doc.entities] == [
        ("0", "PER", [0, 1], (), "Alice"), ("1", "PER", [2], (), "Bob"), ("2", "LOC", [3], (), "Paris city"),
    ]
    (rel,) = doc.relations
    assert (rel.head, rel.tail, rel.type, rel.directed, rel.evidence) == ("0", "2", "P551", True, (1,))
    assert doc.id == doc.title == "Alice in Paris"


def test_missing_labels_mean_no_relations(tmp_path: Path) -> None:
    unlabeled = {k: v for k, v in HAND.items() if k != "labels"}
    (doc,) = read_documents(_write(tmp_path, [unlabeled]))
    assert doc.relations == []


def test_document_without_tokens_is_one_sentence(tmp_path: Path) -> None:
    doc = Document(id="d", text="HNF-6  binds insulin", mentions=[Mention(13, 20, "insulin", "Chem")],
                   entities=[Entity(id="D007328", type="Chem", mentions=[0], kb_ids=("D007328",))])
    out = tmp_path / "out.json"
    write_documents([doc], out, "docred")
    (item,) = json.loads(out.read_text())
    assert item["sents"] == [["HNF-6", "binds", "insulin"]]
    assert item["vertexSet"] == [[{"name": "insulin", "pos": [2, 3], "sent_id": 0, "type": "Chem"}]]


def _edited(edit) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    second = copy.deepcopy(HAND)
    second["title"] = "Second"
    doc = copy.deepcopy(HAND)
    edit(doc)
    return [second, doc]


BAD = {
    "entity without mentions": (lambda d: d["vertexSet"].append([]), "[1].vertexSet[3]", "no mentions"),
    "position outside sentence": (
        lambda d: d["vertexSet"][1][0].update(pos=[2, 5]), "[1].vertexSet[1][0].pos",
        "pos [2, 5] lies outside sentence 0 (4 tokens)",
    ),
    "start not before end": (lambda d: d["vertexSet"][1][0].update(pos=[2, 2]), "[1].vertexSet[1][0].pos", "outside"),
    "sent_id out of range": (lambda d: d["vertexSet"][1][0].update(sent_id=2), "[1].vertexSet[1][0].sent_id",
                             "sent_id 2 is not a sentence index"),
    "non-integer position": (lambda d: d["vertexSet"][1][0].update(pos=[2, "3"]), "[1].vertexSet[1][0].pos",
                             "not a pair of token positions"),
    "head out of range": (lambda d: d["labels"][0].update(h=3), "[1].labels[0].h", "h 3 is not an entity index"),
    "tail out of range": (lambda d: d["labels"][0].update(t=-1), "[1].labels[0].t", "t -1 is not an entity index"),
    "duplicate title": (lambda d: d.update(title="Second"), "[1].title", "duplicate title"),
    "empty document": (lambda d: d.update(sents=[[]], vertexSet=[], labels=[]), "[1].sents", "no text"),
}


@pytest.mark.parametrize("case", BAD)
def test_located_error(case: str, tmp_path: Path) -> None:
    edit, location, reason = BAD[case]
    data = _edited(edit)
    path = _write(tmp_path, data)
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert_located(info.value, path, data[1]["title"], location=location, reason=reason)
    skipped: list[FormatError] = []
    assert [d.id for d in read_documents(path, lenient=True, on_skip=skipped.append)] == ["Second"]
    assert [e.location for e in skipped] == [location]


def test_invalid_json_and_utf8_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text("[\n" + json.dumps(HAND) + ",\n]")
    (error,) = validate_file(path, "docred")
    assert error.line == 3 and f"{path}:3" in str(error)
    path.write_bytes(b"[\n" + json.dumps(HAND).replace("Bob", "B\\u00f6b").encode().replace(b"\\u00f6", b"\xf6") + b"]")
    with pytest.raises(FormatError, match="invalid UTF-8") as info:
        read_documents(path, "docred")
    assert info.value.line == 2


def test_predictions_round_trip_and_errors(tmp_path: Path) -> None:
    preds = [
        {"title": "Alice in Paris", "h_idx": 0, "t_idx": 2, "r": "P551", "score": 0.9},
        {"title": "Alice in Paris", "h_idx": 1, "t_idx": 2, "r": "P27"},
    ]
    path = tmp_path / "result.json"
    write_docred_predictions(preds, path)
    assert read_docred_predictions(path) == preds
    for bad, location in [
        ({"title": "T", "h_idx": "0", "t_idx": 2, "r": "P1"}, "[1].h_idx"),
        ({"title": "T", "h_idx": 0, "t_idx": 2}, "[1].r"),
        ({"title": "T", "h_idx": 0, "t_idx": True, "r": "P1"}, "[1].t_idx"),
        ({"title": "T", "h_idx": 0, "t_idx": 2, "r": "P1", "score": "high"}, "[1].score"),
    ]:
        path.write_text(json.dumps([preds[0], bad]))
        with pytest.raises(FormatError) as info:
            read_docred_predictions(path)
        assert_located(info.value, path, "T", location=location)
        with pytest.raises(FormatError):
            write_docred_predictions([preds[0], bad], tmp_path / "out.json")
    assert not (tmp_path / "out.json").exists()
