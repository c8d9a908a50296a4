"""``ccre predict``: annotate documents with a trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import (
    DialectOpt,
    Format,
    PrecisionChoice,
    PrecisionOpt,
    _print_skip,
    app,
    console,
    friendly_errors,
)
from ccre.config import MCCLPool, NAMargin, ScorerName, describe


@app.command()
@friendly_errors
def predict(
    model: Annotated[Path, typer.Option(help="checkpoint directory written by ccre train")],
    input: Annotated[Path, typer.Option("--input", "-i", help="documents to annotate: a file, or a directory of files")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the predictions: a file, or a directory for a directory input")
    ],
    fmt: Annotated[Optional[Format], typer.Option("--format", help="input format (default: detected per file)")] = None,
    dialect: DialectOpt = None,
    batch_size: Annotated[int, typer.Option(help="documents per forward pass")] = 8,
    chunk_size: Annotated[
        int, typer.Option(help="documents read, predicted and written at a time (memory stays flat)", min=1)
    ] = 256,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda if present)")] = None,
    lenient: Annotated[bool, typer.Option(help="skip bad documents (each is listed) instead of stopping")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
    explain: Annotated[
        int, typer.Option(help="write OUTPUT.explain.jsonl: for each prediction its K nearest training instances")
    ] = 0,
    inference: Annotated[Optional[ScorerName], typer.Option(
        help=describe("inference.scorer") + " (default: as trained)")] = None,
    knn_k: Annotated[Optional[int], typer.Option(help=describe("inference.knn_k"), min=1)] = None,
    mccl_pool: Annotated[Optional[MCCLPool], typer.Option(help=describe("objective.mccl_pool"))] = None,
    tau2: Annotated[Optional[float], typer.Option(help=describe("objective.tau2"))] = None,
    na_margin: Annotated[Optional[NAMargin], typer.Option(help=describe("inference.na_margin"))] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="scoring field SECTION.FIELD=VALUE of ccre.config.SCORING_FIELDS (repeatable)")] = None,
    precision: PrecisionOpt = PrecisionChoice.auto,
) -> None:
    """Predict relations and write them in the input's own format.

    PubTator/BioC input gets its relation lines replaced by the predicted ones; DocRED input gives the
    official result list (title, h_idx, t_idx, r, score). A directory input (its .pubtator, .txt, .xml
    and .json files) gives an output directory with one predicted file per input file, of the same name.

    Documents are read, predicted and written CHUNK-SIZE at a time. PubTator files are read line by line,
    so memory stays flat on any number of documents; BioC (XML/JSON) and DocRED JSON files are one tree
    and are loaded whole. Each output file appears only when complete (written under a temporary name,
    then renamed).
    """
    from ccre.config import parse_assignments
    from ccre.inference.predictor import Predictor
    from ccre.inference.streaming import predict_path
    from ccre.modeling.relation_model import RelationModel
    from ccre.utils.runtime import map_large_buffers, pick_device

    relation_model = RelationModel.from_pretrained(model, pick_device(device), inference={
        "inference.scorer": inference, "inference.knn_k": knn_k, "objective.mccl_pool": mccl_pool,
        "objective.tau2": tau2, "inference.na_margin": na_margin, **parse_assignments(set_),
    })
    relation_model.precision = precision.value
    _warn_id_style(model, input, fmt.value if fmt else None, dialect.value if dialect else None)
    predictor = Predictor(relation_model, batch_size, explain_k=explain)
    map_large_buffers()  # this process's allocator: each chunk's peak memory stays level (the library leaves it)
    summary = predict_path(
        predictor, input, output, fmt.value if fmt else None, dialect=dialect.value if dialect else None,
        chunk_size=chunk_size, lenient=lenient,
        on_skip=_print_skip, explain=bool(explain), show_progress=progress,
    )
    console.print(f"{summary.relations} relations in {summary.documents} documents written to {output}")
    if explain:
        where = f"{output}.explain.jsonl" if not input.is_dir() else f"{output}/*.explain.jsonl"
        console.print(f"explanations written to {where}")


def _warn_id_style(model: Path, input: Path, fmt: str | None, dialect: str | None) -> None:
    """Warn about each input file none of whose candidate pairs has the ID style of the model's training relations
    (``train_id_styles`` of its run record): one pass over the input, without the model."""
    from ccre.data.formats import detect_format, iter_documents
    from ccre.data.formats.ids import candidate_styles, style_warning
    from ccre.inference.streaming import input_files
    from ccre.modeling.checkpoint import read_manifest

    manifest = read_manifest(model)
    trained = (manifest.run_record() or {}).get("train_id_styles") if manifest else None
    if not trained:
        return
    for path in input_files(input, fmt) if input.is_dir() else [input]:
        if (fmt or detect_format(path)) != "docred":  # DocRED entities are vertex indices: no ID space
            docs = iter_documents(path, fmt, dialect=dialect, lenient=True)  # the prediction reports bad ones
            warning = style_warning(trained, candidate_styles(docs))
            if warning:
                console.print(f"[yellow]warning:[/] {path}: {warning}", highlight=False)
