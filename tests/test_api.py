"""The public API: the README's Python example runs as written (on the real data), and every exported name
resolves."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from formats_helpers import data_file

import ccre

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert blocks, "README.md has no ```python block"
    return blocks[0]


def test_every_exported_name_resolves() -> None:
    for name in ccre.__all__:
        assert getattr(ccre, name) is not None
    with pytest.raises(AttributeError):
        ccre.no_such_name  # noqa: B018


def test_readme_example_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = data_file("biored/Train.PubTator").parents[1]
    code = readme_example().replace("../shared/data", str(data))
    cwd = os.getcwd()
    os.chdir(tmp_path)  # the example saves under runs/
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    assert (tmp_path / "runs" / "readme-model" / "ccre.json").is_file()
    f1 = float(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= f1 <= 1.0
