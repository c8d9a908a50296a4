"""Input corruption for pretraining: entity blanking and masked-LM masking, on one encoded document.

Both work on :class:`ccre.encoding.EncodedDocument` before it is cut into windows, so entity markers and
the special tokens ([CLS], [SEP], padding: added later by ``collate``) are never touched: only word pieces
(``piece_pos``) are candidates.

- Entity blanking: each mention's word pieces become [MASK] with probability ``blank_prob``, so the pair
  embedding must come from context (matching the blanks).
- MLM: ``mlm_prob`` of the remaining word pieces (blanked pieces are not targets) are chosen; of those 80%
  become [MASK], 10% a random ordinary token, 10% stay; labels hold the original id there and -100 elsewhere.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ccre.encoding.markers import EncodedDocument

IGNORE = -100


def corrupt(
    doc: EncodedDocument,
    rng: np.random.Generator,
    *,
    mask_id: int,
    random_ids: np.ndarray,
    blank_prob: float,
    mlm_prob: float,
) -> tuple[EncodedDocument, np.ndarray]:
    """A corrupted copy of ``doc`` and its MLM labels ``(L,)`` (``IGNORE`` where nothing is predicted).

    ``random_ids`` are the ids a chosen piece may be replaced by (the vocabulary without special tokens and
    without the entity marker).
    """
    ids = doc.input_ids.copy()
    labels = np.full(len(ids), IGNORE, dtype=np.int64)
    candidate = np.ones(len(doc.piece_pos), dtype=bool)
    if blank_prob > 0 and len(doc.mention_pieces):
        blank = rng.random(len(doc.mention_pieces)) < blank_prob
        for first, last in doc.mention_pieces[blank]:
            ids[doc.piece_pos[first : last + 1]] = mask_id
            candidate[first : last + 1] = False
    if mlm_prob > 0:
        chosen = candidate & (rng.random(len(candidate)) < mlm_prob)
        pos = doc.piece_pos[chosen]
        labels[pos] = doc.input_ids[pos]
        roll = rng.random(len(pos))
        ids[pos[roll < 0.8]] = mask_id
        swap = pos[(roll >= 0.8) & (roll < 0.9)]
        ids[swap] = random_ids[rng.integers(len(random_ids), size=len(swap))]
    return replace(doc, input_ids=ids), labels
