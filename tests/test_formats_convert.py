"""``ccre data convert``: the real BioRED and Re-DocRED files through every format ccre writes and back, a
synthetic CDR file through BioC, and conversions that must fail without writing anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from formats_helpers import data_file, view
from test_formats_dialects import CDR
from typer.testing import CliRunner

from ccre.cli import app
from ccre.data.formats import read_documents

SUFFIX = {"pubtator": "pubtator", "bioc-xml": "xml", "bioc-json": "json", "docred": "json"}


def convert(source: Path, target: Path, *options: str) -> str:
    """Run ``ccre data convert``; its output when it succeeds."""
    result = CliRunner().invoke(app, ["data", "convert", str(source), str(target), *options])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("fmt", ["bioc-xml", "bioc-json"])
def test_biored_test_through_bioc_and_back_is_byte_identical(fmt: str, tmp_path: Path) -> None:
    source = data_file("biored/Test.PubTator")
    middle, back = tmp_path / f"test.{SUFFIX[fmt]}", tmp_path / "back.pubtator"
    assert "100 documents written" in convert(source, middle, "--to", fmt)
    convert(middle, back)
    assert back.read_bytes() == source.read_bytes()


def test_biored_to_docred_keeps_entities_and_relations(tmp_path: Path) -> None:
    source = data_file("biored/Dev.PubTator")
    target = tmp_path / "dev.json"
    convert(source, target, "--to", "docred")
    gold, back = read_documents(source), read_documents(target)
    assert [len(d.entities) for d in back] == [len(d.entities) for d in gold]
    assert sum(len(d.relations) for d in back) == sum(len(d.relations) for d in gold) == 1162
    # DocRED has no KB IDs: entity i of the DocRED file is entity i of the BioRED document
    for g, b in zip(gold, back):
        index = g.entity_index()
        assert [(r.type, int(r.head), int(r.tail)) for r in b.relations] == [
            (r.type, index[r.head], index[r.tail]) for r in g.relations]


def _docred_view(item: dict) -> dict:
    """A DocRED document without Re-DocRED's derived keys (``global_pos``, ``index``), which ccre does not write."""
    return {
        "title": item["title"], "sents": item["sents"],
        "vertexSet": [[{k: m[k] for k in ("name", "pos", "sent_id", "type")} for m in v] for v in item["vertexSet"]],
        "labels": [{k: x[k] for k in ("r", "h", "t", "evidence")} for x in item["labels"]],
    }


@pytest.mark.parametrize("fmt", [pytest.param("bioc-xml", marks=pytest.mark.slow), "bioc-json"])
def test_redocred_test_through_bioc_and_back(fmt: str, tmp_path: Path) -> None:
    source = data_file("redocred/test_revised.json")
    middle, back = tmp_path / f"test.{SUFFIX[fmt]}", tmp_path / "back.json"
    convert(source, middle, "--to", fmt)
    convert(middle, back, "--to", "docred")
    original = json.loads(source.read_text(encoding="utf-8"))
    assert len(original) == 500
    assert json.loads(back.read_text(encoding="utf-8")) == [_docred_view(d) for d in original]


def test_redocred_through_pubtator_keeps_mentions_entities_and_relations(tmp_path: Path) -> None:
    source = data_file("redocred/test_revised.json")
    middle = tmp_path / "test.pubtator"
    convert(source, middle)
    gold, back = read_documents(source), read_documents(middle)
    # a text that does not start with its title is written as PubTator's title line: read back with a space after
    assert [d.text for d in back] == [d.text if d.text.startswith(d.id + " ") else d.text + " " for d in gold]
    assert [[(m.start, m.end, m.type) for m in d.mentions] for d in back] == [
        [(m.start, m.end, m.type) for m in d.mentions] for d in gold]
    assert [[(r.head, r.tail, r.type) for r in d.relations] for d in back] == [
        [(r.head, r.tail, r.type) for r in d.relations] for d in gold]


def test_cdr_through_bioc_and_back(tmp_path: Path) -> None:
    source = tmp_path / "cdr.pubtator"
    source.write_text(CDR)
    for fmt in ("bioc-xml", "bioc-json"):
        middle, back = tmp_path / f"cdr.{SUFFIX[fmt]}", tmp_path / "back.pubtator"
        convert(source, middle, "--to", fmt)
        convert(middle, back)
        assert back.read_text() == CDR
        assert [view(d) for d in read_documents(back)] == [view(d) for d in read_documents(source)]


def test_failed_conversion_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "cdr.pubtator"
    source.write_text(CDR.replace("35\t50", "35\t5x"))
    target = tmp_path / "out.xml"
    result = CliRunner().invoke(app, ["data", "convert", str(source), str(target)])
    assert result.exit_code == 1
    assert f"{source}:4, document 2234245: mention offsets '35', '5x' are not integers" in result.output
    assert "Traceback" not in result.output and not target.exists()
    ambiguous = CliRunner().invoke(app, ["data", "convert", str(tmp_path / "cdr.pubtator"), str(tmp_path / "o.json")])
    assert ambiguous.exit_code == 1 and "name it with --to bioc-json or --to docred" in ambiguous.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cdr.pubtator"]
