#!/usr/bin/env bash
# The end-to-end baseline figures (issue: "End to end"): PLM+CE on 20 BioRED and 31 Re-DocRED training
# documents, evaluated on the test splits; each run appends one JSON line to benchmarks/results/e2e.jsonl,
# then the markdown table benchmarks/e2e.md is rebuilt from that file.
# Usage: benchmarks/e2e.sh [biored] [redocred]   (default: both)
set -euo pipefail
cd "$(dirname "$0")/.."
CCRE=${CCRE:-.venv/bin/ccre}
mkdir -p runs
for what in "${@:-biored redocred}"; do
  for ds in $what; do
    case $ds in
      biored)   $CCRE train --dataset biored --train-docs 20 --output runs/e2e-biored-20 \
                  --results benchmarks/results/e2e.jsonl --no-progress ;;
      redocred) $CCRE train --dataset redocred --train-docs 31 --output runs/e2e-redocred-31 \
                  --results benchmarks/results/e2e.jsonl --no-progress ;;
      *) echo "unknown data set $ds" >&2; exit 2 ;;
    esac
  done
done
.venv/bin/python benchmarks/table.py benchmarks/results/e2e.jsonl > benchmarks/e2e.md
