"""The leaf of the command line: the ``ccre`` app, its command groups, consoles and shared options.

Every command module (:mod:`ccre.cli.train`, ...) imports from here and registers itself on import; nothing
here imports a command module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console, ConsoleDimensions
from rich.logging import RichHandler
from rich.table import Table
from rich.text import Text

from ccre.data.formats.ids import DIALECTS
from ccre.errors import CcreError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ccre: document-level relation extraction from few labelled documents (continual contrastive finetuning).", pretty_exceptions_enable=False)
data_app = typer.Typer(no_args_is_help=True, help="Get, locate and check data sets.")
app.add_typer(data_app, name="data")
memory_app = typer.Typer(no_args_is_help=True, help="The memory of labelled instances a trained model compares with.")
app.add_typer(memory_app, name="memory")
plot_app = typer.Typer(no_args_is_help=True, help="Plots of pair embeddings.")
app.add_typer(plot_app, name="plot")


class _Console(Console):
    """A rich console that wraps for a terminal only. Written to a file or a pipe (``ccre data validate F >
    log``), a message stays on one line however long it is (a document's title, a path) and a table is as wide
    as its cells, so that the log can be searched line by line. An explicit width (``$COLUMNS``) still wins."""

    UNWRAPPED = 10_000
    """The width, in columns, of a console that is not a terminal."""

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self.is_terminal or self._width is not None:
            return size
        return ConsoleDimensions(self.UNWRAPPED, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        Console.size.fset(self, new_size)

    def print(self, *objects: Any, soft_wrap: bool | None = None, **kwargs: Any) -> None:
        if not self.is_terminal:
            if soft_wrap is None and all(isinstance(o, (str, Text)) for o in objects):
                soft_wrap = True  # a message longer than any width stays one line too
            objects = tuple(_one_line_title(o) for o in objects)
        super().print(*objects, soft_wrap=soft_wrap, **kwargs)


def _one_line_title(renderable: Any) -> Any:
    """``renderable``, but a table's text title as one line (rich wraps a title to the table's width)."""
    if not isinstance(renderable, Table) or not isinstance(renderable.title, str):
        return renderable
    title = Text.from_markup(renderable.title, overflow="ignore")
    title.no_wrap = True
    table = copy.copy(renderable)
    table.title = title
    return table


console = _Console(stderr=True)
out = _Console()


class Format(str, Enum):
    pubtator = "pubtator"
    bioc_xml = "bioc-xml"
    bioc_json = "bioc-json"
    docred = "docred"


Dialect = Enum("Dialect", {name: name for name in DIALECTS}, type=str)  # type: ignore[misc]


DialectOpt = Annotated[
    Optional[Dialect],
    typer.Option(help="how PubTator/BioC ID columns name concepts (default: read from the file; see "
                 "docs/formats.md)"),
]


class _LogHandler(RichHandler):
    """rich's log lines on a terminal; elsewhere one plain line a record (time, level, message), which rich's
    own layout would pad and fold to the console's width."""

    def render(self, *, record, traceback, message_renderable):  # noqa: ANN001, ANN201 (RichHandler's signature)
        if self.console.is_terminal or traceback is not None:
            return super().render(record=record, traceback=traceback, message_renderable=message_renderable)
        when = datetime.fromtimestamp(record.created).strftime(getattr(self.formatter, "datefmt", None) or "[%X]")
        return Text.assemble(when, " ", self.get_level_text(record), " ", message_renderable)


def _setup_logging() -> None:
    """ccre's progress messages to stderr through rich; transformers' own bars and warnings kept out."""
    import logging

    import transformers

    logging.basicConfig(
        level=logging.INFO, format="%(message)s", datefmt="[%X]",
        handlers=[_LogHandler(console=console, show_path=False)],
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


SetOpt = Annotated[
    Optional[list[str]],
    typer.Option("--set", help="config field SECTION.FIELD=VALUE (sections: encoder, objective, inference, train, "
                 "data), e.g. train.lr=3e-5; repeatable, applied last"),
]
DataDir = Annotated[
    Optional[Path],
    typer.Option(help="data directory (default: $CCRE_DATA_DIR, then ./data, then ../shared/data)"),
]


def _metrics_table(metrics: dict, title: str, floor: dict | None = None) -> Table:
    """BioRED's three levels as rows, or DocRED's P / R / F1 / Ign F1 as one row (percentages); ``floor``, the
    no-text prior's metrics on the same documents, adds its P / R / F1 beside them (a row of its own for DocRED)."""
    table = Table(title=title)
    if "type" in metrics:
        table.add_column("level")
        for col in ("P", "R", "F1", *(("prior P", "prior R", "prior F1") if floor else ())):
            table.add_column(col, justify="right")
        for level, name in (("pair", "entity pair"), ("type", "pair + type"), ("novelty", "pair + type + novelty")):
            shown = [metrics, floor] if floor else [metrics]
            table.add_row(name, *(f"{100 * m[level][k]:.2f}" for m in shown for k in ("p", "r", "f1")))
    else:
        if floor:
            table.add_column("")
        for col in ("P", "R", "F1", "Ign F1"):
            table.add_column(col, justify="right")
        for name, m in (("model", metrics), ("prior", floor)) if floor else ((None, metrics),):
            table.add_row(*((name,) if floor else ()), *(f"{100 * m[k]:.2f}" for k in ("p", "r", "f1", "ign_f1")))
    return table


def _print_skip(error: CcreError) -> None:
    console.print(f"[yellow]skipped:[/] {error}", highlight=False)
