"""The results convention: every benchmark figure is one JSON line with its provenance."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from ccre.pretraining.config import pretrain_provenance
from ccre.runtime import git_commit, machine_description, now_iso


def invoked_command() -> str:
    """The command line of this process, as a user would type it (``ccre ...`` for the console script)."""
    argv = sys.argv
    if Path(argv[0]).name == "ccre":
        return shlex.join(["ccre", *argv[1:]])
    return shlex.join(argv)


def result_record(
    *,
    dataset: str,
    train_docs: int,
    method: str,
    encoder: str,
    seed: int,
    metrics: dict,
    wall_s: float,
    config: dict,
    commit: str | None = None,
    **extra: object,
) -> dict:
    """One result line: what was measured, how (config, command), where (commit, machine) and when; for an
    encoder that is a ``ccre pretrain`` output, also which pretraining run it holds (``pretrained``).

    ``commit`` should be read when the measurement starts (the tree may change while it runs); by default
    it is read now."""
    provenance = pretrain_provenance(encoder)
    return {
        "dataset": dataset,
        "train_docs": train_docs,
        "method": method,
        "encoder": encoder,
        "seed": seed,
        "metrics": metrics,
        "config": config,
        "command": invoked_command(),
        "commit": commit or git_commit(),
        "machine": machine_description(),
        "date": now_iso(),
        "wall_s": round(wall_s, 1),
        **({"pretrained": provenance} if provenance else {}),
        **extra,
    }
