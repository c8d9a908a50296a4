"""Errors that name where bad input is: file, line (or JSON path), document and what is wrong."""

from __future__ import annotations


class CcreError(Exception):
    """Base class of every error ccre raises on purpose (the CLI prints these without a traceback)."""


class FormatError(CcreError):
    """A problem in an input file, located as precisely as the format allows.

    Attributes:
        path: the file (``None`` for in-memory input).
        line: 1-based line number for line formats, or ``None``.
        doc_id: the document the problem belongs to, when known.
        location: a JSON path such as ``[3].vertexSet[2][0].pos`` for JSON formats, or ``None``.
        reason: what is wrong, in words.
    """

    def __init__(
        self,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
        doc_id: str | None = None,
        location: str | None = None,
    ) -> None:
        self.reason = reason
        self.path = path
        self.line = line
        self.doc_id = doc_id
        self.location = location
        super().__init__(self.describe())

    def describe(self) -> str:
        where = []
        if self.path is not None:
            where.append(str(self.path) + (f":{self.line}" if self.line is not None else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.location:
            where.append(self.location)
        if self.doc_id is not None:
            where.append(f"document {self.doc_id}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class ConfigError(CcreError):
    """An invalid configuration, option combination or missing resource."""
