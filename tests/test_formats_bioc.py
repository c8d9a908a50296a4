"""BioC XML and JSON: real BioRED documents through both, the BioRED layout, and located errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from formats_helpers import assert_located, data_file, view

from ccre.data.formats import (
    detect_format,
    read_documents,
    validate_file,
    write_documents,
)
from ccre.errors import FormatError

SUFFIX = {"bioc-xml": "xml", "bioc-json": "json"}


@pytest.fixture(scope="module")
def biored_dev() -> list:
    return read_documents(data_file("biored/Dev.PubTator"))


@pytest.mark.parametrize("fmt", SUFFIX)
def test_real_biored_round_trip(fmt: str, biored_dev: list, tmp_path: Path) -> None:
    path = tmp_path / f"dev.{SUFFIX[fmt]}"
    write_documents(biored_dev, path, fmt)
    assert detect_format(path) == fmt
    back = read_documents(path)
    assert [view(d) for d in back] == [view(d) for d in biored_dev]
    assert [d.title for d in back] == [d.title for d in biored_dev]


def test_json_has_biored_layout(biored_dev: list, tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    write_documents(biored_dev[:1], path, "bioc-json")
    doc = json.loads(path.read_text())["documents"][0]
    title, abstract = doc["passages"]
    assert doc["id"] == biored_dev[0].id
    assert (title["infons"]["type"], title["offset"]) == ("title", 0)
    assert (abstract["infons"]["type"], abstract["offset"]) == ("abstract", len(title["text"]) + 1)
    ann = title["annotations"][0]
    assert set(ann["infons"]) == {"type", "identifier"} and len(ann["locations"]) == 1
    assert set(doc["relations"][0]["infons"]) == {"type", "entity1", "entity2", "novel"}



def _good_docs(tmp_path: Path) -> list:
    source = tmp_path / "good.pubtator"
    source.write_text(
        "1|t|Hepatocyte factor\n1|a|HNF-6 binds insulin.\n"
        "1\t18\t23\tHNF-6\tGene\t3175\n1\t30\t37\tinsulin\tChemical\tD007328\n"
        "1\tBind\t3175\tD007328\tNovel\n\n"
        "2|t|Second\n2|a|Text.\n2\t0\t6\tSecond\tGene\t5\n\n"
    )
    return read_documents(source)


def _bad_file(tmp_path: Path, fmt: str, edit) -> Path:  # type: ignore[no-untyped-def]
    path = tmp_path / f"bad.{SUFFIX[fmt]}"
    write_documents(_good_docs(tmp_path), path, fmt)
    path.write_text(edit(path.read_text()))
    return path


XML_EDITS = {
    "mention text differs": (
        lambda s: s.replace("<text>HNF-6</text>", "<text>HNF-7</text>"),
        "documents[0].passages[1].annotations[0]", "1",
        "mention 'HNF-7' at 18-23 does not match the text there ('HNF-6')", ["2"],
    ),
    "mention outside text": (
        lambda s: s.replace('offset="30" length="7"', 'offset="35" length="7"'),
        "documents[0].passages[1].annotations[1]", "1", "lies outside the text", ["2"],
    ),
    "relation without mention": (
        lambda s: s.replace('"entity1">3175<', '"entity1">3176<'),
        "documents[0].relations[0]", "1", "names entity '3176', which has no mention", ["2"],
    ),
    "duplicate document id": (lambda s: s.replace("<id>2</id>", "<id>1</id>"), "documents[1].id", "1", "duplicate", ["1"]),
    "empty document": (
        lambda s: s.replace("<text>Second</text>", "<text></text>", 1)
        .replace("<text>Text.</text>", "<text></text>")
        .replace("<text>Second</text>", "<text></text>"),
        "documents[1]", "2", "document has no text", ["1"],
    ),
}


@pytest.mark.parametrize("case", XML_EDITS)
def test_xml_located_error(case: str, tmp_path: Path) -> None:
    edit, location, doc_id, reason, survivors = XML_EDITS[case]
    path = _bad_file(tmp_path, "bioc-xml", edit)
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert_located(info.value, path, doc_id, location=location, reason=reason)
    skipped: list[FormatError] = []
    assert [d.id for d in read_documents(path, lenient=True, on_skip=skipped.append)] == survivors
    assert [e.location for e in skipped] == [location]


def test_json_located_error(tmp_path: Path) -> None:
    path = _bad_file(tmp_path, "bioc-json", lambda s: s.replace('"length": 5', '"length": 6'))
    (error,) = validate_file(path)
    assert_located(error, path, "1", location="documents[0].passages[1].annotations[0]", reason="does not match")


def test_json_wrong_types_are_located(tmp_path: Path) -> None:
    path = _bad_file(tmp_path, "bioc-json", lambda s: s.replace('"length": 5', '"length": "5"'))
    error = validate_file(path)[0]
    assert_located(error, path, "1", location="documents[0].passages[1].annotations[0]", reason="integer")


@pytest.mark.parametrize("fmt", SUFFIX)
def test_malformed_file_names_its_line(fmt: str, tmp_path: Path) -> None:
    path = _bad_file(tmp_path, fmt, lambda s: s.replace("</passage>", "</pasage>", 1).replace('"offset"', '"offset', 1))
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert str(path) in str(info.value) and info.value.line is not None and info.value.line > 1
