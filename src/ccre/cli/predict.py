"""``ccre predict``: annotate documents with a trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import (
    Format,
    Inference,
    NAMargin,
    Pool,
    PrecisionChoice,
    PrecisionOpt,
    _print_skip,
    app,
    console,
    friendly_errors,
)


@app.command()
@friendly_errors
def predict(
    model: Annotated[Path, typer.Option(help="checkpoint directory written by ccre train")],
    input: Annotated[Path, typer.Option("--input", "-i", help="documents to annotate: a file, or a directory of files")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="where to write the predictions: a file, or a directory for a directory input")
    ],
    fmt: Annotated[Optional[Format], typer.Option("--format", help="input format (default: detected per file)")] = None,
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
    inference: Annotated[
        Optional[Inference], typer.Option(help="contrastive models: score by mccl, knn or centroid (default: as trained)")
    ] = None,
    knn_k: Annotated[Optional[int], typer.Option(help="contrastive models: neighbours of knn inference", min=1)] = None,
    mccl_pool: Annotated[Optional[Pool], typer.Option(help="contrastive models: mean or sum in the mccl score")] = None,
    tau2: Annotated[Optional[float], typer.Option(help="contrastive models: temperature of the mccl score")] = None,
    na_margin: Annotated[Optional[NAMargin], typer.Option(
        help="multi-label contrastive models: a relation must beat no-relation by zero or by the margin calibrated "
        "on the training documents")] = None,
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
    from ccre.inference.predictor import Predictor
    from ccre.inference.streaming import predict_path
    from ccre.modeling.relation_model import RelationModel
    from ccre.utils.runtime import pick_device

    relation_model = RelationModel.from_pretrained(model, pick_device(device), inference={
        "train.inference": inference.value if inference else None, "train.knn_k": knn_k,
        "train.mccl_pool": mccl_pool.value if mccl_pool else None, "train.tau2": tau2,
        "train.na_margin": na_margin.value if na_margin else None,
    })
    relation_model.precision = precision.value
    predictor = Predictor(relation_model, batch_size, explain_k=explain)
    summary = predict_path(
        predictor, input, output, fmt.value if fmt else None, chunk_size=chunk_size, lenient=lenient,
        on_skip=_print_skip, explain=bool(explain), show_progress=progress,
    )
    console.print(f"{summary.relations} relations in {summary.documents} documents written to {output}")
    if explain:
        where = f"{output}.explain.jsonl" if not input.is_dir() else f"{output}/*.explain.jsonl"
        console.print(f"explanations written to {where}")
