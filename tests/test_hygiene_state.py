"""Library calls leave process-wide state as they found it: no module of ``ccre`` outside the command line
(``ccre.cli``, which may set up its own process) configures logging, warnings filters, thread counts, the
environment or the C allocator for the whole process. (``ccre.training`` is checked by its own tests.)"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).parents[1] / "src" / "ccre"
EXEMPT_FOLDERS = ("cli", "training")

#: calls that change state every later call in the process sees
PROCESS_WIDE = {
    "basicConfig", "setLevel", "set_verbosity", "set_verbosity_error", "set_verbosity_warning", "set_verbosity_info",
    "disable_progress_bar", "enable_progress_bar", "filterwarnings", "simplefilter", "set_num_threads",
    "set_num_interop_threads", "use_deterministic_algorithms", "set_float32_matmul_precision", "putenv",
    "mallopt", "map_large_buffers", "setdefault", "update", "pop",
}
ENVIRON_METHODS = {"setdefault", "update", "pop"}

#: (module, function, call): a change made only when the caller asks for it, by name
ON_REQUEST = {
    ("utils/runtime.py", "map_large_buffers", "mallopt"),  # the switch itself (ccre predict turns it on)
    ("inference/streaming.py", "predict_file", "map_large_buffers"),  # only with map_buffers=True
}


def _name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _restores(function: ast.AST) -> set[str]:
    """What the ``finally`` blocks of ``function`` put back (``set_verbosity(saved)`` undoes every setter)."""
    names = {_name(n) for t in ast.walk(function) if isinstance(t, ast.Try)
             for block in t.finalbody for n in ast.walk(block) if isinstance(n, ast.Call)}
    undone = set()
    if "set_verbosity" in names:
        undone |= {n for n in PROCESS_WIDE if n.startswith("set_verbosity")}
    if "enable_progress_bar" in names:
        undone.add("disable_progress_bar")
    return undone


def _changes(source: str, module: str) -> list[str]:
    """Where ``source`` (the module ``module``) changes process-wide state, as ``module:line function: call``."""
    found = []

    def visit(node: ast.AST, function: ast.AST | None, guarded: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node
        if isinstance(node, ast.With) and any(isinstance(i.context_expr, ast.Call)
                                              and _name(i.context_expr) == "catch_warnings" for i in node.items):
            guarded = True
        where = getattr(function, "name", "<module>")
        if isinstance(node, ast.Call):
            name = _name(node)
            environ = isinstance(node.func, ast.Attribute) and _is_environ(node.func.value)
            if name in PROCESS_WIDE and (name not in ENVIRON_METHODS or environ):
                restored = name in (_restores(function) if function else set())
                warnings_guarded = guarded and name in ("filterwarnings", "simplefilter")
                if not restored and not warnings_guarded and (module, where, name) not in ON_REQUEST:
                    found.append(f"{module}:{node.lineno} {where}: {name}")
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.Delete)):
            targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
            if any(isinstance(t, ast.Subscript) and _is_environ(t.value) for t in targets):
                found.append(f"{module}:{node.lineno} {where}: os.environ[...] written")
        for field, value in ast.iter_fields(node):
            if isinstance(node, ast.Try) and field == "finalbody":
                continue  # a finally block puts back what its try changed
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    visit(child, function, guarded)

    visit(ast.parse(source), None, False)
    return found


def test_the_scan_finds_a_planted_change() -> None:
    source = ("import logging, os, warnings\n"
              "logging.basicConfig()\n"
              "def f():\n"
              "    os.environ['X'] = '1'\n"
              "    with warnings.catch_warnings():\n"
              "        warnings.simplefilter('ignore')\n"
              "    warnings.simplefilter('ignore')\n"
              "    os.environ.get('Y')\n")
    assert _changes(source, "m.py") == ["m.py:2 <module>: basicConfig", "m.py:4 f: os.environ[...] written",
                                        "m.py:7 f: simplefilter"]


def test_the_library_makes_no_process_wide_change() -> None:
    modules = [p for p in sorted(PACKAGE.rglob("*.py")) if p.relative_to(PACKAGE).parts[0] not in EXEMPT_FOLDERS]
    assert len(modules) > 30  # the package was found
    changes = [c for p in modules for c in _changes(p.read_text(encoding="utf-8"), p.relative_to(PACKAGE).as_posix())]
    assert changes == []


def test_an_encoder_loaded_for_probing_is_seeded_without_touching_the_callers_generators() -> None:
    """The untrained pair embedder of a probed encoder is the same for the same seed, and the global random
    generators are where the caller left them."""
    import random

    import numpy as np
    import torch

    from ccre.analysis.probe import load_for_embedding
    from ccre.data.labels import LabelSpace

    space = LabelSpace(("no-relation", "r"), directed=False, multi_label=False, novelty=False)
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(6)
    before = torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy()
    a = load_for_embedding("sentence-transformers/all-MiniLM-L6-v2", space, seed=7)
    assert torch.equal(torch.get_rng_state(), before[0]) and random.getstate() == before[1]
    assert (np.random.get_state()[1] == before[2]).all()
    b = load_for_embedding("sentence-transformers/all-MiniLM-L6-v2", space, seed=7)
    assert torch.equal(a.pair_embedder.hidden.weight, b.pair_embedder.hidden.weight)
