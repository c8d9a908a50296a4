"""File plumbing shared by the format modules: atomic writes and located decoding of UTF-8."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ccre.errors import FormatError

BOM = b"\xef\xbb\xbf"


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` through a temporary file in the same folder and ``os.replace``.

    A crash or a full disk mid-write leaves any previous file at ``path`` intact, never a truncated one.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fp:
            fp.write(text)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
