"""Entity markers, windows and the vectorized gathering of mention, entity and pair states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ccre.data.documents import Document, Entity, Mention, Relation
from ccre.data.labels import LabelSpace, candidate_pairs, pair_targets
from ccre.encoding.markers import DocumentEncoder, type_words
from ccre.encoding.windows import collate, window_starts
from ccre.modeling.encoder import load_encoder
from ccre.modeling.pair import merge_windows, pool_entities


@pytest.fixture(scope="module")
def tokenizer():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2")[1]


def _doc() -> Document:
    text = "Aspirin reduces fever in rats. Aspirin is acetylsalicylic acid."
    mentions = [
        Mention(0, 7, "Aspirin", "Chemical"),
        Mention(16, 21, "fever", "Disease"),
        Mention(25, 29, "rats", "Species"),
        Mention(31, 38, "Aspirin", "Chemical"),
        Mention(42, 62, "acetylsalicylic acid", "Chemical"),
        Mention(42, 57, "acetylsalicylic", "Chemical"),  # nested in the previous one
    ]
    entities = [
        Entity("D001241", "Chemical", [0, 3, 4]),
        Entity("D005334", "Disease", [1]),
        Entity("10116", "Species", [2]),
        Entity("X", "Chemical", [5]),
    ]
    relations = [Relation("D001241", "D005334", "Negative_Correlation", directed=False, novel=True)]
    return Document("1", text, mentions, entities, relations)


def test_markers_wrap_every_mention(tokenizer) -> None:
    enc = DocumentEncoder(tokenizer, "*").encode(_doc())
    pieces = tokenizer.convert_ids_to_tokens(enc.input_ids.tolist())
    assert " ".join(pieces) == (
        "* as ##pi ##rin * reduces * fever * in * rats * . * as ##pi ##rin * is "
        "* * ace ##ty ##ls ##alic ##yl ##ic * acid * ."
    )
    # each mention points at a start marker followed by its first word piece
    firsts = [pieces[p + 1] for p in enc.mention_pos]
    assert firsts[:5] == ["as", "fever", "rats", "as", "*"]
    assert all(pieces[p] == "*" for p in enc.mention_pos)


def test_candidates_and_targets() -> None:
    doc = _doc()
    space = LabelSpace(("no-relation", "Association", "Negative_Correlation"), False, False, True)
    pairs = candidate_pairs(doc, directed=False)
    assert len(pairs) == 6 and all(h < t for h, t in pairs)
    assert len(candidate_pairs(doc, directed=True)) == 12
    targets, novelty = pair_targets(doc, pairs, space)
    row = [tuple(p) for p in pairs].index((0, 1))
    assert targets[row].tolist() == [0, 0, 1]
    assert novelty[row] == 1 and (np.delete(novelty, row) == -1).all()
    assert targets[:, 0].sum() == 5


def test_window_starts_cover_everything_with_overlap() -> None:
    for length in (1, 10, 510, 511, 1000, 1537):
        starts = window_starts(length, 510, 128)
        covered = np.zeros(length, dtype=bool)
        for s in starts:
            covered[s : s + 510] = True
        assert covered.all()
        assert starts[-1] + min(510, length) == length
        assert all(b - a <= 510 - 128 for a, b in zip(starts, starts[1:]))


def test_long_document_windows_merge_by_averaging(tokenizer) -> None:
    doc = _doc()
    long = Document("2", " ".join([doc.text] * 6), [], [], [])
    step = len(doc.text) + 1
    for k in range(6):
        for m in doc.mentions:
            long.mentions.append(Mention(m.start + k * step, m.end + k * step, m.text, m.type))
    long.entities = [Entity(str(i), "T", [i]) for i in range(len(long.mentions))]
    encoded = DocumentEncoder(tokenizer).encode(long)
    batch = collate([encoded], cls_id=101, sep_id=102, pad_id=0, max_length=40, overlap=10)
    assert batch.input_ids.shape[0] == len(window_starts(len(encoded), 38, 10)) > 1
    states = torch.randn(*batch.input_ids.shape, 3, dtype=torch.float64)
    merged = merge_windows(states, batch)
    # reference: loop over windows and positions
    total = torch.zeros(len(encoded), 3, dtype=torch.float64)
    count = torch.zeros(len(encoded), dtype=torch.float64)
    for r, s in enumerate(window_starts(len(encoded), 38, 10)):
        n = min(38, len(encoded) - s)
        for j in range(n):
            total[s + j] += states[r, j + 1]
            count[s + j] += 1
    assert torch.allclose(merged, total / count[:, None])
    # every mention of the long document is gathered (none dropped)
    assert len(batch.mention_index) == len(long.mentions)
    # window tokens reproduce the document
    for r, s in enumerate(window_starts(len(encoded), 38, 10)):
        row = batch.input_ids[r][batch.attention_mask[r].bool()].tolist()
        assert row[1:-1] == encoded.input_ids[s : s + 38].tolist()


def test_logsumexp_entity_pooling_matches_loop(tokenizer) -> None:
    docs = [DocumentEncoder(tokenizer).encode(_doc()) for _ in range(2)]
    batch = collate(docs, cls_id=101, sep_id=102, pad_id=0, max_length=512, overlap=128)
    mentions = torch.randn(len(batch.mention_index), 4, dtype=torch.float64)
    pooled = pool_entities(mentions, batch)
    offset = 0
    expected = []
    for d in docs:
        for ms in d.entity_mentions:
            expected.append(torch.logsumexp(mentions[offset + torch.as_tensor(ms)], dim=0))
        offset += len(d.mention_pos)
    assert torch.allclose(pooled, torch.stack(expected))
    assert batch.pair_heads.max() < pooled.shape[0]


def test_type_words_split_camel_case() -> None:
    assert type_words("GeneOrGeneProduct") == "gene or gene product"
    assert type_words("DiseaseOrPhenotypicFeature") == "disease or phenotypic feature"
    assert type_words("PER") == "per"
    assert type_words("Cell_Line") == "cell line"


def _typed_reference(tokenizer, doc: Document) -> list[str]:
    """Brute force: walk the word pieces and write, before each one, the end markers of the mentions that
    ended on the previous piece, then a start marker and the type words of each mention that starts here."""
    enc = tokenizer(doc.text, add_special_tokens=False, return_offsets_mapping=True)
    pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    spans = []
    for m in doc.mentions:
        covered = [i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > m.start and s < m.end]
        spans.append((covered[0], covered[-1], tokenizer.tokenize(type_words(m.type))))
    out: list[str] = []
    for i, piece in enumerate(pieces):
        out += ["*" for _, last, _ in spans if last == i - 1]
        for first, _, words in spans:
            if first == i:
                out += ["*", *words]
        out.append(piece)
    out += ["*" for _, last, _ in spans if last == len(pieces) - 1]
    return out


def test_typed_markers_write_each_type_after_its_start_marker(tokenizer) -> None:
    doc = _doc()
    plain = DocumentEncoder(tokenizer, "*").encode(doc)
    enc = DocumentEncoder(tokenizer, "*", typed=True).encode(doc)
    pieces = tokenizer.convert_ids_to_tokens(enc.input_ids.tolist())
    assert pieces == _typed_reference(tokenizer, doc)
    assert " ".join(pieces[:6]) == "* chemical as ##pi ##rin *"
    # every mention points at its own start marker, followed by its type words; the nested mention that
    # starts on the same piece as another gets a block of its own (untyped, the two share one marker)
    for m, p in zip(doc.mentions, enc.mention_pos):
        words = tokenizer.tokenize(type_words(m.type))
        assert pieces[p] == "*" and pieces[p + 1 : p + 1 + len(words)] == words
    assert len(set(enc.mention_pos.tolist())) == len(doc.mentions)
    assert plain.mention_pos[4] == plain.mention_pos[5]
    # the text's word pieces are where piece_pos says (what MLM and blanking touch), types are not among them
    assert enc.input_ids[enc.piece_pos].tolist() == plain.input_ids[plain.piece_pos].tolist()
    np.testing.assert_array_equal(enc.mention_pieces, plain.mention_pieces)


def test_typed_markers_reach_the_model_and_a_mismatch_is_warned(tokenizer, tmp_path, caplog) -> None:
    from ccre.config import CcreConfig, ModelConfig
    from ccre.modeling.checkpoint import save_encoder
    from ccre.modeling.relation_model import RelationModel
    from ccre.training.pretraining.config import PretrainConfig

    config = CcreConfig().with_overrides({"encoder.typed_markers": True})
    space = LabelSpace.from_documents([_doc()])
    model = RelationModel.create(config.model, space)
    assert model.document_encoder.typed
    # an encoder pretrained without typed markers, finetuned with them: said, not silent
    encoder, tok = load_encoder("sentence-transformers/all-MiniLM-L6-v2")
    untyped = {"encoder.typed_markers": False}
    save_encoder(tmp_path, encoder, tok, None, ModelConfig().with_overrides(untyped),
                 {"config": PretrainConfig().with_overrides(untyped).model_dump()})
    with caplog.at_level("WARNING", logger="ccre.modeling.encoder"):
        RelationModel.create(config.with_overrides({"encoder.name": str(tmp_path)}).model, space)
    assert "pretrained with typed_markers=False" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="ccre.modeling.encoder"):
        RelationModel.create(config.with_overrides({"encoder.name": str(tmp_path), "encoder.typed_markers": False}).model, space)
    assert "typed_markers" not in caplog.text
