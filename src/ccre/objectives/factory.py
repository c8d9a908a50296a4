"""The objective a model config names, for its label space."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ccre.data.labels import LabelSpace
from ccre.objectives.adaptive_threshold import AdaptiveThresholdObjective
from ccre.objectives.base import PairObjective
from ccre.objectives.contrastive import MCCLObjective, SupConObjective
from ccre.objectives.cross_entropy import CrossEntropyObjective

if TYPE_CHECKING:
    from ccre.config import InferenceConfig, ObjectiveConfig


def build_objective(
    config: ObjectiveConfig, inference: InferenceConfig, pair_dim: int, space: LabelSpace
) -> PairObjective:
    """The objective ``config.name`` for this label space (multi-label data gets the adaptive-threshold form of
    CE and of MCCL); contrastive objectives score pairs as ``inference`` says."""
    if config.name == "prior":
        raise ValueError("the prior reads no text and has no pair objective: fit ccre.modeling.prior.TypePairPrior")
    if config.name == "ce":
        if space.multi_label:
            return AdaptiveThresholdObjective(pair_dim, space.num_labels)
        return CrossEntropyObjective(pair_dim, space.num_labels, inference.na_threshold)
    kwargs = {"inference": inference.scorer, "k": inference.knn_k, "na_keep": config.na_keep,
              "pool": config.mccl_pool, "na_margin": inference.na_margin}
    if config.name == "supcon":
        return SupConObjective(space.multi_label, config.tau, config.tau2, **kwargs)
    if config.name == "mccl":
        return MCCLObjective(space.multi_label, config.tau, config.tau2, **kwargs)
    raise ValueError(f"unknown objective {config.name!r}")
