"""Two CPU processes (``torchrun --nproc_per_node 2``, gloo) give the losses of one process on
the same global batch: pair embeddings are gathered with gradients across processes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from ccre.modeling.checkpoint import PARTS

SCRIPT = Path(__file__).parent / "pretrain_run.py"


def _run(args: list[str], out: Path) -> list[dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(args + [str(SCRIPT), str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out / "losses.csv", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_two_processes_match_one(tmp_path):
    one = _run([sys.executable], tmp_path / "one")
    # torchrun starts two processes (`accelerate launch --cpu` without MPI starts only one)
    two = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517"],
               tmp_path / "two")
    assert len(one) == len(two) == 2
    assert float(one[0]["mtb"]) > 0  # positives were in the batch: the gather matters
    for a, b in zip(one, two):
        for term in ("total", "mtb", "self", "mlm"):
            assert float(a[term]) == pytest.approx(float(b[term]), rel=1e-4, abs=1e-5), term
    # the second step's losses already depend on the first update; the final pair embedders agree too
    s1, s2 = load_file(str(tmp_path / "one" / PARTS["pair_embedder"])), load_file(str(tmp_path / "two" / PARTS["pair_embedder"]))
    for k in s1:
        assert (s1[k] - s2[k]).abs().max().item() < 1e-4, k
