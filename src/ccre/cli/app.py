"""The leaf of the command line: the ``ccre`` app, its command groups, consoles and shared options.

Every command module (:mod:`ccre.cli.train`, ...) imports from here and registers itself on import; nothing
here imports a command module.
"""

from __future__ import annotations

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


def _print_skip(error: CcreError) -> None:
    console.print(f"[yellow]skipped:[/] {error}", highlight=False)
