"""What every reader checks, and how per-document problems become strict, lenient or validation results.

Each format's ``parse`` yields one :class:`Parsed` per document (or per run of lines that belongs to no
document), so that one bad document can be skipped without losing the rest. A problem that makes the
whole file unreadable (invalid JSON, invalid UTF-8 in JSON) is raised as a FormatError instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ccre.data.documents import Document
from ccre.errors import FormatError


@dataclass
class Parsed:
    """One document as a parser saw it: ``document`` when it is valid, ``errors`` (in file order) when not."""

    document: Document | None
    errors: list[FormatError] = field(default_factory=list)


def mention_problem(text: str, start: int, end: int, surface: str) -> str | None:
    """Why the span ``start``-``end`` annotated as ``surface`` does not fit ``text``, or None when it does."""
    if start >= end:
        return f"mention '{surface}' at {start}-{end}: start is not before end"
    if start < 0 or end > len(text):
        return f"mention '{surface}' at {start}-{end} lies outside the text (length {len(text)})"
    if text[start:end] != surface:
        return f"mention '{surface}' at {start}-{end} does not match the text there ('{text[start:end]}')"
    return None


def relation_problem(rel_type: str, head: str, tail: str, entity_ids: set[str]) -> str | None:
    """Why a relation cannot stand (it names an entity with no mention), or None."""
    for ent in (head, tail):
        if ent not in entity_ids:
            return f"relation {rel_type} names entity '{ent}', which has no mention"
    return None


def valid_documents(
    parsed: Iterable[Parsed], *, lenient: bool, on_skip: Callable[[FormatError], None] | None
) -> Iterator[Document]:
    """Valid documents one at a time; strict: raise the first problem; lenient: report each bad
    document's first problem to ``on_skip`` and go on."""
    for item in parsed:
        if item.errors:
            if not lenient:
                raise item.errors[0]
            if on_skip is not None:
                on_skip(item.errors[0])
        elif item.document is not None:
            yield item.document


def collect_documents(
    parsed: Iterable[Parsed], *, lenient: bool, on_skip: Callable[[FormatError], None] | None
) -> list[Document]:
    """All valid documents, as :func:`valid_documents` hands them out."""
    return list(valid_documents(parsed, lenient=lenient, on_skip=on_skip))


def collect_errors(parsed: Iterable[Parsed]) -> list[FormatError]:
    """Every problem, including a file-level one that stops parsing (it comes last)."""
    errors: list[FormatError] = []
    try:
        for item in parsed:
            errors.extend(item.errors)
    except FormatError as e:
        errors.append(e)
    return errors
