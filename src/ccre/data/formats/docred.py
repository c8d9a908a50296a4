"""DocRED / Re-DocRED JSON: a list of ``{title, sents, vertexSet, labels}`` documents, and result files.

``sents`` holds token lists; a vertex (entity) is a list of mentions ``{name, pos, sent_id, type}`` where
``pos`` is a ``[start, end)`` token range inside sentence ``sent_id``; labels are ``{r, h, t, evidence}``
with ``h``/``t`` vertex indices. A Document's text is every token joined by single spaces, so mentions
get character offsets; ``Document.tokens`` keeps each token's span, and ``Document.id`` is the title.

Limitations of the writer: ``global_pos`` and ``index`` (derived keys of Re-DocRED) are not written; a
document without ``tokens`` (PubTator, BioC) is written as one sentence of its whitespace-separated words,
cut where a mention starts or ends inside a word (so the text read back has a space there); KB IDs and
novelty have no place in DocRED and are not written; a mention in several entities is repeated in each
vertex.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from typing import Any

from ccre.data.documents import Document, Entity, Mention, Relation
from ccre.data.formats._io import read_text, write_atomic
from ccre.data.formats.validate import Parsed
from ccre.errors import FormatError


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _load_json(path: str | os.PathLike[str]) -> Any:
    """The parsed JSON of ``path``; invalid UTF-8 or JSON is a FormatError naming the line."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as e:
        raise FormatError(f"not valid JSON: {e.msg}", path=str(path), line=e.lineno) from None


def parse(path: str | os.PathLike[str]) -> Iterator[Parsed]:
    """Read a DocRED file document by document; see :mod:`ccre.data.formats.validate` for what comes out."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise FormatError("the top level is not a list of documents", path=str(path), location="$")
    seen: set[str] = set()
    for i, item in enumerate(data):
        yield _parse_document(item, i, seen, str(path))


def _parse_document(item: Any, i: int, seen: set[str], name: str) -> Parsed:
    """Check and convert the ``i``-th document; ``seen`` collects titles to find duplicates."""
    errors: list[FormatError] = []
    title = item.get("title") if isinstance(item, dict) else None
    doc_id = title if isinstance(title, str) else None

    def err(where: str, reason: str) -> Parsed:
        errors.append(FormatError(reason, path=name, location=f"[{i}]{where}", doc_id=doc_id))
        return Parsed(None, errors)

    if not isinstance(item, dict):
        return err("", "a document must be an object")
    if doc_id is None:
        return err(".title", "missing title (a string)")
    if doc_id in seen:
        return err(".title", "duplicate title")
    seen.add(doc_id)
    sents = item.get("sents")
    if not isinstance(sents, list) or not all(
        isinstance(s, list) and all(isinstance(t, str) for t in s) for s in sents
    ):
        return err(".sents", "sents must be a list of sentences, each a list of token strings")
    if not any(t for s in sents for t in s):
        return err(".sents", "document has no text")
    tokens: list[list[tuple[int, int]]] = []
    offset = 0
    for sent in sents:
        spans = []
        for tok in sent:
            spans.append((offset, offset + len(tok)))
            offset += len(tok) + 1
        tokens.append(spans)
    text = " ".join(t for s in sents for t in s)

    vertex_set = item.get("vertexSet")
    if not isinstance(vertex_set, list):
        return err(".vertexSet", "vertexSet must be a list of entities")
    mentions: list[Mention] = []
    entities: list[Entity] = []
    for v, vertex in enumerate(vertex_set):
        if not isinstance(vertex, list) or not vertex:
            err(f".vertexSet[{v}]", "entity has no mentions (must be a non-empty list)")
            continue
        entity = Entity(id=str(v), type="")
        for k, m in enumerate(vertex):
            where = f".vertexSet[{v}][{k}]"
            if not isinstance(m, dict):
                err(where, "mention must be an object")
                continue
            sent_id, pos = m.get("sent_id"), m.get("pos")
            if not isinstance(m.get("name"), str) or not isinstance(m.get("type"), str):
                err(where, "mention needs a name and a type (strings)")
            elif not _is_int(sent_id) or not 0 <= sent_id < len(sents):
                err(f"{where}.sent_id", f"sent_id {sent_id!r} is not a sentence index (0-{len(sents) - 1})")
            elif not (isinstance(pos, list) and len(pos) == 2 and all(_is_int(p) for p in pos)):
                err(f"{where}.pos", f"pos {pos!r} is not a pair of token positions")
            elif not 0 <= pos[0] < pos[1] <= len(sents[sent_id]):
                err(f"{where}.pos", f"pos {pos} lies outside sentence {sent_id} ({len(sents[sent_id])} tokens)")
            else:
                start, end = tokens[sent_id][pos[0]][0], tokens[sent_id][pos[1] - 1][1]
                mention = Mention(start, end, text[start:end], m["type"], sent_id=sent_id, name=m["name"])
                if not entity.mentions:
                    entity.type, entity.name = m["type"], m["name"]
                entity.mentions.append(len(mentions))
                mentions.append(mention)
        entities.append(entity)

    labels = item.get("labels", [])
    if not isinstance(labels, list):
        return err(".labels", "labels must be a list")
    relations = []
    for j, label in enumerate(labels):
        where = f".labels[{j}]"
        if not isinstance(label, dict) or not isinstance(label.get("r"), str):
            err(where, "a label must be an object with a relation type r (a string)")
            continue
        ends = [label.get("h"), label.get("t")]
        bad = next((k for k, x in zip("ht", ends) if not _is_int(x) or not 0 <= x < len(vertex_set)), None)
        evidence = label.get("evidence")
        if bad is not None:
            err(f"{where}.{bad}", f"{bad} {label.get(bad)!r} is not an entity index (0-{len(vertex_set) - 1})")
        elif evidence is not None and not (
            isinstance(evidence, list) and all(_is_int(x) and 0 <= x < len(sents) for x in evidence)
        ):
            err(f"{where}.evidence", f"evidence {evidence!r} is not a list of sentence indices")
        else:
            relations.append(
                Relation(
                    head=str(ends[0]),
                    tail=str(ends[1]),
                    type=label["r"],
                    directed=True,
                    evidence=tuple(evidence) if evidence is not None else None,
                )
            )
    if errors:
        return Parsed(None, errors)
    doc = Document(doc_id, text, mentions, entities, relations, title=doc_id, tokens=tokens)
    return Parsed(doc)


def _word_spans(doc: Document) -> list[tuple[int, int]]:
    """The tokens of an untokenized document: its whitespace-separated words, cut where a mention starts or
    ends inside one (``SCN5A-related`` around a mention ``SCN5A``), so that every mention is a token range."""
    cuts = {i for m in doc.mentions for i in (m.start, m.end)}
    spans = []
    for word in re.finditer(r"\S+", doc.text):
        bounds = [word.start(), *sorted(c for c in cuts if word.start() < c < word.end()), word.end()]
        spans += list(zip(bounds, bounds[1:]))
    return spans


def to_json(doc: Document) -> dict[str, Any]:
    """The DocRED object of ``doc`` (title = ``doc.id``); see the module docstring for the limitations."""
    spans = doc.tokens or [_word_spans(doc)]
    starts = [{s: k for k, (s, _) in enumerate(sent)} for sent in spans]
    ends = [{e: k for k, (_, e) in enumerate(sent)} for sent in spans]

    def locate(m: Mention) -> tuple[int, int, int]:
        candidates = [m.sent_id] if m.sent_id is not None else range(len(spans))
        for sid in candidates:
            if m.start in starts[sid] and m.end in ends[sid]:
                return sid, starts[sid][m.start], ends[sid][m.end] + 1
        raise FormatError(f"mention '{m.text}' at {m.start}-{m.end} does not fall on token boundaries", doc_id=doc.id)

    vertex_set = []
    for entity in doc.entities:
        vertex = []
        for i in entity.mentions:
            m = doc.mentions[i]
            sid, first, last = locate(m)
            name = m.name if m.name is not None else m.text
            vertex.append({"name": name, "pos": [first, last], "sent_id": sid, "type": m.type})
        vertex_set.append(vertex)
    index = doc.entity_index()
    labels = []
    for r in doc.relations:
        label: dict[str, Any] = {"r": r.type, "h": index[r.head], "t": index[r.tail]}
        if r.evidence is not None:
            label["evidence"] = list(r.evidence)
        labels.append(label)
    sents = [[doc.text[s:e] for s, e in sent] for sent in spans]
    return {"title": doc.id, "vertexSet": vertex_set, "labels": labels, "sents": sents}


def write(docs: Iterable[Document], path: str | os.PathLike[str]) -> None:
    """Write ``docs`` as a DocRED JSON list, atomically."""
    try:
        data = [to_json(doc) for doc in docs]
    except FormatError as e:
        raise FormatError(e.reason, path=str(path), doc_id=e.doc_id) from None
    write_atomic(path, json.dumps(data, ensure_ascii=False))


_PREDICTION_KEYS = {"title": str, "h_idx": int, "t_idx": int, "r": str}


def _prediction_problem(pred: Any) -> tuple[str, str] | None:
    """``(json path suffix, reason)`` when ``pred`` is not a DocRED result, else None."""
    if not isinstance(pred, dict):
        return "", "a prediction must be an object"
    for key, kind in _PREDICTION_KEYS.items():
        value = pred.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f".{key}", f"{key} must be a{'n int' if kind is int else ' string'}, not {value!r}"
    if "score" in pred and (not isinstance(pred["score"], (int, float)) or isinstance(pred["score"], bool)):
        return ".score", f"score must be a number, not {pred['score']!r}"
    return None


def read_docred_predictions(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The official DocRED result list (``title``, ``h_idx``, ``t_idx``, ``r``, optional ``score``)."""
    data = _load_json(path)
    if not isinstance(data, list):
        raise FormatError("the top level is not a list of predictions", path=str(path), location="$")
    for i, pred in enumerate(data):
        problem = _prediction_problem(pred)
        if problem:
            title = pred.get("title") if isinstance(pred, dict) else None
            doc_id = title if isinstance(title, str) else None
            raise FormatError(problem[1], path=str(path), location=f"[{i}]{problem[0]}", doc_id=doc_id)
    return data


def write_docred_predictions(preds: Iterable[dict[str, Any]], path: str | os.PathLike[str]) -> None:
    """Write a DocRED result list, atomically, after checking each prediction's keys and types."""
    preds = list(preds)
    for i, pred in enumerate(preds):
        problem = _prediction_problem(pred)
        if problem:
            raise FormatError(problem[1], path=str(path), location=f"[{i}]{problem[0]}")
    write_atomic(path, json.dumps(preds, ensure_ascii=False))
