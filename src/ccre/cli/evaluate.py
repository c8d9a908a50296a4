"""``ccre evaluate``: score a prediction file against gold annotations.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import DialectOpt, Format, _metrics_table, _print_skip, app, friendly_errors, out


@app.command()
@friendly_errors
def evaluate(
    gold: Annotated[Path, typer.Option(help="gold annotations")],
    pred: Annotated[Path, typer.Option(help="predictions (PubTator/BioC documents, or a DocRED result list)")],
    train_file: Annotated[
        Optional[Path], typer.Option("--train", help="training documents (DocRED Ign F1 ignores their facts)")
    ] = None,
    fmt: Annotated[Optional[Format], typer.Option("--format", help="format of the gold file (default: detected)")] = None,
    dialect: DialectOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    lenient: Annotated[
        bool, typer.Option(help="skip bad gold/prediction documents (each is listed; scores then cover the rest)")
    ] = False,
) -> None:
    """Score a prediction file against gold annotations with the data set's official metric."""
    from ccre.data.formats import detect_format, read_documents
    from ccre.data.formats.docred import read_docred_predictions
    from ccre.evaluation.scoring import scheme_for_format, score_files

    gold_fmt = fmt.value if fmt else detect_format(gold)
    named = dialect.value if dialect else None
    gold_docs = read_documents(gold, gold_fmt, dialect=named, lenient=lenient, on_skip=_print_skip)
    scheme = scheme_for_format(gold_fmt)
    if scheme == "docred":
        predictions = read_docred_predictions(pred)
        train_docs = read_documents(train_file) if train_file else None
        metrics = score_files(gold_docs, predictions, scheme, train_docs)
    else:
        pred_docs = read_documents(pred, dialect=named, lenient=lenient, on_skip=_print_skip)
        if lenient:
            kept = {d.id for d in gold_docs}
            pred_docs = [d for d in pred_docs if d.id in kept]
        metrics = score_files(gold_docs, pred_docs, scheme)
    if as_json:
        print(json.dumps(metrics))
    else:
        out.print(_metrics_table(metrics, f"{pred} against {gold}"))
