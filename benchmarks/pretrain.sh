#!/usr/bin/env bash
# Contrastive pretraining benchmark (issue "Contrastive pretraining"):
#  1. corpus statistics of the default inputs           -> benchmarks/pretrain_stats.json
#  2. the default CPU pretraining run (resumable)        -> runs/mtb, one JSON line in benchmarks/results/pretrain.jsonl
#  3. the loss curves                                    -> benchmarks/pretrain_losses.png
#  4. probe of the plain and the pretrained encoder on 20 BioRED training documents, BioRED test
#                                                        -> benchmarks/results/probe.jsonl
# Rerunning resumes an interrupted pretraining run. Extra arguments go to `ccre pretrain`.
set -euo pipefail
cd "$(dirname "$0")/.."
CCRE=${CCRE:-.venv/bin/ccre}
OUT=${PRETRAIN_OUT:-runs/mtb}
$CCRE pretrain-stats --json > benchmarks/pretrain_stats.json
resume=()
[[ -d $OUT/checkpoint ]] && resume=(--resume)
start=$(date +%s)
$CCRE pretrain -o "$OUT" --no-progress "${resume[@]}" "$@"
.venv/bin/python benchmarks/record_pretrain.py "$OUT" $(( $(date +%s) - start )) >> benchmarks/results/pretrain.jsonl
$CCRE plot losses "$OUT/losses.csv" -o benchmarks/pretrain_losses.png
for encoder in sentence-transformers/all-MiniLM-L6-v2 "$OUT"; do
  $CCRE probe --model "$encoder" --dataset biored --train-docs 20 --results benchmarks/results/probe.jsonl
done
