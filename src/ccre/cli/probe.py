"""``ccre probe``: probe a frozen encoder with softmax, nearest centroid and kNN.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import (
    DataDir,
    PrecisionChoice,
    PrecisionOpt,
    _metrics_table,
    app,
    friendly_errors,
    out,
)
from ccre.config import DatasetName, describe
from ccre.errors import ConfigError


def _train_test(dataset: Optional[DatasetName], train_file, test_file, train_docs: int, seed: int, data_dir):
    """Training subset and test documents from a data set or explicit files (as ``ccre train`` picks them)."""
    from ccre.config import CcreConfig
    from ccre.data.formats import read_documents
    from ccre.experiments.run import (
        load_split,
        resolve_split,
        select_training_documents,
    )

    cfg = CcreConfig().with_overrides(
        {
            "data.dataset": dataset if dataset else (None if train_file else "biored"),
            "data.train": str(train_file) if train_file else None,
            "data.test": str(test_file) if test_file else None,
            "data.train_docs": train_docs,
            "train.seed": seed,
        }
    )
    test_path = resolve_split(cfg, "test", data_dir)
    return select_training_documents(cfg, load_split(cfg, "train", data_dir)), read_documents(test_path), test_path


@app.command()
@friendly_errors
def probe(
    model: Annotated[str, typer.Option(help="encoder (name, path, ccre pretrain output) or checkpoint")] = "sentence-transformers/all-MiniLM-L6-v2",
    dataset: Annotated[Optional[DatasetName], typer.Option()] = None,
    train_file: Annotated[Optional[Path], typer.Option("--train")] = None,
    test_file: Annotated[Optional[Path], typer.Option("--test")] = None,
    train_docs: Annotated[int, typer.Option(help="training documents the probes are fit on")] = 20,
    k: Annotated[int, typer.Option(help="neighbours of the kNN probe")] = 5,
    seed: Annotated[int, typer.Option()] = 13,
    fresh_pair_embedder: Annotated[bool, typer.Option(
        help="probe a ccre pretrain output's encoder under a seeded, untrained pair embedder instead of its "
        "pretrained one")] = False,
    typed_markers: Annotated[Optional[bool], typer.Option(
        "--typed-markers/--untyped-markers", help=describe("encoder.typed_markers"))] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="encoder field encoder.FIELD=VALUE the probed pairs are encoded with, e.g. "
        "encoder.max_length=256 (repeatable)")] = None,
    results: Annotated[Optional[Path], typer.Option(help="append one JSON line per probe to this file")] = None,
    data_dir: DataDir = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    precision: PrecisionOpt = PrecisionChoice.auto,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Probe a frozen encoder: softmax, nearest centroid and kNN on its pair embeddings."""
    import time

    from ccre.analysis.probe import probe_encoder
    from ccre.config import ModelConfig, parse_assignments
    from ccre.data.formats import detect_format
    from ccre.evaluation.scoring import scheme_for_format
    from ccre.experiments.grid import short_hash
    from ccre.experiments.records import result_record
    from ccre.modeling.checkpoint import is_pretrained_encoder
    from ccre.utils.io import append_jsonl
    from ccre.utils.runtime import git_commit

    encoding = {**({} if typed_markers is None else {"encoder.typed_markers": typed_markers}),
                **parse_assignments(set_)}
    if any(not key.startswith("encoder.") for key in encoding):
        raise ConfigError("ccre probe --set takes encoder.* fields only (a probe trains nothing)")
    encoder = ModelConfig().with_overrides(encoding).encoder
    started = time.perf_counter()
    commit = git_commit()
    train_docs_, test_docs, test_path = _train_test(dataset, train_file, test_file, train_docs, seed, data_dir)
    scores, resolved_precision = probe_encoder(model, train_docs_, test_docs, scheme_for_format(detect_format(test_path)),
                                               k, seed, device, fresh_pair_embedder, precision.value,
                                               encoder)
    wall = time.perf_counter() - started
    # a variant is told apart in reports by its overrides
    overrides = {**({"probe.pair_embedder": "fresh"} if fresh_pair_embedder else {}), **encoding}
    variant = {"overrides": overrides, "overrides_hash": "fresh-pair" if list(overrides) == ["probe.pair_embedder"]
               else short_hash(overrides, 10)} if overrides else {}
    encoder_kind = "mtb" if is_pretrained_encoder(model) else "plm"
    for method, metrics in scores.items():
        if results:
            append_jsonl(results, result_record(
                dataset=dataset if dataset else str(train_file), train_docs=len(train_docs_),
                method=method, encoder=model, seed=seed, metrics=metrics, wall_s=wall, config={"k": k}, commit=commit,
                encoder_kind=encoder_kind, precision=resolved_precision, **variant,
            ))
        if not as_json:
            out.print(_metrics_table(metrics, f"{method} on {model}"))
    if as_json:
        print(json.dumps(scores))
