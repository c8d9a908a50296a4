"""Every hyperparameter of a pretraining run, validated (saved in the run record of its output, ``run.json``).

CPU default (2 cores, all-MiniLM-L6-v2): one fwd+bwd over 4 x 384 tokens takes ~2.4 s, i.e. ~1.6 ms per
token. A step here encodes 4 documents in 256-piece windows (~2 windows each, ~2,000 tokens) twice (L_self
needs a second dropout view), ~4,000 tokens -> ~6.5 s; measured ~6-8 s/step with everything on (see
docs/pretraining.md). 300 steps x ~7-10 s = ~35-50 minutes idle, inside the 90-minute budget even on a busy
machine (steps measured on a
shared, loaded 2-core machine took 26-58 s: with other jobs running, lower --max-steps).
"""

from __future__ import annotations

from pydantic import Field, model_validator

from ccre.config import EncoderConfig, _Section, validated
from ccre.errors import ConfigError


class PretrainConfig(_Section):
    """Contrastive pretraining of entity-pair embeddings (L_mtb + L_self + L_mlm)."""

    encoder: EncoderConfig = Field(
        default_factory=lambda: EncoderConfig(max_length=256, window_overlap=64),
        description="the encoder to start from and how documents are encoded, as in finetuning (windows of 256 "
        "word pieces by default; finetune with the same markers); blanking masks a mention's name, never its type",
    )
    encoder_dropout: float | None = Field(None, ge=0.0, lt=1.0, description="dropout inside the transformer while "
                                          "pretraining (default: its own)")
    max_pairs_per_doc: int | None = Field(64, ge=1, description="instances kept per document")
    batch_size: int = Field(4, ge=1, description="documents per step (global, over all processes)")
    max_steps: int | None = Field(300, ge=1, description="optimizer steps (takes precedence over epochs)")
    epochs: int | None = Field(None, ge=1)
    lr: float = Field(1e-4, gt=0, description="learning rate of the encoder (high: only a few hundred steps "
                      "on CPU, and 3e-5 left L_mtb and the kNN probe where they started)")
    head_lr: float = Field(1e-3, gt=0, description="learning rate of the pair embedder and MLM head")
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    max_grad_norm: float = Field(1.0, gt=0)
    seed: int = 13
    tau: float = Field(0.05, gt=0, description="temperature of L_mtb and L_self")
    mtb_weight: float = Field(1.0, ge=0, description="weight of L_mtb (0 switches it off)")
    self_weight: float = Field(1.0, ge=0, description="weight of L_self (0 switches it off)")
    mlm_weight: float = Field(1.0, ge=0, description="weight of L_mlm (0 switches it off)")
    blank_prob: float = Field(0.7, ge=0, le=1, description="probability that a mention is blanked with [MASK]")
    mlm_prob: float = Field(0.15, ge=0, lt=1, description="fraction of word pieces chosen for MLM")
    checkpoint_every: int = Field(50, ge=1, description="steps between resumable checkpoints")

    @model_validator(mode="after")
    def _check(self) -> PretrainConfig:
        if self.max_steps is None and self.epochs is None:
            raise ValueError("give max_steps or epochs")
        if self.mtb_weight == 0 and self.self_weight == 0 and self.mlm_weight == 0:
            raise ValueError("every loss term is switched off")
        return self

    def with_overrides(self, overrides: dict[str, object]) -> PretrainConfig:
        """A copy with overrides applied and validated: top-level fields by name (``max_steps``), encoder fields
        dotted (``encoder.typed_markers``)."""
        raw = self.model_dump()
        for key, value in overrides.items():
            section, dot, field = key.partition(".")
            if dot and section == "encoder" and field in raw["encoder"]:
                raw["encoder"][field] = value
            elif not dot and key in raw and key != "encoder":
                raw[key] = value
            else:
                raise ConfigError(f"unknown pretraining field {key!r} (fields: {', '.join(k for k in raw if k != 'encoder')}, "
                                  f"encoder.*)")
        return validated(PretrainConfig, raw, "pretraining config")

    def flat(self) -> dict[str, object]:
        """Every field by the name :meth:`with_overrides` takes (``encoder.*`` dotted)."""
        dump = self.model_dump()
        return {**{f"encoder.{k}": v for k, v in dump.pop("encoder").items()}, **dump}

    def terms(self) -> list[str]:
        """The loss terms switched on, in the order of the loss log."""
        return [n for n, w in (("mtb", self.mtb_weight), ("self", self.self_weight), ("mlm", self.mlm_weight)) if w > 0]
