"""``ccre data``: get, locate, check and convert data sets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import (
    DataDir,
    DialectOpt,
    Format,
    _print_skip,
    console,
    data_app,
    friendly_errors,
    out,
)
from ccre.config import DatasetName
from ccre.errors import CcreError


@data_app.command("download")
@friendly_errors
def data_download(
    dataset: Annotated[DatasetName, typer.Argument(help="biored or redocred")],
    data_dir: Annotated[Path, typer.Option(help="where to install it")] = Path("data"),
) -> None:
    """Fetch an official release, verify its checksums and unpack it where ccre looks for data."""
    from ccre.data.datasets import download

    download(dataset, data_dir)
    console.print(f"{dataset} installed under {data_dir}")


@data_app.command("where")
@friendly_errors
def data_where(data_dir: DataDir = None) -> None:
    """Print the data directory ccre would use, and which data sets it holds."""
    from ccre.data.datasets import DATASETS, resolve_data_dir, split_path

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
    dialect: DialectOpt = None,
) -> None:
    """Report every problem of every file in one pass; exit 1 if there is any."""
    from ccre.data.formats import validate_file

    problems = 0
    for path in files:
        errors = validate_file(path, fmt.value if fmt else None, dialect.value if dialect else None)
        problems += len(errors)
        for error in errors:
            out.print(str(error), highlight=False)
        if not errors:
            out.print(f"{path}: ok", highlight=False)
    if problems:
        console.print(f"[red]{problems} problem(s)[/]")
        raise typer.Exit(1)


@data_app.command("convert")
@friendly_errors
def data_convert(
    source: Annotated[Path, typer.Argument(help="file to read (PubTator, BioC XML/JSON, DocRED JSON)")],
    target: Annotated[Path, typer.Argument(help="file to write; replaced atomically, never left half-written")],
    from_fmt: Annotated[Optional[Format], typer.Option("--from", help="format of SOURCE (default: detected)")] = None,
    to_fmt: Annotated[Optional[Format], typer.Option(
        "--to", help="format of TARGET (default: from its extension; .json needs --to)")] = None,
    dialect: DialectOpt = None,
    lenient: Annotated[bool, typer.Option(help="skip bad documents (each is listed) instead of stopping")] = False,
) -> None:
    """Convert SOURCE to TARGET between PubTator, BioC XML, BioC JSON and DocRED JSON."""
    from ccre.data.formats import convert, output_format

    target_fmt = to_fmt.value if to_fmt else output_format(target)
    n = convert(source, target, from_fmt.value if from_fmt else None, target_fmt,
                dialect=dialect.value if dialect else None, lenient=lenient, on_skip=_print_skip)
    console.print(f"{n} documents written to {target} ({target_fmt})", highlight=False)
