"""The study report's floor table: each trained method beside the no-text prior of its data set and size."""

from __future__ import annotations

from ccre.experiments.records import result_record
from ccre.experiments.report import aggregate
from ccre_study.report import floor_table


def _line(method: str, seed: int, f1: float, docs: int = 4) -> dict:
    level = {"p": f1, "r": f1, "f1": f1}
    return result_record(dataset="biored", train_docs=docs, method=method, encoder="e", seed=seed,
                         metrics={"pair": level, "type": level, "novelty": level}, wall_s=1.0, config={}, commit="c")


def test_margin_over_the_prior_by_hand() -> None:
    # prior 0.20 / 0.30 (mean 25.00), plm+ce 0.28 / 0.32 (mean 30.00): +5.00; a size without a prior has no row
    lines = [_line("prior", 1, 0.20), _line("prior", 2, 0.30), _line("plm+ce", 1, 0.28), _line("plm+ce", 2, 0.32),
             _line("plm+ce", 1, 0.5, docs=20)]
    table = floor_table(aggregate(lines))
    rows = [r for r in table.splitlines() if r.startswith("| biored")]
    assert rows == ["| biored | 4 | plm+ce | 30.00 ± 2.83 | 25.00 ± 7.07 | +5.00 | 2 |"]
