"""The public entry points: format detection and atomic writing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccre.data.documents import Document, Entity, Mention
from ccre.data.formats import (
    detect_format,
    read_documents,
    validate_file,
    write_documents,
)
from ccre.errors import FormatError

DOC = Document("1", "Title here body", [Mention(0, 5, "Title", "Gene")], [Entity("5", "Gene", [0], ("5",), "Title")],
               title="Title")


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("a.pubtator", "", "pubtator"),
        ("Train.PubTator", "", "pubtator"),
        ("a.txt", "", "pubtator"),
        ("a.xml", "", "bioc-xml"),
        ("a.json", json.dumps([{"title": "t", "sents": [], "vertexSet": []}]), "docred"),
        ("a.json", "[]", "docred"),
        ("a.json", json.dumps({"source": "", "documents": []}), "bioc-json"),
    ],
)
def test_detect_format(name: str, content: str, fmt: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    assert detect_format(path) == fmt


@pytest.mark.parametrize(("name", "content"), [("a.csv", ""), ("a.json", '{"x": 1}'), ("a.json", "[1,")])
def test_undetectable_format_is_a_format_error(name: str, content: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(FormatError, match=name):
        detect_format(path)
    assert len(validate_file(path)) == 1


def test_unknown_format_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown format"):
        write_documents([DOC], tmp_path / "x", "conll")


@pytest.mark.parametrize("fmt", ["pubtator", "bioc-xml", "bioc-json", "docred"])
def test_write_is_atomic(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / "out"
    write_documents([DOC], path, fmt)
    before = path.read_bytes()
    unwritable = Document("2|x", "a b", [Mention(0, 2, "a ", "Gene")], [Entity("x", "Gene", [0])], title="a")
    with pytest.raises(FormatError):
        write_documents([DOC, unwritable], path, "pubtator" if fmt.startswith("bioc") else fmt)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert len(read_documents(path, fmt)) == 1


def test_failed_replace_leaves_old_file_and_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "out.pubtator"
    path.write_text("old")

    def fail(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("ccre.data.formats._io.os.replace", fail)
    with pytest.raises(OSError):
        write_documents([DOC], path, "pubtator")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.pubtator"]
