"""The ``ccre`` command line: a thin layer over the library (every command is one library call)."""

from __future__ import annotations

import json
from collections.abc import Callable
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table

from ccre.errors import CcreError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ccre: document-level relation extraction from few labelled documents (continual contrastive finetuning).", pretty_exceptions_enable=False)
data_app = typer.Typer(no_args_is_help=True, help="Get, locate and check data sets.")
app.add_typer(data_app, name="data")
memory_app = typer.Typer(no_args_is_help=True, help="The memory of labelled instances a trained model compares with.")
app.add_typer(memory_app, name="memory")
plot_app = typer.Typer(no_args_is_help=True, help="Plots of pair embeddings.")
app.add_typer(plot_app, name="plot")
console = Console(stderr=True)
out = Console()


class Dataset(str, Enum):
    biored = "biored"
    redocred = "redocred"


class Objective(str, Enum):
    ce = "ce"
    supcon = "supcon"
    mccl = "mccl"


class Inference(str, Enum):
    mccl = "mccl"
    knn = "knn"
    centroid = "centroid"


class Pool(str, Enum):
    mean = "mean"
    sum = "sum"


class NAMargin(str, Enum):
    zero = "zero"
    calibrated = "calibrated"


class Format(str, Enum):
    pubtator = "pubtator"
    bioc_xml = "bioc-xml"
    bioc_json = "bioc-json"
    docred = "docred"


def _setup_logging() -> None:
    """ccre's progress messages to stderr through rich; transformers' own bars and warnings kept out."""
    import logging

    import transformers
    from rich.logging import RichHandler

    logging.basicConfig(
        level=logging.INFO, format="%(message)s", datefmt="[%X]",
        handlers=[RichHandler(console=console, show_path=False)],
    )

    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Print ccre's own errors as one line and exit 1, without a traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _setup_logging()
        try:
            return func(*args, **kwargs)
        except CcreError as exc:
            console.print(f"[bold red]error:[/] {exc}", highlight=False)
            raise typer.Exit(1) from None

    return wrapper


class PrecisionChoice(str, Enum):
    auto = "auto"
    fp32 = "fp32"
    bf16 = "bf16"


PrecisionOpt = Annotated[
    PrecisionChoice,
    typer.Option(help="encoder arithmetic: bf16 mixed precision, fp32, or auto (bf16 on a GPU that has it)"),
]
DataDir = Annotated[
    Optional[Path],
    typer.Option(help="data directory (default: $CCRE_DATA_DIR, then ./data, then ../shared/data)"),
]


def _metrics_table(metrics: dict, title: str) -> Table:
    """BioRED's three levels as rows, or DocRED's P / R / F1 / Ign F1 as one row (percentages)."""
    table = Table(title=title)
    if "type" in metrics:
        table.add_column("level")
        for col in ("P", "R", "F1"):
            table.add_column(col, justify="right")
        for level, name in (("pair", "entity pair"), ("type", "pair + type"), ("novelty", "pair + type + novelty")):
            table.add_row(name, *(f"{100 * metrics[level][k]:.2f}" for k in ("p", "r", "f1")))
    else:
        for col in ("P", "R", "F1", "Ign F1"):
            table.add_column(col, justify="right")
        table.add_row(*(f"{100 * metrics[k]:.2f}" for k in ("p", "r", "f1", "ign_f1")))
    return table


@app.command()
@friendly_errors
def train(
    config: Annotated[Optional[Path], typer.Option(help="YAML/JSON config; options below override it")] = None,
    dataset: Annotated[Optional[Dataset], typer.Option(help="data set whose train/test splits to use")] = None,
    train_file: Annotated[Optional[Path], typer.Option("--train", help="training file (any supported format)")] = None,
    test_file: Annotated[Optional[Path], typer.Option("--test", help="evaluation file")] = None,
    train_docs: Annotated[Optional[int], typer.Option(help="train on a seeded subset of N documents")] = None,
    train_fraction: Annotated[Optional[float], typer.Option(help="train on this fraction of the documents")] = None,
    model: Annotated[Optional[str], typer.Option(help="encoder: Hugging Face name or local path")] = None,
    typed_markers: Annotated[Optional[bool], typer.Option(
        "--typed-markers/--untyped-markers",
        help="write each mention's entity type after its start marker (match the encoder's pretraining)")] = None,
    objective: Annotated[Optional[Objective], typer.Option(help="ce (softmax classifier), supcon or mccl")] = None,
    inference: Annotated[
        Optional[Inference], typer.Option(help="contrastive models: score against the memory by mccl, knn or centroid")
    ] = None,
    tau: Annotated[Optional[float], typer.Option(help="SupCon temperature / MCCL tau1")] = None,
    tau2: Annotated[Optional[float], typer.Option(help="MCCL temperature within a relation")] = None,
    mccl_pool: Annotated[
        Optional[Pool], typer.Option(help="MCCL: mean (the formula's 1/|S_r|) or sum over a relation's instances")
    ] = None,
    contrast_memory: Annotated[
        Optional[bool],
        typer.Option("--contrast-memory/--batch-only",
                     help="contrastive training: compare anchors with a memory of all training pairs, or the batch only"),
    ] = None,
    epochs: Annotated[Optional[int], typer.Option()] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="documents per step")] = None,
    lr: Annotated[Optional[float], typer.Option(help="encoder learning rate")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
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
    from ccre.config import CcreConfig
    from ccre.experiment import train_and_evaluate

    cfg = CcreConfig.load(config) if config else CcreConfig()
    overrides: dict[str, object] = {
        "data.dataset": dataset.value if dataset else None,
        "data.train": str(train_file) if train_file else None,
        "data.test": str(test_file) if test_file else None,
        "encoder.name": model,
        "encoder.typed_markers": typed_markers,
        "train.objective": objective.value if objective else None,
        "train.inference": inference.value if inference else None,
        "train.tau": tau,
        "train.tau2": tau2,
        "train.mccl_pool": mccl_pool.value if mccl_pool else None,
        "train.contrast_memory": contrast_memory,
        "train.epochs": epochs,
        "train.batch_size": batch_size,
        "train.lr": lr,
        "train.seed": seed,
    }
    overrides = {k: v for k, v in overrides.items() if v is not None}
    if train_fraction is not None:
        overrides.update({"data.train_docs": None, "data.train_fraction": train_fraction})
    elif train_docs is not None:
        overrides.update({"data.train_docs": train_docs, "data.train_fraction": None})
    if train_file is not None and dataset is None:
        overrides["data.dataset"] = None  # a file of the user's own, not a known data set
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
    out.print(_metrics_table(outcome.metrics, title))
    if output:
        console.print(f"checkpoint saved to {output}")
    if results:
        console.print(f"result appended to {results}")


def _print_skip(error: CcreError) -> None:
    console.print(f"[yellow]skipped:[/] {error}", highlight=False)


@app.command()
@friendly_errors
def evaluate(
    gold: Annotated[Path, typer.Option(help="gold annotations")],
    pred: Annotated[Path, typer.Option(help="predictions (PubTator/BioC documents, or a DocRED result list)")],
    train_file: Annotated[
        Optional[Path], typer.Option("--train", help="training documents (DocRED Ign F1 ignores their facts)")
    ] = None,
    fmt: Annotated[Optional[Format], typer.Option("--format", help="format of the gold file (default: detected)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    lenient: Annotated[
        bool, typer.Option(help="skip bad gold/prediction documents (each is listed; scores then cover the rest)")
    ] = False,
) -> None:
    """Score a prediction file against gold annotations with the data set's official metric."""
    from ccre.evaluation import score_files, scheme_for_format
    from ccre.formats import detect_format, read_documents
    from ccre.formats.docred import read_docred_predictions

    gold_fmt = fmt.value if fmt else detect_format(gold)
    gold_docs = read_documents(gold, gold_fmt, lenient=lenient, on_skip=_print_skip)
    scheme = scheme_for_format(gold_fmt)
    if scheme == "docred":
        predictions = read_docred_predictions(pred)
        train_docs = read_documents(train_file) if train_file else None
        metrics = score_files(gold_docs, predictions, scheme, train_docs)
    else:
        pred_docs = read_documents(pred, lenient=lenient, on_skip=_print_skip)
        if lenient:
            kept = {d.id for d in gold_docs}
            pred_docs = [d for d in pred_docs if d.id in kept]
        metrics = score_files(gold_docs, pred_docs, scheme)
    if as_json:
        print(json.dumps(metrics))
    else:
        out.print(_metrics_table(metrics, f"{pred} against {gold}"))


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
    from ccre.inference import Predictor
    from ccre.model import RelationModel
    from ccre.runtime import pick_device
    from ccre.streaming import predict_path

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


@data_app.command("download")
@friendly_errors
def data_download(
    dataset: Annotated[Dataset, typer.Argument(help="biored or redocred")],
    data_dir: Annotated[Path, typer.Option(help="where to install it")] = Path("data"),
) -> None:
    """Fetch an official release, verify its checksums and unpack it where ccre looks for data."""
    from ccre.data import download

    download(dataset.value, data_dir)
    console.print(f"{dataset.value} installed under {data_dir}")


@data_app.command("where")
@friendly_errors
def data_where(data_dir: DataDir = None) -> None:
    """Print the data directory ccre would use, and which data sets it holds."""
    from ccre.data import DATASETS, resolve_data_dir, split_path

    root = resolve_data_dir(data_dir)
    out.print(str(root))
    for name, splits in DATASETS.items():
        for split in splits:
            try:
                path = split_path(name, split, root)
                out.print(f"  {name}/{split}: {path}")
            except CcreError:
                out.print(f"  {name}/{split}: [red]missing[/]")


@data_app.command("validate")
@friendly_errors
def data_validate(
    files: Annotated[list[Path], typer.Argument(help="files to check")],
    fmt: Annotated[Optional[Format], typer.Option("--format", help="format (default: detected per file)")] = None,
) -> None:
    """Report every problem of every file in one pass; exit 1 if there is any."""
    from ccre.formats import validate_file

    problems = 0
    for path in files:
        errors = validate_file(path, fmt.value if fmt else None)
        problems += len(errors)
        for error in errors:
            out.print(str(error), highlight=False)
        if not errors:
            out.print(f"{path}: ok", highlight=False)
    if problems:
        console.print(f"[red]{problems} problem(s)[/]")
        raise typer.Exit(1)



from ccre.cli_pretrain import pretrain, pretrain_stats  # noqa: E402  (registers on ``app``; imports from here)

app.command("pretrain")(pretrain)
app.command("pretrain-stats")(pretrain_stats)


@memory_app.command("add")
@friendly_errors
def memory_add(
    model: Annotated[Path, typer.Option(help="checkpoint directory written by ccre train")],
    files: Annotated[list[Path], typer.Argument(help="newly labelled documents")],
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ...")] = None,
) -> None:
    """Add labelled documents to a trained model's memory, without retraining."""
    from ccre.analysis import add_to_memory
    from ccre.formats import read_documents

    docs = [d for f in files for d in read_documents(f)]
    added = add_to_memory(model, docs, device)
    console.print(f"{added} instances from {len(docs)} documents added to the memory of {model}")


@memory_app.command("index")
@friendly_errors
def memory_index(
    model: Annotated[Path, typer.Option(help="checkpoint directory written by ccre train")],
    kind: Annotated[str, typer.Option(help="exact (brute force) or hnsw (approximate, for large memories)")] = "hnsw",
    ef_search: Annotated[int, typer.Option(min=1, help="hnsw: search beam width (larger: slower, more exact)")] = 128,
) -> None:
    """Rebuild a trained model's memory index: HNSW for fast approximate kNN over large memories."""
    from ccre.memory import EmbeddingMemory

    if kind not in ("exact", "hnsw"):
        raise CcreError(f"--kind must be exact or hnsw, not {kind!r}")
    memory = EmbeddingMemory.load(model / "memory")
    memory.reindex(kind, ef_search=ef_search)  # type: ignore[arg-type]
    memory.save(model / "memory")
    console.print(f"memory of {model}: {len(memory)} instances, {kind} index")


def _train_test(dataset: Optional[Dataset], train_file, test_file, train_docs: int, seed: int, data_dir):
    """Training subset and test documents from a data set or explicit files (as ``ccre train`` picks them)."""
    from ccre.config import CcreConfig
    from ccre.experiment import resolve_split, select_training_documents
    from ccre.formats import read_documents

    cfg = CcreConfig().with_overrides(
        {
            "data.dataset": dataset.value if dataset else (None if train_file else "biored"),
            "data.train": str(train_file) if train_file else None,
            "data.test": str(test_file) if test_file else None,
            "data.train_docs": train_docs,
            "train.seed": seed,
        }
    )
    train_path, test_path = resolve_split(cfg, "train", data_dir), resolve_split(cfg, "test", data_dir)
    return select_training_documents(cfg, read_documents(train_path)), read_documents(test_path), test_path


@app.command()
@friendly_errors
def probe(
    model: Annotated[str, typer.Option(help="encoder (name, path, ccre pretrain output) or checkpoint")] = "sentence-transformers/all-MiniLM-L6-v2",
    dataset: Annotated[Optional[Dataset], typer.Option()] = None,
    train_file: Annotated[Optional[Path], typer.Option("--train")] = None,
    test_file: Annotated[Optional[Path], typer.Option("--test")] = None,
    train_docs: Annotated[int, typer.Option(help="training documents the probes are fit on")] = 20,
    k: Annotated[int, typer.Option(help="neighbours of the kNN probe")] = 5,
    seed: Annotated[int, typer.Option()] = 13,
    fresh_pair_embedder: Annotated[bool, typer.Option(
        help="probe a ccre pretrain output's encoder under a seeded, untrained pair embedder instead of its "
        "pretrained one")] = False,
    typed_markers: Annotated[bool, typer.Option(
        "--typed-markers/--untyped-markers",
        help="write each mention's entity type after its start marker (for an encoder pretrained with "
        "`ccre pretrain --typed-markers`)")] = False,
    results: Annotated[Optional[Path], typer.Option(help="append one JSON line per probe to this file")] = None,
    data_dir: DataDir = None,
    device: Annotated[Optional[str], typer.Option()] = None,
    precision: PrecisionOpt = PrecisionChoice.auto,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Probe a frozen encoder: softmax, nearest centroid and kNN on its pair embeddings."""
    import time

    from ccre.analysis import probe_encoder
    from ccre.bench import short_hash
    from ccre.config import EncoderConfig
    from ccre.evaluation import scheme_for_format
    from ccre.formats import detect_format
    from ccre.io import append_jsonl
    from ccre.pretraining.config import is_pretrain_output
    from ccre.results import result_record
    from ccre.runtime import git_commit

    started = time.perf_counter()
    commit = git_commit()
    train_docs_, test_docs, test_path = _train_test(dataset, train_file, test_file, train_docs, seed, data_dir)
    scores, resolved_precision = probe_encoder(model, train_docs_, test_docs, scheme_for_format(detect_format(test_path)),
                                               k, seed, device, fresh_pair_embedder, precision.value,
                                               EncoderConfig(typed_markers=typed_markers))
    wall = time.perf_counter() - started
    # a variant is told apart in reports by its overrides
    overrides = {**({"probe.pair_embedder": "fresh"} if fresh_pair_embedder else {}),
                 **({"encoder.typed_markers": True} if typed_markers else {})}
    variant = {"overrides": overrides, "overrides_hash": "fresh-pair" if list(overrides) == ["probe.pair_embedder"]
               else short_hash(overrides, 10)} if overrides else {}
    encoder_kind = "mtb" if is_pretrain_output(model) else "plm"
    for method, metrics in scores.items():
        if results:
            append_jsonl(results, result_record(
                dataset=dataset.value if dataset else str(train_file), train_docs=len(train_docs_),
                method=method, encoder=model, seed=seed, metrics=metrics, wall_s=wall, config={"k": k}, commit=commit,
                encoder_kind=encoder_kind, precision=resolved_precision, **variant,
            ))
        if not as_json:
            out.print(_metrics_table(metrics, f"{method} on {model}"))
    if as_json:
        print(json.dumps(scores))


@plot_app.command("losses")
@friendly_errors
def plot_losses(
    csv_file: Annotated[Path, typer.Argument(help="loss log (ccre pretrain writes losses.csv)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file")],
    terms: Annotated[Optional[list[str]], typer.Option("--term", help="columns to plot (default: every loss term)")] = None,
) -> None:
    """Loss curves, one panel per term, from a CSV with a ``step`` column."""
    import csv

    from ccre.plots import plot_loss_curves

    if not terms:
        with open(csv_file, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        terms = [c for c in header if c not in ("step", "epoch", "lr", "seconds")]
    plot_loss_curves(csv_file, output, terms)
    console.print(f"{', '.join(terms)} plotted to {output}")


@plot_app.command("tsne")
@friendly_errors
def plot_tsne(
    model: Annotated[str, typer.Option(help="checkpoint, ccre pretrain output or encoder")],
    input: Annotated[Path, typer.Option("--input", "-i", help="labelled documents to embed")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file")],
    method: Annotated[str, typer.Option(help="tsne or umap")] = "tsne",
    title: Annotated[Optional[str], typer.Option()] = None,
    max_points: Annotated[int, typer.Option(help="seeded sample above this many pairs")] = 3000,
    seed: Annotated[int, typer.Option()] = 13,
    device: Annotated[Optional[str], typer.Option()] = None,
) -> None:
    """2-D map of the pair embeddings of labelled documents, coloured by gold relation."""
    from ccre.analysis import plot_relation_embeddings
    from ccre.formats import read_documents

    coords = plot_relation_embeddings(model, read_documents(input), output, method, title, max_points, seed, device)
    console.print(f"{len(coords)} pairs plotted to {output}")


from ccre.cli_bench import bench_app  # noqa: E402  (imports from here)

app.add_typer(bench_app, name="bench")
