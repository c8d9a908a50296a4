"""Finetuning on two CPU processes (``torchrun --nproc_per_node 2``, gloo) ends with the weights
of one process taking the same batches: each process embeds its share of a batch, the pair embeddings are
gathered with gradients and the loss is that of the whole batch. The last batch holds one document, so one
process has an empty share (the stand-in path)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from formats_helpers import tiny_biored_split
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

from ccre.config import DEFAULT_ENCODER
from ccre.modeling.encoder import resolve_encoder_path

CONFIG = """
encoder: {name: ENCODER, max_length: 96, window_overlap: 24, dropout: 0.0}
train: {epochs: 2, batch_size: 2, seed: 5}
data: {dataset: null, train_docs: null}
"""
# torchrun starts the processes (`accelerate launch --cpu` starts only one without MPI); ccre joins them
# through accelerate's PartialState, as under `accelerate launch --multi_gpu` on GPUs
LAUNCH = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29519", "-m"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("ddp")
    # the default encoder without dropout (each process draws its own masks, so runs with dropout differ)
    encoder_dir = tmp / "encoder-no-dropout"
    path = resolve_encoder_path(DEFAULT_ENCODER)
    encoder = AutoModel.from_pretrained(path, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    encoder.save_pretrained(encoder_dir)
    AutoTokenizer.from_pretrained(path).save_pretrained(encoder_dir)
    return tiny_biored_split(tmp, CONFIG.replace("ENCODER", str(encoder_dir)))


def _train(files: dict[str, Path], launcher: list[str], out: Path, objective: str) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    cmd = launcher + ["ccre", "train", "--config", str(files["config"]), "--train", str(files["train"]), "--test",
                      str(files["test"]), "--objective", objective, "--output", str(out), "--no-progress", "--json",
                      "--device", "cpu"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)  # printed once: only the main process evaluates and reports


@pytest.mark.parametrize("objective", ["ce", "mccl"])
def test_two_processes_match_one(files: dict[str, Path], objective: str) -> None:
    one = _train(files, [sys.executable, "-m"], files["dir"] / f"one-{objective}", objective)
    two = _train(files, LAUNCH, files["dir"] / f"two-{objective}", objective)
    for part in ("heads.safetensors", "pair_embedder.safetensors", "encoder/model.safetensors"):
        a, b = load_file(files["dir"] / f"one-{objective}" / part), load_file(files["dir"] / f"two-{objective}" / part)
        assert a.keys() == b.keys()
        moved = max((a[k] - b[k]).abs().max().item() for k in a)
        assert moved < 1e-4, f"{part}: weights differ by {moved}"
    assert one["type"]["f1"] == pytest.approx(two["type"]["f1"], abs=1e-6)
    assert not (files["dir"] / f"two-{objective}" / "train_state.pt").exists()
