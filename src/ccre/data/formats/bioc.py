"""BioC XML and JSON in BioRED's layout, through the ``bioc`` package.

A document has an id, passages (``title``, ``abstract``) at character offsets, annotations inside the
passages with infons ``type`` and ``identifier`` (composite and unlinked IDs as in PubTator, in the file's
ID dialect, :mod:`ccre.data.formats.ids`; ``parts`` for CDR's composite parts) and one location each, and document-level relations with infons ``type``, ``entity1``, ``entity2`` and ``novel``.
The Document text is the passages placed at their offsets (gaps filled with spaces), so BioRED's
``title + " " + abstract`` comes out exactly as from PubTator.

PubTator3's BioC exports read the same way: its ``biocjson`` list ``{"PubTator3": [...]}`` as a collection,
relations by their ``role1``/``role2`` identifiers, a ``Variant`` by its ``subtype`` (``DNAMutation``...), a
null identifier as unlinked; other infons that are not strings (``valid``, ``normalized``) are ignored. Annotations are read in the order of their ids when every id is an integer (the writer numbers mentions
in document order), else in file order. Relations are read as undirected, as BioRED's are.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import bioc
from bioc import biocjson, biocxml
from bioc.biocjson.decoder import parse_collection

from ccre.data.documents import Document, Mention, Relation
from ccre.data.formats._io import BOM, read_text, write_atomic
from ccre.data.formats.ids import CID, NOVELTY, Dialect, DialectClues
from ccre.data.formats.pubtator import EntityTable, id_columns
from ccre.data.formats.validate import Parsed, mention_problem, relation_problem
from ccre.errors import FormatError

_NOVEL = {"Novel": True, "No": False}


def parse_xml(path: str | os.PathLike[str], dialect: Dialect | None = None) -> Iterator[Parsed]:
    """Read a BioC XML file document by document in ``dialect`` (default: read from the file)."""
    data = Path(path).read_bytes()
    try:
        collection = biocxml.loads(data.removeprefix(BOM).decode("utf-8"))
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FormatError("invalid UTF-8", path=str(path), line=line) from None
    except Exception as e:  # lxml and the bioc decoder raise many kinds; all mean "not BioC XML"
        raise _unreadable("XML", e, path) from None
    yield from _documents(collection, str(path), dialect)


def parse_json(path: str | os.PathLike[str], dialect: Dialect | None = None) -> Iterator[Parsed]:
    """Read a BioC JSON file document by document in ``dialect`` (default: read from the file)."""
    text = read_text(path)
    try:
        collection = parse_collection(as_collection(json.loads(text)))
    except Exception as e:  # json and the bioc decoder raise many kinds; all mean "not BioC JSON"
        raise _unreadable("JSON", e, path) from None
    yield from _documents(collection, str(path), dialect)


PUBTATOR3 = "PubTator3"
"""The key under which PubTator3's ``biocjson`` export lists its documents (instead of a BioC collection)."""


def as_collection(data: object) -> object:
    """``data`` as a BioC JSON collection: PubTator3's export ``{"PubTator3": [documents]}`` is wrapped in one,
    with the lists and maps it leaves out (a relation's ``nodes``) filled in empty; anything else as it is."""
    if not (isinstance(data, dict) and isinstance(data.get(PUBTATOR3), list)):
        return data
    documents = []
    for doc in data[PUBTATOR3]:
        if isinstance(doc, dict):
            doc = {"infons": {}, "relations": [], **doc}
            if isinstance(doc.get("id", doc.get("pmid")), int):  # PubTator3 numbers its documents by PMID
                doc["id"] = str(doc.get("id", doc.get("pmid")))
            doc["relations"] = [{"nodes": [], **r} if isinstance(r, dict) else r for r in doc["relations"]]
            doc["passages"] = [{"infons": {}, "sentences": [], "annotations": [], "relations": [], **p}
                               if isinstance(p, dict) else p for p in doc.get("passages", [])]
        documents.append(doc)
    return {"source": PUBTATOR3, "date": "", "key": "", "infons": {}, "documents": documents}


def _unreadable(kind: str, e: Exception, path: str | os.PathLike[str]) -> FormatError:
    """The FormatError for a file that the bioc package cannot decode."""
    reason = f"missing key {e}" if isinstance(e, KeyError) else str(e)
    return FormatError(f"not valid BioC {kind}: {reason}", path=str(path), line=getattr(e, "lineno", None))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _infons(node: bioc.BioCPassage | bioc.BioCAnnotation | bioc.BioCRelation) -> dict[str, str] | None:
    """The node's string infons (others, such as PubTator3's ``valid: true``, are left out), or None when its
    infons are not a map (BioC JSON does not guarantee it)."""
    infons = node.infons
    if isinstance(infons, dict) and all(isinstance(k, str) for k in infons):
        return {k: v for k, v in infons.items() if isinstance(v, str)}
    return None


def _documents(collection: bioc.BioCCollection, name: str, dialect: Dialect | None) -> Iterator[Parsed]:
    seen: set[str] = set()
    dialect = dialect or _detect_dialect(collection, name)
    for i, document in enumerate(collection.documents):
        yield _document(document, f"documents[{i}]", name, seen, dialect)


def _detect_dialect(collection: bioc.BioCCollection, name: str) -> Dialect:
    """The ID dialect of a collection from the clues of its identifiers and relations (:class:`DialectClues`)."""
    clues = DialectClues(name)
    for i, document in enumerate(collection.documents):
        doc_id = document.id if isinstance(document.id, str) else None
        annotations = [(f"documents[{i}].passages[{p}].annotations[{a}]", x)
                       for p, passage in enumerate(document.passages) for a, x in enumerate(passage.annotations)]
        annotations += [(f"documents[{i}].annotations[{a}]", x) for a, x in enumerate(document.annotations)]
        for location, ann in annotations:
            identifier = (_infons(ann) or {}).get("identifier")
            if identifier is not None:
                clues.column(identifier, None, location, doc_id)
        for r, rel in enumerate(document.relations):
            infons = _infons(rel) or {}
            location = f"documents[{i}].relations[{r}]"
            if infons.get("novel") in _NOVEL:
                clues.clue(NOVELTY, None, location, doc_id)
            if infons.get("type") == "CID":
                clues.clue(CID, None, location, doc_id)
    return clues.resolve()


def _document(document: bioc.BioCDocument, where: str, name: str, seen: set[str], dialect: Dialect) -> Parsed:
    """Check and convert one BioC document (``where`` is its path in the collection)."""
    doc_id = document.id if isinstance(document.id, str) else None
    errors: list[FormatError] = []

    def err(location: str, reason: str) -> None:
        errors.append(FormatError(reason, path=name, location=location, doc_id=doc_id))

    if not doc_id:
        err(f"{where}.id", "document has no id")
    elif doc_id in seen:
        err(f"{where}.id", "duplicate document id")
    else:
        seen.add(doc_id)
    text, title = "", ""
    annotations: list[tuple[str, bioc.BioCAnnotation]] = []
    sentences: list[tuple[str, bioc.BioCSentence]] = []
    for p, passage in enumerate(document.passages):
        if not _is_int(passage.offset) or not isinstance(passage.text, str) or _infons(passage) is None:
            err(f"{where}.passages[{p}]", "passage needs an integer offset, a text and string infons")
            continue
        if passage.offset < len(text):
            err(f"{where}.passages[{p}]", f"passage offset {passage.offset} overlaps the text before it")
            continue
        text = text.ljust(passage.offset) + passage.text
        if passage.infons.get("type") in ("title", "front") and not title:
            title = passage.text
        annotations += [(f"{where}.passages[{p}].annotations[{a}]", x) for a, x in enumerate(passage.annotations)]
        sentences += [(f"{where}.passages[{p}].sentences[{k}]", x) for k, x in enumerate(passage.sentences)]
    annotations += [(f"{where}.annotations[{a}]", x) for a, x in enumerate(document.annotations)]
    if all(isinstance(x.id, str) and x.id.isdecimal() for _, x in annotations):
        annotations.sort(key=lambda pair: int(pair[1].id))
    if not text.strip():
        err(where, "document has no text")

    tokens = []
    for location, sentence in sentences:
        if not (_is_int(sentence.offset) and isinstance(sentence.text, str)) or not sentence.text or (
                text[sentence.offset : sentence.offset + len(sentence.text)] != sentence.text):
            err(location, "sentence needs an integer offset and a text that matches the passage text there")
            continue
        spans = _token_spans(sentence)
        if spans[-1][1] != sentence.offset + len(sentence.text):
            err(location, f"tokens infon '{sentence.infons.get('tokens')}' does not add up to the sentence text")
            continue
        tokens.append(spans)
    table = EntityTable(dialect)
    mentions: list[Mention] = []
    for location, ann in annotations:
        infons = _infons(ann)
        if len(ann.locations) != 1:
            err(location, f"annotation has {len(ann.locations)} locations; exactly one is supported")
            continue
        start, length = ann.locations[0].offset, ann.locations[0].length
        if not (_is_int(start) and _is_int(length) and isinstance(ann.text, str) and infons is not None):
            err(location, "annotation needs an integer offset and length, a text and string infons")
            continue
        identifier = infons.get("identifier", "")
        parts = tuple(infons["parts"].split("|")) if "parts" in infons else ()
        sent_id = next((k for k, spans in enumerate(tokens) if spans[0][0] <= start < spans[-1][1]), None)
        kind = infons.get("subtype", "Variant") if infons.get("type") == "Variant" else infons.get("type", "")
        mention = Mention(start, start + length, ann.text, kind, sent_id, infons.get("name"),
                          parts, identifier)
        id_problem = table.add(len(mentions), mention, identifier)  # no follow-on errors
        problem = mention_problem(text, mention.start, mention.end, mention.text) or id_problem
        if problem:
            err(location, problem)
        mentions.append(mention)
    ids = {e.id for e in table.entities}
    relations = []
    for r, rel in enumerate(document.relations):
        infons = _infons(rel)
        if infons is None:
            err(f"{where}.relations[{r}]", "relation infons must be strings")
            continue
        novel = infons.get("novel")
        evidence = _evidence(infons.get("evidence"), len(tokens))
        relation = Relation(
            head=infons.get("entity1", _role(rel, "role1")),
            tail=infons.get("entity2", _role(rel, "role2")),
            type=infons.get("type", ""),
            directed=infons.get("directed") == "true",
            novel=_NOVEL.get(novel) if novel is not None else None,
            evidence=evidence if isinstance(evidence, tuple) else None,
        )
        problem = relation_problem(relation.type, relation.head, relation.tail, ids)
        if novel is not None and novel not in _NOVEL:
            problem = f"novel infon '{novel}' is neither Novel nor No"
        if isinstance(evidence, str):
            problem = evidence
        if problem:
            err(f"{where}.relations[{r}]", problem)
        relations.append(relation)
    if errors:
        return Parsed(None, errors)
    return Parsed(Document(doc_id, text, mentions, table.entities, relations, title=title, tokens=tokens,
                           dialect=dialect.name))


def to_bioc(doc: Document) -> bioc.BioCDocument:
    """The BioC document of ``doc``: title and abstract passages when the text starts with the title and a
    space, else one ``abstract`` passage with the whole text; a tokenized document's sentences (DocRED) as
    BioC sentences, its mention names and its relations' direction and evidence as infons."""
    document = bioc.BioCDocument()
    document.id = doc.id
    if doc.title and doc.text.startswith(doc.title + " "):
        pieces = [("title", 0, doc.title), ("abstract", len(doc.title) + 1, doc.text[len(doc.title) + 1 :])]
    else:
        pieces = [("abstract", 0, doc.text)]
    passages = []
    for kind, offset, text in pieces:
        passage = bioc.BioCPassage()
        passage.infons["type"] = kind
        passage.offset = offset
        passage.text = text
        passages.append(passage)
        document.add_passage(passage)
    for i, (m, column) in enumerate(zip(doc.mentions, id_columns(doc))):
        ann = bioc.BioCAnnotation()
        ann.id = str(i)
        ann.infons["identifier"] = column
        ann.infons["type"] = m.type
        if m.parts:
            ann.infons["parts"] = "|".join(m.parts)
        ann.add_location(bioc.BioCLocation(m.start, m.end - m.start))
        ann.text = m.text
        if m.name is not None:
            ann.infons["name"] = m.name
        _home(passages, m.start).add_annotation(ann)
    for spans in doc.tokens:
        sentence = bioc.BioCSentence()
        sentence.offset, sentence.text = spans[0][0], doc.text[spans[0][0] : spans[-1][1]]
        sentence.infons["tokens"] = ",".join(str(end - start) for start, end in spans)
        _home(passages, sentence.offset).add_sentence(sentence)
    for i, r in enumerate(doc.relations):
        rel = bioc.BioCRelation()
        rel.id = f"R{i}"
        rel.infons.update({"type": r.type, "entity1": r.head, "entity2": r.tail})
        if r.novel is not None:
            rel.infons["novel"] = "Novel" if r.novel else "No"
        if r.directed:
            rel.infons["directed"] = "true"
        if r.evidence is not None:
            rel.infons["evidence"] = json.dumps(list(r.evidence))
        document.add_relation(rel)
    return document


def _role(relation: bioc.BioCRelation, role: str) -> str:
    """The identifier of a PubTator3 relation's ``role1`` or ``role2`` infon (a map), else ``""``."""
    value = relation.infons.get(role) if isinstance(relation.infons, dict) else None
    identifier = value.get("identifier") if isinstance(value, dict) else None
    return identifier if isinstance(identifier, str) else ""


def _evidence(value: str | None, sentences: int) -> tuple[int, ...] | str | None:
    """A relation's ``evidence`` infon (a JSON list of sentence indices) as a tuple, None when absent, or
    the problem with it."""
    if value is None:
        return None
    try:
        evidence = json.loads(value)
    except json.JSONDecodeError:
        evidence = None
    if not (isinstance(evidence, list) and all(_is_int(x) and 0 <= x < sentences for x in evidence)):
        return f"evidence infon '{value}' is not a list of sentence indices (0-{sentences - 1})"
    return tuple(evidence)


def _token_spans(sentence: bioc.BioCSentence) -> list[tuple[int, int]]:
    """The tokens of a sentence: by its ``tokens`` infon (their lengths, as ccre writes it) or else its text
    split at single spaces, the inverse of DocRED's tokens joined by spaces."""
    lengths = sentence.infons.get("tokens")
    sizes = [int(n) for n in lengths.split(",")] if isinstance(lengths, str) and re.fullmatch(r"[0-9]+(,[0-9]+)*", lengths) else [
        len(t) for t in sentence.text.split(" ")]
    spans, start = [], sentence.offset
    for size in sizes:
        spans.append((start, start + size))
        start += size + 1
    return spans


def _home(passages: list[bioc.BioCPassage], offset: int) -> bioc.BioCPassage:
    """The passage (of a title and an abstract, or one) that holds character ``offset``."""
    return passages[-1] if len(passages) > 1 and offset >= passages[-1].offset else passages[0]


def _collection(docs: Iterable[Document]) -> bioc.BioCCollection:
    collection = bioc.BioCCollection()
    collection.source = "ccre"
    for doc in docs:
        collection.add_document(to_bioc(doc))
    return collection


def _write(docs: Iterable[Document], path: str | os.PathLike[str], dumps: Callable[[bioc.BioCCollection], str]) -> None:
    write_atomic(path, dumps(_collection(docs)))


def write_xml(docs: Iterable[Document], path: str | os.PathLike[str]) -> None:
    """Write ``docs`` as BioC XML, atomically."""
    _write(docs, path, biocxml.dumps)


def write_json(docs: Iterable[Document], path: str | os.PathLike[str]) -> None:
    """Write ``docs`` as BioC JSON, atomically."""
    _write(docs, path, lambda c: biocjson.dumps(c, indent=1))
