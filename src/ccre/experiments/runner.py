"""Running a grid: each cell finetunes and evaluates (or probes), appends its lines and is skipped on a rerun.

The function that runs one cell is a parameter of :func:`run_grid` (default :func:`run_cell`), so the
grid logic can be tested without training.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ccre.config import DEFAULT_ENCODER, CcreConfig
from ccre.errors import CcreError, ConfigError
from ccre.experiments.grid import (
    PRETRAIN_S_PER_STEP,
    PROBES,
    Cell,
    Grid,
    expand,
    pretrain_config,
    pretrain_key,
    short_hash,
)
from ccre.experiments.records import append_lines, finished_keys, headline_figures
from ccre.training.pretraining.config import is_pretrain_output

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
    taken as it is, so a field it was not made with (``--pretrain-set typed_markers=true`` beside an encoder
    pretrained without types) would silently make its cells a different experiment from the ablations'."""
    from ccre.training.pretraining.config import PretrainConfig, pretrain_settings

    path = Path(str(grid.pretrained))
    if not is_pretrain_output(path):
        raise ConfigError(f"{path} is not a finished `ccre pretrain` output (no ccre_pretrain.json)")
    made_with = {**PretrainConfig().model_dump(), **(pretrain_settings(path) or {})}
    wanted = pretrain_config(grid.pretrain, "mtb").model_dump()
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
    from ccre.training.pretraining.trainer import CHECKPOINT_DIR, Pretrainer

    out = Path(cache) / pretrain_key(config)
    if is_pretrain_output(out):
        return out
    from ccre.training.pretraining.inputs import load_corpus_documents

    resume = (out / CHECKPOINT_DIR).exists()
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
    overrides = {**cell.overrides, "data.dataset": cell.dataset, "data.train_docs": cell.train_docs,
                 "data.train_fraction": None, "train.seed": cell.seed, "encoder.name": encoder}
    if cell.objective:
        overrides["train.objective"] = cell.objective
    return CcreConfig().with_overrides({k: v for k, v in overrides.items() if not k.startswith("probe.")})


def run_cell(cell: Cell, ctx: BenchContext) -> list[dict]:
    """The real cell: finetune + evaluate (``train_and_evaluate``), or probe a frozen encoder."""
    encoder = ctx.encoder_path(cell.encoder_kind, cell.overrides)
    config = cell_config(cell, encoder)
    if cell.method == "probe":
        return _probe_cell(cell, ctx, config)
    from ccre.experiments.run import train_and_evaluate
    from ccre.training.finetune import STATE_FILE

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
    record = {**outcome.record, "method": cell.method}
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
    from ccre.experiments.run import resolve_split, select_training_documents
    from ccre.utils.runtime import git_commit

    started = time.perf_counter()
    commit = git_commit()
    train_path, test_path = resolve_split(config, "train", ctx.data_dir), resolve_split(config, "test", ctx.data_dir)
    train_docs = select_training_documents(config, read_documents(train_path))
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


def estimate_seconds(grid: Grid, cells: Iterable[Cell] | None = None, *, pretraining: bool = True,
                     pretrained_cache: str | Path | None = None) -> float:
    """Estimated CPU time (2 cores) of ``cells`` (default: the whole grid), from the reference costs.
    Pretraining counts the steps still to run: none for an encoder already built in ``pretrained_cache``,
    the steps after the last checkpoint for one whose build was interrupted."""
    cells = list(expand(grid) if cells is None else cells)
    total = sum(c.cost_units(_cell_epochs(c)) for c in cells)
    if pretraining:
        kinds = {c.encoder_kind for c in cells if c.encoder_kind != "plm"}
        if grid.pretrained:
            kinds.discard("mtb")
        for kind in kinds:
            cfg = pretrain_config(grid.pretrain, kind)
            steps = cfg.max_steps or 500
            if pretrained_cache is not None:
                steps -= _steps_built(Path(pretrained_cache) / pretrain_key(cfg), steps)
            total += steps * PRETRAIN_S_PER_STEP
    return total


def _steps_built(out: Path, total_steps: int) -> int:
    """Pretraining steps already done in ``out``: all when finished, else those of its last checkpoint."""
    from ccre.training.pretraining.trainer import CHECKPOINT_DIR, STATE_FILE

    if is_pretrain_output(out):
        return total_steps
    try:
        return min(total_steps, int(json.loads((out / CHECKPOINT_DIR / STATE_FILE).read_text())["step"]))
    except (OSError, ValueError, KeyError, TypeError):
        return 0  # no checkpoint yet (or an unreadable one, which the build will report)


def _cell_epochs(cell: Cell) -> int:
    return int(cell.overrides.get("train.epochs", 30))


def run_grid(
    grid: Grid,
    results: str | Path,
    *,
    cell_runner: CellRunner = run_cell,
    context: BenchContext | None = None,
    log: Callable[[str], None] = print,
) -> BenchSummary:
    """Run every cell of ``grid`` whose lines are not in ``results`` yet, appending each finished cell's
    lines at once. The commit is read when each cell starts. An exception in a cell stops the run (the
    cells finished before it are saved); rerun to go on."""
    from ccre.utils.runtime import git_commit

    ctx = context or BenchContext(grid=grid, log=log)
    cells = expand(grid)
    done = finished_keys(results)
    pending = [c for c in cells if not all(k in done for k in c.keys)]
    skipped = len(cells) - len(pending)
    if grid.pretrained and any(c.encoder_kind == "mtb" for c in pending):
        check_pretrained(grid)  # before any cell runs, not after the plain encoder's cells
    log(f"{grid.name}: {len(cells)} cells, {skipped} already in {results}, {len(pending)} to run "
        f"(estimated {_duration(estimate_seconds(grid, pending, pretraining=False))} of CPU time, pretraining excluded)")
    measured_s, measured_units = 0.0, 0.0
    remaining_units = sum(c.cost_units(_cell_epochs(c)) for c in pending)
    written: list[dict] = []
    for index, cell in enumerate(pending, 1):
        commit = git_commit()
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
            record.setdefault("commit", commit)
            record.setdefault("wall_s", round(wall, 1))
            record.update(
                dataset=cell.dataset, method=method, seed=cell.seed, bench_key=cell.key(method),
                encoder_kind=cell.encoder_kind, overrides=cell.overrides, overrides_hash=cell.overrides_hash,
                grid=grid.name,
            )
            if record["bench_key"] not in done:
                lines.append(record)
        append_lines(results, lines)
        done.update(r["bench_key"] for r in lines)
        written.extend(lines)
        units = cell.cost_units(_cell_epochs(cell))
        # the rate comes from the cells' own times: a first cell that also built a pretrained encoder
        # (``wall``) would otherwise inflate every later ETA; a resumed cell's time covers only part of it
        if not any(r.get("resumed") for r in lines):
            measured_s += max(float(r.get("wall_s", wall)) for r in lines) if lines else wall
            measured_units += units
        remaining_units -= units
        eta = (remaining_units * (measured_s / measured_units) if measured_units > 0
               else estimate_seconds(grid, pending[index:], pretraining=False))  # only resumed cells so far
        figures = "; ".join(
            (f"{r['method']} " if len(lines) > 1 else "")
            + ", ".join(f"{name} {100 * v:.2f}" for name, v in headline_figures(r["metrics"]).items())
            for r in lines
        )
        log(f"[{skipped + index}/{len(cells)}] {cell.label}: {figures} in {_duration(wall)}; ETA {_duration(eta)}")
    return BenchSummary(total=len(cells), skipped=skipped, ran=len(pending), records=written)
