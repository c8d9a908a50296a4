"""``ccre plot``: loss curves and 2-D maps of pair embeddings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ccre.cli.app import console, friendly_errors, plot_app


@plot_app.command("losses")
@friendly_errors
def plot_losses(
    csv_file: Annotated[Path, typer.Argument(help="loss log (ccre pretrain writes losses.csv)")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file")],
    terms: Annotated[Optional[list[str]], typer.Option("--term", help="columns to plot (default: every loss term)")] = None,
) -> None:
    """Loss curves, one panel per term, from a CSV with a ``step`` column."""
    import csv

    from ccre.analysis.plots import plot_loss_curves

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
    from ccre.analysis.plots import plot_relation_embeddings
    from ccre.data.formats import read_documents

    coords = plot_relation_embeddings(model, read_documents(input), output, method, title, max_points, seed, device)
    console.print(f"{len(coords)} pairs plotted to {output}")
