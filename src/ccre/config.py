"""Validated configuration, one section per concern.

- :class:`ModelConfig` is what a trained model is (``encoder``, ``objective``, ``inference``) and is saved with it;
- :class:`CcreConfig` adds how a run trains (``train``) and on which documents (``data``): the run's record.

Configs load from YAML or JSON (``--config``); ``--set section.field=value`` and the commands' options override
single fields (:meth:`ModelConfig.with_overrides`). The option types and help texts of the command line come from
here (:data:`ObjectiveName`, ..., :func:`describe`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ccre.data.formats.ids import DIALECTS
from ccre.errors import ConfigError

DEFAULT_ENCODER = "sentence-transformers/all-MiniLM-L6-v2"
ObjectiveName = Literal["ce", "supcon", "mccl", "prior"]
ScorerName = Literal["mccl", "knn", "centroid"]
MCCLPool = Literal["mean", "sum"]
NAMargin = Literal["zero", "calibrated"]
DatasetName = Literal["biored", "redocred"]
BiasInit = Literal["zero", "frequency"]
DEFAULT_EPOCHS = 30
"""Finetuning epochs when the config sets none and ``train.min_steps`` asks for no more."""

ADDED_FIELDS: dict[str, object] = {"encoder.context_pooling": False}
"""Fields added after results and pretrained encoders were recorded, each with the value that does what ccre did
before the field existed. :func:`identity` leaves such a field out while it has that value, so a result line or a
cached encoder made before the field was added still names the same experiment as one made after."""


def identity(dump: dict, prefix: str = "") -> dict:
    """A config dump (``model_dump()``, sections nested) as identity hashes see it: without the
    :data:`ADDED_FIELDS` that have their earlier behaviour's value (``prefix``: the dotted path of ``dump``)."""
    kept: dict = {}
    for key, value in dump.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            kept[key] = identity(value, f"{name}.")
        elif name not in ADDED_FIELDS or ADDED_FIELDS[name] != value:
            kept[key] = value
    return kept


def read_mapping(path: str | Path, what: str) -> dict:
    """The mapping in a YAML file (JSON when the suffix is ``.json``); an empty file is ``{}``. Errors name
    the file and say whether it could not be read, did not parse, or is not a mapping (``what`` is the kind
    of file, for the message)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc.strerror}") from None
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'}: {exc}") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a {what} is a mapping of field names to values, not {type(raw).__name__}")
    return raw


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class EncoderConfig(_Section):
    """How documents become encoder states and pair embeddings."""

    name: str = Field(DEFAULT_ENCODER, description="Hugging Face model name or local path")
    marker: str = Field("*", description="entity marker token put before and after every mention")
    typed_markers: bool = Field(True, description="write each mention's entity type after its start marker "
                                "(`* chemical entity aspirin *`); must match the pretraining of the encoder")
    max_length: int = Field(512, ge=16, description="encoder window in word pieces, [CLS] and [SEP] included")
    window_overlap: int = Field(128, ge=0, description="word pieces shared by consecutive windows of long documents")
    pair_dim: int | None = Field(None, ge=8, description="size of the pair embedding h (default: encoder width)")
    type_embedding: bool = Field(True, description="add a learned embedding of the pair's entity types (those of "
                                 "the training documents; unseen types share one) inside the pair embedder")
    context_pooling: bool = Field(False, description="add each pair's localized context to the pair embedder's "
                                  "input: the tokens both entities attend to in the encoder's last layer (ATLOP)")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _overlap_fits(self) -> EncoderConfig:
        if self.window_overlap >= self.max_length - 2:
            raise ValueError("window_overlap must be smaller than max_length - 2")
        return self


class ObjectiveConfig(_Section):
    """What the pair embedding is trained for (saved with the model)."""

    name: ObjectiveName = Field(
        "ce", description="ce: softmax classifier; supcon: supervised contrastive; mccl: multi-center contrastive; "
        "prior: the no-text floor (each entity-type pair's most frequent relation, ccre.modeling.prior)"
    )
    tau: float = Field(0.1, gt=0, description="temperature of SupCon, and tau1 (over class scores) of MCCL")
    tau2: float = Field(0.2, gt=0, description="MCCL: temperature inside a class (small: nearest instance; large: mean)")
    mccl_pool: MCCLPool = Field(
        "mean", description="MCCL: average (1/|S_r|, the paper's formula) or sum over a relation's instances "
        "(a variant that weighs each relation by its training frequency)"
    )
    na_keep: float = Field(1.0, gt=0, le=1, description="fraction of no-relation anchors kept in contrastive losses")
    novelty_weight: float = Field(1.0, ge=0, description="weight of the novelty head's loss (BioRED)")
    bias_init: BiasInit = Field(
        "frequency", description="classifier objectives (CE): start the class biases at zero, or at the training "
        "pairs' label distribution (log frequencies; log-odds against the threshold class for multi-label data), "
        "with a type embedding each type pair's own, so that training starts where the no-text prior is")


class InferenceConfig(_Section):
    """How a trained contrastive model scores and decides pairs (saved with the model; ``predict`` may override
    it without retraining)."""

    scorer: ScorerName = Field(
        "mccl", description="how contrastive models score a pair against the memory of training instances"
    )
    knn_k: int = Field(5, ge=1, description="neighbours that vote in kNN scoring")
    na_threshold: float | None = Field(
        None, ge=0, le=1, description="single-label classifiers (CE): predict a pair's best relation r when "
        "P(r) / (P(r) + P(no-relation)) reaches this (chosen on dev with train.na_threshold_on_dev); none: the "
        "most probable class, no-relation included")
    na_margin: NAMargin = Field(
        "calibrated", description="multi-label contrastive models predict a relation when its score beats "
        "no-relation's by more than a margin: zero, or calibrated for F1 on the training documents, each scored "
        "against the others (ccre.inference.threshold)"
    )


class TrainConfig(_Section):
    """The finetuning loop (recorded with the run, not saved with the model)."""

    epochs: int | None = Field(None, ge=1, description=f"passes over the training documents; default: "
                               f"{DEFAULT_EPOCHS}, or as many as it takes to make min_steps steps")
    min_steps: int = Field(100, ge=0, description="with epochs unset, epochs are added until the run takes this many "
                           "optimizer steps, so that a few documents still get enough updates")
    eval_every: int | None = Field(
        25, ge=1, description="score the dev documents before training, every this many steps and after the last, "
        "and keep the weights that scored best (pair+type F1; CE with na_threshold_on_dev at its best cut-off)")
    batch_size: int = Field(4, ge=1, description="documents per step")
    lr: float = Field(5e-5, gt=0, description="learning rate of the encoder")
    head_lr: float = Field(1e-4, gt=0, description="learning rate of the pair embedder and heads (chosen on BioRED dev)")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 13
    deterministic: bool = Field(
        True, description="deterministic kernels: the same seed gives bit-identical weights (and resumes exactly)"
    )
    na_threshold_on_dev: bool = Field(
        True, description="single-label CE: after training, choose inference.na_threshold for pair+type F1 on "
        "the dev documents")
    contrast_memory: bool = Field(
        True, description="contrastive objectives compare each anchor with a memory of every training instance "
        "(embedded again each epoch) besides its batch; false: with its batch only (the memory is then built once, "
        "after training, for inference)"
    )

    def epochs_for(self, num_docs: int) -> int:
        """The epochs a run over ``num_docs`` documents takes: :attr:`epochs`, or by default :data:`DEFAULT_EPOCHS`
        and more until the run makes :attr:`min_steps` steps."""
        if self.epochs is not None:
            return self.epochs
        per_epoch = max(1, -(-num_docs // self.batch_size))
        return max(DEFAULT_EPOCHS, -(-self.min_steps // per_epoch))


class DataConfig(_Section):
    """Which documents to train on."""

    dataset: DatasetName | None = "biored"
    train: str | None = Field(None, description="training file; default: the dataset's training split")
    test: str | None = Field(None, description="evaluation file; default: the dataset's test split")
    dev: str | None = Field(None, description="development file, on which settings and thresholds are chosen; "
                            "default: the dataset's dev split (none for a training file of your own)")
    train_docs: int | None = Field(20, ge=1, description="number of training documents (seeded subset)")
    train_fraction: float | None = Field(None, gt=0, le=1, description="fraction of the training documents")
    dialect: str | None = Field(None, description="how PubTator/BioC ID columns name concepts (one of "
                                "ccre.data.formats.ids.DIALECTS); default: read from each file")

    @field_validator("dialect")
    @classmethod
    def _known_dialect(cls, dialect: str | None) -> str | None:
        if dialect is not None and dialect not in DIALECTS:
            raise ValueError(f"unknown ID dialect {dialect!r}; one of {', '.join(DIALECTS)}")
        return dialect

    @model_validator(mode="after")
    def _one_size(self) -> DataConfig:
        if self.train_docs is not None and self.train_fraction is not None:
            raise ValueError("give train_docs or train_fraction, not both")
        return self


#: the fields of a trained model that change only how it scores pairs: ``predict`` may override them
SCORING_FIELDS = ("inference.scorer", "inference.knn_k", "inference.na_margin", "inference.na_threshold",
                  "objective.mccl_pool", "objective.tau2")
#: the scoring fields that apply to a classifier (CE) too
CLASSIFIER_SCORING_FIELDS = ("inference.na_threshold",)


class ModelConfig(_Section):
    """What a trained model is: its encoding, its objective and how it scores pairs (``config.json`` of a
    checkpoint)."""

    encoder: EncoderConfig = Field(default_factory=EncoderConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    inference: InferenceConfig = Field(default_factory=InferenceConfig)

    @classmethod
    def load(cls, path: str | Path) -> ModelConfig:
        return validated(cls, read_mapping(path, "model config"), str(path))

    def save(self, path: str | Path) -> None:
        from ccre.utils.io import atomic_write_text

        atomic_write_text(path, self.model_dump_json(indent=2) + "\n")

    @property
    def model(self) -> ModelConfig:
        """The sections saved with a trained model (of a :class:`CcreConfig`, its model part)."""
        return ModelConfig(encoder=self.encoder, objective=self.objective, inference=self.inference)

    def with_overrides(self, overrides: dict[str, object]) -> ModelConfig:
        """A copy with dotted-key overrides (``{"inference.scorer": "knn"}``) applied and validated."""
        return validated(type(self), _override(self.model_dump(), overrides), "options")


class CcreConfig(ModelConfig):
    """Everything a run needs: the model's sections plus the training loop and the data selection.
    ``ccre train --config FILE`` reads it; a checkpoint stores its :attr:`model` part, the run's record the rest."""

    train: TrainConfig = Field(default_factory=TrainConfig)
    data: DataConfig = Field(default_factory=DataConfig)

    @classmethod
    def load(cls, path: str | Path) -> CcreConfig:
        """Read a YAML or JSON config, with errors that name the file and the field."""
        return cls.parse(read_mapping(path, "config"), source=str(path))

    @classmethod
    def parse(cls, raw: dict, source: str = "config") -> CcreConfig:
        return validated(cls, raw, source)



def validated(cls, raw: dict, source: str):
    """``cls.model_validate(raw)``, its errors as one ConfigError naming ``source`` and each field."""
    try:
        return cls.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
                             for err in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None


def _override(raw: dict, overrides: dict[str, object]) -> dict:
    for key, value in overrides.items():
        section, _, field = key.partition(".")
        if section not in raw or not isinstance(raw[section], dict) or field not in raw[section]:
            known = ", ".join(f"{s}.*" for s, v in raw.items() if isinstance(v, dict))
            raise ConfigError(f"unknown config field {key!r} (sections: {known})")
        raw[section][field] = value
    return raw


def parse_assignments(items: list[str] | None, option: str = "--set") -> dict[str, object]:
    """``["train.lr=3e-5", "encoder.typed_markers=true"]`` as ``{"train.lr": 3e-05, ...}`` (values read as
    YAML scalars)."""
    result: dict[str, object] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{option} takes KEY=VALUE, got {item!r}")
        result[key.strip()] = yaml.safe_load(value)
    return result


def describe(key: str) -> str:
    """The description of a dotted config field (``"objective.tau"``), for command-line help."""
    section, _, name = key.partition(".")
    info = CcreConfig.model_fields[section].annotation.model_fields[name]
    return info.description or name.replace("_", " ")
