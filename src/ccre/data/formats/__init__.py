"""Reading, validating and writing the corpus formats ccre supports, all through :class:`ccre.data.documents.Document`.

Formats: ``pubtator`` (BioRED, CDR, CHR, NCBI disease, PubTator3), ``bioc-xml`` and ``bioc-json`` (BioRED's
BioC layout, PubTator3's exports) and ``docred`` (DocRED / Re-DocRED JSON). How PubTator and BioC ID columns
name concepts is a ``dialect`` (:mod:`ccre.data.formats.ids`), read from the file unless named. Every problem in an input file is a :class:`ccre.errors.FormatError`
that names the file, the line or JSON path, the document and what is wrong.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

from ccre.data.documents import Document
from ccre.data.formats import bioc, docred, pubtator
from ccre.data.formats._io import read_text
from ccre.data.formats.ids import DIALECTS, dialect_named
from ccre.data.formats.validate import (
    Parsed,
    collect_documents,
    collect_errors,
    valid_documents,
)
from ccre.errors import FormatError

FORMATS = ("pubtator", "bioc-xml", "bioc-json", "docred")

_PARSERS: dict[str, Callable[..., Iterator[Parsed]]] = {
    "pubtator": pubtator.parse,
    "bioc-xml": bioc.parse_xml,
    "bioc-json": bioc.parse_json,
    "docred": docred.parse,
}
_WRITERS: dict[str, Callable[[Iterable[Document], str | os.PathLike[str]], None]] = {
    "pubtator": pubtator.write,
    "bioc-xml": bioc.write_xml,
    "bioc-json": bioc.write_json,
    "docred": docred.write,
}

__all__ = ["DIALECTS", "FORMATS", "STREAMED_FORMATS", "convert", "detect_format", "output_format", "iter_documents", "read_documents", "validate_file", "write_documents"]

STREAMED_FORMATS = ("pubtator",)
"""Formats read incrementally by :func:`iter_documents` (the JSON and XML formats are parsed whole)."""


def detect_format(path: str | os.PathLike[str]) -> str:
    """The format of ``path``: by extension, and for ``.json`` by content (a list: DocRED; a BioC collection or
    PubTator3's ``biocjson`` export)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".pubtator", ".txt"):
        return "pubtator"
    if suffix == ".xml":
        return "bioc-xml"
    if suffix == ".json":
        text = read_text(path)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(f"not valid JSON: {e.msg}", path=str(path), line=e.lineno) from None
        if isinstance(data, list) and all(isinstance(d, dict) and "vertexSet" in d for d in data[:1]):
            return "docred"
        if isinstance(data, dict) and ("documents" in data or bioc.PUBTATOR3 in data):
            return "bioc-json"
        raise FormatError("JSON that is neither DocRED (a list of documents) nor a BioC collection", path=str(path))
    raise FormatError(f"cannot tell the format from the extension '{suffix}'; name it", path=str(path))


def output_format(path: str | os.PathLike[str]) -> str:
    """The format a file about to be written at ``path`` takes from its extension; ``.json`` could be BioC
    JSON or DocRED, so it must be named."""
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        raise FormatError("a .json file can be BioC JSON or DocRED JSON; name it with --to bioc-json or --to docred",
                          path=str(path))
    return detect_format(path)


def _parser(path: str | os.PathLike[str], fmt: str | None,
            dialect: str | None = None) -> Callable[[str | os.PathLike[str]], Iterator[Parsed]]:
    """The parser of ``fmt`` (detected when None), set to ``dialect`` where the format has ID dialects."""
    fmt = fmt or detect_format(path)
    if fmt not in _PARSERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    named = dialect_named(dialect)
    return _PARSERS[fmt] if fmt == "docred" else partial(_PARSERS[fmt], dialect=named)


def read_documents(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    dialect: str | None = None,
    lenient: bool = False,
    on_skip: Callable[[FormatError], None] | None = None,
) -> list[Document]:
    """Read every document of ``path``.

    Strict (default): raise the first FormatError. Lenient: skip each bad document, call ``on_skip`` with
    its first problem, and return the rest; a problem that makes the whole file unreadable is still raised.
    ``dialect`` (one of :data:`DIALECTS`) says how PubTator/BioC ID columns name concepts; default: read
    from the file.
    """
    return collect_documents(_parser(path, fmt, dialect)(path), lenient=lenient, on_skip=on_skip)


def iter_documents(
    path: str | os.PathLike[str],
    fmt: str | None = None,
    *,
    dialect: str | None = None,
    lenient: bool = False,
    on_skip: Callable[[FormatError], None] | None = None,
) -> Iterator[Document]:
    """The documents of ``path`` one at a time, with :func:`read_documents`' strict/lenient handling.

    PubTator is read line by line, so memory stays flat however large the file; BioC and DocRED files
    are parsed whole first (the documents are then handed out one by one).
    """
    yield from valid_documents(_parser(path, fmt, dialect)(path), lenient=lenient, on_skip=on_skip)


def validate_file(path: str | os.PathLike[str], fmt: str | None = None,
                  dialect: str | None = None) -> list[FormatError]:
    """Every problem of ``path`` in one pass (empty when the file is valid)."""
    try:
        parse = _parser(path, fmt, dialect)
    except FormatError as e:
        return [e]
    return collect_errors(parse(path))


def write_documents(docs: Iterable[Document], path: str | os.PathLike[str], fmt: str) -> None:
    """Write ``docs`` to ``path`` in ``fmt``, atomically (a temporary file in the same folder, then rename)."""
    if fmt not in _WRITERS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    _WRITERS[fmt](docs, path)


def convert(
    source: str | os.PathLike[str],
    target: str | os.PathLike[str],
    source_fmt: str | None = None,
    target_fmt: str | None = None,
    *,
    dialect: str | None = None,
    lenient: bool = False,
    on_skip: Callable[[FormatError], None] | None = None,
) -> int:
    """Read ``source`` and write its documents to ``target`` (formats named or detected; ``dialect`` as in
    :func:`read_documents`); returns how many documents were written. Nothing is written when reading fails
    (strict), and the target is replaced atomically."""
    target_fmt = target_fmt or output_format(target)
    docs = read_documents(source, source_fmt, dialect=dialect, lenient=lenient, on_skip=on_skip)
    write_documents(docs, target, target_fmt)
    return len(docs)
