"""Resuming: a run stopped after k steps and resumed ends with the parameters of a straight run; a NaN loss
stops with the last good checkpoint kept; the output directory is a ``ccre train --model`` encoder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))

from pretrain_helpers import tiny_corpus  # noqa: E402
from pretrain_run import TINY  # noqa: E402

from ccre.config import CcreConfig  # noqa: E402
from ccre.data.labels import LabelSpace  # noqa: E402
from ccre.errors import CcreError  # noqa: E402
from ccre.experiments.records import result_record  # noqa: E402
from ccre.experiments.run import method_name  # noqa: E402
from ccre.modeling.checkpoint import PARTS  # noqa: E402
from ccre.modeling.relation_model import RelationModel  # noqa: E402
from ccre.training.loop import STATE_FILE, saved_step  # noqa: E402
from ccre.training.pretraining.config import PretrainConfig  # noqa: E402
from ccre.training.pretraining.trainer import Pretrainer  # noqa: E402

CFG = PretrainConfig().with_overrides({**TINY, "max_steps": 3, "checkpoint_every": 10})  # dropout on: RNG state must resume


def _params(out: Path) -> dict[str, torch.Tensor]:
    return {**load_file(str(out / PARTS["encoder"] / "model.safetensors")),
            **{f"pair.{k}": v for k, v in load_file(str(out / PARTS["pair_embedder"])).items()}}


def test_stopped_and_resumed_equals_straight(tmp_path):
    straight = Pretrainer(CFG, tiny_corpus(), tmp_path / "a", cpu=True, show_progress=False).run()
    assert not (straight / STATE_FILE).exists()  # the finished model supersedes the training state
    Pretrainer(CFG, tiny_corpus(), tmp_path / "b", cpu=True, show_progress=False).run(stop_after=1)
    assert (tmp_path / "b" / STATE_FILE).exists() and not (tmp_path / "b" / PARTS["pair_embedder"]).exists()
    with pytest.raises(CcreError, match="--resume"):
        Pretrainer(CFG, tiny_corpus(), tmp_path / "b", cpu=True, show_progress=False).run()
    resumed = Pretrainer(CFG, tiny_corpus(), tmp_path / "b", cpu=True, show_progress=False).run(resume=True)
    a, b = _params(straight), _params(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = (tmp_path / "b" / "losses.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows] == ["step", "1", "2", "3"]
    assert rows == (tmp_path / "a" / "losses.csv").read_text().splitlines()[:1] + rows[1:]

    # the output is an encoder for finetuning: pair embedder loaded, method named mtb+ce
    cfg = CcreConfig().with_overrides({"encoder.name": str(straight)})
    model = RelationModel.create(cfg, LabelSpace(labels=("NA", "Association"), directed=False, multi_label=False, novelty=False))
    saved = load_file(str(straight / PARTS["pair_embedder"]))
    assert torch.equal(model.pair_embedder.hidden.weight, saved["hidden.weight"])
    assert method_name(cfg) == "mtb+ce"
    # ... unless asked for a fresh one (probing the pretrained encoder alone), which keeps the encoder
    space = model.space
    fresh = RelationModel.create(cfg, space, pretrained_pair_embedder=False)
    assert not torch.equal(fresh.pair_embedder.hidden.weight, saved["hidden.weight"])
    for (name, p), (_, q) in zip(model.encoder.named_parameters(), fresh.encoder.named_parameters()):
        assert name.startswith("pooler.") or torch.equal(p, q), name  # the pooler is unused and not saved

    # result lines on it say which pretraining run the directory held; lines on a plain encoder do not
    info = json.loads((straight / PARTS["run"]).read_text())
    line = result_record(dataset="d", train_docs=1, method="mtb+ce", encoder=str(straight), seed=1, metrics={},
                         wall_s=0.0, config={})
    assert line["pretrained"] == {"commit": info["commit"], "date": info["date"], "steps": 3, "precision": "fp32"}
    assert "pretrained" not in result_record(dataset="d", train_docs=1, method="plm+ce", encoder=str(tmp_path),
                                             seed=1, metrics={}, wall_s=0.0, config={})


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    import ccre.training.pretraining.trainer as trainer

    real = trainer.mtb_loss
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(trainer, "mtb_loss", flaky)
    cfg = PretrainConfig().with_overrides({**TINY, "max_steps": 3, "checkpoint_every": 1, "mlm_weight": 0.0})
    with pytest.raises(CcreError, match=r"step 3 .*last good checkpoint \(step 2\)"):
        Pretrainer(cfg, tiny_corpus(), tmp_path, cpu=True, show_progress=False).run()
    assert saved_step(tmp_path / STATE_FILE) == 2


def test_killed_process_resumes_to_the_same_parameters(tmp_path):
    """SIGKILL a pretraining process after its first checkpoints, resume it, compare with a straight run."""
    import os
    import signal
    import subprocess
    import time

    script = [sys.executable, str(Path(__file__).parent / "pretrain_run.py")]
    straight = subprocess.run([*script, str(tmp_path / "a"), "--steps", "8"], capture_output=True, text=True, timeout=600)
    assert straight.returncode == 0, straight.stderr
    proc = subprocess.Popen([*script, str(tmp_path / "b"), "--steps", "8"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / "b" / STATE_FILE
    deadline = time.time() + 300
    while proc.poll() is None and time.time() < deadline and saved_step(state) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "b" / PARTS["pair_embedder"]).exists(), "the run finished before it could be killed"
    resumed = subprocess.run([*script, str(tmp_path / "b"), "--steps", "8", "--resume"], capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    a, b = _params(tmp_path / "a"), _params(tmp_path / "b")
    for k in a:
        assert torch.equal(a[k], b[k]), k
