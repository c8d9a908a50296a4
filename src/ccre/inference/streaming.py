"""Streaming prediction: read, predict and write documents a chunk at a time.

``ccre predict`` over a large file or a directory of files goes through :func:`predict_path`. PubTator is
read line by line (:func:`ccre.data.formats.iter_documents`) and its output, like a DocRED result list, is
appended to a temporary file chunk by chunk, and the heap memory freed after each chunk is handed back, so the
resident memory stays flat however many documents there are (``ccre predict`` also has large buffers mapped from
the operating system for its process, :func:`ccre.utils.runtime.map_large_buffers`, which keeps each chunk's peak
level; a library call leaves the allocator as it finds it unless asked, ``map_buffers=True``);
BioC (XML/JSON) and DocRED input files are parsed whole (their formats are one JSON/XML tree), and a BioC
output file is written whole at the end. Every output file appears only when complete: it is written
under a temporary name beside its final one and renamed into place.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ccre.data.documents import Document
from ccre.data.formats import detect_format, iter_documents, write_documents
from ccre.data.formats.pubtator import dumps as pubtator_dumps
from ccre.errors import CcreError, FormatError
from ccre.inference.predictor import (
    PredictedRelation,
    Predictor,
    docred_result_list,
    explanations,
    with_predictions,
)
from ccre.utils.io import atomic_open
from ccre.utils.progress import progress_bar
from ccre.utils.runtime import map_large_buffers, release_free_memory

DEFAULT_CHUNK = 256
"""Documents read, predicted and written at a time."""

_KNOWN_SUFFIXES = (".pubtator", ".txt", ".xml", ".json")


@dataclass
class StreamSummary:
    """What a streaming run did: documents and predicted relations, and each (input, output) file pair."""

    documents: int = 0
    relations: int = 0
    files: list[tuple[Path, Path]] = field(default_factory=list)


def chunked(items: Iterable[Document], size: int) -> Iterator[list[Document]]:
    """Consecutive lists of ``size`` items (the last one shorter)."""
    chunk: list[Document] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def count_pubtator_documents(path: str | os.PathLike[str]) -> int:
    """Title lines in a PubTator file (``ID|t|...``), read line by line: the progress bar's total."""
    n = 0
    with open(path, "rb") as handle:
        for line in handle:
            bar = line.find(b"|t|")
            if bar > 0 and b"\t" not in line[:bar]:
                n += 1
    return n


def input_files(directory: Path, fmt: str | None) -> list[Path]:
    """The files of ``directory`` that ``ccre predict`` annotates: with ``fmt`` every visible file, else
    those with an extension ccre reads (``.pubtator``, ``.txt``, ``.xml``, ``.json``), sorted by name."""
    files = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
    if fmt is None:
        files = [p for p in files if p.suffix.lower() in _KNOWN_SUFFIXES]
    return files


class _ListWriter:
    """Appends the items of one JSON list to an open file, chunk by chunk (same text as ``json.dumps``)."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.first = True
        handle.write("[")

    def extend(self, records: Iterable[dict]) -> None:
        for record in records:
            self.handle.write(("" if self.first else ", ") + json.dumps(record, ensure_ascii=False))
            self.first = False

    def close(self) -> None:
        self.handle.write("]")


def predict_file(
    predictor: Predictor,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    dialect: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    lenient: bool = False,
    on_skip: Callable[[FormatError], None] | None = None,
    explain_output: str | os.PathLike[str] | None = None,
    on_chunk: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
    map_buffers: bool = False,
) -> StreamSummary:
    """Predict the relations of every document of ``input`` and write them to ``output`` in the input's
    format (DocRED input: the official result list), ``chunk_size`` documents at a time; ``dialect`` as in
    :func:`ccre.data.formats.read_documents` (the output keeps the input's IDs).

    ``explain_output`` (with a predictor that has ``explain_k``) also gets one JSON line per prediction
    with its nearest training instances. ``on_total`` is told the number of documents once known,
    ``on_chunk`` the size of each chunk done (progress reporting). ``map_buffers=True`` first calls
    :func:`ccre.utils.runtime.map_large_buffers`, which keeps each chunk's peak memory level but changes glibc's
    allocator for the whole process (and stays so): by default the call leaves the allocator as it is.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    input, output = Path(input), Path(output)
    fmt = fmt or detect_format(input)
    if map_buffers:
        map_large_buffers()  # else the heap fragments and each chunk's peak climbs
    docs: Iterable[Document]
    if fmt == "pubtator":
        if on_total is not None:
            on_total(count_pubtator_documents(input))
        docs = iter_documents(input, fmt, dialect=dialect, lenient=lenient, on_skip=on_skip)
    else:  # one JSON/XML tree: parsed whole
        docs = list(iter_documents(input, fmt, dialect=dialect, lenient=lenient, on_skip=on_skip))
        if on_total is not None:
            on_total(len(docs))
    summary = StreamSummary(files=[(input, output)])
    appended = fmt in ("pubtator", "docred")
    kept: list[Document] = []  # BioC output is one tree, written whole at the end
    with _maybe_open(output if appended else None) as out, _maybe_open(explain_output) as why:
        result_list = _ListWriter(out) if fmt == "docred" else None
        for chunk in chunked(docs, chunk_size):
            predictions = predictor.predict(chunk)
            summary.documents += len(chunk)
            summary.relations += sum(len(p) for p in predictions)
            if result_list is not None:
                result_list.extend(docred_result_list(chunk, predictions))
            elif appended:
                out.write(pubtator_dumps(with_predictions(chunk, predictions)))
            else:
                kept.extend(with_predictions(chunk, predictions))
            if why is not None:
                _write_explanations(why, chunk, predictions)
            del predictions
            release_free_memory()  # flat resident memory however many chunks follow
            if on_chunk is not None:
                on_chunk(len(chunk))
        if result_list is not None:
            result_list.close()
        if not appended:
            write_documents(kept, output, fmt)  # atomic itself
    return summary


def predict_path(
    predictor: Predictor,
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    dialect: str | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    lenient: bool = False,
    on_skip: Callable[[FormatError], None] | None = None,
    explain: bool = False,
    show_progress: bool = False,
) -> StreamSummary:
    """:func:`predict_file` for a file, or for each file of a directory ``input`` into the directory
    ``output`` (same file names). With ``explain``, each output file ``X`` gets ``X.explain.jsonl``."""
    input, output = Path(input), Path(output)
    if input.is_dir():
        if output.exists() and not output.is_dir():
            raise CcreError(f"{input} is a directory, so the output {output} must be a directory too")
        if output.resolve() == input.resolve():
            raise CcreError("the output directory must not be the input directory (inputs would be overwritten)")
        files = input_files(input, fmt)
        if not files:
            raise CcreError(f"{input} holds no file to annotate (.pubtator, .txt, .xml or .json)")
        pairs = [(f, output / f.name) for f in files]
        output.mkdir(parents=True, exist_ok=True)
    else:
        if output.is_dir():
            raise CcreError(f"{output} is a directory; name the output file")
        pairs = [(input, output)]
    total = StreamSummary()
    with progress_bar(show_progress) as progress:
        for src, dst in pairs:
            task = progress.add_task(f"predicting {src.name}", total=None)
            part = predict_file(
                predictor, src, dst, fmt, dialect=dialect, chunk_size=chunk_size, lenient=lenient, on_skip=on_skip,
                explain_output=f"{dst}.explain.jsonl" if explain else None,
                on_total=lambda n, task=task: progress.update(task, total=n),
                on_chunk=lambda n, task=task: progress.update(task, advance=n),
            )
            total.documents += part.documents
            total.relations += part.relations
            total.files.extend(part.files)
    return total


def _write_explanations(handle: IO[str], docs: list[Document], predictions: list[list[PredictedRelation]]) -> None:
    for record in explanations(docs, predictions):
        handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _maybe_open(path: str | os.PathLike[str] | None) -> AbstractContextManager[IO[str] | None]:
    """An atomically written text file, or nothing for ``None``."""
    return atomic_open(path) if path is not None else nullcontext()
