"""Slow real-data checks (``pytest -m slow``): a committed benchmark figure is reproduced exactly by
rerunning its configuration on CPU (same seed, deterministic kernels)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccre.config import CcreConfig
from ccre.experiments.run import train_and_evaluate

RESULTS = Path(__file__).parents[1] / "benchmarks" / "results" / "e2e.jsonl"


def _complete(config: dict) -> bool:
    """Whether a recorded config names every field of today's config (a line from before a field existed ran
    with that field's old behaviour, which today's default may not be)."""
    today = CcreConfig().model_dump()
    return all(set(today[section]) <= set(config.get(section, {})) for section in today)


def _committed(dataset: str) -> dict:
    if not RESULTS.exists():
        pytest.skip(f"no committed results in {RESULTS}")
    lines = [json.loads(x) for x in RESULTS.read_text().splitlines() if x.strip()]
    matching = [r for r in lines if r["dataset"] == dataset and "no GPU" in r["machine"] and _complete(r["config"])]
    if not matching:
        pytest.skip(f"no committed CPU result for {dataset} with today's config fields")
    return matching[-1]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["biored", "redocred"])
def test_committed_e2e_figure_reproduces(dataset: str, tmp_path: Path) -> None:
    record = _committed(dataset)
    config = CcreConfig.parse(record["config"])
    outcome = train_and_evaluate(config, show_progress=False)
    assert outcome.metrics == record["metrics"]


@pytest.mark.slow
def test_committed_bench_cell_reproduces(tmp_path: Path) -> None:
    """The cheapest committed cell of the study under today's defaults (BioRED, 4 documents, PLM+CE, seed 1;
    ``benchmarks/study_dev.yaml``) run again by ``ccre bench`` into a fresh results file gives the same metrics."""
    from ccre.experiments.grid import Grid, expand, line_settings_hash
    from ccre.experiments.records import read_results
    from ccre.experiments.runner import run_grid

    study = RESULTS.parent / "study_dev.jsonl"
    grid = Grid.parse({"dataset": "biored", "sizes": [4], "seeds": [1], "methods": ["plm+ce"]})
    (cell,) = expand(grid)
    key = cell.key("plm+ce")
    committed = [r for r in read_results(study) if r.get("bench_key") == key
                 and line_settings_hash(r) == cell.settings_hash] if study.exists() else []
    if not committed:
        pytest.skip(f"{key} under today's defaults is not in {study}")
    out = tmp_path / "again.jsonl"
    run_grid(grid, out, log=lambda _: None)
    again = read_results(out)
    assert [r["bench_key"] for r in again] == [key]
    assert again[0]["metrics"] == committed[-1]["metrics"]
