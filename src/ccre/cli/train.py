"""``ccre train``: train, evaluate on the test split, print the table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import (
    DataDir,
    DialectOpt,
    PrecisionChoice,
    PrecisionOpt,
    SetOpt,
    _metrics_table,
    app,
    console,
    friendly_errors,
    out,
)
from ccre.config import DatasetName, MCCLPool, ObjectiveName, ScorerName, describe


@app.command()
@friendly_errors
def train(
    config: Annotated[Optional[Path], typer.Option(help="YAML/JSON config; options below override it")] = None,
    dataset: Annotated[Optional[DatasetName], typer.Option(help="data set whose train/test splits to use")] = None,
    train_file: Annotated[Optional[Path], typer.Option("--train", help="training file (any supported format)")] = None,
    test_file: Annotated[Optional[Path], typer.Option("--test", help="evaluation file")] = None,
    dev_file: Annotated[Optional[Path], typer.Option("--dev", help=describe("data.dev"))] = None,
    dialect: DialectOpt = None,
    train_docs: Annotated[Optional[int], typer.Option(help=describe("data.train_docs"))] = None,
    train_fraction: Annotated[Optional[float], typer.Option(help=describe("data.train_fraction"))] = None,
    model: Annotated[Optional[str], typer.Option(help="encoder: " + describe("encoder.name"))] = None,
    typed_markers: Annotated[Optional[bool], typer.Option(
        "--typed-markers/--untyped-markers", help=describe("encoder.typed_markers"))] = None,
    objective: Annotated[Optional[ObjectiveName], typer.Option(help=describe("objective.name"))] = None,
    inference: Annotated[Optional[ScorerName], typer.Option(help=describe("inference.scorer"))] = None,
    tau: Annotated[Optional[float], typer.Option(help=describe("objective.tau"))] = None,
    tau2: Annotated[Optional[float], typer.Option(help=describe("objective.tau2"))] = None,
    mccl_pool: Annotated[Optional[MCCLPool], typer.Option(help=describe("objective.mccl_pool"))] = None,
    contrast_memory: Annotated[Optional[bool], typer.Option(
        "--contrast-memory/--batch-only", help=describe("train.contrast_memory"))] = None,
    epochs: Annotated[Optional[int], typer.Option(help="passes over the training documents")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help=describe("train.batch_size"))] = None,
    lr: Annotated[Optional[float], typer.Option(help=describe("train.lr"))] = None,
    seed: Annotated[Optional[int], typer.Option(help="seed of the training subset, initialization and batches")] = None,
    set_: SetOpt = None,
    output: Annotated[Optional[Path], typer.Option(help="checkpoint directory")] = None,
    results: Annotated[Optional[Path], typer.Option(help="append the result as a JSON line to this file")] = None,
    data_dir: DataDir = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if present)")] = None,
    lenient: Annotated[bool, typer.Option(help="skip bad documents (each is listed) instead of stopping")] = False,
    progress: Annotated[bool, typer.Option(help="show progress bars")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the metrics as one JSON object")] = False,
    resume: Annotated[bool, typer.Option(help="continue an interrupted run from its last epoch in --output")] = False,
    precision: PrecisionOpt = PrecisionChoice.auto,
) -> None:
    """Train a relation extractor, evaluate it on the test split and print the table.

    With no options: 20 BioRED training documents, the default encoder, cross-entropy, BioRED test.
    """
    from ccre.config import CcreConfig, parse_assignments
    from ccre.experiments.run import train_and_evaluate

    cfg = CcreConfig.load(config) if config else CcreConfig()
    options = {
        "data.dataset": dataset, "data.train": str(train_file) if train_file else None,
        "data.test": str(test_file) if test_file else None, "data.dev": str(dev_file) if dev_file else None,
        "data.dialect": dialect.value if dialect else None,
        "encoder.name": model,
        "encoder.typed_markers": typed_markers, "objective.name": objective, "inference.scorer": inference,
        "objective.tau": tau, "objective.tau2": tau2, "objective.mccl_pool": mccl_pool,
        "train.contrast_memory": contrast_memory, "train.epochs": epochs, "train.batch_size": batch_size,
        "train.lr": lr, "train.seed": seed,
    }
    overrides: dict[str, object] = {k: v for k, v in options.items() if v is not None}
    if train_fraction is not None:
        overrides.update({"data.train_docs": None, "data.train_fraction": train_fraction})
    elif train_docs is not None:
        overrides.update({"data.train_docs": train_docs, "data.train_fraction": None})
    if train_file is not None and dataset is None:
        overrides["data.dataset"] = None  # a file of the user's own, not a known data set
    overrides.update(parse_assignments(set_))
    cfg = cfg.with_overrides(overrides)
    outcome = train_and_evaluate(
        cfg, data_dir=data_dir, output=output, results=results, device=device, precision=precision.value,
        show_progress=progress, lenient=lenient, resume=resume,
    )
    if outcome is None:  # not the main process of `accelerate launch`
        return
    if as_json:
        out.print_json(json.dumps(outcome.metrics))
        return
    title = f"{outcome.record['method']} on {outcome.record['train_docs']} {outcome.record['dataset']} documents"
    out.print(_metrics_table(outcome.metrics, title, outcome.floor))
    if output:
        console.print(f"checkpoint saved to {output}")
    if results:
        console.print(f"result appended to {results}")
