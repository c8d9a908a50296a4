"""The one document model that every format reads into and writes from.

A :class:`Document` holds its text, its mentions (character spans), its entities (concepts: one or more
normalized IDs, one or more mentions) and its relations between entities. Entities are keyed by
``Entity.id``, the identifier string that relations use (a BioRED concept ID such as ``D003924``, a
Re-DocRED vertex index such as ``"3"``). One mention may belong to several entities: BioRED writes a
composite mention ``3172,3651,6927`` that refers to three genes at once, and relations name each
component gene.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mention:
    """A span ``text[start:end]`` of a document, with the entity type the annotator gave it."""

    start: int
    end: int
    text: str
    type: str
    sent_id: int | None = None  # sentence index for formats that have sentences (DocRED)
    name: str | None = None  # the annotation's own surface name when it has one (DocRED's ``name``)
    parts: tuple[str, ...] = ()
    """The text of each concept of a composite mention, in ID-column order (CDR's seventh column)."""
    identifier: str | None = field(default=None, compare=False)
    """The ID column as the file wrote it (PubTator, BioC), so that a writer gives back the input's own IDs;
    not part of the mention's identity (its entities are)."""


@dataclass
class Entity:
    """A concept in a document.

    Attributes:
        id: the key relations use. For KB-linked formats the concept's identifier as annotated (several KB
            IDs of one concept joined by the dialect's alternative separator, as in CHR's
            ``HMDB:HMDB01397|CHEBI:17345`` or PubTator3's ``5604;5605``: :mod:`ccre.data.formats.ids`).
        type: the entity type (of its first mention).
        mentions: indices into ``Document.mentions``.
        kb_ids: the normalized knowledge-base IDs of this concept (empty when the format has none).
        name: a display name (DocRED's ``name``, or the first mention's text).
    """

    id: str
    type: str
    mentions: list[int] = field(default_factory=list)
    kb_ids: tuple[str, ...] = ()
    name: str = ""


@dataclass(frozen=True)
class Relation:
    """A document-level relation between two entities (by ``Entity.id``).

    ``directed=False`` means the relation holds for the unordered pair (BioRED); ``novel`` is BioRED's
    novelty flag (``None`` when the format has none); ``evidence`` lists supporting sentence indices.
    """

    head: str
    tail: str
    type: str
    directed: bool = True
    novel: bool | None = None
    evidence: tuple[int, ...] | None = None

    @property
    def pair(self) -> tuple[str, str]:
        """The entity pair as compared by metrics: ordered when directed, sorted when not."""
        if self.directed:
            return (self.head, self.tail)
        return (self.head, self.tail) if self.head <= self.tail else (self.tail, self.head)


@dataclass
class Document:
    """One annotated document.

    ``tokens`` holds, per sentence, the ``(start, end)`` character spans of its tokens, for formats that are
    tokenized (DocRED); it is empty for formats that are not (PubTator, BioC). ``dialect`` names the ID
    dialect it was read in.
    """

    id: str
    text: str
    mentions: list[Mention] = field(default_factory=list)
    entities: list[Entity] = field(default_factory=list)
    relations: list[Relation] = field(default_factory=list)
    title: str = ""
    tokens: list[list[tuple[int, int]]] = field(default_factory=list)
    dialect: str = "biored"
    """How its ID columns name concepts (:mod:`ccre.data.formats.ids`): what a PubTator or BioC writer follows."""

    def entity_index(self) -> dict[str, int]:
        """Map ``Entity.id`` to its position in ``entities``."""
        return {e.id: i for i, e in enumerate(self.entities)}

    def entity_mentions(self, entity: Entity) -> list[Mention]:
        return [self.mentions[i] for i in entity.mentions]
