"""The documents a pretraining run reads: its input files, de-duplicated, minus the excluded documents.

By default (no files given) the inputs are the data directory's ``pretrain/*.pubtator`` plus BioRED train (its
relations unused), and BioRED dev and test are excluded, so that no document settings are chosen on or
results reported on is pretrained on.
Shared by ``ccre pretrain`` / ``ccre pretrain-stats`` and by ``ccre bench``, which builds its encoders here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ccre.data.documents import Document
from ccre.errors import CcreError


def default_inputs(data_dir: str | Path | None) -> tuple[list[Path], list[Path]]:
    """Default input files (pretrain/*.pubtator, BioRED train) and default exclusions (BioRED dev and test)."""
    from ccre.data.datasets import DATASETS, resolve_data_dir, split_path

    root = resolve_data_dir(data_dir)
    files = [split_path("pretrain", name, root) for name in DATASETS["pretrain"]]
    files += [split_path("biored", "train", root)]
    exclude = [split_path("biored", split, root) for split in ("dev", "test")]
    return files, exclude


def load_corpus_documents(
    files: list[Path] | None,
    exclude: list[Path] | None,
    data_dir: str | Path | None,
    strict: bool,
    on_skip: Callable[[CcreError], None] | None = None,
) -> tuple[list[Document], dict]:
    """Read, de-duplicate and filter the input documents; returns them and a report of what happened
    (``inputs``, ``exclude``, ``read``, ``skipped_bad``, ``duplicates_dropped``, ``excluded_dropped``).

    ``files`` empty or None: :func:`default_inputs` (and its exclusions, unless ``exclude`` is given). A bad
    document stops the read with ``strict``; otherwise it is skipped and passed to ``on_skip``.
    """
    from ccre.data.formats import read_documents
    from ccre.training.pretraining.corpus import deduplicate, exclude_documents

    if not files:
        files, default_exclude = default_inputs(data_dir)
        if exclude is None:
            exclude = default_exclude
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
    docs, dropped = exclude_documents(docs, excluded_docs)
    report = {
        "inputs": [str(p) for p in files],
        "exclude": [str(p) for p in exclude or []],
        "read": read,
        "skipped_bad": len(skipped),
        "duplicates_dropped": duplicates,
        "excluded_dropped": dropped,
    }
    return docs, report
