"""Pretraining on the shared loop (:mod:`ccre.training.loop`): batches -> corrupted windows -> (L_mtb, L_self, L_mlm).

One step encodes a global batch of documents (see :mod:`ccre.training.pretraining.batching`). With several
processes (``accelerate launch``), process ``r`` encodes documents ``r, r + W, ...`` of the batch; pair
embeddings of all processes are gathered *with gradients* (``torch.distributed.nn.all_gather``), so every
process computes the contrastive losses over the whole global batch, exactly as one process would. The MLM
term is a mean over the masked pieces of the global batch. Gradients then equal the single-process ones.

The two dropout views for L_self come from one encoder call over the windows stacked twice (dropout masks
differ per row), so a step is a single forward pass.

Output directory::

    ccre.json, encoder/, pair_embedder.safetensors,   a ccre model folder of kind ``encoder``
    config.json, run.json                             (:mod:`ccre.modeling.checkpoint`): ``ccre train --model DIR``
                                                      loads it; run.json holds config, corpus statistics, steps
    losses.csv                                        per step: each loss term, lr, seconds
    train_state.pt                                    resumable state of an unfinished run (:mod:`ccre.training.loop`)
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ccre.config import ModelConfig
from ccre.data.documents import Document
from ccre.encoding.markers import DocumentEncoder, EncodedDocument
from ccre.encoding.windows import Batch, collate
from ccre.errors import CcreError, ConfigError
from ccre.modeling.checkpoint import MANIFEST_FILE, save_encoder
from ccre.modeling.encoder import encoder_states, resolve_encoder_path
from ccre.modeling.pair import PairEmbedder, merge_windows, pool_entities
from ccre.objectives.mtb import mtb_loss
from ccre.objectives.self_contrast import self_contrast_loss
from ccre.training.loop import (
    STATE_FILE,
    StepLoss,
    TrainingLoop,
    TrainingTask,
    documents_fingerprint,
)
from ccre.training.pretraining.batching import epoch_batches
from ccre.training.pretraining.config import PretrainConfig
from ccre.training.pretraining.corpus import PretrainCorpus, build_corpus, corpus_stats
from ccre.training.pretraining.masking import IGNORE, corrupt
from ccre.utils.distributed import gather_rows, workers
from ccre.utils.io import atomic_open
from ccre.utils.runtime import (
    Precision,
    autocast,
    git_commit,
    now_iso,
    resolve_precision,
    seed_everything,
)

LOSS_FILE = "losses.csv"
_DROPOUT_FIELDS = ("hidden_dropout_prob", "attention_probs_dropout_prob", "dropout", "attention_dropout")


def load_mlm_model(config: PretrainConfig):
    """``AutoModelForMaskedLM`` and its fast tokenizer (an MLM head missing from the checkpoint, as for
    sentence-transformers models, is newly initialized)."""
    from transformers import AutoConfig, AutoModelForMaskedLM, AutoTokenizer

    path = resolve_encoder_path(config.encoder.name)
    try:
        hf_config = AutoConfig.from_pretrained(path)
        if config.encoder_dropout is not None:
            for name in _DROPOUT_FIELDS:
                if hasattr(hf_config, name):
                    setattr(hf_config, name, config.encoder_dropout)
        tokenizer = AutoTokenizer.from_pretrained(path, use_fast=True)
        model = AutoModelForMaskedLM.from_pretrained(path, config=hf_config)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load encoder {config.encoder.name!r} with a masked-LM head: {exc}") from None
    return model, tokenizer


def _mlm_head(model: nn.Module) -> nn.Module | None:
    for name in ("cls", "lm_head", "predictions"):
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    return None


class PretrainModel(nn.Module):
    """The masked-LM model (its base model is the encoder) and the pair embedder: one module, trained together."""

    def __init__(self, mlm_model: nn.Module, pair_dim: int | None, dropout: float) -> None:
        super().__init__()
        self.mlm = mlm_model
        self.precision: Precision = "auto"  # of the encoder pass (ccre.utils.runtime.autocast); not saved
        hidden = mlm_model.config.hidden_size
        self.pair_embedder = PairEmbedder(hidden, pair_dim or hidden, directed=False, dropout=dropout)

    @property
    def _head(self) -> nn.Module | None:
        return _mlm_head(self.mlm)

    @property
    def encoder(self) -> nn.Module:
        return self.mlm.base_model

    def forward(self, batch: Batch, views: int, mlm_index: torch.Tensor | None):
        """Pair embeddings of each view (a list of ``(P, D)``) and MLM logits at ``mlm_index`` (flat
        positions in the first view's windows), or None."""
        rows = batch.input_ids.shape[0]
        ids = batch.input_ids.repeat(views, 1)
        mask = batch.attention_mask.repeat(views, 1)
        logits = None
        if mlm_index is not None and self._head is None:  # generic path: the model computes all logits
            with autocast(ids.device, self.precision):
                out = self.mlm(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            states = out.hidden_states[-1].float()
            logits = out.logits[:rows].reshape(-1, out.logits.shape[-1])[mlm_index].float()
        else:
            states = encoder_states(self.encoder, ids, mask, self.precision)
            if mlm_index is not None:
                logits = self._head(states[:rows].reshape(-1, states.shape[-1])[mlm_index])
        embeddings = []
        if len(batch.pair_heads):
            for v in range(views if views else 0):
                tokens = merge_windows(states[v * rows : (v + 1) * rows], batch)
                entities = pool_entities(tokens[batch.mention_index], batch)
                embeddings.append(self.pair_embedder(entities[batch.pair_heads], entities[batch.pair_tails]))
        return embeddings, logits


@dataclass
class StepInputs:
    batch: Batch
    mlm_index: torch.Tensor | None
    mlm_labels: torch.Tensor | None


class Pretrainer(TrainingTask[list[list[int]]]):
    """Runs (or resumes) pretraining into ``output``; see the module docstring for the files. A plan step's
    batch is ``[[doc, instance, ...], ...]``."""

    def __init__(
        self,
        config: PretrainConfig,
        documents: Sequence[Document],
        output: str | Path,
        *,
        cpu: bool = False,
        precision: Precision = "auto",
        show_progress: bool = True,
        log: Callable[[str], None] = print,
        extra_info: dict | None = None,
    ) -> None:
        self.config = config
        self.precision = precision
        self.output = Path(output)
        self.show_progress = show_progress
        self.log = log
        self.extra_info = extra_info or {}
        self.corpus: PretrainCorpus = build_corpus(documents, config.max_pairs_per_doc, config.seed)
        if not self.corpus.instances:
            raise CcreError("no document has two linked entities: nothing to pretrain on")
        self.stats = corpus_stats(self.corpus)
        self.cpu = cpu

    def acc_is_main(self) -> bool:
        """Whether this is the main process (of ``accelerate launch``; True when alone)."""
        return workers("cpu" if self.cpu else None).is_main

    # ------------------------------------------------------------------------------------- setup
    def _schedule(self, world: int) -> list[tuple[int, list[list[int]]]]:
        """The whole batch order: ``(epoch, [[doc, instance, ...], ...])`` per step (batches with fewer
        documents than processes are left out)."""
        c = self.config
        out: list[tuple[int, list[list[int]]]] = []
        epoch = 0
        while (c.max_steps is None and epoch < c.epochs) or (c.max_steps is not None and len(out) < c.max_steps):
            batches = epoch_batches(self.corpus, c.batch_size, c.seed, epoch)
            usable = [b for b in batches if len(b) >= world]
            if not usable:
                break
            for batch in usable:
                out.append((epoch, [[it.doc, *it.instances] for it in batch]))
                if c.max_steps is not None and len(out) >= c.max_steps:
                    break
            epoch += 1
        return out

    def _encoded(self, d: int) -> EncodedDocument:
        if d not in self._cache:
            self._cache[d] = self.doc_encoder.encode(self.corpus.documents[d])
        return self._cache[d]

    def _inputs(self, items: list[list[int]], step: int) -> StepInputs:
        """Corrupted, windowed inputs of this process's documents of a global batch."""
        c = self.config
        docs, labels = [], []
        for doc, *inst in items:
            enc = self._encoded(doc)
            rng = np.random.default_rng([c.seed, step, doc])
            enc, lab = corrupt(enc, rng, mask_id=self.tokenizer.mask_token_id, random_ids=self.random_ids,
                               blank_prob=c.blank_prob, mlm_prob=c.mlm_prob if "mlm" in self.terms else 0.0)
            pairs = np.array([[self.corpus.instances[i].head, self.corpus.instances[i].tail] for i in inst],
                             dtype=np.int64).reshape(-1, 2)
            docs.append(replace(enc, pairs=pairs))
            labels.append(lab)
        tok = self.tokenizer
        batch = collate(docs, cls_id=tok.cls_token_id, sep_id=tok.sep_token_id, pad_id=tok.pad_token_id,
                        max_length=c.encoder.max_length, overlap=c.encoder.window_overlap)
        mlm_index = mlm_labels = None
        if "mlm" in self.terms:
            flat = np.concatenate(labels)
            target = batch.token_target.numpy()
            window = np.where(target >= 0, flat[np.clip(target, 0, None)], IGNORE).reshape(-1)
            idx = np.flatnonzero(window != IGNORE)
            mlm_index, mlm_labels = torch.from_numpy(idx), torch.from_numpy(window[idx])
        return StepInputs(batch, mlm_index, mlm_labels)

    def _masks(self, items: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        """Positive and negative masks over the instances of the global batch, in batch order."""
        inst = [self.corpus.instances[i] for _, *ids in items for i in ids]
        n = len(inst)
        docs = np.array([x.doc for x in inst])
        key_ids: dict = {}
        rows, cols = [], []
        for r, x in enumerate(inst):
            for k in x.keys:
                rows.append(r)
                cols.append(key_ids.setdefault(k, len(key_ids)))
        member = np.zeros((n, len(key_ids)), dtype=np.float32)
        member[rows, cols] = 1.0
        share = (member @ member.T) > 0
        same_doc = docs[:, None] == docs[None, :]
        positive = share & ~same_doc
        negative = ~share & ~np.eye(n, dtype=bool)
        return torch.from_numpy(positive), torch.from_numpy(negative)

    # -------------------------------------------------------------------------------------- loop
    def run(self, resume: bool = False, stop_after: int | None = None) -> Path:
        """Pretrain (or go on from the saved state with ``resume``) and write the output directory.

        ``stop_after``: save the state and return after that many steps of this call, without writing the
        final model (what a kill right after a save leaves; used to test resuming).
        """
        c = self.config
        self.terms = c.terms()
        self.team = team = workers("cpu" if self.cpu else None)
        if c.batch_size < team.world:
            raise ConfigError(f"batch_size {c.batch_size} is smaller than the number of processes ({team.world})")
        if (self.output / MANIFEST_FILE).exists():
            raise ConfigError(f"{self.output} already holds a finished pretraining run; choose another output directory")
        seed_everything(c.seed)
        mlm_model, self.tokenizer = load_mlm_model(c)
        self.doc_encoder = DocumentEncoder(self.tokenizer, c.encoder.marker, c.encoder.typed_markers)
        self._cache: dict[int, EncodedDocument] = {}
        special = set(self.tokenizer.all_special_ids) | {self.doc_encoder.marker_id}
        self.random_ids = np.array([i for i in range(len(self.tokenizer)) if i not in special], dtype=np.int64)
        self.model = model = PretrainModel(mlm_model, c.encoder.pair_dim, c.encoder.dropout).to(team.device)
        model.precision = self.precision
        plan = self._schedule(team.world)
        if not plan:
            raise CcreError("the corpus gives no batch")
        loop = TrainingLoop(model, model.encoder, c, plan, team, state_path=self.output / STATE_FILE,
                            identity={"config": c.model_dump(), "documents": documents_fingerprint(self.corpus.documents)},
                            save_every=c.checkpoint_every, label="pretraining", show_progress=self.show_progress)
        loop.restore(resume)
        if team.is_main:
            self.output.mkdir(parents=True, exist_ok=True)
            self._trim_loss_log(loop.step)
        self._writer = self._tensorboard() if team.is_main else None
        try:
            if not loop.run(self, stop_after):
                return self.output
        finally:
            if self._writer is not None:
                self._writer.close()
        self._save_final(model, len(plan))
        if team.is_main:
            (self.output / STATE_FILE).unlink()  # the finished model supersedes the state
        return self.output

    def step_loss(self, step: int, batch: list[list[int]]) -> StepLoss:
        """The weighted loss terms of the global batch ``batch``: L_mtb and L_self over the pair embeddings of
        every process, L_mlm over the masked pieces of the whole batch. This process encodes documents
        ``rank, rank + W, ...`` of it; ``backward`` is scaled so that averaged gradients are the whole batch's."""
        c, items, world, device = self.config, batch, self.team.world, self.team.device
        inputs = self._inputs(items[self.team.rank :: world], step)
        windows = inputs.batch.to(device)
        mlm_index = inputs.mlm_index.to(device) if inputs.mlm_index is not None else None
        views = 2 if "self" in self.terms else (1 if "mtb" in self.terms else 0)
        embeddings, logits = self.model(windows, views, mlm_index)
        losses: dict[str, torch.Tensor] = {}
        backprop = torch.zeros((), device=device)
        reported = torch.zeros((), device=device)
        if views:
            h = self._gather(torch.cat(embeddings, dim=1), items, world)
            d = embeddings[0].shape[1]
            views_h = [h[:, v * d : (v + 1) * d] for v in range(views)]
            if "mtb" in self.terms:
                pos, neg = self._masks(items)
                losses["mtb"] = mtb_loss(views_h[0], pos.to(device), neg.to(device), c.tau)
                backprop = backprop + c.mtb_weight * losses["mtb"]
                reported = reported + c.mtb_weight * losses["mtb"].detach()
            if "self" in self.terms:
                losses["self"] = self_contrast_loss(views_h[0], views_h[1], c.tau)
                backprop = backprop + c.self_weight * losses["self"]
                reported = reported + c.self_weight * losses["self"].detach()
        if "mlm" in self.terms:
            labels = inputs.mlm_labels.to(device)
            local_sum = F.cross_entropy(logits.float(), labels, reduction="sum") if len(labels) else logits.sum() * 0
            stats = torch.stack([local_sum.detach(), torch.tensor(float(len(labels)), device=device)])
            if world > 1:
                torch.distributed.all_reduce(stats)
            count = stats[1].clamp_min(1.0)
            losses["mlm"] = stats[0] / count
            backprop = backprop + c.mlm_weight * world * local_sum / count
            reported = reported + c.mlm_weight * losses["mlm"]
        return StepLoss(backprop, {"total": float(reported), **{k: float(v.detach()) for k, v in losses.items()}})

    def _gather(self, local: torch.Tensor, items, world: int) -> torch.Tensor:
        """Embeddings of every process, with gradients, in global batch order."""
        if world == 1:
            return local
        sizes = [sum(len(it) - 1 for it in items[r::world]) for r in range(world)]
        gathered = gather_rows(local, sizes, self.team.rank)
        offsets = np.cumsum([0] + [len(it) - 1 for it in items])
        order = np.concatenate([np.arange(offsets[i], offsets[i + 1]) for r in range(world)
                                for i in range(r, len(items), world)])
        return gathered[torch.from_numpy(np.argsort(order)).to(local.device)]

    # ------------------------------------------------------------------------------ persistence
    def _tensorboard(self):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return None
        return SummaryWriter(str(self.output / "tensorboard"))

    def end_step(self, step: int, epoch: int, loss: StepLoss, lr: float, seconds: float) -> None:
        """Append the step's loss terms, learning rate and time to the loss log (and TensorBoard)."""
        if not self.team.is_main:
            return
        path = self.output / LOSS_FILE
        fields = ["step", "epoch", "total", *self.terms, "lr", "seconds"]
        new = not path.exists()
        row = {"step": step + 1, "epoch": epoch, **{k: f"{v:.6f}" for k, v in loss.terms.items()},
               "lr": f"{lr:.3e}", "seconds": f"{seconds:.3f}"}
        with open(path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self._writer is not None:
            for k, v in loss.terms.items():
                self._writer.add_scalar(f"loss/{k}", v, step + 1)

    def _trim_loss_log(self, step: int) -> None:
        """Drop log rows of steps after ``step``, where the run goes on (they are run again)."""
        path = self.output / LOSS_FILE
        if not path.exists():
            return
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        keep = rows[:1] + [r for r in rows[1:] if r and int(r[0]) <= step]
        with atomic_open(path) as handle:
            csv.writer(handle, lineterminator="\n").writerows(keep)

    def _save_final(self, model: PretrainModel, steps: int) -> None:
        """Write the pretrained encoder as a ccre model folder (:func:`ccre.modeling.checkpoint.save_encoder`):
        transformer, pair embedder, the encoding it was pretrained with, and this run's record."""
        if not self.team.is_main:
            return
        c = self.config
        save_encoder(self.output, model.encoder, self.tokenizer, model.pair_embedder.state_dict(),
                     ModelConfig(encoder=c.encoder), {
            "config": self.config.model_dump(), "corpus": self.stats, "steps": steps,
            "processes": self.team.world, "precision": resolve_precision(self.team.device, self.precision),
            "commit": git_commit(), "date": now_iso(), **self.extra_info,
        })
