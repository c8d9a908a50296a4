"""Encoder + pair embedder + objective head: the relation model, saved and loaded as a ccre model folder
(:mod:`ccre.modeling.checkpoint`: encoder, pair embedder, heads, config, labels and memory of training
instances, named by its manifest).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from ccre.config import CLASSIFIER_SCORING_FIELDS, SCORING_FIELDS, ModelConfig
from ccre.data.labels import LabelSpace
from ccre.encoding.markers import DocumentEncoder, EncodedDocument
from ccre.encoding.windows import Batch, collate
from ccre.errors import ConfigError
from ccre.modeling.checkpoint import (
    PARTS,
    read_manifest,
    require_manifest,
    tensors_to_save,
    write_encoder_parts,
    write_model_folder,
)
from ccre.modeling.encoder import (
    encoder_states,
    encoder_states_and_attention,
    last_self_attention,
    load_encoder,
    warn_marker_mismatch,
)
from ccre.modeling.memory import EmbeddingMemory
from ccre.modeling.pair import EntityStates, PairEmbedder, entity_attention, merge_windows, pool_entities
from ccre.objectives.base import ClassifierObjective, PairObjective
from ccre.objectives.contrastive import MemoryObjective
from ccre.objectives.factory import build_objective
from ccre.utils.io import atomic_write_json
from ccre.utils.runtime import Precision, ResolvedPrecision, resolve_precision


class PairPredictions(NamedTuple):
    """What the model says about the ``P`` candidate pairs of a batch."""

    decisions: torch.Tensor  # (P, C) bool
    scores: torch.Tensor  # (P, C)
    novelty: torch.Tensor | None  # (P,) probability that the relation is novel (BioRED)
    h: torch.Tensor  # (P, D) pair embeddings


class RelationModel(nn.Module):
    """Encoder, pair embedder, objective head and (for BioRED) a novelty head."""

    def __init__(
        self,
        config: ModelConfig,
        space: LabelSpace,
        encoder: PreTrainedModel,
        tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        super().__init__()
        self.config = config.model
        self.space = space
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.precision: Precision = "auto"
        """How the encoder pass computes (:data:`ccre.utils.runtime.Precision`): like the device, a choice of the
        run, not part of the saved model."""
        self.selection: dict[str, object] | None = None
        """How training chose these weights on dev (``ccre.training.finetune.DevSelection.record``), or ``None``."""
        hidden = encoder.config.hidden_size
        pair_dim = config.encoder.pair_dim or hidden
        num_types = len(space.entity_types) + 1 if config.encoder.type_embedding else 0  # + unseen types
        self.pair_embedder = PairEmbedder(hidden, pair_dim, space.directed, config.encoder.dropout, num_types,
                                          config.encoder.context_pooling)
        self._attention_path = last_self_attention(encoder) if config.encoder.context_pooling else None
        self.objective: PairObjective = build_objective(config.objective, config.inference, pair_dim, space)
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
    def create(cls, config: ModelConfig, space: LabelSpace, pretrained_pair_embedder: bool = True) -> RelationModel:
        """A new model on ``config.encoder.name``. When that is a ``ccre pretrain`` output, its pretrained
        pair embedder is loaded too: continual finetuning starts from the very embedding that pretraining
        shaped. ``pretrained_pair_embedder=False`` keeps a freshly initialized one (to tell what pretraining did
        to the encoder from what it did to the pair embedder)."""
        encoder, tokenizer = load_encoder(config.encoder.name)
        warn_marker_mismatch(config)
        model = cls(config, space, encoder, tokenizer)
        manifest = read_manifest(config.encoder.name) if Path(config.encoder.name).is_dir() else None
        if pretrained_pair_embedder and manifest is not None and manifest.has("pair_embedder"):
            model.load_pair_embedder(manifest.path("pair_embedder"))
        return model

    def load_pair_embedder(self, path: Path) -> None:
        """Load pair-embedder weights saved by :meth:`save_pretrained` or by pretraining (whose pair embedder has
        neither a type embedding nor a context input: a finetuned one then starts them at zero, so that it
        starts as the pretrained embedding)."""
        state = load_file(str(path))
        own = self.pair_embedder.state_dict()
        theirs, ours = state["hidden.weight"].shape, own["hidden.weight"].shape
        if theirs[0] != ours[0]:
            raise ConfigError(f"{path} has pair_dim {theirs[0]}, the config asks for {ours[0]}")
        if theirs[1] > ours[1]:
            raise ConfigError(f"{path} reads the pairs' localized context; set encoder.context_pooling=true to load it")
        if theirs[1] < ours[1]:  # no context columns yet
            state["hidden.weight"] = torch.cat([state["hidden.weight"], state["hidden.weight"].new_zeros(
                ours[0], ours[1] - theirs[1])], dim=1)
        if "types.weight" in state and "types.weight" not in own:
            raise ConfigError(f"{path} has a type embedding; set encoder.type_embedding=true to load it")
        if "types.weight" in own and "types.weight" not in state:
            state["types.weight"] = torch.zeros_like(own["types.weight"])
        self.pair_embedder.load_state_dict(state)

    def start_at_label_distribution(self, encoded: Sequence[EncodedDocument], smoothing: float = 1.0) -> None:
        """``objective.bias_init=frequency``: before training, set the classifier so that it decides as the
        training pairs' labels are distributed (:meth:`ClassifierObjective.prior_logits`). The class biases take
        the distribution over all pairs; with a type embedding, each type pair's row ``T[t]`` is set (least-norm,
        through the classifier's weights ``W``: ``W T[t] = prior(t) - bias``) so that a pair of type pair ``t``
        starts at ``t``'s own distribution (counts smoothed toward the overall one by ``smoothing`` pairs): the
        model starts as the no-text prior does and training learns what the text adds."""
        if not isinstance(self.objective, ClassifierObjective):
            raise ConfigError("a classifier objective (ce) starts at a label distribution; this model has none")
        labelled = [e for e in encoded if len(e.pairs)]
        targets = torch.from_numpy(np.concatenate([e.targets for e in labelled]))
        overall = targets.sum(dim=0)
        with torch.no_grad():
            bias = self.objective.prior_logits(overall, len(targets))
            self.objective.classifier.bias.copy_(bias)
            embedder = self.pair_embedder
            if embedder.types is None:
                return
            heads = torch.from_numpy(np.concatenate([e.entity_types[e.pairs[:, 0]] for e in labelled]))
            tails = torch.from_numpy(np.concatenate([e.entity_types[e.pairs[:, 1]] for e in labelled]))
            if not self.space.directed:  # an unordered pair counts for its type pair in both orders
                heads, tails = torch.minimum(heads, tails), torch.maximum(heads, tails)
            rows = embedder.type_pair_index(heads, tails)
            share = overall.float() / len(targets)
            inverse = torch.linalg.pinv(self.objective.classifier.weight.float())
            for row in rows.unique():
                mine = targets[rows == row]
                logits = self.objective.prior_logits(mine.sum(dim=0) + smoothing * share, len(mine) + smoothing)
                vector = inverse @ (logits - bias)
                embedder.types.weight[row] = vector
                if not self.space.directed:
                    th, tt = divmod(int(row), embedder.num_types)
                    embedder.types.weight[tt * embedder.num_types + th] = vector

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def resolved_precision(self) -> ResolvedPrecision:
        """What the encoder pass actually computes in on this model's device (``auto`` decided): what result
        lines record."""
        return resolve_precision(self.device, self.precision)

    def encode_entities(self, batch: Batch) -> EntityStates:
        """What the pair embedder reads of every entity in the batch: the one encoder pass."""
        ids, mask = batch.input_ids, batch.attention_mask
        if self._attention_path is None:
            states, attention = encoder_states(self.encoder, ids, mask, self.precision), None
        else:
            states, attention = encoder_states_and_attention(
                self.encoder, self.encoder.get_submodule(self._attention_path), ids, mask, self.precision)
        tokens = merge_windows(states, batch)
        entities = pool_entities(tokens[batch.mention_index], batch)
        if attention is None:
            return EntityStates(entities, batch.entity_types)
        return EntityStates(entities, batch.entity_types, entity_attention(attention, batch), tokens,
                            batch.entity_doc, batch.doc_offsets)

    def pair_embeddings(self, entities: EntityStates, heads: torch.Tensor, tails: torch.Tensor) -> torch.Tensor:
        """Pair embeddings ``h`` ``(P, D)`` of the pairs ``heads[i], tails[i]`` (indices into ``entities``); lets
        a caller embed a document's pairs in chunks after one :meth:`encode_entities`."""
        e, types = entities.embeddings, entities.types
        context = entities.context(heads, tails) if self.pair_embedder.context else None
        return self.pair_embedder(e[heads], e[tails], types[heads], types[tails], context)

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

        ``gather`` (data-parallel training, :func:`ccre.utils.distributed.gather_rows`) turns this process's
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
                loss = loss + self.config.objective.novelty_weight * nn.functional.binary_cross_entropy_with_logits(
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
        """The weights of the objective and the novelty head (the encoder and pair embedder are parts of their
        own)."""
        return {k: v for k, v in self.state_dict().items() if not k.startswith(("encoder.", "pair_embedder."))}

    def save_pretrained(self, directory: str | Path, run: dict | None = None) -> None:
        """Write the model as a ccre model folder (:func:`ccre.modeling.checkpoint.write_model_folder`: a kill
        mid-save never leaves a half-written model); ``run`` is the record of the run that trained it."""

        def write(folder: Path) -> None:
            write_encoder_parts(folder, self.encoder, self.tokenizer, self.pair_embedder.state_dict(), self.config)
            save_file(tensors_to_save(self.heads_state()), str(folder / PARTS["heads"]))
            self.space.save(folder / PARTS["labels"])
            if self.memory is not None:
                self.memory.save(folder / PARTS["memory"])
            if run is not None:
                atomic_write_json(folder / PARTS["run"], run)

        write_model_folder(directory, "relation-model", write)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, device: str | torch.device = "cpu", inference: dict[str, object] | None = None
    ) -> RelationModel:
        """Load a model saved by :meth:`save_pretrained`. ``inference`` overrides how a contrastive (SupCon/MCCL)
        model scores pairs against its memory, without retraining: dotted keys of :data:`ccre.config.SCORING_FIELDS`
        (``None`` values are left as trained)."""
        manifest = require_manifest(directory, "relation-model")
        config = ModelConfig.load(manifest.path("config"))
        inference = {k: v for k, v in (inference or {}).items() if v is not None}
        if inference:
            unknown = sorted(set(inference) - set(SCORING_FIELDS))
            if unknown:
                raise ConfigError(f"not an inference setting: {', '.join(unknown)} (use {', '.join(SCORING_FIELDS)})")
            if config.objective.name == "ce" and set(inference) - set(CLASSIFIER_SCORING_FIELDS):
                raise ConfigError(f"{directory} was trained with cross-entropy: it scores pairs with its classifier, "
                                  "so inference settings (mccl/knn/centroid, k, pool) do not apply")
            config = config.with_overrides(inference)
        space = LabelSpace.load(manifest.path("labels"))
        encoder, tokenizer = load_encoder(str(manifest.path("encoder")))
        model = cls(config, space, encoder, tokenizer)
        model.load_pair_embedder(manifest.path("pair_embedder"))
        result = model.load_state_dict(load_file(str(manifest.path("heads"))), strict=False)
        wrong = [k for k in result.missing_keys if not k.startswith(("encoder.", "pair_embedder."))] + result.unexpected_keys
        if wrong:
            raise ConfigError(f"{manifest.path('heads')} does not fit {manifest.path('config')}: {', '.join(wrong)}")
        if manifest.has("memory"):
            model.set_memory(EmbeddingMemory.load(manifest.path("memory")))
        return model.to(device).eval()

