"""The library does not know this repository: no code of ``ccre`` (its docstrings aside) names a path of the
repository's own ``benchmarks/`` folder, so an installed ccre writes nothing there and treats no folder of the
user's tree specially; the study's own files are named by its grid (``benchmarks/study.yaml``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "ccre"


def _docstrings(tree: ast.AST) -> set[int]:
    """The string constants that stand alone as statements: module, class, function and attribute docstrings."""
    return {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}


def repository_paths(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every string in ``source``, docstrings aside, that names ``benchmarks/``."""
    tree = ast.parse(source)
    docs = _docstrings(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
            and "benchmarks/" in node.value]


def test_the_scan_finds_a_planted_path() -> None:
    source = '"""Measured by benchmarks/speed.py."""\nRESULTS = "benchmarks/results/x.jsonl"\n'
    assert repository_paths(source) == [(2, "benchmarks/results/x.jsonl")]


def test_no_library_code_names_the_repositorys_benchmarks_folder() -> None:
    found = [f"{path.relative_to(PACKAGE)}:{line}: {text!r}" for path in sorted(PACKAGE.rglob("*.py"))
             for line, text in repository_paths(path.read_text(encoding="utf-8"))]
    assert found == []
