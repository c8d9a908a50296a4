"""Property tests: generated documents round-trip through every writer and reader, and corrupted files fail
only with FormatError."""

from __future__ import annotations

from pathlib import Path

import pytest
from formats_helpers import view
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccre.data.documents import Document, Entity, Mention, Relation
from ccre.data.formats import read_documents, validate_file, write_documents
from ccre.errors import FormatError

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
SUFFIX = {"pubtator": "pubtator", "bioc-xml": "xml", "bioc-json": "json", "docred": "json"}
# KB-linked IDs and the KB IDs the reader should find in each.
KB_IDS = {
    "D001": ("D001",),
    "3172": ("3172",),
    "c|INS|5382|C": ("c|INS|5382|C",),
    "HMDB:H1|CHEBI:2": ("HMDB:H1", "CHEBI:2"),
    "rs12": ("rs12",),
}
words = st.lists(st.text("abcé-", min_size=1, max_size=4), min_size=1, max_size=8)


def spans_of(tokens: list[str], start: int = 0) -> list[tuple[int, int]]:
    """Character spans of ``tokens`` joined by single spaces, the first at ``start``."""
    spans = []
    for tok in tokens:
        spans.append((start, start + len(tok)))
        start += len(tok) + 1
    return spans


@st.composite
def linked_documents(draw: st.DrawFn) -> Document:
    """A PubTator/BioC document: overlapping, nested, composite and unlinked mentions; undirected relations."""
    tokens = draw(words)
    cut = draw(st.integers(1, len(tokens)))
    title, abstract = " ".join(tokens[:cut]), " ".join(tokens[cut:])
    text = title + " " + abstract
    spans = spans_of(tokens)
    mentions: list[Mention] = []
    entities: dict[str, Entity] = {}
    for _ in range(draw(st.integers(0, 6))):
        i = draw(st.integers(0, len(tokens) - 1))
        j = draw(st.integers(i, min(i + 2, len(tokens) - 1)))
        start, end = spans[i][0], spans[j][1]
        mention = Mention(start, end, text[start:end], draw(st.sampled_from(["Gene", "Chem"])))
        ids = draw(st.one_of(st.just([]), st.lists(st.sampled_from(list(KB_IDS)), min_size=1, max_size=3, unique=True)))
        keys = [(i, KB_IDS[i]) for i in ids] or [(f"-:{start}-{end}", ())]
        for key, kb_ids in keys:
            entity = entities.setdefault(key, Entity(key, mention.type, [], kb_ids, mention.text))
            entity.mentions.append(len(mentions))
        mentions.append(mention)
    linked = [e.id for e in entities.values() if e.kb_ids]
    relations = []
    if linked:
        for _ in range(draw(st.integers(0, 3))):
            head, tail = draw(st.sampled_from(linked)), draw(st.sampled_from(linked))
            novel = draw(st.sampled_from([True, False, None]))
            relations.append(Relation(head, tail, draw(st.sampled_from(["Bind", "Association"])), False, novel))
    return Document("PMID1", text, mentions, list(entities.values()), relations, title=title)


@st.composite
def docred_documents(draw: st.DrawFn) -> Document:
    """A DocRED document: sentences, entities with mentions on token ranges, directed labels with evidence."""
    sents = draw(st.lists(words, min_size=1, max_size=3))
    tokens, offset = [], 0
    for sent in sents:
        tokens.append(spans_of(sent, offset))
        offset = tokens[-1][-1][1] + 1
    text = " ".join(t for s in sents for t in s)
    mentions: list[Mention] = []
    entities = []
    for k in range(draw(st.integers(0, 4))):
        entity = Entity(str(k), "")
        for _ in range(draw(st.integers(1, 3))):
            sid = draw(st.integers(0, len(sents) - 1))
            i = draw(st.integers(0, len(sents[sid]) - 1))
            j = draw(st.integers(i, len(sents[sid]) - 1))
            start, end = tokens[sid][i][0], tokens[sid][j][1]
            name = draw(st.sampled_from([text[start:end], "other name"]))
            mention = Mention(start, end, text[start:end], draw(st.sampled_from(["PER", "LOC"])), sid, name)
            if not entity.mentions:
                entity.type, entity.name = mention.type, name
            entity.mentions.append(len(mentions))
            mentions.append(mention)
        entities.append(entity)
    relations = []
    if entities:
        for _ in range(draw(st.integers(0, 3))):
            head, tail = draw(st.sampled_from(entities)).id, draw(st.sampled_from(entities)).id
            evidence = draw(st.one_of(st.none(), st.lists(st.integers(0, len(sents) - 1), max_size=2).map(tuple)))
            relations.append(Relation(head, tail, draw(st.sampled_from(["P17", "P131"])), True, None, evidence))
    return Document("Some title", text, mentions, entities, relations, title="Some title", tokens=tokens)


@pytest.mark.parametrize("fmt", ["pubtator", "bioc-xml", "bioc-json"])
@SETTINGS
@given(doc=linked_documents())
def test_linked_documents_round_trip(fmt: str, doc: Document, tmp_path: Path) -> None:
    path = tmp_path / f"doc.{SUFFIX[fmt]}"
    write_documents([doc], path, fmt)
    (back,) = read_documents(path, fmt)
    assert view(back) == view(doc) and back.title == doc.title


@SETTINGS
@given(doc=docred_documents())
def test_docred_documents_round_trip(doc: Document, tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    write_documents([doc], path, "docred")
    (back,) = read_documents(path, "docred")
    assert view(back) == view(doc) and back.tokens == doc.tokens


def corrupt(data: bytes, draw: st.DrawFn) -> bytes:
    """``data`` with one byte replaced, the tail cut off, or one line deleted."""
    how = draw(st.sampled_from(["flip", "truncate", "delete line"]))
    if how == "flip":
        at = draw(st.integers(0, len(data) - 1))
        return data[:at] + bytes([draw(st.integers(0, 255))]) + data[at + 1 :]
    if how == "truncate":
        return data[: draw(st.integers(0, len(data) - 1))]
    lines = data.split(b"\n")
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"\n".join(lines)


@pytest.mark.parametrize("fmt", list(SUFFIX))
@SETTINGS
@given(data=st.data())
def test_corrupted_files_fail_only_with_format_error(fmt: str, data: st.DataObject, tmp_path: Path) -> None:
    docs = [data.draw(docred_documents() if fmt == "docred" else linked_documents()) for _ in range(2)]
    docs[1].id = docs[1].title = "other"
    path = tmp_path / f"docs.{SUFFIX[fmt]}"
    write_documents(docs, path, fmt)
    path.write_bytes(corrupt(path.read_bytes(), data.draw))
    for read in (lambda: read_documents(path, fmt), lambda: read_documents(path, fmt, lenient=True)):
        try:
            read()
        except FormatError:
            pass
    assert all(isinstance(e, FormatError) for e in validate_file(path, fmt))
