"""Print the result line of a finished ``ccre pretrain`` run (its wall time measured by the caller).

Usage: python benchmarks/record_pretrain.py OUTPUT_DIR WALL_SECONDS >> benchmarks/results/pretrain.jsonl
The metrics are the mean of each loss term over the first and the last 50 logged steps; the commit is the one
the run was made at (from its run record), ``pretrained_at`` when it finished.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

from ccre.experiments.records import result_record
from ccre.modeling.checkpoint import pretraining_record


def main(output: Path, wall_s: float) -> None:
    info = pretraining_record(output)
    if info is None:
        raise SystemExit(f"{output} is not a finished ccre pretrain output")
    with open(output / "losses.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    terms = [t for t in rows[0] if t not in ("step", "epoch", "lr", "seconds")]
    metrics = {
        f"{t}_{part}": round(sum(float(r[t]) for r in chunk) / len(chunk), 4)
        for t in terms
        for part, chunk in (("first50", rows[:50]), ("last50", rows[-50:]))
    }
    metrics["steps"] = info["steps"]
    metrics["s_per_step"] = round(sum(float(r["seconds"]) for r in rows) / len(rows), 2)
    record = result_record(
        dataset="pretrain (default inputs)", train_docs=info["corpus"]["documents"], method="pretrain",
        encoder=info["config"]["encoder"]["name"], seed=info["config"]["seed"], metrics=metrics, wall_s=wall_s,
        config=info["config"], corpus=info["corpus"], commit=info.get("commit"), pretrained_at=info.get("date"),
    )
    print(json.dumps(record, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]), float(sys.argv[2]))
