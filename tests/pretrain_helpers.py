"""Tiny synthetic entity-linked documents for fast pretraining tests (real-data tests use the shared files)."""

from __future__ import annotations

from ccre.data.documents import Document, Entity, Mention

_WORDS = {
    "A": ("aspirin", "CHEBI:15365"),
    "B": ("headache", "D006261"),
    "C": ("ibuprofen", "CHEBI:5855"),
    "D": ("fever", "D005334"),
    "E": ("insulin", "3630"),
}


def make_doc(doc_id: str, names: str, filler: str = "was studied in patients with") -> Document:
    """A one-sentence document mentioning the concepts ``names`` (letters of ``_WORDS``) in order."""
    text, mentions, entities = "", [], {}
    for k, letter in enumerate(names):
        word, kb = _WORDS[letter]
        if text:
            text += f" {filler} "
        start = len(text)
        text += word
        mentions.append(Mention(start, len(text), word, "Chemical"))
        ent = entities.setdefault(kb, Entity(id=kb, type="Chemical", kb_ids=(kb,), name=word))
        ent.mentions.append(k)
    text += " ."
    return Document(id=doc_id, text=text, mentions=mentions, entities=list(entities.values()), title="")


def tiny_corpus() -> list[Document]:
    return [
        make_doc("d1", "AB"), make_doc("d2", "ABC"), make_doc("d3", "CD"), make_doc("d4", "CDE"),
        make_doc("d5", "AE", "and"), make_doc("d6", "BE", "or"),
    ]
