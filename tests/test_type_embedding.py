"""The entity-type pair embedding inside the pair embedder (encoder.type_embedding): the formula computed by
hand, symmetry for undirected pairs, type numbers from the training documents' types, a saved model that predicts
the same after loading, and a pretrained pair embedder (no type embedding) loaded into one that has it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ccre.data.labels import LabelSpace
from ccre.modeling.pair import PairEmbedder
from formats_helpers import data_file


def _by_hand(emb: PairEmbedder, head: torch.Tensor, tail: torch.Tensor, th: torch.Tensor, tt: torch.Tensor):
    x = emb.hidden(torch.cat([head, tail, head * tail], dim=-1))
    return emb.out(nn.functional.gelu(x)) + emb.types.weight[th * emb.num_types + tt]


def test_pair_embedding_adds_the_type_pair_vector() -> None:
    torch.manual_seed(0)
    emb = PairEmbedder(6, 5, directed=True, dropout=0.0, num_types=3).eval()
    head, tail = torch.randn(4, 6), torch.randn(4, 6)
    th, tt = torch.tensor([0, 1, 2, 2]), torch.tensor([1, 1, 0, 2])
    plain = PairEmbedder(6, 5, directed=True, dropout=0.0).eval()
    plain.load_state_dict({k: v for k, v in emb.state_dict().items() if k != "types.weight"})
    assert torch.allclose(emb(head, tail, th, tt), plain(head, tail))  # started at zero: no change
    with torch.no_grad():
        emb.types.weight.normal_()
    assert torch.allclose(emb(head, tail, th, tt), _by_hand(emb, head, tail, th, tt), atol=1e-6)
    with pytest.raises(ValueError, match="give the entities' types"):
        emb(head, tail)


def test_undirected_pair_embedding_is_the_same_in_both_orders() -> None:
    torch.manual_seed(1)
    emb = PairEmbedder(6, 5, directed=False, dropout=0.0, num_types=3).eval()
    with torch.no_grad():
        emb.types.weight.normal_()
    a, b = torch.randn(4, 6), torch.randn(4, 6)
    ta, tb = torch.tensor([0, 1, 2, 0]), torch.tensor([2, 1, 0, 1])
    assert torch.allclose(emb(a, b, ta, tb), emb(b, a, tb, ta), atol=1e-6)
    expected = 0.5 * (_by_hand(emb, a, b, ta, tb) + _by_hand(emb, b, a, tb, ta))
    assert torch.allclose(emb(a, b, ta, tb), expected, atol=1e-6)


def test_type_numbers_come_from_the_training_documents(tmp_path: Path) -> None:
    from ccre.data.formats import read_documents

    docs = read_documents(data_file("biored/Train.PubTator"))[:3]
    space = LabelSpace.from_documents(docs)
    types = sorted({e.type for d in docs for e in d.entities})
    assert space.entity_types == tuple(types)
    assert space.type_indices([types[1], "NeverSeen", types[0]]).tolist() == [1, len(types), 0]
    space.save(tmp_path / "labels.json")
    assert LabelSpace.load(tmp_path / "labels.json") == space


def test_model_with_type_embedding_round_trips(tmp_path: Path) -> None:
    from ccre.config import ModelConfig
    from ccre.data.formats import read_documents
    from ccre.inference.predictor import Predictor
    from ccre.modeling.relation_model import RelationModel

    docs = read_documents(data_file("biored/Train.PubTator"))[:3]
    space = LabelSpace.from_documents(docs)
    config = ModelConfig().with_overrides({"encoder.type_embedding": True, "encoder.max_length": 64,
                                           "encoder.window_overlap": 16})
    model = RelationModel.create(config, space).eval()
    with torch.no_grad():  # a type embedding that matters
        model.pair_embedder.types.weight.normal_(std=3.0)
    enc = model.document_encoder.encode(docs[0], space)
    assert enc.entity_types.tolist() == space.type_indices([e.type for e in docs[0].entities]).tolist()
    before = Predictor(model).predict(docs)
    model.save_pretrained(tmp_path / "m")
    loaded = RelationModel.from_pretrained(tmp_path / "m")
    assert torch.equal(loaded.pair_embedder.types.weight, model.pair_embedder.types.weight)
    after = Predictor(loaded).predict(docs)
    assert [[(p.head, p.tail, p.type) for p in d] for d in after] == [[(p.head, p.tail, p.type) for p in d]
                                                                       for d in before]
    # a pair embedder saved without a type embedding (as pretraining saves it) loads with T at zero
    plain = RelationModel.create(ModelConfig().with_overrides({"encoder.max_length": 64,
                                                               "encoder.window_overlap": 16}), space)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in plain.pair_embedder.state_dict().items()}, str(tmp_path / "pe.st"))
    model.load_pair_embedder(tmp_path / "pe.st")
    assert np.count_nonzero(model.pair_embedder.types.weight.detach().numpy()) == 0
    assert torch.equal(model.pair_embedder.hidden.weight, plain.pair_embedder.hidden.weight)
