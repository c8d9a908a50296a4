"""Helpers shared by the format tests: where the real data is, and a comparable view of a document."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ccre.data.documents import Document
from ccre.errors import FormatError

MISSING_DATA = "real data not available"
"""How the message of a test that lacks the real data begins (the summary of ``conftest.py`` counts them)."""


def data_root() -> Path:
    """Where the tests find the shared real data: ``$CCRE_DATA_DIR``, else ``../shared/data`` beside the
    repository."""
    return Path(os.environ.get("CCRE_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def on_ci() -> bool:
    """Whether the tests run under CI (``CI=true``), where a test that cannot run fails instead of skipping."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def data_file(relative: str) -> Path:
    """A file of the shared real data (:func:`data_root`). When it is absent the test is skipped, or, under
    ``CI=true``, fails: a CI run must not pass with the real-data tests left out."""
    path = data_root() / relative
    if not path.exists():
        message = (f"{MISSING_DATA}: {path}. Set $CCRE_DATA_DIR to the data directory, or put the shared data "
                   "in ../shared/data beside the repository")
        if on_ci():
            pytest.fail(f"{message} (CI=true: a test that needs the real data fails instead of skipping)",
                        pytrace=False)
        pytest.skip(message)
    return path


def tiny_biored_split(tmp: Path, config: str) -> dict[str, Path]:
    """Three BioRED training and two test documents as PubTator files, and ``config`` as ``tiny.yaml``, in
    ``tmp``: the inputs of the tests that run ``ccre train`` end to end in a subprocess."""
    from ccre.data.formats import read_documents, write_documents

    train, test = tmp / "train.pubtator", tmp / "test.pubtator"
    write_documents(read_documents(data_file("biored/Train.PubTator"))[:3], train, "pubtator")
    write_documents(read_documents(data_file("biored/Test.PubTator"))[:2], test, "pubtator")
    (tmp / "tiny.yaml").write_text(config)
    return {"train": train, "test": test, "config": tmp / "tiny.yaml", "dir": tmp}


def view(doc: Document) -> tuple[Any, ...]:
    """What a round trip must keep: mentions, entities (with their mentions and KB IDs) and relations."""
    entities = [(e.id, e.type, list(e.mentions), e.kb_ids, e.name) for e in doc.entities]
    return (doc.id, doc.text, list(doc.mentions), entities, list(doc.relations))


def assert_located(error: FormatError, path: Path, doc_id: str | None, *, line: int | None = None,
                   location: str | None = None, reason: str = "") -> None:
    """The error names the file, the line or JSON path, the document and (part of) what is wrong."""
    message = str(error)
    assert str(path) in message
    assert error.doc_id == doc_id
    if doc_id is not None:
        assert f"document {doc_id}" in message
    if line is not None:
        assert error.line == line and f"{path}:{line}" in message
    if location is not None:
        assert error.location == location and location in message
    assert reason in error.reason, error.reason
