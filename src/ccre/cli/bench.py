"""``ccre bench`` (run a resumable benchmark grid) and ``ccre bench report`` (tables and plots).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from ccre.cli.app import (
    DataDir,
    PrecisionChoice,
    PrecisionOpt,
    app,
    console,
    friendly_errors,
    out,
)
from ccre.config import parse_assignments
from ccre.errors import ConfigError

bench_app = typer.Typer(
    help="Resumable benchmark grids (data set x size x method x seed) and their report.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(bench_app, name="bench")


def _csv(text: str | None, cast=str) -> list | None:
    if text is None:
        return None
    try:
        return [cast(part.strip()) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ConfigError(f"not a comma-separated list of {cast.__name__}: {text!r}") from None


def default_results(name: str) -> Path:
    """Where the lines of a grid that names no ``results`` file go: ``runs/bench/<name>.jsonl``, beside the
    cells' scratch space of the default ``--work-dir``."""
    return Path("runs") / "bench" / f"{name}.jsonl"


def default_report_dir(results: Path) -> Path:
    """``ccre bench report``'s folder when no ``--out`` is given: beside the results file, named after it."""
    return results.with_name(f"{results.stem}-report")


def _select_blocks(blocks: list[dict[str, Any]], dataset: str, sizes: list[int]) -> list[dict[str, Any]]:
    """The blocks of ``dataset`` at ``sizes``: a grid file's own blocks for the sizes it has (their seeds and
    overrides kept, so a cell run alone is the grid's cell), and one plain block for the sizes it lacks."""
    kept = [{**block, "sizes": [n for n in block["sizes"] if n in sizes]} for block in blocks
            if block["dataset"] == dataset]
    kept = [block for block in kept if block["sizes"]]
    rest = [n for n in sizes if not any(n in block["sizes"] for block in kept)]
    return kept + ([{"dataset": dataset, "sizes": rest}] if rest else [])


def build_grid(
    grid_file: Path | None, *, dataset: str | None = None, sizes: str | None = None, methods: str | None = None,
    seeds: str | None = None, probe_encoders: str | None = None, epochs: int | None = None,
    overrides: dict[str, Any] | None = None, pretrain: dict[str, Any] | None = None,
    pretrained: Path | None = None, name: str | None = None,
):
    """A grid from a file, from options, or a file with options on top (options win)."""
    from ccre.experiments.grid import Grid

    raw: dict[str, Any] = {}
    if grid_file is not None:
        raw = Grid.load(grid_file).model_dump(exclude_none=True)
    elif dataset is None or sizes is None:
        raise ConfigError("give a grid file (--grid) or at least --dataset and --sizes")
    if dataset is not None or sizes is not None:
        if dataset is None or sizes is None:
            raise ConfigError("--dataset and --sizes (which pick a grid file's cells) go together: give both")
        raw["blocks"] = _select_blocks(raw.get("blocks", []), dataset, _csv(sizes, int))
    if seeds is not None:
        raw["blocks"] = [{**block, "seeds": _csv(seeds, int)} for block in raw["blocks"]]
    for key, value in (("methods", _csv(methods)), ("probe_encoders", _csv(probe_encoders)), ("epochs", epochs),
                       ("pretrained", str(pretrained) if pretrained else None), ("name", name)):
        if value is not None:
            raw[key] = value
    if overrides:
        raw["overrides"] = {**raw.get("overrides", {}), **overrides}
    if pretrain:
        raw["pretrain"] = {**raw.get("pretrain", {}), **pretrain}
    return Grid.parse(raw, source=str(grid_file) if grid_file else "options")


@bench_app.callback(invoke_without_command=True)
@friendly_errors
def bench(
    ctx: typer.Context,
    grid: Annotated[Optional[Path], typer.Option("--grid", "-g", help="YAML/JSON grid file (see docs/bench.md)")] = None,
    dataset: Annotated[Optional[str], typer.Option(
        help="biored, redocred or files of your own TRAIN,TEST[,DEV] (one block; with --grid: the file's cells of it at --sizes)")] = None,
    sizes: Annotated[Optional[str], typer.Option(help="training sizes in documents, e.g. 4,20,40")] = None,
    methods: Annotated[Optional[str], typer.Option(help="e.g. plm+ce,mtb+ce,mtb+supcon,mtb+mccl,probe-knn")] = None,
    seeds: Annotated[Optional[str], typer.Option(help="e.g. 1,2,3")] = None,
    probe_encoders: Annotated[Optional[str], typer.Option(help="encoders the probes probe, e.g. plm,mtb")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="finetuning epochs")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="config override KEY=VALUE, e.g. train.lr=3e-5 (repeatable)")] = None,
    pretrain_set: Annotated[Optional[list[str]], typer.Option("--pretrain-set", help="PretrainConfig field KEY=VALUE, e.g. max_steps=200 (repeatable)")] = None,
    pretrained: Annotated[Optional[Path], typer.Option(help="an existing `ccre pretrain` output to use as the mtb encoder")] = None,
    results: Annotated[Optional[Path], typer.Option(help="JSONL results file, appended to (default: the grid file's `results`, else runs/bench/<name>.jsonl)")] = None,
    reuse: Annotated[Optional[list[Path]], typer.Option(help="another results file whose lines this grid's cells would make, under the same settings, are copied in rather than run again, e.g. a variant adopted as the grid's setting (repeatable)")] = None,
    name: Annotated[Optional[str], typer.Option(help="grid name (recorded in every line)")] = None,
    work_dir: Annotated[Path, typer.Option(help="scratch space for the cells' checkpoints")] = Path("runs/bench"),
    pretrained_cache: Annotated[Path, typer.Option(help="where pretrained encoders are built and cached")] = Path("runs/pretrained"),
    keep_checkpoints: Annotated[bool, typer.Option(help="keep each cell's checkpoint in --work-dir")] = False,
    dry_run: Annotated[bool, typer.Option(help="list the cells still to run and their estimated time (from the grid's costs, else from the results file's finished cells); run nothing")] = False,
    data_dir: DataDir = None,
    device: Annotated[Optional[str], typer.Option(help="cpu, cuda, ... (default: cuda if present)")] = None,
    progress: Annotated[bool, typer.Option(help="show training progress bars inside each cell")] = False,
    precision: PrecisionOpt = PrecisionChoice.auto,
) -> None:
    """Run a benchmark grid; finished cells are skipped, so rerunning resumes an interrupted run.

    `ccre bench --dataset biored --sizes 4,20,40 --methods plm+ce,mtb+mccl --seeds 1,2,3 --results FILE`;
    `ccre bench report FILE...` writes the table and plots (to FILE-report/ beside the first FILE, or --out DIR).
    """
    if ctx.invoked_subcommand is not None:
        return
    from ccre.experiments.grid import expand, finished, pending_cells
    from ccre.experiments.records import read_results
    from ccre.experiments.runner import (
        BenchContext,
        _duration,
        bench_costs,
        estimate_seconds,
        reused_lines,
        run_grid,
    )

    if grid is None and dataset is None and sizes is None:
        out.print(ctx.get_help())
        raise typer.Exit(0)
    spec = build_grid(grid, dataset=dataset, sizes=sizes, methods=methods, seeds=seeds, probe_encoders=probe_encoders,
                      epochs=epochs, overrides=parse_assignments(set_, "--set"),
                      pretrain=parse_assignments(pretrain_set, "--pretrain-set"), pretrained=pretrained, name=name)
    results_path = results or (Path(spec.results) if spec.results else default_results(spec.name))
    if missing := [str(p) for p in reuse or [] if not p.is_file()]:
        raise ConfigError(f"--reuse: no such results file: {', '.join(missing)}")
    log = lambda message: console.print(message, highlight=False)  # noqa: E731
    if dry_run:
        cells = expand(spec)
        done = finished(read_results(results_path))
        copies = reused_lines(cells, done, reuse or [])
        pending = pending_cells(cells, done | finished(copies))
        for cell in pending:
            out.print(cell.label, highlight=False)
        costs, source = bench_costs(spec, results_path)
        total = estimate_seconds(spec, pending, costs=costs, pretrained_cache=pretrained_cache)
        pretraining = total.seconds - estimate_seconds(spec, pending, costs=costs, pretraining=False).seconds
        out.print(
            f"{len(cells)} cells, {len(cells) - len(pending)} done in {results_path}"
            + (f" or to be copied from --reuse ({len(copies)} line(s))" if copies else "")
            + f", {len(pending)} to run; "
            f"estimated time: {total}, pretraining still to run included ({_duration(pretraining)}), {source}",
            highlight=False,
        )
        return
    context = BenchContext(grid=spec, data_dir=data_dir, device=device, work_dir=work_dir,
                           pretrained_cache=pretrained_cache, keep_checkpoints=keep_checkpoints,
                           show_progress=progress, precision=precision.value, log=log)
    summary = run_grid(spec, results_path, reuse=reuse or [], context=context, log=log)
    console.print(f"{summary.ran} cell(s) run, {summary.skipped} skipped; results in {results_path}; "
                  f"report: ccre bench report {results_path}", highlight=False)


@bench_app.command("report")
@friendly_errors
def report(
    results: Annotated[list[Path], typer.Argument(help="JSONL results files (ccre bench, ccre train/probe --results)")],
    out_dir: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="directory for table.md and the PNG plots (default: beside the first results file, "
        "named after it: runs/bench/study.jsonl gives runs/bench/study-report)")] = None,
) -> None:
    """Mean ± std over seeds per data set x size x method (table.md), wall times, and plots."""
    from ccre.experiments.report import write_report

    missing = [str(p) for p in results if not p.exists()]
    if missing:
        raise ConfigError(f"no such results file: {', '.join(missing)}")
    for path in write_report(results, out_dir or default_report_dir(results[0])):
        console.print(f"wrote {path}", highlight=False)
