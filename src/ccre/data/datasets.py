"""Where the corpora live, how to fetch and verify them, and low-resource training subsets.

Corpora are never shipped with ccre. They sit in a data directory laid out as::

    biored/Train.PubTator  biored/Dev.PubTator  biored/Test.PubTator
    redocred/dev_revised.json  redocred/test_revised.json  redocred/rel_info.json
    pretrain/bc8_biored_unlabeled.pubtator  pretrain/chr_dev_chemicals.pubtator

:func:`download` fetches an official release into that layout and checks it against the SHA256 digests
of the files ccre's results were produced with, so a changed upstream file is noticed, not silently used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TypeVar

import numpy as np

from ccre.data.documents import Document
from ccre.errors import ConfigError, FormatError

ENV_VAR = "CCRE_DATA_DIR"

#: SHA256 of the released files, relative to the data directory (digests of the reference copies).
KNOWN_SHA256: dict[str, str] = {
    "biored/Dev.PubTator": "b648faefe4d8b76029746afbec437f31398ce35d2e691eb734aaac5db5dc5736",
    "biored/Test.PubTator": "eee53e2da22cd49a92f300d8d76df610cc04b22bf9f8b09e874bfb8b280ab240",
    "biored/Train.PubTator": "57f96059c1dc5b8a738ee0b7ec5254cf38a1cbb50cd12682809cad627f8c6b36",
    "pretrain/bc8_biored_unlabeled.pubtator": "a729db6ae64165332653e62626155a8c7402c61f6a71cb4f6b74b0024efad430",
    "pretrain/chr_dev_chemicals.pubtator": "17d4005835ee72376477ea26fb64043cce86a2788609b79680ae74e1a8f0b237",
    "redocred/dev_revised.json": "051ee1d057204a5d08ef5502beacdadf191245b5eaf0e29ec2c607cf002c016f",
    "redocred/rel_info.json": "2a335535f33afd5b478544fadf97f7b6fdd0c486ee9e160cc6cacdf508f38509",
    "redocred/test_revised.json": "ea673b7ef91e16510d7eb88863d3903e47318dc5653ef361266f27ae3b84723c",
}

_REDOCRED_RAW = "https://raw.githubusercontent.com/tonytan48/Re-DocRED/main/data"


#: Dataset name -> split name -> file path relative to the data directory.
DATASETS: dict[str, dict[str, str]] = {
    "biored": {"train": "biored/Train.PubTator", "dev": "biored/Dev.PubTator", "test": "biored/Test.PubTator"},
    # The official Re-DocRED train split (3,053 documents) is unavailable to the reference setup, so
    # dev_revised.json (500 documents) is the training pool and test_revised.json the evaluation set.
    "redocred": {
        "train": "redocred/dev_revised.json",
        "dev": "redocred/dev_revised.json",  # a held-out slice of it (HELD_OUT_DEV)
        "test": "redocred/test_revised.json",
        "rel_info": "redocred/rel_info.json",
    },
    # Unlabelled abstracts with linked entities, for entity-linked pretraining.
    "pretrain": {
        "bc8_biored_unlabeled": "pretrain/bc8_biored_unlabeled.pubtator",
        "chr_dev_chemicals": "pretrain/chr_dev_chemicals.pubtator",
    },
}


@dataclass(frozen=True)
class HeldOut:
    """A dev split carved out of the training file: ``size`` documents drawn with ``seed``; the training split
    is the rest of the file, so the two never share a document."""

    size: int
    seed: int = 0


#: data sets whose dev split is a seeded slice of their training file (Re-DocRED: the official train split is
#: not available here, so dev_revised.json is both the training pool and, 100 documents of it, the dev split)
HELD_OUT_DEV: dict[str, HeldOut] = {"redocred": HeldOut(100)}


@dataclass(frozen=True)
class Release:
    """Where a dataset's files come from.

    Attributes:
        archive_url: a zip release holding every split file (found by base name anywhere inside it).
        file_urls: relative path -> URL, for corpora released as loose files.
        manual: how to obtain the corpus when it cannot be downloaded automatically.
    """

    archive_url: str | None = None
    file_urls: Mapping[str, str] = field(default_factory=dict)
    manual: str = ""


RELEASES: dict[str, Release] = {
    "biored": Release(archive_url="https://ftp.ncbi.nlm.nih.gov/pub/lu/BioRED/BIORED.zip"),
    # train_revised.json is fetched too (installed unverified) for users who want the official split.
    "redocred": Release(
        file_urls={
            "redocred/train_revised.json": f"{_REDOCRED_RAW}/train_revised.json",
            "redocred/dev_revised.json": f"{_REDOCRED_RAW}/dev_revised.json",
            "redocred/test_revised.json": f"{_REDOCRED_RAW}/test_revised.json",
            "redocred/rel_info.json": "https://raw.githubusercontent.com/thunlp/DocRED/master/data/rel_info.json",
        },
    ),
    "pretrain": Release(
        manual=(
            "the pretraining files are not downloadable automatically: take the BioCreative VIII BioRED track "
            "validation release (minus documents in BioRED train/dev/test) and the NaCTeM CHR corpus dev split, "
            "converted to PubTator, and place them as pretrain/bc8_biored_unlabeled.pubtator and "
            "pretrain/chr_dev_chemicals.pubtator"
        ),
    ),
}


@dataclass(frozen=True)
class InstalledFile:
    """A file put in place by an install: its final path, digest and whether a known digest matched."""

    path: Path
    sha256: str
    verified: bool


# --------------------------------------------------------------------------------------------- locating


def resolve_data_dir(explicit: str | Path | None = None) -> Path:
    """The data directory: ``explicit``, else ``$CCRE_DATA_DIR``, else ``./data`` or ``../shared/data``
    (relative to the working directory) when they exist."""
    if explicit is not None:
        return Path(explicit).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    for candidate in (Path("data"), Path("..") / "shared" / "data"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(
        "no data directory found. Either pass --data-dir DIR, set the environment variable "
        f"{ENV_VAR}=DIR, create ./data, or provide ../shared/data (relative to the working directory); "
        "fetch the corpora into one with `ccre data download <dataset> --data-dir DIR`"
    )


def file_pair(dataset: str) -> dict[str, str] | None:
    """The files of a data set named by its files, ``TRAIN,TEST`` or ``TRAIN,TEST,DEV`` (any corpus ccre reads,
    with its own relation and entity types), as ``{"train", "test"[, "dev"]}``; None for a known data set's
    name. Anything else is a ConfigError."""
    if dataset in DATASETS:
        return None
    files = dataset.split(",")
    if len(files) not in (2, 3) or not all(files):
        raise ConfigError(f"data set {dataset!r}: one of {', '.join(DATASETS)}, or files TRAIN,TEST[,DEV]")
    return dict(zip(("train", "test", "dev"), files))


def _splits(dataset: str) -> dict[str, str]:
    try:
        return DATASETS[dataset]
    except KeyError:
        raise ConfigError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}") from None


def split_path(dataset: str, split: str, data_dir: str | Path) -> Path:
    """The file of ``dataset``'s ``split`` under ``data_dir``; a ConfigError says how to get it if absent."""
    splits = _splits(dataset)
    if split not in splits:
        raise ConfigError(f"dataset {dataset!r} has no split {split!r}; known: {', '.join(splits)}")
    path = Path(data_dir) / splits[split]
    if not path.is_file():
        how = RELEASES[dataset].manual or f"run `ccre data download {dataset} --data-dir {data_dir}`"
        raise ConfigError(f"{dataset} {split} file {path} is missing: {how}")
    return path


def split_documents(
    dataset: str, split: str, data_dir: str | Path, *, lenient: bool = False,
    on_skip: Callable[[FormatError], None] | None = None,
) -> list[Document]:
    """The documents of ``dataset``'s ``split``: its file's, or for a data set with a held-out dev split
    (:data:`HELD_OUT_DEV`), the seeded slice of the training file (``dev``) or the rest of it (``train``)."""
    from ccre.data.formats import read_documents

    docs = read_documents(split_path(dataset, split, data_dir), lenient=lenient, on_skip=on_skip)
    held = HELD_OUT_DEV.get(dataset)
    if held is None or split not in ("train", "dev"):
        return docs
    if len(docs) <= held.size:
        raise ConfigError(f"{dataset}: {len(docs)} training documents cannot spare a dev split of {held.size}")
    dev = set(np.random.default_rng(held.seed).permutation(len(docs))[: held.size].tolist())
    return [d for i, d in enumerate(docs) if (i in dev) == (split == "dev")]


# ------------------------------------------------------------------------------------ fetch and install


def file_sha256(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA256 of a file, read in chunks so large corpora need no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _install_staged(
    staged: Mapping[str, Path], data_dir: Path, checksums: Mapping[str, str]
) -> list[InstalledFile]:
    """Verify every staged file, then move them all to ``data_dir / relative path``.

    Nothing is moved unless every known digest matches, so a failed install leaves the layout untouched.
    """
    results = []
    for rel, path in staged.items():
        actual = file_sha256(path)
        expected = checksums.get(rel)
        if expected is not None and actual != expected.lower():
            raise ConfigError(f"checksum mismatch for {rel}: expected sha256 {expected}, got {actual}")
        results.append(InstalledFile(data_dir / rel, actual, expected is not None))
    for rel, path in staged.items():
        target = data_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
    return results


def _staging_dir(data_dir: Path) -> Path:
    """A scratch folder inside ``data_dir`` (same file system, so the final moves are atomic renames)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".ccre-install-", dir=data_dir))


def _archive_members(archive: zipfile.ZipFile, archive_path: Path, wanted: Sequence[str]) -> dict[str, zipfile.ZipInfo]:
    """Find each wanted file by base name wherever it sits in the archive (ignoring macOS metadata)."""
    by_name: dict[str, list[zipfile.ZipInfo]] = {}
    for info in archive.infolist():
        name = PurePosixPath(info.filename)
        if info.is_dir() or "__MACOSX" in name.parts or name.name.startswith("._"):
            continue
        by_name.setdefault(name.name, []).append(info)
    members = {}
    for rel in wanted:
        base = PurePosixPath(rel).name
        found = by_name.get(base, [])
        if len(found) != 1:
            problem = "has no member" if not found else f"has {len(found)} members"
            raise ConfigError(f"archive {archive_path} {problem} named {base}")
        members[rel] = found[0]
    return members


def install_archive(
    archive_path: str | Path,
    dataset: str,
    data_dir: str | Path,
    checksums: Mapping[str, str] | None = None,
) -> list[InstalledFile]:
    """Unpack ``dataset``'s split files from a zip release into ``data_dir`` and verify them.

    ``checksums`` maps relative paths to SHA256 digests (default :data:`KNOWN_SHA256`); files without one
    are installed and reported with ``verified=False``. A mismatch raises ConfigError and writes nothing.
    """
    splits = _splits(dataset)
    if RELEASES[dataset].archive_url is None:
        raise ConfigError(f"dataset {dataset!r} is not released as an archive")
    archive_path, data_dir = Path(archive_path), Path(data_dir)
    checksums = KNOWN_SHA256 if checksums is None else checksums
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ConfigError(f"cannot read {archive_path} as a zip archive: {e}") from e
    with archive:
        members = _archive_members(archive, archive_path, list(splits.values()))
        staging = _staging_dir(data_dir)
        try:
            staged = {}
            for rel, info in members.items():
                staged[rel] = staging / PurePosixPath(rel).name
                with archive.open(info) as src, open(staged[rel], "wb") as dst:
                    shutil.copyfileobj(src, dst)
            return _install_staged(staged, data_dir, checksums)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _fetch(url: str, dest: Path, progress: bool) -> None:
    """Stream ``url`` to ``dest``, printing progress to stderr."""
    if progress:
        print(f"fetching {url}", file=sys.stderr)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            done = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                done += len(chunk)
                if progress and total:
                    print(f"\r  {done / total:6.1%} of {total / 2**20:.1f} MiB", end="", file=sys.stderr)
            if progress and total:
                print(file=sys.stderr)
    except (urllib.error.URLError, OSError) as e:
        raise ConfigError(f"could not download {url}: {e}") from e


def download(
    dataset: str,
    data_dir: str | Path,
    *,
    url: str | None = None,
    checksums: Mapping[str, str] | None = None,
    progress: bool = True,
) -> list[InstalledFile]:
    """Fetch ``dataset``'s official release into ``data_dir`` and verify it (see :func:`install_archive`).

    ``url`` replaces the source: the archive's URL for a zip release, or a base URL (a mirror folder)
    from which each file of a loose-file release is fetched by its upstream base name.
    """
    _splits(dataset)  # an unknown name raises ConfigError
    spec = RELEASES[dataset]
    data_dir = Path(data_dir)
    if spec.archive_url is None and not spec.file_urls:
        raise ConfigError(f"cannot download {dataset!r}: {spec.manual}")
    staging = _staging_dir(data_dir)
    try:
        if spec.archive_url is not None:
            source = url or spec.archive_url
            archive = staging / "release.zip"
            _fetch(source, archive, progress)
            results = install_archive(archive, dataset, data_dir, checksums)
        else:
            staged = {}
            for rel, upstream in spec.file_urls.items():
                source = f"{url.rstrip('/')}/{PurePosixPath(upstream).name}" if url else upstream
                staged[rel] = staging / PurePosixPath(rel).name
                _fetch(source, staged[rel], progress)
            results = _install_staged(staged, data_dir, KNOWN_SHA256 if checksums is None else checksums)
    except ConfigError as e:
        raise ConfigError(f"{e}\nYou can also place the files by hand under {data_dir}.") from e
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if progress:
        for f in results:
            status = "sha256 verified" if f.verified else f"not verified (no known checksum), sha256 {f.sha256}"
            print(f"{f.path}: {status}", file=sys.stderr)
    return results


# ------------------------------------------------------------------------------------ low-resource subsets

T = TypeVar("T")


def sample_documents(
    docs: Sequence[T], *, n: int | None = None, fraction: float | None = None, seed: int = 0
) -> list[T]:
    """A seeded random subset of ``docs`` for low-resource training, in the original document order.

    Give exactly one of ``n`` and ``fraction`` (``n = round(fraction * len(docs))``). The subset is the
    first ``n`` of a permutation drawn from ``numpy.random.default_rng(seed)``, so for one seed smaller
    subsets are nested in larger ones (BioRED 1% = 4 documents inside 5% = 20 inside 10% = 40).
    """
    if (n is None) == (fraction is None):
        raise ValueError("give exactly one of n and fraction")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    count = n if fraction is None else round(fraction * len(docs))
    if not 1 <= count <= len(docs):
        raise ValueError(f"cannot sample {count} documents from {len(docs)}: need 1 <= n <= {len(docs)}")
    chosen = np.random.default_rng(seed).permutation(len(docs))[:count]
    return [docs[i] for i in sorted(chosen.tolist())]
