"""ccre: continual contrastive relation extraction.

The public API (loaded on first use, so that ``import ccre`` stays cheap)::

    from ccre import CcreConfig, evaluate, load_model, predict, read_documents, train, write_documents
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "read_documents": "ccre.data.formats",
    "write_documents": "ccre.data.formats",
    "Document": "ccre.data.documents",
    "Entity": "ccre.data.documents",
    "Mention": "ccre.data.documents",
    "Relation": "ccre.data.documents",
    "CcreConfig": "ccre.config",
    "ModelConfig": "ccre.config",
    "RelationModel": "ccre.modeling.relation_model",
    "PredictedRelation": "ccre.inference.predictor",
    "train": "ccre.api",
    "load_model": "ccre.api",
    "predict": "ccre.api",
    "evaluate": "ccre.api",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'ccre' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
