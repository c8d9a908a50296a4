"""One on-disk format for every model ccre writes: a folder whose manifest, ``ccre.json``, says what it holds.

A pretrained encoder (``ccre pretrain``) and a finetuned relation model (``ccre train --output``) are the same
kind of folder; the manifest names its ``kind`` and its parts, so that no caller guesses from file names::

    ccre.json                   {"format": "ccre", "version": 1, "kind": ..., "parts": {...}, "commit", "date"}
    encoder/                    the transformer and its tokenizer (Hugging Face ``save_pretrained``)
    pair_embedder.safetensors   the pair embedder
    config.json                 the model's config (:class:`ccre.config.ModelConfig`)
    run.json                    the record of the run that made it (settings, data, corpus), when there is one
    heads.safetensors           relation models: the objective's weights and the novelty head
    labels.json                 relation models and priors: the label space
    prior.json                  priors (:mod:`ccre.modeling.prior`): the type-pair table and its threshold
    memory/                     relation models: the memory of labelled training instances

(in the spirit of sentence-transformers' ``modules.json``). Every part is written into ``.partial/`` first and
renamed into place; the manifest comes last, so a folder without one is not a finished model.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ccre.config import ModelConfig
from ccre.errors import ConfigError
from ccre.utils.io import atomic_write_json
from ccre.utils.runtime import git_commit, now_iso

MANIFEST_FILE = "ccre.json"
FORMAT_VERSION = 1
Kind = Literal["encoder", "relation-model", "prior"]
#: part name -> its path inside the folder
PARTS = {
    "encoder": "encoder",
    "pair_embedder": "pair_embedder.safetensors",
    "config": "config.json",
    "run": "run.json",
    "heads": "heads.safetensors",
    "labels": "labels.json",
    "memory": "memory",
    "prior": "prior.json",
}
#: files that folders written before the manifest existed hold (their contents are laid out differently)
_EARLIER_LAYOUT = ("ccre_pretrain.json", "provenance.json")


@dataclass(frozen=True)
class Manifest:
    """What a model folder holds: its kind and the path of each part present."""

    directory: Path
    kind: Kind
    parts: dict[str, str]
    commit: str = "unknown"
    date: str = ""

    def path(self, part: str) -> Path:
        """The path of ``part``; a ConfigError when the folder has no such part."""
        if part not in self.parts:
            raise ConfigError(f"{self.directory} ({self.kind}) has no {part}")
        return self.directory / self.parts[part]

    def has(self, part: str) -> bool:
        return part in self.parts

    def run_record(self) -> dict | None:
        """The record of the run that made the model (``run.json``), if it has one."""
        return json.loads(self.path("run").read_text(encoding="utf-8")) if self.has("run") else None


def read_manifest(path: str | Path) -> Manifest | None:
    """The manifest of a ccre model folder; ``None`` for anything else (a Hugging Face name or folder). A
    folder written by an earlier ccre, before manifests, is a ConfigError that says to rebuild it."""
    directory = Path(path)
    file = directory / MANIFEST_FILE
    if not file.is_file():
        earlier = [name for name in _EARLIER_LAYOUT if (directory / name).is_file()]
        if earlier:
            raise ConfigError(f"{directory} was written by an earlier version of ccre (it has {earlier[0]} but no "
                              f"{MANIFEST_FILE}); rebuild it with this version (ccre pretrain / ccre train --output)")
        return None
    raw = json.loads(file.read_text(encoding="utf-8"))
    if raw.get("format") != "ccre" or raw.get("version") != FORMAT_VERSION:
        raise ConfigError(f"{file}: not a ccre manifest of version {FORMAT_VERSION}")
    return Manifest(directory, raw["kind"], dict(raw["parts"]), raw.get("commit", "unknown"), raw.get("date", ""))


def require_manifest(path: str | Path, kind: Kind) -> Manifest:
    """The manifest of a folder that must be a ccre model of ``kind``, or a ConfigError that says what it is."""
    manifest = read_manifest(path)
    if manifest is None:
        raise ConfigError(f"{path} is not a ccre {kind} (no {MANIFEST_FILE})")
    if manifest.kind != kind:
        hint = (" (a pretrained encoder: train on it with --model, or probe it)" if manifest.kind == "encoder"
                else " (a finetuned model: predict with it, or probe it)")
        raise ConfigError(f"{path} is a ccre {manifest.kind}, not a {kind}{hint}")
    return manifest


def write_model_folder(directory: str | Path, kind: Kind, write_parts: Callable[[Path], None]) -> Manifest:
    """Write a model folder: ``write_parts(folder)`` puts the parts (named as in :data:`PARTS`) into a scratch
    folder; they are renamed into ``directory`` and the manifest, listing the parts found, is written last."""
    directory = Path(directory)
    partial = directory / ".partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (directory / MANIFEST_FILE).unlink(missing_ok=True)  # until the new parts are all in place
    write_parts(partial)
    parts = {name: rel for name, rel in PARTS.items() if (partial / rel).exists()}
    unknown = sorted({item.name for item in partial.iterdir()} - set(parts.values()))
    if unknown:
        raise ValueError(f"not a model part: {', '.join(unknown)}")
    for rel in parts.values():
        target = directory / rel
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(partial / rel, target)
    partial.rmdir()
    return _write_manifest(Manifest(directory, kind, parts, git_commit(), now_iso()))


def _write_manifest(manifest: Manifest) -> Manifest:
    atomic_write_json(manifest.directory / MANIFEST_FILE, {
        "format": "ccre", "version": FORMAT_VERSION, "kind": manifest.kind, "parts": manifest.parts,
        "commit": manifest.commit, "date": manifest.date})
    return manifest


def save_encoder(
    directory: str | Path, encoder, tokenizer, pair_embedder: dict | None, config: ModelConfig, run: dict
) -> Manifest:
    """Write a pretrained encoder as a model folder: the transformer and tokenizer, the pair embedder's state
    (a tensor dict, or ``None``), the model config it encodes with and the record of the run that made it."""

    def write(folder: Path) -> None:
        write_encoder_parts(folder, encoder, tokenizer, pair_embedder, config)
        atomic_write_json(folder / PARTS["run"], run)

    return write_model_folder(directory, "encoder", write)


def write_encoder_parts(folder: Path, encoder, tokenizer, pair_embedder: dict | None, config: ModelConfig) -> None:
    """The parts every model folder has: the transformer and tokenizer, the pair embedder's state (if any) and
    the model config."""
    from safetensors.torch import save_file

    encoder.save_pretrained(folder / PARTS["encoder"])
    tokenizer.save_pretrained(folder / PARTS["encoder"])
    if pair_embedder is not None:
        save_file(tensors_to_save(pair_embedder), str(folder / PARTS["pair_embedder"]))
    config.save(folder / PARTS["config"])


def tensors_to_save(state: dict) -> dict:
    """A state dict as safetensors takes it: detached, on the CPU, contiguous."""
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}


def add_part(manifest: Manifest, part: str) -> Manifest:
    """Record in the manifest a part written into the folder after it was saved (a memory grown later)."""
    if part in manifest.parts:
        return manifest
    if not (manifest.directory / PARTS[part]).exists():
        raise ValueError(f"{manifest.directory / PARTS[part]} does not exist")
    return _write_manifest(Manifest(manifest.directory, manifest.kind, {**manifest.parts, part: PARTS[part]},
                                    manifest.commit, manifest.date))


def is_pretrained_encoder(path: str | Path) -> bool:
    """Whether ``path`` is a ``ccre pretrain`` output (an encoder to call ``mtb``, not ``plm``)."""
    manifest = read_manifest(path)
    return manifest is not None and manifest.kind == "encoder"


def pretraining_record(path: str | Path) -> dict | None:
    """The pretraining run record of a pretrained encoder (config, corpus statistics, steps, arithmetic, commit,
    date); ``None`` for any other encoder."""
    manifest = read_manifest(path)
    if manifest is None or manifest.kind != "encoder":
        return None
    return manifest.run_record()


def pretrain_settings(path: str | Path) -> dict | None:
    """The pretraining config fields a ``ccre pretrain`` output was made with (``None`` for any other encoder)."""
    record = pretraining_record(path)
    return None if record is None else record["config"]


def pretrain_provenance(path: str | Path) -> dict | None:
    """Which pretraining run a ``ccre pretrain`` output holds: its commit, date, steps and encoder arithmetic
    (``None`` for any other encoder). A result line carries it because an output folder can be rebuilt: lines
    naming the same path may then come from different runs."""
    record = pretraining_record(path)
    if record is None:
        return None
    return {key: record[key] for key in ("commit", "date", "steps", "precision") if key in record}
