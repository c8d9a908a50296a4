"""Mixed precision of the encoder pass: bf16 autocast (the GPU speed-up), checked on CPU, where torch's
autocast runs the same bfloat16 matrix products.

Reference: the same model in fp32. bf16 keeps 8 bits of mantissa, so the pair embeddings must differ from
fp32 (autocast was on) yet stay close (cosine > 0.99), come out in float32, and train with float32
gradients.
"""

from __future__ import annotations

import pytest
import torch
from formats_helpers import data_file

from ccre.config import CcreConfig
from ccre.data.formats import read_documents
from ccre.data.labels import LabelSpace
from ccre.modeling.relation_model import RelationModel
from ccre.utils.runtime import autocast, resolve_precision


@pytest.fixture(scope="module")
def model_and_batch():
    docs = read_documents(data_file("biored/Test.PubTator"), "pubtator")[:2]
    cfg = CcreConfig().with_overrides({"encoder.max_length": 128, "encoder.window_overlap": 32})
    space = LabelSpace.from_documents(docs)
    torch.manual_seed(0)
    model = RelationModel.create(cfg, space).eval()
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    return model, model.collate(encoded)


def test_auto_is_fp32_on_cpu_and_bad_names_fail() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision(cpu, "auto") == "fp32"
    assert resolve_precision(cpu, "bf16") == "bf16"
    assert not torch.is_autocast_enabled("cpu")
    with autocast(cpu, "bf16"):
        assert torch.is_autocast_enabled("cpu")
    with autocast(cpu, "auto"):
        assert not torch.is_autocast_enabled("cpu")
    with pytest.raises(ValueError, match="precision"):
        resolve_precision(cpu, "fp8")  # type: ignore[arg-type]


def test_bf16_pair_embeddings_are_close_to_fp32(model_and_batch) -> None:
    model, batch = model_and_batch
    with torch.inference_mode():
        model.precision = "fp32"
        full = model.embed_pairs(batch)
        model.precision = "auto"  # fp32 on CPU: bit-identical
        auto = model.embed_pairs(batch)
        model.precision = "bf16"
        half = model.embed_pairs(batch)
    model.precision = "auto"
    assert full.dtype == half.dtype == torch.float32
    assert torch.equal(full, auto)
    assert not torch.equal(full, half)
    cosine = torch.nn.functional.cosine_similarity(full, half, dim=-1)
    assert cosine.min() > 0.99, cosine.min()


def test_bf16_training_step_has_float32_gradients(model_and_batch) -> None:
    model, batch = model_and_batch
    model.train()
    model.precision = "bf16"
    try:
        loss = model.loss(batch, torch.arange(len(batch.pair_heads)))
        loss.backward()
    finally:
        model.precision = "auto"
        model.eval()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    grads = [p.grad for p in model.encoder.parameters() if p.grad is not None]
    assert grads and all(g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    model.zero_grad()
