"""Data directory resolution, split lookup, offline archive installation with checksums, subsets."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
from formats_helpers import data_file

from ccre.data.datasets import (
    DATASETS,
    KNOWN_SHA256,
    download,
    file_sha256,
    install_archive,
    resolve_data_dir,
    sample_documents,
    split_path,
)
from ccre.errors import ConfigError

FAKE = {
    "Train.PubTator": b"1|t|train title\n1|a|train abstract\n\n",
    "Dev.PubTator": b"2|t|dev title\n2|a|dev abstract\n\n",
    "Test.PubTator": b"3|t|test title\n3|a|test abstract\n\n",
}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_biored_zip(path: Path) -> Path:
    """A zip shaped like a release: split files in nested folders, plus files that must be skipped."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("BioRED/Train.PubTator", FAKE["Train.PubTator"])
        z.writestr("BioRED/sub/dir/Dev.PubTator", FAKE["Dev.PubTator"])
        z.writestr("Test.PubTator", FAKE["Test.PubTator"])
        z.writestr("BioRED/Train.BioC.XML", b"<collection/>")
        z.writestr("__MACOSX/BioRED/._Train.PubTator", b"junk")
    return path


def fake_checksums() -> dict[str, str]:
    return {f"biored/{name}": sha(data) for name, data in FAKE.items()}


# ------------------------------------------------------------------------------------------- locating


def test_resolve_data_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "project"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("CCRE_DATA_DIR", raising=False)
    with pytest.raises(ConfigError, match="CCRE_DATA_DIR") as info:
        resolve_data_dir()
    assert "ccre data download" in str(info.value) and "--data-dir" in str(info.value)

    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert resolve_data_dir() == Path("../shared/data")
    (work / "data").mkdir()
    assert resolve_data_dir() == Path("data")
    monkeypatch.setenv("CCRE_DATA_DIR", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    assert resolve_data_dir(str(tmp_path / "explicit")) == tmp_path / "explicit"


def test_split_path(tmp_path: Path) -> None:
    (tmp_path / "biored").mkdir()
    (tmp_path / "biored" / "Train.PubTator").write_bytes(FAKE["Train.PubTator"])
    assert split_path("biored", "train", tmp_path) == tmp_path / "biored" / "Train.PubTator"
    with pytest.raises(ConfigError, match=r"Dev\.PubTator.*ccre data download biored"):
        split_path("biored", "dev", tmp_path)
    with pytest.raises(ConfigError, match="train_revised|dev_revised"):
        split_path("redocred", "train", tmp_path)
    with pytest.raises(ConfigError, match="not downloadable"):
        split_path("pretrain", "chr_dev_chemicals", tmp_path)
    with pytest.raises(ConfigError, match="unknown dataset"):
        split_path("docred", "train", tmp_path)
    with pytest.raises(ConfigError, match="no split 'valid'"):
        split_path("biored", "valid", tmp_path)


def test_registry_layout() -> None:
    assert DATASETS["biored"] == {
        "train": "biored/Train.PubTator",
        "dev": "biored/Dev.PubTator",
        "test": "biored/Test.PubTator",
    }
    assert DATASETS["redocred"]["train"] == "redocred/dev_revised.json"
    assert DATASETS["redocred"]["test"] == "redocred/test_revised.json"
    assert DATASETS["redocred"]["rel_info"] == "redocred/rel_info.json"
    assert set(DATASETS["pretrain"].values()) == {
        "pretrain/bc8_biored_unlabeled.pubtator",
        "pretrain/chr_dev_chemicals.pubtator",
    }


def test_known_checksums_match_reference_list() -> None:
    sums = data_file("SHA256SUMS")
    listed = dict(reversed(line.split()) for line in sums.read_text().splitlines() if line.strip())
    assert listed == KNOWN_SHA256


# ------------------------------------------------------------------------------------------ installing


def test_file_sha256_streams(tmp_path: Path) -> None:
    data = bytes(range(256)) * 5000
    (tmp_path / "f").write_bytes(data)
    assert file_sha256(tmp_path / "f", chunk_size=1000) == sha(data)


def test_install_archive_layout(tmp_path: Path) -> None:
    archive = fake_biored_zip(tmp_path / "BIORED.zip")
    data_dir = tmp_path / "data"
    checksums = fake_checksums()
    checksums.pop("biored/Test.PubTator")  # an unlisted file is installed but reported unverified
    installed = install_archive(archive, "biored", data_dir, checksums)

    for name, data in FAKE.items():
        assert (data_dir / "biored" / name).read_bytes() == data
    assert sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*")) == [
        "biored",
        "biored/Dev.PubTator",
        "biored/Test.PubTator",
        "biored/Train.PubTator",
    ]
    report = {f.path.name: (f.sha256, f.verified) for f in installed}
    assert report == {
        "Train.PubTator": (sha(FAKE["Train.PubTator"]), True),
        "Dev.PubTator": (sha(FAKE["Dev.PubTator"]), True),
        "Test.PubTator": (sha(FAKE["Test.PubTator"]), False),
    }


def test_install_archive_wrong_checksum_writes_nothing(tmp_path: Path) -> None:
    archive = fake_biored_zip(tmp_path / "BIORED.zip")
    data_dir = tmp_path / "data"
    checksums = fake_checksums()
    checksums["biored/Test.PubTator"] = "0" * 64
    with pytest.raises(ConfigError) as info:
        install_archive(archive, "biored", data_dir, checksums)
    message = str(info.value)
    assert "biored/Test.PubTator" in message and "0" * 64 in message and sha(FAKE["Test.PubTator"]) in message
    assert [p for p in data_dir.rglob("*")] == []


def test_install_archive_default_checksums_reject_fake_files(tmp_path: Path) -> None:
    archive = fake_biored_zip(tmp_path / "BIORED.zip")
    with pytest.raises(ConfigError, match=KNOWN_SHA256["biored/Train.PubTator"]):
        install_archive(archive, "biored", tmp_path / "data")
    assert list((tmp_path / "data").rglob("*")) == []


def test_install_archive_missing_member_and_bad_zip(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "partial.zip", "w") as z:
        z.writestr("x/Train.PubTator", FAKE["Train.PubTator"])
    with pytest.raises(ConfigError, match="no member named Dev.PubTator"):
        install_archive(tmp_path / "partial.zip", "biored", tmp_path / "data", {})
    (tmp_path / "not.zip").write_bytes(b"plain text")
    with pytest.raises(ConfigError, match="zip"):
        install_archive(tmp_path / "not.zip", "biored", tmp_path / "data", {})


def test_download_from_file_url(tmp_path: Path) -> None:
    archive = fake_biored_zip(tmp_path / "BIORED.zip")
    data_dir = tmp_path / "data"
    installed = download("biored", data_dir, url=archive.as_uri(), checksums=fake_checksums(), progress=False)
    assert all(f.verified for f in installed)
    assert sorted(p.name for p in data_dir.rglob("*")) == ["Dev.PubTator", "Test.PubTator", "Train.PubTator", "biored"]


def test_download_loose_files_from_mirror(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    names = ["train_revised.json", "dev_revised.json", "test_revised.json", "rel_info.json"]
    for name in names:
        (mirror / name).write_text(f'["{name}"]')
    data_dir = tmp_path / "data"
    installed = download("redocred", data_dir, url=mirror.as_uri(), checksums={}, progress=False)
    assert {f.path.name for f in installed} == set(names)
    assert not any(f.verified for f in installed)
    assert split_path("redocred", "rel_info", data_dir).read_text() == '["rel_info.json"]'
    assert [p.name for p in data_dir.iterdir()] == ["redocred"]  # no staging folder left behind


def test_download_failures(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="could not download"):
        download("biored", tmp_path / "data", url=(tmp_path / "absent.zip").as_uri(), progress=False)
    assert list((tmp_path / "data").iterdir()) == []
    with pytest.raises(ConfigError, match="not downloadable"):
        download("pretrain", tmp_path / "data", progress=False)


# ----------------------------------------------------------------------------------------- subsets


def test_sample_fractions_of_biored_train() -> None:
    docs = list(range(400))
    assert [len(sample_documents(docs, fraction=f)) for f in (0.01, 0.05, 0.1, 1.0)] == [4, 20, 40, 400]


def test_sample_nested_ordered_deterministic() -> None:
    docs = [f"doc{i}" for i in range(400)]
    small, mid, large = (sample_documents(docs, n=k, seed=3) for k in (4, 20, 40))
    assert set(small) <= set(mid) <= set(large)
    assert large == sorted(large, key=docs.index)  # original document order
    assert sample_documents(docs, n=20, seed=3) == mid
    assert sample_documents(docs, fraction=0.05, seed=3) == mid
    assert sample_documents(docs, n=20, seed=4) != mid
    assert sample_documents(docs, n=400) == docs


def test_sample_rejects_bad_sizes() -> None:
    docs = list(range(10))
    with pytest.raises(ValueError, match="exactly one"):
        sample_documents(docs)
    with pytest.raises(ValueError, match="exactly one"):
        sample_documents(docs, n=2, fraction=0.2)
    with pytest.raises(ValueError, match="cannot sample 11 documents from 10"):
        sample_documents(docs, n=11)
    with pytest.raises(ValueError, match="cannot sample 0"):
        sample_documents(docs, n=0)
    with pytest.raises(ValueError, match="cannot sample 0"):
        sample_documents(docs, fraction=0.01)
    with pytest.raises(ValueError, match="fraction"):
        sample_documents(docs, fraction=1.5)
