"""Config files: YAML/JSON reading with errors that name the file, and dotted overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccre.config import CcreConfig, read_mapping
from ccre.errors import ConfigError
from ccre.experiments.grid import Grid


def test_read_mapping_yaml_json_and_empty(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("train:\n  epochs: 3\n")
    (tmp_path / "b.json").write_text('{"train": {"epochs": 4}}')
    (tmp_path / "empty.yaml").write_text("")
    assert read_mapping(tmp_path / "a.yaml", "config") == {"train": {"epochs": 3}}
    assert read_mapping(tmp_path / "b.json", "config") == {"train": {"epochs": 4}}
    assert read_mapping(tmp_path / "empty.yaml", "config") == {}
    assert CcreConfig.load(tmp_path / "a.yaml").train.epochs == 3


@pytest.mark.parametrize("name, text, message", [
    ("bad.yaml", "train: [1, 2\n", "not valid YAML"),
    ("bad.json", '{"train": ', "not valid JSON"),
    ("list.yaml", "- 1\n- 2\n", "a config is a mapping of field names to values, not list"),
])
def test_read_mapping_errors_name_the_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        CcreConfig.load(path)
    assert str(path) in str(info.value)


def test_missing_files_and_grids(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read grid"):
        Grid.load(tmp_path / "missing.yaml")
    (tmp_path / "grid.yaml").write_text("42\n")
    with pytest.raises(ConfigError, match="a grid is a mapping"):
        Grid.load(tmp_path / "grid.yaml")


def test_overrides_validate_and_name_unknown_fields() -> None:
    cfg = CcreConfig().with_overrides({"objective.mccl_pool": "sum", "objective.tau2": 0.05})
    assert (cfg.objective.mccl_pool, cfg.objective.tau2) == ("sum", 0.05)
    with pytest.raises(ConfigError, match="unknown config field 'train.nope'"):
        CcreConfig().with_overrides({"train.nope": 1})
    with pytest.raises(ConfigError):
        CcreConfig().with_overrides({"objective.mccl_pool": "max"})
