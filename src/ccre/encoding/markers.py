"""Documents -> marked word-piece sequences.

Every mention is wrapped in entity markers (``* mention *`` by default, as in ATLOP); with typed markers
the entity type follows the start marker in words (``* chemical entity aspirin *`` for a
``ChemicalEntity``; Zhou & Chen, 2022, "An Improved Baseline for Sentence-level Relation Extraction"), so the
pair embedding sees the types even where pretraining blanks the names. A mention is represented by the
encoder state at its start marker.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

from ccre.data.documents import Document
from ccre.data.labels import LabelSpace, candidate_pairs, pair_targets
from ccre.errors import FormatError


@dataclass
class EncodedDocument:
    """A document ready for the encoder: marked word pieces (no [CLS]/[SEP]) and pair bookkeeping.

    Attributes:
        doc_id: the document's id.
        input_ids: ``(L,)`` word-piece ids with markers inserted.
        mention_pos: ``(M,)`` position of each mention's start marker in ``input_ids``.
        piece_pos: ``(N,)`` position of each word piece of the text (not a marker, not a type word) in
            ``input_ids``; what MLM may mask.
        mention_pieces: ``(M, 2)`` first and last word-piece index (into ``piece_pos``) of each mention;
            entity blanking masks ``input_ids[piece_pos[first:last + 1]]``.
        entity_mentions: per entity, the indices of its mentions.
        pairs: ``(P, 2)`` candidate entity pairs (indices into the document's entities).
        entity_types: ``(E,)`` each entity's type as :meth:`LabelSpace.type_indices` numbers it (zeros without a
            label space).
        targets: ``(P, C)`` multi-hot relation targets (column 0 = no relation), or ``None`` when unlabelled.
        novelty: ``(P,)`` novelty targets (1 novel, 0 known, -1 not applicable), or ``None``.
    """

    doc_id: str
    input_ids: np.ndarray
    mention_pos: np.ndarray
    piece_pos: np.ndarray
    mention_pieces: np.ndarray
    entity_mentions: list[np.ndarray]
    pairs: np.ndarray
    entity_types: np.ndarray
    targets: np.ndarray | None = None
    novelty: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.input_ids)


def type_words(entity_type: str) -> str:
    """An entity type as the words a typed marker writes: ``GeneOrGeneProduct`` -> ``gene or gene product``,
    ``PER`` -> ``per``."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", entity_type).replace("_", " ").replace("-", " ")
    return " ".join(spaced.lower().split())


class DocumentEncoder:
    """Turns :class:`Document` objects into :class:`EncodedDocument` with one tokenizer and marker; with
    ``typed`` each start marker is followed by the word pieces of the mention's entity type."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase, marker: str = "*", typed: bool = False) -> None:
        if not tokenizer.is_fast:
            raise ValueError("ccre needs a fast tokenizer (character offsets of word pieces)")
        self.tokenizer = tokenizer
        marker_ids = tokenizer.convert_tokens_to_ids([marker])
        if marker_ids[0] is None or marker_ids[0] == tokenizer.unk_token_id:
            marker_ids = tokenizer(marker, add_special_tokens=False)["input_ids"]
        if len(marker_ids) != 1:
            raise ValueError(f"entity marker {marker!r} must be a single token of the tokenizer")
        self.marker_id = int(marker_ids[0])
        self.typed = typed
        self._type_ids: dict[str, np.ndarray] = {}

    def type_ids(self, entity_type: str) -> np.ndarray:
        """Word-piece ids of :func:`type_words` of a type (cached: a corpus has a handful of types)."""
        if entity_type not in self._type_ids:
            ids = self.tokenizer(type_words(entity_type), add_special_tokens=False)["input_ids"]
            self._type_ids[entity_type] = np.asarray(ids, dtype=np.int64)
        return self._type_ids[entity_type]

    def encode(
        self, doc: Document, space: LabelSpace | None = None, *, with_targets: bool = False
    ) -> EncodedDocument:
        """Tokenize, insert markers and list the candidate pairs (and their targets if asked)."""
        enc = self.tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True, verbose=False)
        ids = np.asarray(enc["input_ids"], dtype=np.int64)
        offsets = np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
        starts = np.array([m.start for m in doc.mentions], dtype=np.int64)
        ends = np.array([m.end for m in doc.mentions], dtype=np.int64)
        # first word piece ending after the mention start; first word piece starting at/after its end
        first = np.searchsorted(offsets[:, 1], starts, side="right")
        last = np.searchsorted(offsets[:, 0], ends, side="left") - 1
        empty = first > last
        if empty.any():
            m = doc.mentions[int(np.flatnonzero(empty)[0])]
            raise FormatError(
                f"mention {m.text!r} at {m.start}-{m.end} covers no word piece", doc_id=doc.id
            )
        n = len(ids)
        # what goes before a mention's first piece: its start marker, then (typed) its type's word pieces
        typed = self.typed and len(first) > 0
        types = [self.type_ids(m.type) for m in doc.mentions] if typed else []
        block = 1 + np.array([len(t) for t in types], dtype=np.int64) if typed else np.ones(len(first), np.int64)
        n_start = np.bincount(first, weights=block, minlength=n).astype(np.int64)
        n_end = np.bincount(last, minlength=n)
        # position of word piece t after inserting the markers (and type words) before it
        before = np.cumsum(n_start) + np.concatenate([[0], np.cumsum(n_end)[:-1]])
        token_pos = np.arange(n) + before
        marked = np.full(n + int(block.sum()) + len(last), self.marker_id, dtype=np.int64)
        marked[token_pos] = ids
        mention_pos = token_pos[first] - n_start[first]
        if typed:
            # mentions starting at the same piece get one block each, in mention order; untyped, they
            # share the first of their markers
            order = np.argsort(first, kind="stable")
            ends = np.cumsum(block[order])
            group_start = np.searchsorted(first[order], first[order], side="left")
            within = np.empty_like(block)
            within[order] = ends - block[order] - np.concatenate([[0], ends])[group_start]
            mention_pos = mention_pos + within
            marked[np.concatenate([p + 1 + np.arange(len(t)) for p, t in zip(mention_pos, types)])] = np.concatenate(types)
        directed = space.directed if space is not None else True
        pairs = candidate_pairs(doc, directed)
        targets = novelty = None
        if with_targets:
            if space is None:
                raise ValueError("targets need a label space")
            targets, novelty = pair_targets(doc, pairs, space)
        return EncodedDocument(
            doc_id=doc.id,
            input_ids=marked,
            mention_pos=mention_pos,
            piece_pos=token_pos,
            mention_pieces=np.stack([first, last], axis=1),
            entity_mentions=[np.asarray(e.mentions, dtype=np.int64) for e in doc.entities],
            pairs=pairs,
            entity_types=(space.type_indices([e.type for e in doc.entities]) if space is not None
                          else np.zeros(len(doc.entities), dtype=np.int64)),
            targets=targets,
            novelty=novelty,
        )
