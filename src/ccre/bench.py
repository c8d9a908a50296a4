"""``ccre bench``: a resumable runner over a grid of data set x training size x method x seed.

A grid (:class:`Grid`, from a YAML/JSON file or from command-line options) expands into cells
(:func:`expand`). Each finished cell appends its result line(s) to one JSONL file (the results convention of
:func:`ccre.results.result_record`, plus the fields ``bench_key``, ``encoder_kind``, ``overrides``,
``overrides_hash`` and ``grid``). A rerun reads that file and skips every cell whose ``bench_key`` is there, so
a killed run loses at most the cell in progress, and of a finetuning cell only its epoch in progress (the
rerun resumes the cell from the training state saved after each epoch in ``<work_dir>/cells/<hash>``).

Method names (:func:`parse_method`):

- ``<encoder>+<objective>``: finetune with objective ``ce``, ``supcon`` or ``mccl`` from encoder ``plm`` (the
  plain encoder), ``mtb`` (contrastively pretrained) or an ablated pretraining ``mtb-no-mtb``,
  ``mtb-no-self``, ``mtb-no-mlm`` (that loss term's weight set to 0). The paper's set: ``plm+ce``,
  ``mtb+ce``, ``mtb+supcon``, ``mtb+mccl`` and the ablations ``mtb-no-mtb+mccl``, ``mtb-no-self+mccl``,
  ``mtb-no-mlm+mccl``.
- ``probe-softmax``, ``probe-centroid``, ``probe-knn`` (or ``probe``): one probe cell per encoder of
  ``probe_encoders`` (default ``plm`` and ``mtb``) fits all three probes on the frozen pair embeddings and
  appends three lines; their ``encoder_kind`` says which encoder was probed.

Pretrained encoders are built once per pretraining configuration, in ``<pretrained_cache>/<hash of the
PretrainConfig>``, reused by every cell and resumed when a build was interrupted; ``pretrained`` (a
``ccre pretrain`` output) replaces the ``mtb`` encoder instead.

The function that runs one cell is a parameter of :func:`run_grid` (default :func:`run_cell`), so the
grid logic can be tested without training.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ccre.config import DEFAULT_ENCODER, CcreConfig, read_mapping
from ccre.errors import CcreError, ConfigError
from ccre.pretraining.config import is_pretrain_output

if TYPE_CHECKING:
    from ccre.runtime import Precision

logger = logging.getLogger(__name__)

OBJECTIVES = ("ce", "supcon", "mccl")
PROBES = ("probe-softmax", "probe-centroid", "probe-knn")
#: encoder kind -> PretrainConfig overrides (``None``: the plain encoder, no pretraining)
ENCODER_KINDS: dict[str, dict[str, float] | None] = {
    "plm": None,
    "mtb": {},
    "mtb-no-mtb": {"mtb_weight": 0.0},
    "mtb-no-self": {"self_weight": 0.0},
    "mtb-no-mlm": {"mlm_weight": 0.0},
}
PAPER_METHODS = ("plm+ce", "mtb+ce", "mtb+supcon", "mtb+mccl", "mtb-no-mtb+mccl", "mtb-no-self+mccl",
                 "mtb-no-mlm+mccl", *PROBES)
#: fields the grid itself sets in every cell: not allowed as overrides
_GRID_FIELDS = ("data.dataset", "data.train_docs", "data.train_fraction", "train.seed", "train.objective")
#: test split sizes, for the time estimate
TEST_DOCS = {"biored": 100, "redocred": 500}
#: reference costs on 2 CPU cores (all-MiniLM-L6-v2, default config), from the median wall time of the study's
#: CPU cells (``benchmarks/results``): training seconds per document and epoch, by data set (a BioRED
#: abstract costs about three Re-DocRED documents: BioRED 4 docs ~ 2.3 min a cell, 40 docs ~ 18 min; Re-DocRED
#: 31 docs ~ 8 min, 500 docs ~ 70 min); a data set not listed is costed as BioRED, the dearer one
TRAIN_S_PER_DOC_EPOCH = {"biored": 0.9, "redocred": 0.28}
#: the rest of a cell (loading, no-relation calibration, test prediction) per test document, and the time of
#: one pretraining step (300 steps ~ 20-35 min)
PREDICT_S_PER_DOC = 0.4
PRETRAIN_S_PER_STEP = 5.0


def parse_method(name: str) -> tuple[str, str]:
    """``(encoder kind, objective)`` of a finetuning method, ``("probe", method)`` for a probe."""
    if name in PROBES or name == "probe":
        return "probe", name
    encoder, sep, objective = name.rpartition("+")
    if not sep or encoder not in ENCODER_KINDS or objective not in OBJECTIVES:
        raise ValueError(
            f"unknown method {name!r}: use <encoder>+<objective> with encoder one of {', '.join(ENCODER_KINDS)} "
            f"and objective one of {', '.join(OBJECTIVES)}, or one of {', '.join(PROBES)}"
        )
    return encoder, objective


def _json_value(value: Any) -> Any:
    return json.loads(json.dumps(value))


def short_hash(obj: Any, n: int = 12) -> str:
    """Hash of the canonical JSON of ``obj`` (sorted keys)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:n]


# ----------------------------------------------------------------------------------------------- grid
class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    bad = [k for k in overrides if k in _GRID_FIELDS]
    if bad:
        raise ValueError(f"{', '.join(bad)} are set by the grid (datasets, sizes, seeds, methods), not by overrides")
    try:
        CcreConfig().with_overrides(overrides)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    return _json_value(overrides)


class GridBlock(_Model):
    """One rectangular part of a grid: every size x seed x method of one data set."""

    dataset: Literal["biored", "redocred"]
    sizes: list[int] = Field(min_length=1, description="training documents (seeded subsets, nested per seed)")
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    methods: list[str] | None = Field(None, description="default: the grid's methods")
    epochs: int | None = Field(None, ge=1, description="default: the grid's epochs")
    overrides: dict[str, Any] = Field(default_factory=dict, description="CcreConfig dotted overrides, on top of the grid's")

    @field_validator("sizes")
    @classmethod
    def _positive(cls, sizes: list[int]) -> list[int]:
        if any(s < 1 for s in sizes):
            raise ValueError("sizes must be >= 1")
        return sizes

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: list[str] | None) -> list[str] | None:
        for m in methods or []:
            parse_method(m)
        return methods

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        return _check_overrides(overrides)


class Grid(_Model):
    """A benchmark grid. ``dataset``/``sizes``/``seeds`` at the top level are shorthand for one block."""

    name: str = "bench"
    results: str | None = Field(None, description="JSONL file the results are appended to")
    methods: list[str] = Field(default_factory=lambda: list(PAPER_METHODS), min_length=1)
    probe_encoders: list[str] = Field(default_factory=lambda: ["plm", "mtb"],
                                      description="encoder kinds the probe cells probe")
    probe_k: int = Field(5, ge=1, description="neighbours of the kNN probe")
    epochs: int | None = Field(None, ge=1, description="finetuning epochs (default: the config's, 30)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="CcreConfig dotted overrides for every cell")
    pretrain: dict[str, Any] = Field(default_factory=dict, description="PretrainConfig fields for the mtb encoders")
    pretrained: str | None = Field(None, description="an existing `ccre pretrain` output used as the mtb encoder")
    blocks: list[GridBlock] = Field(min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and "blocks" not in raw and "dataset" in raw:
            raw = dict(raw)
            block = {k: raw.pop(k) for k in ("dataset", "sizes", "seeds") if k in raw}
            raw["blocks"] = [block]
        return raw

    @field_validator("methods")
    @classmethod
    def _methods(cls, methods: list[str]) -> list[str]:
        for m in methods:
            parse_method(m)
        return methods

    @field_validator("probe_encoders")
    @classmethod
    def _probe_encoders(cls, kinds: list[str]) -> list[str]:
        for k in kinds:
            if k not in ENCODER_KINDS:
                raise ValueError(f"unknown encoder {k!r} (one of {', '.join(ENCODER_KINDS)})")
        return kinds

    @field_validator("pretrain")
    @classmethod
    def _pretrain(cls, raw: dict[str, Any]) -> dict[str, Any]:
        pretrain_config(raw, "mtb")  # validates
        return _json_value(raw)

    @field_validator("overrides")
    @classmethod
    def _overrides(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        return _check_overrides(overrides)

    @classmethod
    def parse(cls, raw: dict, source: str = "grid") -> Grid:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'grid'}: {e['msg']}" for e in exc.errors())
            raise ConfigError(f"{source}: {problems}") from None

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        return cls.parse(read_mapping(path, "grid"), source=str(path))


def pretrain_config(base: dict[str, Any], kind: str):
    """The PretrainConfig of an encoder kind: the grid's ``pretrain`` fields plus the kind's ablation."""
    from ccre.pretraining.config import PretrainConfig

    extra = ENCODER_KINDS[kind]
    if extra is None:
        raise ValueError(f"encoder {kind!r} is not pretrained")
    try:
        return PretrainConfig.model_validate({**base, **extra})
    except ValidationError as exc:
        raise ValueError(
            f"pretraining config for {kind}: "
            + "; ".join(f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in exc.errors())
        ) from None


KEY_SINCE_ADDED = {"typed_markers": False}
"""Pretraining fields added after results were recorded, with their defaults: left out of
:func:`pretrain_key` while at the default, so the keys (and the finished cells) of earlier configurations
stay valid."""


def pretrain_key(config) -> str:
    """Cache key of a pretraining configuration."""
    dump = config.model_dump()
    for name, default in KEY_SINCE_ADDED.items():
        if dump.get(name) == default:
            del dump[name]
    return short_hash(dump)


# ---------------------------------------------------------------------------------------------- cells
@dataclass(frozen=True)
class Cell:
    """One unit of work: a finetuning run (one result line) or a probe call (three lines)."""

    dataset: str
    train_docs: int
    method: str  # a finetuning method, or "probe"
    seed: int
    encoder_kind: str  # plm, mtb, mtb-no-...
    encoder_id: str  # identity of the starting encoder: model name, mtb:<pretrain hash> or pretrained:<dir>
    overrides_json: str  # canonical JSON of the config overrides of this cell
    outputs: tuple[str, ...]  # method names of the lines the cell appends

    @property
    def overrides(self) -> dict[str, Any]:
        return json.loads(self.overrides_json)

    @property
    def overrides_hash(self) -> str:
        return short_hash(self.overrides, 10)

    @property
    def objective(self) -> str | None:
        return None if self.method == "probe" else parse_method(self.method)[1]

    def key(self, method: str) -> str:
        """Resume key of one of the cell's lines."""
        return "|".join([self.dataset, str(self.train_docs), method, str(self.seed), self.encoder_id,
                         self.overrides_hash])

    @property
    def keys(self) -> list[str]:
        return [self.key(m) for m in self.outputs]

    @property
    def label(self) -> str:
        what = f"probe ({self.encoder_kind})" if self.method == "probe" else self.method
        return f"{self.dataset} n={self.train_docs} {what} seed={self.seed}"

    def cost_units(self, epochs: int) -> float:
        """Rough cost (estimated CPU seconds on 2 cores): the ETA scales measured times by it."""
        test = TEST_DOCS.get(self.dataset, 100) * PREDICT_S_PER_DOC
        if self.method == "probe":
            return self.train_docs * PREDICT_S_PER_DOC + test
        per_doc_epoch = TRAIN_S_PER_DOC_EPOCH.get(self.dataset, max(TRAIN_S_PER_DOC_EPOCH.values()))
        return self.train_docs * epochs * per_doc_epoch + test


def _encoder_id(grid: Grid, kind: str, overrides: dict[str, Any]) -> str:
    if kind == "plm":
        return str(overrides.get("encoder.name", DEFAULT_ENCODER))
    if kind == "mtb" and grid.pretrained:
        return f"pretrained:{grid.pretrained}"
    return f"{kind}:{pretrain_key(pretrain_config(grid.pretrain, kind))}"


def expand(grid: Grid) -> list[Cell]:
    """Every cell of the grid, in order (block, size, seed, method), duplicates removed."""
    cells: list[Cell] = []
    seen: set[tuple[str, ...]] = set()
    for block in grid.blocks:
        methods = block.methods or grid.methods
        train_overrides = {**grid.overrides, **block.overrides}
        epochs = block.epochs or grid.epochs
        if epochs is not None:
            train_overrides["train.epochs"] = epochs
        for size in block.sizes:
            for seed in block.seeds:
                todo: list[tuple[str, str, dict, tuple[str, ...]]] = []
                for method in methods:
                    kind, _ = parse_method(method)
                    if kind != "probe":
                        todo.append((method, kind, train_overrides, (method,)))
                if any(parse_method(m)[0] == "probe" for m in methods):
                    for kind in grid.probe_encoders:
                        # a probe trains nothing, but it encodes as the grid says (encoder, markers, windows)
                        probe = {"probe.k": grid.probe_k,
                                 **{k: v for k, v in train_overrides.items() if k.startswith("encoder.")}}
                        todo.append(("probe", kind, probe, PROBES))
                for method, kind, overrides, outputs in todo:
                    cell = Cell(
                        dataset=block.dataset, train_docs=size, method=method, seed=seed, encoder_kind=kind,
                        encoder_id=_encoder_id(grid, kind, overrides),
                        overrides_json=json.dumps(overrides, sort_keys=True), outputs=outputs,
                    )
                    if tuple(cell.keys) not in seen:
                        seen.add(tuple(cell.keys))
                        cells.append(cell)
    return cells


# ------------------------------------------------------------------------------------------- results
def read_results(path: str | Path) -> list[dict]:
    """The result lines of a JSONL file (missing file: none); a torn last line is skipped with a warning."""
    path = Path(path)
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            logger.warning("%s:%d: not a JSON line, ignored", path, number)
    return records


def finished_keys(path: str | Path) -> set[str]:
    return {r["bench_key"] for r in read_results(path) if isinstance(r.get("bench_key"), str)}


def append_lines(path: str | Path, records: Sequence[dict]) -> None:
    """Append records as JSON lines in one write (a cell's lines land together), flushed to disk. A torn last
    line left by a killed writer is terminated first, so it cannot swallow the new line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    with open(path, "a+b") as handle:
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                text = "\n" + text
        handle.write(text.encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def headline(metrics: dict) -> dict[str, float]:
    """The headline figures of a metrics object: BioRED pair+type F1; DocRED F1 and Ign F1."""
    if "type" in metrics:
        return {"F1": float(metrics["type"]["f1"])}
    out = {"F1": float(metrics["f1"])}
    if "ign_f1" in metrics:
        out["Ign F1"] = float(metrics["ign_f1"])
    return out


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
    from ccre.pretraining.config import PretrainConfig, pretrain_settings

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
    from ccre.pretraining.trainer import CHECKPOINT_DIR, Pretrainer

    out = Path(cache) / pretrain_key(config)
    if is_pretrain_output(out):
        return out
    from ccre.pretraining.inputs import load_corpus_documents

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
    from ccre.experiment import train_and_evaluate
    from ccre.training import STATE_FILE

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
    from ccre.analysis import probe_encoder
    from ccre.evaluation import scheme_for_format
    from ccre.experiment import resolve_split, select_training_documents
    from ccre.formats import detect_format, read_documents
    from ccre.results import result_record
    from ccre.runtime import git_commit

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
    from ccre.pretraining.trainer import CHECKPOINT_DIR, STATE_FILE

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
    from ccre.runtime import git_commit

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
            + ", ".join(f"{name} {100 * v:.2f}" for name, v in headline(r["metrics"]).items())
            for r in lines
        )
        log(f"[{skipped + index}/{len(cells)}] {cell.label}: {figures} in {_duration(wall)}; ETA {_duration(eta)}")
    return BenchSummary(total=len(cells), skipped=skipped, ran=len(pending), records=written)
