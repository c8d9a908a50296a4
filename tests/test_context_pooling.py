"""Localized context pooling (encoder.context_pooling, ATLOP): the last layer's attention recomputed as
Hugging Face's eager attention returns it, entity attention and pair context against loops over windows,
positions, mentions and tokens, and a model that reads it: chunked equals whole, a pretrained pair embedder
without context columns loads as the same embedding, a saved model predicts the same after loading."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from formats_helpers import data_file
from safetensors.torch import save_file

from ccre.config import CcreConfig
from ccre.data.documents import Document, Entity, Mention
from ccre.data.formats import read_documents
from ccre.data.labels import LabelSpace
from ccre.encoding.markers import DocumentEncoder
from ccre.encoding.windows import collate, window_starts
from ccre.errors import ConfigError
from ccre.inference.predictor import Predictor
from ccre.modeling.encoder import encoder_states_and_attention, last_self_attention, load_encoder
from ccre.modeling.pair import EntityStates, entity_attention
from ccre.modeling.relation_model import RelationModel

TINY = {"encoder.max_length": 128, "encoder.window_overlap": 32}


@pytest.fixture(scope="module")
def encoder_and_tokenizer():
    return load_encoder("sentence-transformers/all-MiniLM-L6-v2")


def _long_doc(copies: int, doc_id: str = "1") -> Document:
    """A document of ``copies`` repeats of one sentence, its entities spread over the copies (so that a short
    window holds some of their mentions and not others)."""
    sentence = "Aspirin reduces fever in rats and ibuprofen reduces pain."
    spans = [(0, 7, "Chemical"), (16, 21, "Disease"), (25, 29, "Species"), (34, 43, "Chemical"), (52, 56, "Disease")]
    text = " ".join([sentence] * copies)
    mentions = [Mention(s + k * (len(sentence) + 1), e + k * (len(sentence) + 1), text[s:e], t)
                for k in range(copies) for s, e, t in spans]
    entities = [Entity(f"E{i}", spans[i][2], [k * len(spans) + i for k in range(copies)]) for i in range(len(spans))]
    return Document(doc_id, text, mentions, entities, [])


def test_recomputed_attention_is_eager_attention(encoder_and_tokenizer) -> None:
    encoder, tokenizer = encoder_and_tokenizer
    docs = [DocumentEncoder(tokenizer).encode(_long_doc(k, str(k))) for k in (1, 2)]
    batch = collate(docs, cls_id=101, sep_id=102, pad_id=0, max_length=512, overlap=128)
    assert (batch.attention_mask == 0).any()  # the shorter document is padded
    with torch.no_grad():
        layer = encoder.get_submodule(last_self_attention(encoder))
        states, attention = encoder_states_and_attention(encoder, layer, batch.input_ids, batch.attention_mask)
        eager = type(encoder).from_pretrained(encoder.name_or_path, attn_implementation="eager").eval()
        out = eager(input_ids=batch.input_ids, attention_mask=batch.attention_mask, output_attentions=True)
    torch.testing.assert_close(attention, out.attentions[-1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(states, out.last_hidden_state, atol=1e-5, rtol=1e-4)
    assert encoder.config._attn_implementation != "eager"  # the caller's encoder is left as it was


def test_entity_attention_and_context_match_loops(encoder_and_tokenizer) -> None:
    tokenizer = encoder_and_tokenizer[1]
    docs = [DocumentEncoder(tokenizer).encode(_long_doc(k, str(k))) for k in (6, 2)]
    batch = collate(docs, cls_id=101, sep_id=102, pad_id=0, max_length=40, overlap=10)
    starts = [window_starts(len(d), 38, 10) for d in docs]
    assert len(starts[0]) > 2
    torch.manual_seed(0)
    rows, width, heads = batch.input_ids.shape[0], batch.input_ids.shape[1], 3
    attention = torch.randn(rows, heads, width, width, dtype=torch.float64).softmax(dim=-1)
    found = entity_attention(attention, batch)
    # reference: per document, per entity, per mention, per window holding its marker, per key position
    expected, row, offset = [], 0, 0
    for d, doc in enumerate(docs):
        per_mention = []
        for pos in doc.mention_pos:
            total, seen = torch.zeros(heads, batch.num_tokens, dtype=torch.float64), 0
            for w, s in enumerate(starts[d]):
                n = min(38, len(doc) - s)
                if s <= pos < s + n:
                    seen += 1
                    for j in range(n):
                        total[:, offset + s + j] += attention[row + w, :, pos - s + 1, j + 1]
            per_mention.append(total / seen)
        expected.extend(torch.stack([per_mention[m] for m in ms]).mean(dim=0) for ms in doc.entity_mentions)
        row, offset = row + len(starts[d]), offset + len(doc)
    torch.testing.assert_close(found, torch.stack(expected))

    tokens = torch.randn(batch.num_tokens, 4, dtype=torch.float64)
    states = EntityStates(torch.zeros(len(found), 4), batch.entity_types, found, tokens, batch.entity_doc,
                          batch.doc_offsets)
    order = torch.randperm(len(batch.pair_heads))  # pairs of both documents, interleaved
    heads_, tails_ = batch.pair_heads[order], batch.pair_tails[order]
    context = states.context(heads_, tails_)
    for i, (h, t) in enumerate(zip(heads_.tolist(), tails_.tolist())):
        q = torch.zeros(batch.num_tokens, dtype=torch.float64)
        for token in range(batch.num_tokens):
            q[token] = sum(found[h, k, token] * found[t, k, token] for k in range(heads)) / heads
        torch.testing.assert_close(context[i], (q / (q.sum() + 1e-5)) @ tokens)


@pytest.fixture(scope="module")
def space() -> LabelSpace:
    return LabelSpace.from_documents(read_documents(data_file("biored/Train.PubTator"), "pubtator"))


@pytest.fixture(scope="module")
def test_docs() -> list[Document]:
    return read_documents(data_file("biored/Test.PubTator"), "pubtator")[:2]


def test_a_model_with_context_pooling(space, test_docs, tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = CcreConfig().with_overrides({**TINY, "encoder.context_pooling": True})
    model = RelationModel.create(config, space).eval()
    encoded = [model.document_encoder.encode(d, space) for d in test_docs]
    batch = model.collate(encoded)
    assert batch.input_ids.shape[0] > len(test_docs)  # long documents: several windows each
    with torch.no_grad():
        whole = model.embed_pairs(batch)
        entities = model.encode_entities(batch)
        chunked = torch.cat([model.pair_embeddings(entities, batch.pair_heads[s : s + 11], batch.pair_tails[s : s + 11])
                             for s in range(0, len(batch.pair_heads), 11)])
        torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=1e-5)
        # the context is an input that counts: with its columns of W1 at zero, h is the plain pair embedding
        plain = RelationModel.create(CcreConfig().with_overrides(TINY), space).eval()
        save_file({k: v.contiguous() for k, v in plain.pair_embedder.state_dict().items()}, str(tmp_path / "pe.st"))
        model.load_pair_embedder(tmp_path / "pe.st")
        torch.testing.assert_close(model.embed_pairs(batch), plain.embed_pairs(batch), atol=1e-5, rtol=1e-5)
    width = plain.pair_embedder.hidden.in_features
    assert model.pair_embedder.hidden.in_features == width * 4 // 3
    # and it learns from the context: a loss reaches the new columns
    labelled = [model.document_encoder.encode(test_docs[0], space, with_targets=True)]
    model.train()
    model.loss(model.collate(labelled)).backward()
    assert model.pair_embedder.hidden.weight.grad[:, width:].abs().sum() > 0
    model.eval()
    with torch.no_grad():
        model.pair_embedder.hidden.weight[:, width:].normal_(std=0.05)
        changed = model.embed_pairs(batch)
    assert not torch.allclose(changed, whole)
    before = Predictor(model).predict(test_docs)
    model.save_pretrained(tmp_path / "m")
    loaded = RelationModel.from_pretrained(tmp_path / "m")
    after = Predictor(loaded).predict(test_docs)
    assert [[(p.head, p.tail, p.type, round(p.score, 5)) for p in d] for d in after] == \
        [[(p.head, p.tail, p.type, round(p.score, 5)) for p in d] for d in before]
    with pytest.raises(ConfigError, match="context_pooling=true"):
        plain.load_pair_embedder(tmp_path / "m" / "pair_embedder.safetensors")
