"""Kill a training run mid-way, resume it, and end exactly where an uninterrupted run ends (the weights and
no-relation cut-off kept by dev F1 included); the same seed and configuration give identical metrics."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from formats_helpers import tiny_biored_split
from safetensors.torch import load_file

from ccre.data.formats import read_documents

CONFIG = """
encoder: {max_length: 96, window_overlap: 24}
train: {epochs: 2, batch_size: 2, seed: 5}
data: {dataset: null, train_docs: null}
"""


def _ccre(*args: str) -> list[str]:
    return [sys.executable, "-m", "ccre", *args]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_biored_split(tmp_path_factory.mktemp("resume"), CONFIG)


def _train(files: dict[str, Path], out: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = _ccre("train", "--config", str(files["config"]), "--train", str(files["train"]), "--test",
                str(files["test"]), "--dev", str(files["test"]), "--output", str(out), "--no-progress", "--json",
                *extra)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def straight(files: dict[str, Path]) -> subprocess.CompletedProcess:
    """A run that was never interrupted."""
    run = _train(files, files["dir"] / "straight")
    assert run.returncode == 0, run.stderr
    assert not (files["dir"] / "straight" / "train_state.pt").exists()
    return run


def test_killed_run_resumes_to_the_same_state(files: dict[str, Path], straight: subprocess.CompletedProcess) -> None:
    out = files["dir"] / "killed"
    cmd = _ccre("train", "--config", str(files["config"]), "--train", str(files["train"]), "--test",
                str(files["test"]), "--dev", str(files["test"]), "--output", str(out), "--no-progress")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = out / "train_state.pt"
    deadline = time.time() + 300
    while not state.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    assert state.exists(), "the run never saved its state"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "heads.safetensors").exists(), "the run finished before it could be killed"

    refused = _train(files, out)  # an unfinished run is not silently overwritten
    assert refused.returncode == 1 and "--resume" in refused.stderr
    resumed = _train(files, out, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(straight.stdout)
    chosen = [{k: v for k, v in json.loads((d / "run.json").read_text()).items() if k.startswith(("na_", "selected"))}
              for d in (files["dir"] / "straight", out)]
    assert chosen[0] == chosen[1] and {"na_threshold", "selected_step"} <= chosen[0].keys()
    a, b = load_file(files["dir"] / "straight" / "heads.safetensors"), load_file(out / "heads.safetensors")
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    ea = load_file(files["dir"] / "straight" / "encoder" / "model.safetensors")
    eb = load_file(out / "encoder" / "model.safetensors")
    assert all((ea[k] == eb[k]).all() for k in ea)


def test_same_seed_same_weights_and_metrics(files: dict[str, Path], straight: subprocess.CompletedProcess) -> None:
    again = _train(files, files["dir"] / "again")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(straight.stdout)
    a = load_file(files["dir"] / "straight" / "heads.safetensors")
    b = load_file(files["dir"] / "again" / "heads.safetensors")
    assert all((a[k] == b[k]).all() for k in a)


def test_nan_loss_stops_with_a_clear_message_and_keeps_the_last_epoch(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    from ccre.config import CcreConfig
    from ccre.errors import CcreError
    from ccre.objectives.cross_entropy import CrossEntropyObjective
    from ccre.training.finetune import STATE_FILE, train_model
    from ccre.training.loop import saved_step

    real = CrossEntropyObjective.loss
    calls = {"n": 0}

    def poisoned(self, h, targets, ids=None):
        calls["n"] += 1
        loss = real(self, h, targets, ids)
        return loss * float("nan") if calls["n"] == 3 else loss  # epoch 2 (2 steps per epoch)

    monkeypatch.setattr(CrossEntropyObjective, "loss", poisoned)
    config = CcreConfig.load(files["config"])
    with pytest.raises(CcreError, match="loss became nan at epoch 2, step 1"):
        train_model(config, read_documents(files["train"]), show_progress=False, state_dir=tmp_path)
    assert saved_step(tmp_path / STATE_FILE) == 2  # the state of the last good epoch (2 steps) is kept for --resume


def test_training_leaves_the_deterministic_setting_as_it_found_it(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``train_model`` runs with the config's deterministic kernels and puts the caller's setting (and its
    warn-only flag) back when it returns and when it raises."""
    import torch

    import ccre.training.finetune
    from ccre.config import CcreConfig
    from ccre.training.finetune import train_model

    def setting() -> tuple[bool, bool]:
        return torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()

    config = CcreConfig.load(files["config"]).with_overrides({"train.epochs": 1})
    docs = read_documents(files["train"])
    caller = setting()
    try:
        torch.use_deterministic_algorithms(False)
        train_model(config, docs, show_progress=False)
        assert setting() == (False, False)

        def fail(*args: object, **kwargs: object) -> None:
            assert setting() == (True, True)  # the run's own setting: deterministic, warnings only
            raise RuntimeError("stopped inside the training loop")

        monkeypatch.setattr(ccre.training.finetune, "batch_loss", fail)
        torch.use_deterministic_algorithms(True)
        with pytest.raises(RuntimeError, match="stopped inside"):
            train_model(config, docs, show_progress=False)
        assert setting() == (True, False)
    finally:
        torch.use_deterministic_algorithms(caller[0], warn_only=caller[1])
