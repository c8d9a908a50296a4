"""The documents a pretraining run reads: its input files, de-duplicated, minus the excluded documents.

By default (no files given) the inputs are a data set's text and its dev and test splits are left out, so that
no document settings are chosen on or results reported on is pretrained on:

- ``biored``: the data directory's ``pretrain/*.pubtator`` plus BioRED train (its relations unused);
- ``redocred``: the Re-DocRED training pool, ``dev_revised.json`` less its held-out dev slice (its relations
  unused): general-domain text for a general-domain encoder.

Shared by ``ccre pretrain`` / ``ccre pretrain-stats`` and by ``ccre bench``, which builds its encoders here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ccre.data.documents import Document
from ccre.errors import CcreError


def default_inputs(data_dir: str | Path | None, dataset: str = "biored") -> tuple[list[Path], list[tuple[str, str]]]:
    """The default input files of ``dataset``'s pretraining corpus and the ``(data set, split)`` pairs left out of
    them (its dev and test)."""
    from ccre.data.datasets import DATASETS, resolve_data_dir, split_path

    root = resolve_data_dir(data_dir)
    files = [split_path("pretrain", name, root) for name in DATASETS["pretrain"]] if dataset == "biored" else []
    files += [split_path(dataset, "train", root)]
    return files, [(dataset, "dev"), (dataset, "test")]


def load_corpus_documents(
    files: list[Path] | None,
    exclude: list[Path] | None,
    data_dir: str | Path | None,
    strict: bool,
    on_skip: Callable[[CcreError], None] | None = None,
    dataset: str = "biored",
) -> tuple[list[Document], dict]:
    """Read, de-duplicate and filter the input documents; returns them and a report of what happened
    (``inputs``, ``exclude``, ``read``, ``skipped_bad``, ``duplicates_dropped``, ``excluded_dropped``).

    ``files`` empty or None: :func:`default_inputs` of ``dataset`` (and its exclusions, unless ``exclude`` is
    given). A bad document stops the read with ``strict``; otherwise it is skipped and passed to ``on_skip``.
    """
    from ccre.data.datasets import resolve_data_dir, split_documents
    from ccre.data.formats import read_documents
    from ccre.training.pretraining.corpus import deduplicate, exclude_documents

    splits: list[tuple[str, str]] = []
    if not files:
        files, default_splits = default_inputs(data_dir, dataset)
        if exclude is None:
            splits = default_splits
    skipped: list[CcreError] = []

    def skip(error: CcreError) -> None:
        skipped.append(error)
        if on_skip is not None:
            on_skip(error)

    docs: list[Document] = []
    for path in files:
        docs.extend(read_documents(path, lenient=not strict, on_skip=skip))
    read = len(docs)
    docs, duplicates = deduplicate(docs)
    excluded_docs: list[Document] = []
    for path in exclude or []:
        excluded_docs.extend(read_documents(path, lenient=True))
    for name, split in splits:
        excluded_docs.extend(split_documents(name, split, resolve_data_dir(data_dir), lenient=True))
    docs, dropped = exclude_documents(docs, excluded_docs)
    report = {
        "inputs": [str(p) for p in files],
        "exclude": [str(p) for p in exclude or []] + [f"{name} {split}" for name, split in splits],
        "read": read,
        "skipped_bad": len(skipped),
        "duplicates_dropped": duplicates,
        "excluded_dropped": dropped,
    }
    return docs, report
