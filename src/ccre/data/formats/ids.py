"""How an ID column names concepts: one rule, set per dialect, and the dialect read from the file's clues.

The rule: an ID column (PubTator's sixth column, BioC's ``identifier`` infon) is first split into
*concepts* at the dialect's composite separators (the mention refers to each, and relations name each);
a concept is then split into *alternative* KB IDs of the same concept at the dialect's alternative
separators (the concept keeps the whole string as its id). Every other character, ``|`` included, is
part of an ID. A column the dialect calls unlinked links the mention to no concept.

==============  =========================  ===================================  ================
dialect         composite (concepts)       alternatives (one concept)           unlinked
==============  =========================  ===================================  ================
``biored``      ``,`` ``;``                ``|`` when every part is namespaced  ``""`` ``-``
``cdr``         ``|``                      none                                 ``""`` ``-`` ``-1``
``ncbi``        ``|`` ``+``                none                                 ``""`` ``-`` ``-1``
``pubtator3``   ``,``                      ``;``                                ``""`` ``-``
==============  =========================  ===================================  ================

When no dialect is named, :class:`DialectClues` reads it from the file (see :data:`CLUES`); the dialects
that remain possible must read every ID column alike, otherwise the file is ambiguous and the error
names the first such line and the ``--dialect`` option that settles it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from ccre.data.documents import Document
from ccre.errors import FormatError

_NAMESPACED = re.compile(r"[A-Za-z][A-Za-z0-9_.#-]*:\S")
_CONCEPT_LIKE = re.compile(r"(?:[A-Za-z][A-Za-z0-9_.#-]*:)?[A-Za-z]{0,2}[0-9]+")
"""A whole concept ID (``D006973``, ``MESH:D006973``, ``OMIM:608089``, ``3172``): what makes ``a|b`` look
like two concepts rather than one ID that contains ``|`` (BioRED's variant ``c|INS|5382|C``)."""


@dataclass(frozen=True)
class Dialect:
    """How one family of corpora writes its ID columns (see the module docstring for the table)."""

    name: str
    composite: str
    """Characters that split an ID column into several concepts; the first is the one written."""
    alternatives: str = ""
    """Characters that join several KB IDs of one concept."""
    namespaced_alternatives: bool = False
    """Alternatives only when every part is namespaced (CHR's ``HMDB:HMDB01397|CHEBI:17345``)."""
    unlinked: tuple[str, ...] = ("", "-")
    parts_column: bool = False
    """Whether a mention line may carry a seventh column, the text of each concept (CDR)."""

    def concepts(self, column: str) -> list[tuple[str, tuple[str, ...]]] | None:
        """``[(concept id, its KB IDs), ...]`` of an ID column, or None when it is unlinked.

        A column with an empty component (``3172,``) gives an empty concept id, which the readers report.
        """
        if column in self.unlinked:
            return None
        parts = re.split("[" + re.escape(self.composite) + "]", column)
        return [(part, self.kb_ids(part)) for part in parts]

    def kb_ids(self, concept: str) -> tuple[str, ...]:
        """The alternative KB IDs of one concept (the concept itself when it has no alternatives)."""
        if not self.alternatives:
            return (concept,)
        parts = re.split("[" + re.escape(self.alternatives) + "]", concept)
        if len(parts) > 1 and (not self.namespaced_alternatives or all(_NAMESPACED.match(p) for p in parts)):
            return tuple(parts)
        return (concept,)


DIALECTS: dict[str, Dialect] = {
    d.name: d
    for d in (
        Dialect("biored", composite=",;", alternatives="|", namespaced_alternatives=True),
        Dialect("cdr", composite="|", unlinked=("", "-", "-1"), parts_column=True),
        Dialect("ncbi", composite="|+", unlinked=("", "-", "-1")),
        Dialect("pubtator3", composite=",", alternatives=";"),
    )
}
"""Every dialect, in the order in which one is preferred when several read a file alike."""


def _all(column: str, sep: str, pattern: re.Pattern[str]) -> bool:
    """Whether ``column`` has ``sep`` and each part it separates matches ``pattern`` at its start."""
    parts = column.split(sep)
    return len(parts) > 1 and all(pattern.match(p) for p in parts)


def _concepts(column: str, sep: str) -> bool:
    """Whether ``column`` is several whole concept IDs joined by ``sep`` (``D006973|D007022``)."""
    parts = column.split(sep)
    return len(parts) > 1 and all(_CONCEPT_LIKE.fullmatch(p) for p in parts)


CLUES: tuple[tuple[str, frozenset[str], Callable[[str], bool]], ...] = (
    ("'-1' (CDR's unlinked ID)", frozenset({"cdr", "ncbi"}), lambda c: c == "-1"),
    ("'+' between IDs (NCBI disease)", frozenset({"ncbi"}), lambda c: _concepts(c, "+")),
    ("a MESH: prefix (NCBI disease, PubTator3)", frozenset({"ncbi", "pubtator3"}), lambda c: "MESH:" in c),
    ("';' between namespaced IDs (PubTator3)", frozenset({"pubtator3"}), lambda c: _all(c, ";", _NAMESPACED)),
    ("',' in an ID column (BioRED, PubTator3)", frozenset({"biored", "pubtator3"}), lambda c: "," in c),
    ("';' between IDs (BioRED, PubTator3)", frozenset({"biored", "pubtator3"}), lambda c: _concepts(c, ";")),
    ("'|' inside a variant ID (BioRED, PubTator3)", frozenset({"biored", "pubtator3"}),
     lambda c: "|" in c and not _all(c, "|", _NAMESPACED) and any(
         p and not _CONCEPT_LIKE.fullmatch(p) for p in c.split("|"))),
    ("'|' between namespaced IDs (CHR)", frozenset({"biored"}),
     lambda c: _all(c, "|", _NAMESPACED) and "MESH:" not in c),
)
"""What an ID column says of the dialect: (what it is, the dialects it allows, the test on the column and
on each of its ``,``-separated components)."""
SEVENTH_COLUMN = ("a seventh column (CDR's composite parts)", frozenset({"cdr"}))
NOVELTY = ("a Novel/No flag (BioRED)", frozenset({"biored"}))
CID = ("a CID relation (CDR)", frozenset({"cdr"}))


class DialectClues:
    """Collects a file's clues and ID columns, then names its dialect (:meth:`resolve`)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.possible = frozenset(DIALECTS)
        self.first = ""  # the first clue, where it is
        self.conflict: FormatError | None = None
        self.columns: dict[str, tuple[int | None, str | None, str | None]] = {}  # column -> first place
        self.weak: list[frozenset[str]] = []

    def clue(self, clue: tuple[str, frozenset[str]], line: int | None, location: str | None,
             doc_id: str | None, *, weak: bool = False) -> None:
        """Record one clue; one that no dialect still possible allows is kept as the conflict to report.
        A ``weak`` clue counts only after all others, and only where it fits them (else the reader reports
        its line itself)."""
        what, allowed = clue
        if weak:
            self.weak.append(allowed)
            return
        if self.conflict is not None:
            return
        if not self.possible & allowed:
            self.conflict = FormatError(
                f"{what} contradicts {self.first}: no dialect has both; name the dialect with --dialect "
                f"({', '.join(DIALECTS)})", path=self.path, line=line, location=location, doc_id=doc_id)
            return
        self.possible &= allowed
        self.first = self.first or f"{what} at {f'line {line}' if line is not None else location} (document {doc_id})"

    def column(self, column: str, line: int | None, location: str | None, doc_id: str | None) -> None:
        """Record one ID column and whatever it says of the dialect."""
        if column in self.columns:
            return
        self.columns[column] = (line, location, doc_id)
        pieces = {column, *column.split(",")}
        for what, allowed, test in CLUES:
            if any(test(piece) for piece in pieces):
                self.clue((what, allowed), line, location, doc_id)

    def resolve(self) -> Dialect:
        """The first dialect still possible, when the others read every ID column alike; else a FormatError."""
        if self.conflict is not None:
            raise self.conflict
        for allowed in self.weak:
            self.possible = self.possible & allowed or self.possible
        candidates = [DIALECTS[name] for name in DIALECTS if name in self.possible]
        chosen = candidates[0]
        for column, (line, location, doc_id) in self.columns.items():
            for other in candidates[1:]:
                if other.concepts(column) != chosen.concepts(column):
                    raise FormatError(
                        f"ID '{column}' reads as {_reading(chosen, column)} in the {chosen.name} dialect but as "
                        f"{_reading(other, column)} in the {other.name} dialect, and nothing in the file tells "
                        f"which; name it with --dialect {chosen.name} or --dialect {other.name}",
                        path=self.path, line=line, location=location, doc_id=doc_id)
        return chosen


def _reading(dialect: Dialect, column: str) -> str:
    """How ``dialect`` reads ``column``, in words: its concepts, each with its alternative IDs."""
    concepts = dialect.concepts(column)
    if concepts is None:
        return "no concept (unlinked)"
    shown = [c if len(alt) == 1 else f"{c} (alternatives {', '.join(alt)})" for c, alt in concepts]
    return f"{len(concepts)} concept(s) [{'; '.join(shown)}]"


def dialect_named(name: str | None) -> Dialect | None:
    """The dialect called ``name`` (None for None); an unknown name is a FormatError listing the known ones."""
    if name is None:
        return None
    if name not in DIALECTS:
        raise FormatError(f"unknown ID dialect {name!r}; one of {', '.join(DIALECTS)}")
    return DIALECTS[name]


_CANONICAL_PREFIX = re.compile(r"(?i)mesh:(?=[CD][0-9])")


def concept_key(entity_id: str) -> str:
    """The form in which two spellings of one concept compare equal: a ``MESH:`` prefix dropped
    (``MESH:D006973`` and ``D006973`` are one MeSH concept); every other ID as written."""
    return _CANONICAL_PREFIX.sub("", entity_id)


def id_style(entity_id: str) -> str:
    """The namespace an ID is written in once :func:`concept_key` has put it in one ID space (``OMIM``,
    ``tmVar``, ``CHEBI``...), or ``""`` for a bare ID (``D006973``, ``MESH:D006973``, ``673``)."""
    key = concept_key(entity_id)
    return key.split(":", 1)[0] if _NAMESPACED.match(key) else ""


StylePair = tuple[str, str]
"""The ID styles (:func:`id_style`) of an entity pair, sorted."""


def relation_styles(docs: Iterable[Document]) -> set[StylePair]:
    """The style pairs of every relation of ``docs`` (what a model trained on them has seen)."""
    return {_pair(id_style(r.head), id_style(r.tail)) for d in docs for r in d.relations}


def candidate_styles(docs: Iterable[Document]) -> set[StylePair]:
    """The style pairs of every candidate pair of linked entities of ``docs``."""
    pairs: set[StylePair] = set()
    for doc in docs:
        styles = sorted({id_style(e.id) for e in doc.entities if e.kb_ids})
        pairs |= {_pair(a, b) for a in styles for b in styles}
    return pairs


def _pair(a: str, b: str) -> StylePair:
    return (a, b) if a <= b else (b, a)


def style_warning(trained: Iterable[Sequence[str]], candidates: set[StylePair]) -> str | None:
    """A warning when none of ``candidates`` has a style pair of ``trained`` (a model trained on one ID space,
    applied to documents written in another), else None."""
    known = {_pair(*pair) for pair in trained}
    if not known or not candidates or known & candidates:
        return None
    shown = ", ".join(sorted(f"{a or 'bare'}-{b or 'bare'}" for a, b in known))
    return (f"no candidate pair shares the ID style of the training relations ({shown}); relations are still "
            "predicted, but check that the documents use the training data's IDs (MESH:D006973 and D006973 are "
            "one concept; other namespaces are not)")


def id_style_warning(train: Sequence[Document], docs: Sequence[Document]) -> str | None:
    """:func:`style_warning` for a model trained on ``train`` applied to ``docs``."""
    return style_warning(relation_styles(train), candidate_styles(docs))
