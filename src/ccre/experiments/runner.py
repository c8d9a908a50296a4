"""Running a grid: each cell finetunes and evaluates (or probes), appends its lines and is skipped on a rerun.

The function that runs one cell is a parameter of :func:`run_grid` (default :func:`run_cell`), so the
grid logic can be tested without training.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccre.config import DEFAULT_ENCODER, CcreConfig
from ccre.data.datasets import file_pair
from ccre.errors import CcreError, ConfigError
from ccre.experiments.grid import (
    PROBES,
    Cell,
    Costs,
    Grid,
    cell_lines,
    expand,
    finished,
    fit_costs,
    pending_cells,
    pretrain_config,
    pretrain_key,
    short_hash,
)
from ccre.experiments.records import (
    append_lines,
    headline_figures,
    read_results,
)
from ccre.modeling.checkpoint import is_pretrained_encoder, pretrain_settings

if TYPE_CHECKING:
    from ccre.utils.runtime import Precision


logger = logging.getLogger(__name__)


# -------------------------------------------------------------------------------------------- running
@dataclass
class BenchContext:
    """What a cell runner may use: where data and scratch space are, and the encoders of the grid."""

    grid: Grid
    data_dir: str | Path | None = None
    device: str | None = None
    work_dir: Path = Path("runs/bench")
    pretrained_cache: Path = Path("runs/pretrained")
    keep_checkpoints: bool = False
    show_progress: bool = False
    precision: Precision = "auto"  # of every encoder pass (pretraining, finetuning, probes); lines record it
    log: Callable[[str], None] = print
    _encoders: dict[str, str] = field(default_factory=dict)

    def encoder_path(self, kind: str, overrides: dict[str, Any] | None = None) -> str:
        """Name or path of the starting encoder of a kind; pretrained encoders are built (or resumed) on
        first use and cached."""
        if kind == "plm":
            return str((overrides or {}).get("encoder.name", DEFAULT_ENCODER))
        if kind == "mtb" and self.grid.pretrained:
            check_pretrained(self.grid)
            return str(self.grid.pretrained)
        if kind not in self._encoders:
            self._encoders[kind] = str(ensure_pretrained(
                pretrain_config(self.grid.pretrain, kind), self.pretrained_cache, data_dir=self.data_dir,
                cpu=self.device == "cpu", precision=self.precision, show_progress=self.show_progress, log=self.log,
            ))
        return self._encoders[kind]


def check_pretrained(grid: Grid) -> None:
    """Check the grid's ``pretrained`` encoder: a finished ``ccre pretrain`` output made with every
    ``pretrain`` field the grid sets. Those fields still build the ablated encoders, but the ``mtb`` encoder is
    taken as it is, so a field it was not made with (``--pretrain-set encoder.typed_markers=true`` beside an encoder
    pretrained without types) would silently make its cells a different experiment from the ablations'."""
    from ccre.training.pretraining.config import PretrainConfig

    path = Path(str(grid.pretrained))
    if not is_pretrained_encoder(path):
        raise ConfigError(f"{path} is not a finished `ccre pretrain` output")
    made_with = PretrainConfig.model_validate(pretrain_settings(path) or {}).flat()
    wanted = pretrain_config(grid.pretrain, "mtb").flat()
    differ = [f"{k}={wanted[k]!r} (it has {made_with.get(k)!r})" for k in sorted(grid.pretrain)
              if k in wanted and made_with.get(k) != wanted[k]]
    if differ:
        raise ConfigError(f"the pretrained encoder {path} was not made with the grid's pretraining settings: "
                          f"{'; '.join(differ)}. Drop --pretrained to build the encoder those settings describe, "
                          "or drop the settings to use it as it is")


def ensure_pretrained(config, cache: str | Path, *, data_dir=None, cpu: bool = False, precision: Precision = "auto",
                      show_progress: bool = False, log: Callable[[str], None] = print) -> Path:
    """``<cache>/<hash of config>``: built on the default pretraining inputs unless already there, resumed
    from its last checkpoint when an earlier build was interrupted."""
    from ccre.training.loop import STATE_FILE
    from ccre.training.pretraining.trainer import Pretrainer

    out = Path(cache) / pretrain_key(config)
    if is_pretrained_encoder(out):
        return out
    from ccre.training.pretraining.inputs import load_corpus_documents

    resume = (out / STATE_FILE).exists()
    log(f"{'resuming' if resume else 'building'} pretrained encoder {out} "
        f"(terms: {', '.join(config.terms())}, {config.max_steps or config.epochs} {'steps' if config.max_steps else 'epochs'})")
    if out.exists() and not resume:
        shutil.rmtree(out)  # a build killed before its first checkpoint
    docs, report = load_corpus_documents(None, None, data_dir, strict=False)
    log(f"{len(docs)} pretraining documents ({report['skipped_bad']} bad skipped, "
        f"{report['excluded_dropped']} evaluation documents excluded)")
    started = time.perf_counter()
    Pretrainer(config, docs, out, cpu=cpu, precision=precision, show_progress=show_progress, log=log).run(resume=resume)
    log(f"pretrained encoder {out} ready in {(time.perf_counter() - started) / 60:.1f} min")
    return out


CellRunner = Callable[[Cell, BenchContext], list[dict]]


def cell_config(cell: Cell, encoder: str) -> CcreConfig:
    """The run config of a cell; a data set named by its files (:func:`ccre.data.datasets.file_pair`) reads them."""
    files = file_pair(cell.dataset)
    data = {"data.dataset": cell.dataset} if files is None else {
        "data.dataset": None, **{f"data.{split}": path for split, path in files.items()}}
    overrides = {**cell.overrides, **data, "data.train_docs": cell.train_docs,
                 "data.train_fraction": None, "train.seed": cell.seed, "encoder.name": encoder}
    if cell.objective:
        overrides["objective.name"] = cell.objective
    return CcreConfig().with_overrides({k: v for k, v in overrides.items() if not k.startswith("probe.")})


def run_cell(cell: Cell, ctx: BenchContext) -> list[dict]:
    """The real cell: finetune + evaluate (``train_and_evaluate``), or probe a frozen encoder."""
    encoder = ctx.encoder_path(cell.encoder_kind, cell.overrides)
    config = cell_config(cell, encoder)
    if cell.method == "probe":
        return _probe_cell(cell, ctx, config)
    from ccre.experiments.run import train_and_evaluate
    from ccre.training.loop import STATE_FILE

    output = ctx.work_dir / "cells" / short_hash(cell.keys)
    # a killed cell left its training state (saved after every epoch): continue from it; anything else
    # there (a cell killed before its first epoch ended, or while it was being evaluated) starts again
    resume = (output / STATE_FILE).exists()
    if resume:
        ctx.log(f"{cell.label}: resuming from the training state a killed run left in {output}")
    elif output.exists():
        shutil.rmtree(output)
    # on failure the directory stays: its training state is what a rerun resumes from
    outcome = train_and_evaluate(config, data_dir=ctx.data_dir, output=output, device=ctx.device,
                                 precision=ctx.precision, show_progress=ctx.show_progress, resume=resume)
    # the config knows the objective and the encoder's path, not the encoder's kind (an ablation's method
    # would read mtb+mccl): the cell names it
    record = {**outcome.record, "method": cell.method, "dataset": cell.dataset}
    if resume:
        record["resumed"] = True  # its wall_s counts the run that finished it, not the killed one
    if ctx.keep_checkpoints:
        record["checkpoint"] = str(output)
    else:
        shutil.rmtree(output, ignore_errors=True)
    return [record]


def _probe_cell(cell: Cell, ctx: BenchContext, config: CcreConfig) -> list[dict]:
    from ccre.analysis.probe import probe_encoder
    from ccre.data.formats import detect_format, read_documents
    from ccre.evaluation.scoring import scheme_for_format
    from ccre.experiments.records import result_record
    from ccre.experiments.run import (
        load_split,
        resolve_split,
        select_training_documents,
    )
    from ccre.utils.runtime import git_commit

    started = time.perf_counter()
    commit = git_commit()
    test_path = resolve_split(config, "test", ctx.data_dir)
    train_docs = select_training_documents(config, load_split(config, "train", ctx.data_dir))
    k = int(cell.overrides.get("probe.k", 5))
    probed = probe_encoder(config.encoder.name, train_docs, read_documents(test_path),
                           scheme_for_format(detect_format(test_path)), k, cell.seed, ctx.device,
                           precision=ctx.precision, encoder=config.encoder)
    wall = time.perf_counter() - started
    return [
        result_record(dataset=cell.dataset, train_docs=len(train_docs), method=method, encoder=config.encoder.name,
                      seed=cell.seed, metrics=probed.scores[method], wall_s=wall,
                      config={**config.model_dump(), "probe": {"k": k}}, commit=commit, precision=probed.precision)
        for method in PROBES
    ]


@dataclass
class BenchSummary:
    total: int
    skipped: int
    ran: int
    records: list[dict]


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


@dataclass(frozen=True)
class Estimate:
    """An estimated time: the seconds of what the costs price, and how many cells and pretrained encoders they
    cannot price (no figure for their data set and kind)."""

    seconds: float
    unpriced_cells: int = 0
    unpriced_pretraining: int = 0

    def __str__(self) -> str:
        unpriced = [f"{n} {what}" for n, what in ((self.unpriced_cells, "cells"),
                                                  (self.unpriced_pretraining, "pretrained encoders")) if n]
        if not unpriced:
            return _duration(self.seconds)
        known = f"at least {_duration(self.seconds)}" if self.seconds else "unknown"
        return f"{known} (no costs for {' and '.join(unpriced)})"


def bench_costs(grid: Grid, results: str | Path, lines: Iterable[dict] | None = None) -> tuple[Costs, str]:
    """The costs the estimates use, and a note saying where they come from: the grid's ``costs``, else costs
    fitted to the finished cells this machine recorded in ``results`` (read from ``lines`` when given)."""
    from ccre.utils.runtime import machine_description

    if grid.costs is not None:
        measured = f", measured on {grid.costs.measured_on}" if grid.costs.measured_on else ""
        return grid.costs, f"from the grid's costs{measured}"
    machine = machine_description()
    mine = [r for r in (read_results(results) if lines is None else lines) if r.get("machine") == machine]
    costs, cells = fit_costs(mine, measured_on=machine)
    if not cells:
        return costs, (f"the grid gives no costs and {results} has no finished cell of this machine to fit them to "
                       "(a grid file's costs section gives them)")
    return costs, f"from costs fitted to {cells} finished cells of this machine in {results}"


def estimate_seconds(grid: Grid, cells: Iterable[Cell] | None = None, *, costs: Costs | None = None,
                     pretraining: bool = True, pretrained_cache: str | Path | None = None) -> Estimate:
    """Estimated time of ``cells`` (default: the whole grid) by ``costs`` (default: the grid's; see
    :func:`bench_costs`). Pretraining counts the steps still to run: none for an encoder already built in
    ``pretrained_cache``, the steps after the last checkpoint for one whose build was interrupted."""
    costs = costs if costs is not None else grid.costs or Costs()
    cells = list(expand(grid) if cells is None else cells)
    priced = [c.cost_s(_cell_epochs(c), costs) for c in cells]
    total = sum(p for p in priced if p is not None)
    unpriced_pretraining = 0
    if pretraining:
        kinds = {c.encoder_kind for c in cells if c.encoder_kind != "plm"}
        if grid.pretrained:
            kinds.discard("mtb")
        for kind in kinds:
            cfg = pretrain_config(grid.pretrain, kind)
            steps = cfg.max_steps or 500
            if pretrained_cache is not None:
                steps -= _steps_built(Path(pretrained_cache) / pretrain_key(cfg), steps)
            if steps and costs.pretrain_s_per_step is None:
                unpriced_pretraining += 1
            elif steps:
                total += steps * costs.pretrain_s_per_step
    return Estimate(total, sum(p is None for p in priced), unpriced_pretraining)


def _steps_built(out: Path, total_steps: int) -> int:
    """Pretraining steps already done in ``out``: all when finished, else those of its last checkpoint."""
    from ccre.training.loop import STATE_FILE, saved_step

    if is_pretrained_encoder(out):
        return total_steps
    return min(total_steps, saved_step(out / STATE_FILE))  # 0 without a (readable) state: the build reports it


def _cell_epochs(cell: Cell) -> int:
    """The epochs a cell's run plans (the study's epochs, or the default plan for its documents)."""
    train = {k: v for k, v in cell.overrides.items() if k.startswith("train.")}
    return CcreConfig().with_overrides(train).train.epochs_for(cell.train_docs)


def _eta(grid: Grid, results: str | Path, remaining: list[Cell], timed: list[tuple[Cell, float]],
         lines: list[dict]) -> Estimate:
    """What ``remaining`` cells take: priced by the grid's costs (else by costs fitted to ``lines``, the results
    file's lines so far) and scaled by how the ``timed`` cells of this run took against their price."""
    costs, _ = bench_costs(grid, results, lines)
    priced = [(cell.cost_s(_cell_epochs(cell), costs), took) for cell, took in timed]
    priced = [(price, took) for price, took in priced if price]
    scale = sum(took for _, took in priced) / sum(price for price, _ in priced) if priced else 1.0
    rest = estimate_seconds(grid, remaining, costs=costs, pretraining=False)
    return Estimate(rest.seconds * scale, rest.unpriced_cells)


def reused_lines(cells: list[Cell], done: set[tuple[str, str | None]], reuse: Sequence[str | Path]) -> list[dict]:
    """The lines of the ``reuse`` results files that ``cells`` would make and ``done`` lacks
    (:func:`ccre.experiments.grid.cell_lines`), the first file's first, each marked with the file it came
    from (``reused_from``); its command, commit, date and wall time stay those of the run that made it."""
    taken: list[dict] = []
    have = set(done)
    for path in reuse:
        found = [{**line, "reused_from": str(path)} for line in cell_lines(cells, read_results(path), exclude=have)]
        taken.extend(found)
        have |= finished(found)
    return taken


def run_grid(
    grid: Grid,
    results: str | Path,
    *,
    reuse: Sequence[str | Path] = (),
    cell_runner: CellRunner = run_cell,
    context: BenchContext | None = None,
    log: Callable[[str], None] = print,
) -> BenchSummary:
    """Run every cell of ``grid`` whose lines are not in ``results`` yet, appending each finished cell's
    lines at once. The commit is read when each cell starts, with the folder of ``results`` left out (the lines
    appended there do not make the later ones dirty), and recorded in each of its lines. Lines of the ``reuse``
    files that are this grid's cells under its settings (:func:`reused_lines`) are appended first, and their
    cells not run. An exception in a cell stops the run (the cells finished before it are saved); rerun to go on."""
    from ccre.utils.runtime import git_commit

    ctx = context or BenchContext(grid=grid, log=log)
    cells = expand(grid)
    earlier = read_results(results)
    done = finished(earlier)
    if adopted := reused_lines(cells, done, reuse):
        append_lines(results, adopted)
        done |= finished(adopted)
        earlier += adopted
        log(f"{len(adopted)} line(s) copied from {', '.join(sorted({r['reused_from'] for r in adopted}))}")
    pending = pending_cells(cells, done)
    skipped = len(cells) - len(pending)
    if grid.pretrained and any(c.encoder_kind == "mtb" for c in pending):
        check_pretrained(grid)  # before any cell runs, not after the plain encoder's cells
    costs, source = bench_costs(grid, results, earlier)
    log(f"{grid.name}: {len(cells)} cells, {skipped} already in {results}, {len(pending)} to run "
        f"(estimated {estimate_seconds(grid, pending, costs=costs, pretraining=False)}, pretraining excluded; "
        f"{source})")
    timed: list[tuple[Cell, float]] = []  # the cells run here, with their own times
    written: list[dict] = []
    for index, cell in enumerate(pending, 1):
        commit = git_commit(exclude=[Path(results).parent])
        started = time.perf_counter()
        records = cell_runner(cell, ctx)
        wall = time.perf_counter() - started
        methods = [r.get("method") for r in records]
        by_method = {r.get("method"): r for r in records}
        if sorted(by_method) != sorted(cell.outputs) or len(records) != len(cell.outputs):
            raise CcreError(f"cell {cell.label}: the runner returned lines for {methods}, expected {list(cell.outputs)}")
        lines = []
        for method in cell.outputs:
            record = dict(by_method[method])
            record["commit"] = commit  # a runner's own reading does not know which lines are the results'
            record.setdefault("wall_s", round(wall, 1))
            record.update(
                dataset=cell.dataset, method=method, seed=cell.seed, bench_key=cell.key(method),
                encoder_kind=cell.encoder_kind, overrides=cell.overrides, overrides_hash=cell.overrides_hash,
                settings_hash=cell.settings_hash, grid=grid.name,
            )
            if (record["bench_key"], cell.settings_hash) not in done:
                lines.append(record)
        append_lines(results, lines)
        done.update((r["bench_key"], r["settings_hash"]) for r in lines)
        written.extend(lines)
        # the rate comes from the cells' own times: a first cell that also built a pretrained encoder
        # (``wall``) would otherwise inflate every later ETA; a resumed cell's time covers only part of it
        if not any(r.get("resumed") for r in lines):
            timed.append((cell, max(float(r.get("wall_s", wall)) for r in lines) if lines else wall))
        eta = _eta(grid, results, pending[index:], timed, earlier + written)
        figures = "; ".join(
            (f"{r['method']} " if len(lines) > 1 else "")
            + ", ".join(f"{name} {100 * v:.2f}" for name, v in headline_figures(r["metrics"]).items())
            for r in lines
        )
        log(f"[{skipped + index}/{len(cells)}] {cell.label}: {figures} in {_duration(wall)}; ETA {eta}")
    return BenchSummary(total=len(cells), skipped=skipped, ran=len(pending), records=written)
