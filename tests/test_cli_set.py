"""``--set section.field=value`` on every command that takes a config: it reaches the config it names and is
refused, with the field named, where it does not apply (no training happens in these tests)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccre.cli import app
from ccre.config import CcreConfig, parse_assignments
from ccre.errors import ConfigError


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_assignments_are_yaml_scalars_and_reach_their_section() -> None:
    overrides = parse_assignments(["train.lr=3e-5", "encoder.typed_markers=true", "objective.name=mccl"])
    assert overrides["encoder.typed_markers"] is True and overrides["objective.name"] == "mccl"
    cfg = CcreConfig().with_overrides(overrides)
    assert (cfg.train.lr, cfg.encoder.typed_markers, cfg.objective.name) == (3e-5, True, "mccl")
    assert cfg.model.objective.name == "mccl" and not hasattr(cfg.model, "train")
    with pytest.raises(ConfigError, match="takes KEY=VALUE"):
        parse_assignments(["train.lr"])


def test_train_refuses_an_unknown_field_by_name() -> None:
    result = run("train", "--set", "train.nope=1")
    assert result.exit_code == 1 and "unknown config field 'train.nope'" in result.output


def test_probe_takes_encoder_fields_only() -> None:
    result = run("probe", "--set", "train.lr=1")
    assert result.exit_code == 1 and "encoder.* fields only" in result.output


def test_pretrain_validates_its_fields(tmp_path: Path) -> None:
    result = run("pretrain", "-o", str(tmp_path / "p"), "--set", "max_steps=0")
    assert result.exit_code == 1 and "max_steps" in result.output
    assert not (tmp_path / "p").exists()


def test_predict_takes_scoring_fields_only(tmp_path: Path) -> None:
    from ccre.modeling.checkpoint import PARTS, write_model_folder

    config = CcreConfig().with_overrides({"objective.name": "mccl"}).model
    write_model_folder(tmp_path / "m", "relation-model", lambda folder: config.save(folder / PARTS["config"]))
    result = run("predict", "--model", str(tmp_path / "m"), "-i", "x.pubtator", "-o", str(tmp_path / "o"),
                 "--set", "train.lr=1")
    assert result.exit_code == 1 and "not an inference setting: train.lr" in result.output
