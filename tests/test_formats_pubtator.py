"""PubTator: real-file round trips and counts, composite/unlinked IDs, and one test per located error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from formats_helpers import assert_located, data_file, view

from ccre.data.formats import read_documents, validate_file, write_documents
from ccre.errors import FormatError

REAL = [
    "biored/Train.PubTator",
    "biored/Dev.PubTator",
    "biored/Test.PubTator",
    "pretrain/bc8_biored_unlabeled.pubtator",
    "pretrain/chr_dev_chemicals.pubtator",
]
# The one annotation error in the real data: a mention line whose text column holds its type.
BC8_BAD = ("BC8_BioRED_Task1_Doc975", 14937)


def independent_counts(path: Path, skip: set[str]) -> tuple[int, int, int]:
    """Documents (title lines), mentions (6 columns) and relations (5 or 4 columns), by a plain loop."""
    docs = mentions = relations = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        doc_id = line.split("|")[0] if "|t|" in line else line.split("\t")[0]
        if doc_id in skip:
            continue
        columns = line.count("\t") + 1
        if "|t|" in line and "\t" not in line.split("|t|")[0]:
            docs += 1
        elif columns == 6:
            mentions += 1
        elif columns in (4, 5):
            relations += 1
    return docs, mentions, relations


@pytest.mark.parametrize("name", REAL)
def test_real_file_counts_and_round_trip(name: str, tmp_path: Path) -> None:
    path = data_file(name)
    skipped: list[FormatError] = []
    docs = read_documents(path, lenient=True, on_skip=skipped.append)
    if name.startswith("pretrain/bc8"):
        assert [(e.doc_id, e.line) for e in skipped] == [BC8_BAD]
        assert "does not match the text there ('disease')" in str(skipped[0])
    else:
        assert skipped == []
    expected = independent_counts(path, {e.doc_id for e in skipped if e.doc_id})
    got = (len(docs), sum(len(d.mentions) for d in docs), sum(len(d.relations) for d in docs))
    assert got == expected
    for doc in docs:
        assert doc.text == doc.title + " " + doc.text[len(doc.title) + 1 :]
        assert all(doc.text[m.start : m.end] == m.text for m in doc.mentions)
    out = tmp_path / "out.pubtator"
    write_documents(docs, out, "pubtator")
    assert [view(d) for d in read_documents(out)] == [view(d) for d in docs]


def test_biored_relations_are_undirected_with_novelty() -> None:
    docs = read_documents(data_file("biored/Train.PubTator"))
    relations = [r for d in docs for r in d.relations]
    assert all(not r.directed and r.novel is not None for r in relations)
    first = docs[0].relations[0]
    assert (first.type, first.head, first.tail) == ("Association", "3175", "D003924")


def test_chr_relations_have_no_novelty_and_split_kb_ids() -> None:
    doc = read_documents(data_file("pretrain/chr_dev_chemicals.pubtator"))[0]
    assert all(r.novel is None and not r.directed for r in doc.relations)
    entity = doc.entities[doc.entity_index()["HMDB:HMDB01397|CHEBI:17345"]]
    assert entity.kb_ids == ("HMDB:HMDB01397", "CHEBI:17345")
    assert entity.type == "ChemMet" and entity.name == "guanosine monophosphate"


def _write(tmp_path: Path, text: str, name: str = "x.pubtator", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


TITLE = "ABC genes and HNF4A"
ABSTRACT = "c.5382insC lowers guanosine monophosphate; -"
TEXT = TITLE + " " + ABSTRACT


def span(word: str) -> tuple[int, int]:
    start = TEXT.index(word)
    return start, start + len(word)


COMPOSITE = "\n".join(
    [
        f"7|t|{TITLE}",
        f"7|a|{ABSTRACT}",
        "7\t{}\t{}\tABC genes\tGene\t3172,3651,6927".format(*span("ABC genes")),
        "7\t{}\t{}\tHNF4A\tGene\t3172".format(*span("HNF4A")),
        "7\t{}\t{}\tc.5382insC\tVariant\tc|INS|5382|C".format(*span("c.5382insC")),
        "7\t{}\t{}\tguanosine monophosphate\tChem\tHMDB:HMDB01397|CHEBI:17345".format(
            *span("guanosine monophosphate")
        ),
        "7\t{}\t{}\tABC\tGene\t-".format(*span("ABC")),
        "7\tAssociation\t3651\tc|INS|5382|C\tNovel",
        "7\tBind\tHMDB:HMDB01397|CHEBI:17345\t6927",
        "",
        "",
    ]
)


def test_composite_variant_chr_and_unlinked_ids(tmp_path: Path) -> None:
    path = _write(tmp_path, COMPOSITE)
    (doc,) = read_documents(path)
    assert doc.text == TEXT and doc.title == TITLE
    ents = {e.id: e for e in doc.entities}
    assert [e.id for e in doc.entities] == [
        "3172", "3651", "6927", "c|INS|5382|C", "HMDB:HMDB01397|CHEBI:17345", "-:0-3",
    ]
    assert ents["3172"].mentions == [0, 1] and ents["3651"].mentions == [0] and ents["6927"].mentions == [0]
    assert ents["3172"].name == "ABC genes" and ents["3172"].type == "Gene"
    assert ents["c|INS|5382|C"].kb_ids == ("c|INS|5382|C",)
    assert ents["HMDB:HMDB01397|CHEBI:17345"].kb_ids == ("HMDB:HMDB01397", "CHEBI:17345")
    assert ents["-:0-3"].kb_ids == () and ents["-:0-3"].mentions == [4]
    assert doc.relations[0].novel is True and doc.relations[1].novel is None
    out = tmp_path / "out.pubtator"
    write_documents([doc], out, "pubtator")
    assert out.read_text() == COMPOSITE.rstrip("\n") + "\n\n"


def test_missing_and_empty_id_columns_are_unlinked(tmp_path: Path) -> None:
    text = f"1|t|{TITLE}\n1|a|{ABSTRACT}\n1\t0\t3\tABC\tGene\n1\t14\t19\tHNF4A\tGene\t\n"
    (doc,) = read_documents(_write(tmp_path, text))
    assert [(e.id, e.kb_ids, e.mentions) for e in doc.entities] == [(":0-3", (), [0]), (":14-19", (), [1])]
    out = tmp_path / "out.pubtator"
    write_documents([doc], out, "pubtator")
    assert "1\t0\t3\tABC\tGene\t\n1\t14\t19\tHNF4A\tGene\t\n" in out.read_text()


def test_crlf_and_bom_are_accepted(tmp_path: Path) -> None:
    plain = read_documents(_write(tmp_path, COMPOSITE))
    windows = _write(tmp_path, "\ufeff" + COMPOSITE.replace("\n", "\r\n"), "crlf.pubtator")
    assert [view(d) for d in read_documents(windows)] == [view(d) for d in plain]


GOOD_TITLE = "Hepatocyte factor"
GOOD_ABSTRACT = "HNF-6 binds insulin."
GOOD = (
    f"1|t|{GOOD_TITLE}\n1|a|{GOOD_ABSTRACT}\n"
    "1\t18\t23\tHNF-6\tGene\t3175\n1\t30\t37\tinsulin\tChemical\tD007328\n"
    "1\tBind\t3175\tD007328\tNovel\n\n"
)
SECOND = "2|t|Second\n2|a|Text.\n2\t0\t6\tSecond\tGene\t5\n\n"


def test_good_example_is_valid(tmp_path: Path) -> None:
    text = GOOD_TITLE + " " + GOOD_ABSTRACT
    assert text[18:23] == "HNF-6" and text[30:37] == "insulin"
    assert validate_file(_write(tmp_path, GOOD + SECOND)) == []


BAD = {
    "mention text differs": (GOOD.replace("23\tHNF-6", "23\tHNF-7"), 3, "1",
                             "mention 'HNF-7' at 18-23 does not match the text there ('HNF-6')"),
    "mention outside text": (GOOD.replace("30\t37", "30\t99"), 4, "1", "lies outside the text (length 38)"),
    "start not before end": (GOOD.replace("18\t23", "23\t18"), 3, "1", "start is not before end"),
    "non-integer offsets": (GOOD.replace("18\t23", "18\tx23"), 3, "1", "are not integers"),
    "wrong column count": (GOOD.replace("Gene\t3175", "Gene\t3175\textra"), 3, "1", "7 tab-separated columns"),
    "annotation before title": ("1\t0\t6\tSecond\tGene\t5\n" + GOOD, 1, "1", "before any title line"),
    "other document's line": (GOOD.replace("1\t30\t37", "2\t30\t37"), 4, "1", "line for document 2 inside document 1"),
    "abstract of another document": (GOOD.replace("1|a|", "2|a|"), 2, "2", "abstract line outside its document"),
    "relation without mention": (GOOD.replace("Bind\t3175", "Bind\t3176"), 5, "1",
                                 "relation Bind names entity '3176', which has no mention"),
    "bad novelty flag": (GOOD.replace("Novel", "Yes"), 5, "1", "neither Novel nor No"),
    "empty composite component": (GOOD.replace("\t3175\n", "\t3175,\n"), 3, "1", "empty component"),
    "duplicate document id": (GOOD + GOOD, 7, "1", "duplicate document id"),
    "empty document": (SECOND + "1|t|\n1|a|\n\n", 5, "1", "document has no text"),
}


@pytest.mark.parametrize("case", BAD)
def test_located_error(case: str, tmp_path: Path) -> None:
    content, line, doc_id, reason = BAD[case]
    path = _write(tmp_path, content)
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert_located(info.value, path, doc_id, line=line, reason=reason)
    assert [e.line for e in validate_file(path)][:1] == [line]


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.encode().replace(b"binds", b"bi\xffds") + SECOND.encode())
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert_located(info.value, path, "1", line=2, reason="invalid UTF-8")
    assert [d.id for d in read_documents(path, lenient=True)] == ["2"]


def test_validate_reports_every_problem(tmp_path: Path) -> None:
    bad = GOOD.replace("23\tHNF-6", "23\tHNF-7").replace("Bind\t3175", "Bind\t3176")
    path = _write(tmp_path, bad + SECOND + SECOND)
    assert [(e.line, e.doc_id) for e in validate_file(path)] == [(3, "1"), (5, "1"), (11, "2")]


def renumber(text: str, doc_id: str) -> str:
    """``text`` with document id 1 replaced at the start of every line."""
    return re.sub(r"^1(?=[|\t])", doc_id, text, flags=re.M)


def test_lenient_skips_exactly_the_bad_documents(tmp_path: Path) -> None:
    bad_text = renumber(GOOD, "3").replace("23\tHNF-6", "23\tHNF-7")
    bad_relation = renumber(GOOD, "4").replace("Bind\t3175", "Bind\t3176")
    path = _write(tmp_path, GOOD + bad_text + SECOND + bad_relation)
    skipped: list[FormatError] = []
    docs = read_documents(path, lenient=True, on_skip=skipped.append)
    assert [d.id for d in docs] == ["1", "2"]
    assert [(e.doc_id, e.line) for e in skipped] == [("3", 9), ("4", 21)]
