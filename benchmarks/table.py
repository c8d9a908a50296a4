"""Markdown table of result lines (``benchmarks/results/*.jsonl``): one row per line, newest last.

Usage: python benchmarks/table.py RESULTS.jsonl [...] > TABLE.md
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def row(r: dict) -> str:
    m = r["metrics"]
    if "type" in m:
        figures = " / ".join(pct(m[level]["f1"]) for level in ("pair", "type", "novelty"))
        kind = "F1 pair / pair+type / +novelty"
    else:
        figures = f"{pct(m['f1'])} / {pct(m['ign_f1'])}"
        kind = "F1 / Ign F1"
    return (
        f"| {r['dataset']} | {r['train_docs']} | {r['method']} | {r['seed']} | {kind} | {figures} | "
        f"{r['wall_s'] / 60:.1f} | {r['commit'][:10]} | {r['date'][:10]} | {r['machine']} | `{r['command']}` |"
    )


def main(paths: list[str]) -> None:
    print("| dataset | train docs | method | seed | metric | value (%) | wall (min) | commit | date | machine | command |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                print(row(json.loads(line)))


if __name__ == "__main__":
    main(sys.argv[1:])
