"""File plumbing shared by the format modules: atomic writes and located decoding of UTF-8."""

from __future__ import annotations

import os
from pathlib import Path

from ccre.errors import FormatError
from ccre.utils.io import atomic_write_text

BOM = b"\xef\xbb\xbf"


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 with ``\n`` line ends; a crash mid-write leaves any previous file intact."""
    atomic_write_text(path, text)


def read_text(path: str | os.PathLike[str]) -> str:
    """Read a whole UTF-8 file (a leading BOM dropped); invalid UTF-8 is a FormatError naming its line."""
    data = Path(path).read_bytes()
    if data.startswith(BOM):
        data = data[len(BOM):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise FormatError(f"invalid UTF-8 (byte {data[e.start]:#04x})", path=str(path), line=line) from None
