"""Slow real-data checks (``pytest -m slow``): a committed benchmark figure is reproduced exactly by
rerunning its configuration on CPU (same seed, deterministic kernels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccre.config import CcreConfig
from ccre.experiment import train_and_evaluate

RESULTS = Path(__file__).parents[1] / "benchmarks" / "results" / "e2e.jsonl"


def _committed(dataset: str) -> dict:
    if not RESULTS.exists():
        pytest.skip(f"no committed results in {RESULTS}")
    lines = [json.loads(x) for x in RESULTS.read_text().splitlines() if x.strip()]
    matching = [r for r in lines if r["dataset"] == dataset and "no GPU" in r["machine"]]
    if not matching:
        pytest.skip(f"no committed CPU result for {dataset}")
    return matching[-1]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["biored", "redocred"])
def test_committed_e2e_figure_reproduces(dataset: str, tmp_path: Path) -> None:
    record = _committed(dataset)
    config = CcreConfig.parse(record["config"])
    outcome = train_and_evaluate(config, show_progress=False)
    assert outcome.metrics == record["metrics"]
