"""The study's own code (not part of the library): the paper's claims checked against the benchmark results
(:mod:`ccre_study.claims`), the report (:mod:`ccre_study.report`), rescoring kept checkpoints
(:mod:`ccre_study.rescore`) and the speed benchmark (:mod:`ccre_study.speed`). The scripts in ``benchmarks/`` are
thin wrappers around these modules."""

from pathlib import Path

#: the repository's root and its ``benchmarks/`` folder (ccre is installed editable from ``src/``)
REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = REPO / "benchmarks"
