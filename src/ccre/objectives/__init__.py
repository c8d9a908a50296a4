"""Training objectives on pair embeddings ``h``, one per module, all with the same interface.

Every objective is an ``nn.Module`` with ``loss(h, targets)`` (``h``: ``(P, D)`` pair embeddings;
``targets``: ``(P, C)`` multi-hot, column 0 = no relation) and ``scores(h)`` (``(P, C)``, higher = more
likely), plus ``decide(scores)`` turning scores into a ``(P, C)`` boolean prediction.
"""

from __future__ import annotations

from ccre.labels import LabelSpace
from ccre.objectives.adaptive_threshold import AdaptiveThresholdObjective
from ccre.objectives.base import PairObjective
from ccre.objectives.cross_entropy import CrossEntropyObjective


def build_objective(name: str, pair_dim: int, space: LabelSpace) -> PairObjective:
    """The objective ``name`` for this label space (multi-label data gets the adaptive-threshold form)."""
    if name == "ce":
        if space.multi_label:
            return AdaptiveThresholdObjective(pair_dim, space.num_labels)
        return CrossEntropyObjective(pair_dim, space.num_labels)
    raise ValueError(f"unknown objective {name!r}")


__all__ = ["AdaptiveThresholdObjective", "CrossEntropyObjective", "PairObjective", "build_objective"]
