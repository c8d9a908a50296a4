"""PubTator: ``ID|t|title`` and ``ID|a|abstract`` lines, then tab-separated mention and relation lines.

Mention lines are ``ID, start, end, text, type, ids[, parts]`` with offsets into ``title + " " + abstract``.
The ID column may be missing or unlinked; how it names concepts (composite, alternative IDs) is the
file's dialect (:mod:`ccre.data.formats.ids`), named or read from the file. The optional seventh column
(BioCreative V CDR) gives the text of each concept of a composite mention, ``|``-joined. Relation lines
are BioRED's ``ID, type, id1, id2, Novel|No`` or the CDR/CHR-style ``ID, type, id1, id2``; both are
undirected.

The writer gives back each mention's ID column as read while it still names the mention's entities;
otherwise (a document built in code or edited) it joins the entity IDs with the dialect's first composite
separator, in the order of the document's entities.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ccre.data.documents import Document, Entity, Mention, Relation
from ccre.data.formats._io import BOM, write_atomic
from ccre.data.formats.ids import CID, DIALECTS, NOVELTY, SEVENTH_COLUMN, Dialect, DialectClues
from ccre.data.formats.validate import Parsed, mention_problem, relation_problem
from ccre.errors import FormatError

_INT = re.compile(r"[0-9]+")
_UNLINKED_ID = re.compile(r"(.*):([0-9]+)-([0-9]+)")
_NOVEL = {"Novel": True, "No": False}


def unlinked_id(raw: str, start: int, end: int) -> str:
    """The Entity.id of an unlinked mention (``-:12-17`` for ``-``, ``:12-17`` for an empty column).

    It keeps the raw column so that writing gives back the original, and the span so that two unlinked
    mentions elsewhere stay two entities.
    """
    return f"{raw}:{start}-{end}"


class EntityTable:
    """Builds a document's entities from its mentions' ID columns, in order of first appearance."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.entities: list[Entity] = []
        self._index: dict[str, Entity] = {}

    def add(self, index: int, mention: Mention, column: str) -> str | None:
        """Attach mention ``index`` to each concept its ID column names; returns a problem or None."""
        concepts = self.dialect.concepts(column)
        if concepts is None:
            concepts = [(unlinked_id(column, mention.start, mention.end), ())]
        elif any(not part for c, alternatives in concepts for part in (c, *alternatives)):
            return f"ID column '{column}' has an empty component"
        for entity_id, kb_ids in concepts:
            entity = self._index.get(entity_id)
            if entity is None:
                entity = Entity(id=entity_id, type=mention.type, kb_ids=kb_ids, name=mention.text)
                self._index[entity_id] = entity
                self.entities.append(entity)
            if index not in entity.mentions:
                entity.mentions.append(index)
        if mention.parts and len(mention.parts) != len(concepts):
            return (f"the seventh column names {len(mention.parts)} part(s) but the ID column '{column}' "
                    f"{len(concepts)} concept(s) in the {self.dialect.name} dialect")
        return None


def id_columns(doc: Document) -> list[str]:
    """Per mention, the ID column to write: as read when it still names exactly the mention's entities,
    else its entities' IDs joined by the dialect's composite separator (an unlinked entity: its raw value)."""
    dialect = DIALECTS[doc.dialect]
    owners: list[list[Entity]] = [[] for _ in doc.mentions]
    for entity in doc.entities:
        for i in entity.mentions:
            owners[i].append(entity)
    columns = []
    for mention, ents in zip(doc.mentions, owners):
        ids = [e.id for e in ents]
        if mention.identifier is not None and sorted(_entity_ids(dialect, mention, mention.identifier)) == sorted(ids):
            columns.append(mention.identifier)
            continue
        match = _UNLINKED_ID.fullmatch(ids[0]) if len(ents) == 1 and not ents[0].kb_ids else None
        if match and match[1] in dialect.unlinked and (int(match[2]), int(match[3])) == (mention.start, mention.end):
            columns.append(match[1])
            continue
        bad = next((c for i in ids for c in dialect.composite if c in i), None)
        if bad is not None:
            raise FormatError(f"an entity id contains '{bad}', which the {dialect.name} dialect reads as a "
                              "composite", doc_id=doc.id)
        columns.append(dialect.composite[0].join(ids))
    return columns


def _entity_ids(dialect: Dialect, mention: Mention, column: str) -> list[str]:
    """The entity IDs that reading ``column`` gives ``mention``."""
    concepts = dialect.concepts(column)
    return [unlinked_id(column, mention.start, mention.end)] if concepts is None else [c for c, _ in concepts]


@dataclass
class _Pending:
    """A document whose lines are still being read."""

    id: str
    line: int
    title: str
    abstract: str | None = None
    mentions: list[tuple[int, Mention, str]] = field(default_factory=list)  # (line, mention, ID column)
    relations: list[tuple[int, Relation]] = field(default_factory=list)
    errors: list[FormatError] = field(default_factory=list)


def parse(path: str | os.PathLike[str], dialect: Dialect | None = None) -> Iterator[Parsed]:
    """Read a PubTator file document by document in ``dialect`` (default: read from the file, a first pass
    over its lines); see :mod:`ccre.data.formats.validate` for what comes out."""
    name = str(path)
    if dialect is None:
        with open(path, "rb") as handle:
            dialect = detect_dialect(name, handle)
    with open(path, "rb") as handle:  # line by line: a large file is never held whole
        yield from _parse_lines(name, handle, dialect)


def detect_dialect(name: str, lines: Iterable[bytes]) -> Dialect:
    """The ID dialect of the PubTator file ``name`` from the clues of its lines (:class:`DialectClues`)."""
    clues = DialectClues(name)
    doc_id = None
    for lineno, raw in enumerate(lines, 1):
        cols = raw.decode("utf-8", errors="replace").rstrip("\r\n").split("\t")
        kind = _kind(cols, parts_column=True)
        doc_id = cols[0] if kind else doc_id
        if kind == "mention" and len(cols) >= 6:
            clues.column(cols[5], lineno, None, doc_id)
            if len(cols) == 7:
                clues.clue(SEVENTH_COLUMN, lineno, None, doc_id, weak=True)
        elif kind == "relation":
            if len(cols) == 5 and cols[4] in _NOVEL:
                clues.clue(NOVELTY, lineno, None, doc_id)
            if cols[1] == "CID":
                clues.clue(CID, lineno, None, doc_id)
    return clues.resolve()


def _kind(cols: list[str], *, parts_column: bool) -> str | None:
    """What a tab-split annotation line is: ``mention`` (6, or 5 columns with integer offsets; 7 with
    ``parts_column``), ``relation`` (5 or 4 columns otherwise) or None (a wrong number of columns)."""
    if len(cols) == 6 or (len(cols) == 7 and parts_column) or (
            len(cols) == 5 and _INT.fullmatch(cols[1]) and _INT.fullmatch(cols[2])):
        return "mention"
    return "relation" if len(cols) in (4, 5) else None


def _parse_lines(name: str, lines: Iterable[bytes], dialect: Dialect) -> Iterator[Parsed]:
    """:func:`parse` over the raw lines of the file ``name``."""
    def error(reason: str, line: int, doc_id: str | None) -> FormatError:
        return FormatError(reason, path=name, line=line, doc_id=doc_id)

    seen: set[str] = set()
    current: _Pending | None = None
    orphans: list[FormatError] = []  # lines before any title line
    for lineno, raw in enumerate(lines, 1):
        if lineno == 1 and raw.startswith(BOM):
            raw = raw[len(BOM):]
        raw = raw.removesuffix(b"\n")
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            doc_id = current.id if current else None
            problem = error(f"invalid UTF-8 (byte {raw[e.start]:#04x})", lineno, doc_id)
            (current.errors if current else orphans).append(problem)
            continue
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        bar, tab = line.find("|"), line.find("\t")
        if bar > 0 and (tab == -1 or bar < tab) and line[bar + 1 : bar + 3] in ("t|", "a|"):
            doc_id, body = line[:bar], line[bar + 3 :]
            if line[bar + 1] == "t":
                if current is not None:
                    yield _finish(current, error, dialect)
                elif orphans:
                    yield Parsed(None, orphans)
                    orphans = []
                current = _Pending(doc_id, lineno, body)
                if doc_id in seen:
                    current.errors.append(error("duplicate document id", lineno, doc_id))
                seen.add(doc_id)
            elif current is None or current.id != doc_id:
                problem = error("abstract line outside its document (no title line just before)", lineno, doc_id)
                (current.errors if current else orphans).append(problem)
            elif current.abstract is not None:
                current.errors.append(error("second abstract line", lineno, doc_id))
            else:
                current.abstract = body
            continue
        cols = line.split("\t")
        kind = _kind(cols, parts_column=dialect.parts_column)
        if kind is None:
            seventh = "" if dialect.parts_column or len(cols) != 7 else (
                f" in the {dialect.name} dialect; a seventh column (composite parts) is CDR's: --dialect cdr")
            problem = error(
                f"{len(cols)} tab-separated columns; expected {'7, ' if dialect.parts_column else ''}6 or 5 "
                f"(mention) or 5 or 4 (relation){seventh}",
                lineno,
                current.id if current else None,
            )
            (current.errors if current else orphans).append(problem)
        elif current is None:
            orphans.append(error("annotation line before any title line", lineno, cols[0]))
        elif cols[0] != current.id:
            current.errors.append(
                error(f"line for document {cols[0]} inside document {current.id}", lineno, current.id)
            )
        elif kind == "mention":
            if not (_INT.fullmatch(cols[1]) and _INT.fullmatch(cols[2])):
                current.errors.append(
                    error(f"mention offsets '{cols[1]}', '{cols[2]}' are not integers", lineno, current.id)
                )
                continue
            column = cols[5] if len(cols) >= 6 else ""
            parts = tuple(cols[6].split("|")) if len(cols) == 7 else ()
            mention = Mention(int(cols[1]), int(cols[2]), cols[3], cols[4], parts=parts, identifier=column)
            current.mentions.append((lineno, mention, column))
        else:
            novel = None
            if len(cols) == 5:
                if cols[4] not in _NOVEL:
                    current.errors.append(
                        error(f"novelty flag '{cols[4]}' is neither Novel nor No", lineno, current.id)
                    )
                    continue
                novel = _NOVEL[cols[4]]
            relation = Relation(head=cols[2], tail=cols[3], type=cols[1], directed=False, novel=novel)
            current.relations.append((lineno, relation))
    if current is not None:
        yield _finish(current, error, dialect)
    elif orphans:
        yield Parsed(None, orphans)


def _finish(pending: _Pending, error: Callable[[str, int, str | None], FormatError], dialect: Dialect) -> Parsed:
    """Check a fully read document against its text and turn it into a Parsed."""
    text = pending.title + " " + (pending.abstract or "")
    errors = pending.errors
    if not text.strip():
        errors.append(error("document has no text", pending.line, pending.id))
    table = EntityTable(dialect)
    mentions = []
    for lineno, mention, column in pending.mentions:
        id_problem = table.add(len(mentions), mention, column)  # even for a bad span: no follow-on errors
        problem = mention_problem(text, mention.start, mention.end, mention.text) or id_problem
        if problem:
            errors.append(error(problem, lineno, pending.id))
        mentions.append(mention)
    ids = {e.id for e in table.entities}
    for lineno, rel in pending.relations:
        problem = relation_problem(rel.type, rel.head, rel.tail, ids)
        if problem:
            errors.append(error(problem, lineno, pending.id))
    if errors:
        return Parsed(None, sorted(errors, key=lambda e: e.line or 0))
    doc = Document(
        id=pending.id,
        text=text,
        mentions=mentions,
        entities=table.entities,
        relations=[rel for _, rel in pending.relations],
        title=pending.title,
        dialect=dialect.name,
    )
    return Parsed(doc)


def split_title(doc: Document) -> tuple[str, str]:
    """Title and abstract with ``title + " " + abstract == doc.text``.

    When the text does not start with ``doc.title`` and a space, the whole text becomes the title line
    (offsets stay valid; reading it back adds a trailing space to the text).
    """
    if doc.title and doc.text.startswith(doc.title + " "):
        return doc.title, doc.text[len(doc.title) + 1 :]
    return doc.text, ""


def _field(value: str, what: str, doc: Document) -> str:
    """``value`` if it fits in one tab-separated field, else a FormatError naming the document."""
    if any(c in value for c in "\t\n\r"):
        raise FormatError(f"{what} {value!r} contains a tab or line break; PubTator cannot hold it", doc_id=doc.id)
    return value


def dumps(docs: Iterable[Document]) -> str:
    """The PubTator text of ``docs``: title, abstract, mention lines in order, relation lines, blank line."""
    out = []
    for doc in docs:
        doc_id = _field(doc.id, "document id", doc)
        if "|" in doc.id:
            raise FormatError("document id contains '|', which PubTator reads as a separator", doc_id=doc.id)
        title, abstract = split_title(doc)
        out.append(f"{doc_id}|t|{_field(title, 'title', doc)}\n{doc_id}|a|{_field(abstract, 'abstract', doc)}\n")
        for m, column in zip(doc.mentions, id_columns(doc)):
            fields = [doc_id, str(m.start), str(m.end), m.text, m.type, column, *(["|".join(m.parts)] if m.parts else [])]
            out.append("\t".join(_field(f, "mention field", doc) for f in fields) + "\n")
        for r in doc.relations:
            fields = [doc_id, r.type, r.head, r.tail]
            if r.novel is not None:
                fields.append("Novel" if r.novel else "No")
            out.append("\t".join(_field(f, "relation field", doc) for f in fields) + "\n")
        out.append("\n")
    return "".join(out)


def write(docs: Iterable[Document], path: str | os.PathLike[str]) -> None:
    """Write ``docs`` as PubTator, atomically."""
    write_atomic(path, dumps(docs))
