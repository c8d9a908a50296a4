"""``ccre bench``: a resumable runner over a grid of data set x training size x method x seed.

A grid (:class:`Grid`, from a YAML/JSON file or from command-line options) expands into cells
(:func:`expand`). Each finished cell appends its result line(s) to one JSONL file (the results convention of
:func:`ccre.experiments.records.result_record`, plus the fields ``bench_key``, ``encoder_kind``, ``overrides``,
``overrides_hash``, ``settings_hash`` and ``grid``). A rerun reads that file and skips every cell whose ``bench_key``
is there with the cell's settings (:func:`pending_cells`: the same key under other defaults runs again), so
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
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from ccre.config import DEFAULT_ENCODER, CcreConfig, TrainConfig, identity, read_mapping, validated
from ccre.errors import ConfigError

if TYPE_CHECKING:
    pass


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
_GRID_FIELDS = ("data.dataset", "data.train_docs", "data.train_fraction", "train.seed", "objective.name")


def parse_method(name: str) -> tuple[str, str]:
    """``(encoder kind, objective)`` of a finetuning method, ``("probe", method)`` for a probe."""
    if name in PROBES or name == "probe":
        return "probe", name
    if name == "prior":  # the no-text floor: no encoder at all, so the plain one's identity stands for it
        return "plm", "prior"
    encoder, sep, objective = name.rpartition("+")
    if not sep or encoder not in ENCODER_KINDS or objective not in OBJECTIVES:
        raise ValueError(
            f"unknown method {name!r}: use <encoder>+<objective> with encoder one of {', '.join(ENCODER_KINDS)} "
            f"and objective one of {', '.join(OBJECTIVES)}, or prior, or one of {', '.join(PROBES)}"
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

    dataset: str = Field(description="biored, redocred, or a pair of files of your own: TRAIN,TEST[,DEV]")
    sizes: list[int] = Field(min_length=1, description="training documents (seeded subsets, nested per seed)")
    seeds: list[int] = Field(default_factory=lambda: [1, 2, 3], min_length=1)
    methods: list[str] | None = Field(None, description="default: the grid's methods")
    epochs: int | None = Field(None, ge=1, description="default: the grid's epochs")
    overrides: dict[str, Any] = Field(default_factory=dict, description="CcreConfig dotted overrides, on top of the grid's")

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, dataset: str) -> str:
        from ccre.data.datasets import file_pair

        if dataset in ("biored", "redocred"):
            return dataset
        try:
            files = file_pair(dataset)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None
        if files is None:
            raise ValueError(f"data set {dataset!r} has no train and test splits to benchmark")
        return dataset

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


class DatasetCosts(_Model):
    """Seconds one data set's cells take on one machine; a figure left out is not known. A cell costs
    ``per x size + fixed``: a finetuning cell's size is its training documents x epochs, a probe cell's its
    training documents."""

    train_s_per_doc_epoch: float | None = Field(None, ge=0, description="finetuning, per training document and epoch")
    cell_s: float | None = Field(None, ge=0, description="the rest of a finetuning cell: loading, no-relation "
                                 "calibration, prediction on the test split")
    probe_s_per_doc: float | None = Field(None, ge=0, description="a probe cell, per training document")
    probe_s: float | None = Field(None, ge=0, description="the rest of a probe cell (encoding the test split)")


class Costs(_Model):
    """What cells cost on one machine: the figures behind ``ccre bench``'s time estimates (``--dry-run``, and the
    ETA until cells of the run have finished). A grid file's ``costs`` section gives the figures measured where
    the grid runs; without one, they are fitted to the finished cells of the results file (:func:`fit_costs`)."""

    measured_on: str | None = Field(None, description="the machine (and setup) the figures were measured on")
    pretrain_s_per_step: float | None = Field(None, ge=0, description="one pretraining step")
    datasets: dict[str, DatasetCosts] = Field(default_factory=dict, description="by data set")


def line_epochs(line: dict) -> int:
    """The finetuning epochs of a result line: as its config's train section plans them for its documents, else
    its bench overrides' epochs, else the default plan's. Fields that an older line's train section holds and
    today's :class:`TrainConfig` does not (they have moved to other sections) play no part in the plan."""
    train = (line.get("config") or {}).get("train")
    docs = int(line.get("train_docs") or 1)
    if train:
        known = {k: v for k, v in train.items() if k in TrainConfig.model_fields}
        return TrainConfig.model_validate(known).epochs_for(docs)
    epochs = (line.get("overrides") or {}).get("train.epochs")
    return int(epochs) if epochs else TrainConfig().epochs_for(docs)


def fit_costs(lines: Iterable[dict], measured_on: str | None = None) -> tuple[Costs, int]:
    """Costs fitted to finished result lines, and the number of cells they come from. Per data set, a
    finetuning cell's and a probe cell's seconds are fitted as a line in its size (:class:`DatasetCosts`) by
    least squares, through zero where all cells have one size. Resumed lines are left out (their time is the
    part of the cell that was left), and a probe cell's three lines count once."""
    cells: dict[tuple[str, str], set[tuple[float, float, str]]] = {}
    for line in lines:
        method, wall = str(line.get("method", "")), line.get("wall_s")
        if line.get("resumed") or not wall or "dataset" not in line or "train_docs" not in line:
            continue
        if method.startswith("probe"):
            kind, size, who = "probe", float(line["train_docs"]), f"{line.get('encoder')}|{line.get('seed')}"
        elif "+" in method:
            kind, size = "finetune", float(line["train_docs"]) * line_epochs(line)
            who = f"{method}|{line.get('encoder')}|{line.get('seed')}"
        else:
            continue
        cells.setdefault((str(line["dataset"]), kind), set()).add((size, float(wall), who))
    fitted: dict[str, dict[str, float]] = {}
    for (dataset, kind), found in cells.items():
        per, fixed = _fit_line([(size, wall) for size, wall, _ in found])
        names = ("train_s_per_doc_epoch", "cell_s") if kind == "finetune" else ("probe_s_per_doc", "probe_s")
        fitted.setdefault(dataset, {}).update(zip(names, (per, fixed)))
    costs = Costs(measured_on=measured_on, datasets={d: DatasetCosts(**f) for d, f in fitted.items()})
    return costs, sum(len(found) for found in cells.values())


def _fit_line(points: list[tuple[float, float]]) -> tuple[float, float]:
    """``(per, fixed)`` of ``y ~ per x x + fixed`` by least squares, neither below zero; through zero (``fixed``
    0) where all points have one ``x``."""
    n = len(points)
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread > 0:
        per = sum((x - mean_x) * (y - mean_y) for x, y in points) / spread
        if per < 0:
            return 0.0, mean_y
        if mean_y - per * mean_x >= 0:
            return per, mean_y - per * mean_x
    return sum(x * y for x, y in points) / sum(x * x for x, _ in points), 0.0


class Grid(_Model):
    """A benchmark grid. ``dataset``/``sizes``/``seeds`` at the top level are shorthand for one block."""

    name: str = "bench"
    results: str | None = Field(None, description="JSONL file the results are appended to")
    methods: list[str] = Field(default_factory=lambda: list(PAPER_METHODS), min_length=1)
    probe_encoders: list[str] = Field(default_factory=lambda: ["plm", "mtb"],
                                      description="encoder kinds the probe cells probe")
    probe_k: int = Field(5, ge=1, description="neighbours of the kNN probe")
    epochs: int | None = Field(None, ge=1, description="finetuning epochs (default: the config's plan, "
                                 "ccre.config.TrainConfig.epochs_for)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="CcreConfig dotted overrides for every cell")
    pretrain: dict[str, Any] = Field(default_factory=dict, description="PretrainConfig fields for the mtb encoders")
    pretrained: str | None = Field(None, description="an existing `ccre pretrain` output used as the mtb encoder")
    blocks: list[GridBlock] = Field(min_length=1)
    costs: Costs | None = Field(None, description="measured costs of the time estimate (default: fitted to the "
                                "results file's finished cells)")

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
        return validated(cls, raw, source)

    @classmethod
    def load(cls, path: str | Path) -> Grid:
        return cls.parse(read_mapping(path, "grid"), source=str(path))


def pretrain_config(base: dict[str, Any], kind: str):
    """The PretrainConfig of an encoder kind: the grid's ``pretrain`` fields plus the kind's ablation."""
    from ccre.training.pretraining.config import PretrainConfig

    extra = ENCODER_KINDS[kind]
    if extra is None:
        raise ValueError(f"encoder {kind!r} is not pretrained")
    try:
        return PretrainConfig().with_overrides({**base, **extra})
    except ConfigError as exc:
        raise ValueError(f"pretraining config for {kind}: {exc}") from None


def pretrain_key(config) -> str:
    """Cache key of a pretraining configuration (its :func:`ccre.config.identity`)."""
    return short_hash(identity(config.model_dump()))


# ---------------------------------------------------------------------------------------------- cells
#: the fields of a run's config that a cell sets for itself (its key names them): not part of its settings
PER_CELL_FIELDS = {"data": ("dataset", "train", "test", "dev", "train_docs", "train_fraction"),
                   "train": ("seed",), "encoder": ("name",), "objective": ("name",)}


def settings_hash(config: dict[str, Any], overrides: dict[str, Any]) -> str:
    """Hash of every setting a cell runs with: its run ``config`` (a :class:`CcreConfig` dump, as a result line
    records it) less :data:`PER_CELL_FIELDS`, and the probe settings among its ``overrides``. Two runs with one
    key (data set, size, method, seed, encoder, overrides) but different defaults have different hashes; a field
    added since a line was made does not change its hash while it keeps the earlier behaviour
    (:func:`ccre.config.identity`)."""
    kept: dict[str, Any] = {}
    for section, fields in config.items():
        if section == "probe":  # a probe line's own record of its probe settings; the overrides name them
            continue
        drop = PER_CELL_FIELDS.get(section, ())
        kept[section] = {k: v for k, v in fields.items() if k not in drop} if isinstance(fields, dict) else fields
    kept["probe"] = {k: v for k, v in overrides.items() if k.startswith("probe.")}
    return short_hash(_json_value(identity(kept)), 10)


def current_settings_hash(overrides: dict[str, Any]) -> str:
    """:func:`settings_hash` of a cell with ``overrides`` under the defaults of :mod:`ccre.config` as they are now."""
    run = {k: v for k, v in overrides.items() if not k.startswith("probe.")}
    return settings_hash(CcreConfig().with_overrides(run).model_dump(), overrides)


def line_settings_hash(line: dict) -> str | None:
    """The settings hash of a result line: computed from its config (the record of every setting, read by
    today's :func:`settings_hash`), else the one ``ccre bench`` recorded; ``None`` for a line without either."""
    config = line.get("config")
    if isinstance(config, dict) and config:
        return settings_hash(config, line.get("overrides") or {})
    recorded = line.get("settings_hash")
    return recorded if isinstance(recorded, str) else None


def finished(lines: Iterable[dict]) -> set[tuple[str, str | None]]:
    """``(bench_key, settings hash)`` of every bench line among ``lines``."""
    return {(line["bench_key"], line_settings_hash(line)) for line in lines if isinstance(line.get("bench_key"), str)}


def pending_cells(cells: Iterable[Cell], done: set[tuple[str, str | None]]) -> list[Cell]:
    """The ``cells`` that still have a line to make: a cell is done when every line it makes is in ``done``
    (:func:`finished`) with its key and its settings (:attr:`Cell.settings_hash`); one whose lines were made
    under other defaults runs again."""
    return [c for c in cells if not all((k, c.settings_hash) in done for k in c.keys)]


def cell_lines(cells: Iterable[Cell], lines: Iterable[dict],
               exclude: set[tuple[str, str | None]] = frozenset()) -> list[dict]:
    """The lines among ``lines`` that ``cells`` make: the same key, made under the same settings, and not in
    ``exclude`` (:func:`finished` pairs); the newest of each, in file order. For another file's lines, those a
    grid need not run again (a variant adopted later as the grid's setting); for a grid's own file, the lines
    that are its cells as the grid is now."""
    wanted = {(k, c.settings_hash) for c in cells for k in c.keys} - exclude
    found: dict[tuple[str, str | None], dict] = {}
    for line in lines:
        if isinstance(line.get("bench_key"), str) and (ident := (line["bench_key"], line_settings_hash(line))) in wanted:
            found[ident] = line
    return list(found.values())


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

    @cached_property
    def settings_hash(self) -> str:
        """:func:`settings_hash` of the cell: the defaults of :mod:`ccre.config` as they are now, with the
        cell's overrides on top. A line made under other defaults is not this cell's, though its key is."""
        return current_settings_hash(self.overrides)

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

    def cost_s(self, epochs: int, costs: Costs) -> float | None:
        """Estimated seconds of the cell by ``costs`` (``None`` where they do not price its data set and kind):
        the ETA scales measured times by it. A ``prior`` cell trains nothing and reads no text: it costs nothing
        beside the others."""
        if self.method == "prior":
            return 0.0
        known = costs.datasets.get(self.dataset)
        if known is None:
            return None
        if self.method == "probe":
            per, fixed, size = known.probe_s_per_doc, known.probe_s, self.train_docs
        else:
            per, fixed, size = known.train_s_per_doc_epoch, known.cell_s, self.train_docs * epochs
        return None if per is None or fixed is None else per * size + fixed


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
