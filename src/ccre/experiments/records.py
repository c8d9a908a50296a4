"""The results convention: every benchmark figure is one JSON line with its provenance."""

from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

logger = logging.getLogger(__name__)
from ccre.evaluation.scoring import headline
from ccre.modeling.checkpoint import pretrain_provenance
from ccre.utils.runtime import git_commit, machine_description, now_iso


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


# ------------------------------------------------------------------------------------------- results
def read_results(path: str | Path) -> list[dict]:
    """The result lines of a JSONL file (missing file: none); a torn last line is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s:%d: not a JSON line, ignored", path, number)
    return records


def append_lines(path: str | Path, records: Sequence[dict]) -> None:
    """Append records as JSON lines in one write (a cell's lines land together), flushed to disk. A torn last
    line left by a killed writer is terminated first, so it cannot swallow the new line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    with open(path, "a+b") as handle:
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                text = "\n" + text
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def headline_figures(metrics: dict) -> dict[str, float]:
    """The headline figures of a metrics object: BioRED pair+type F1; DocRED F1 and Ign F1."""
    out = {"F1": headline(metrics)}
    if "ign_f1" in metrics:
        out["Ign F1"] = float(metrics["ign_f1"])
    return out
