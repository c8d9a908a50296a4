"""``ccre memory``: the memory of labelled instances a trained model compares with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import console, friendly_errors, memory_app
from ccre.errors import CcreError


@memory_app.command("add")
@friendly_errors
def memory_add(
    model: Annotated[Path, typer.Option(help="checkpoint directory written by ccre train")],
    files: Annotated[list[Path], typer.Argument(help="newly labelled documents")],
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ...")] = None,
) -> None:
    """Add labelled documents to a trained model's memory, without retraining."""
    from ccre.data.formats import read_documents
    from ccre.modeling.embedding import add_to_memory

    docs = [d for f in files for d in read_documents(f)]
    added = add_to_memory(model, docs, device)
    console.print(f"{added} instances from {len(docs)} documents added to the memory of {model}")


@memory_app.command("index")
@friendly_errors
def memory_index(
    model: Annotated[Path, typer.Option(help="checkpoint directory written by ccre train")],
    kind: Annotated[str, typer.Option(help="exact (brute force) or hnsw (approximate, for large memories)")] = "hnsw",
    ef_search: Annotated[int, typer.Option(min=1, help="hnsw: search beam width (larger: slower, more exact)")] = 128,
) -> None:
    """Rebuild a trained model's memory index: HNSW for fast approximate kNN over large memories."""
    from ccre.modeling.checkpoint import require_manifest
    from ccre.modeling.memory import EmbeddingMemory

    if kind not in ("exact", "hnsw"):
        raise CcreError(f"--kind must be exact or hnsw, not {kind!r}")
    path = require_manifest(model, "relation-model").path("memory")
    memory = EmbeddingMemory.load(path)
    memory.reindex(kind, ef_search=ef_search)  # type: ignore[arg-type]
    memory.save(path)
    console.print(f"memory of {model}: {len(memory)} instances, {kind} index")
