"""``ccre bench``: grid expansion, resume, a kill mid-grid, report aggregation and plots (fake cells, no
training), and one tiny real cell on BioRED."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from ccre.cli import app
from ccre.errors import ConfigError
from ccre.experiments.grid import PROBES, Cell, Grid, expand, pretrain_key, short_hash
from ccre.experiments.records import read_results, result_record
from ccre.experiments.report import (
    aggregate,
    load_records,
    markdown_table,
    wall_table,
    write_report,
)
from ccre.experiments.runner import BenchContext, estimate_seconds, run_grid
from ccre.training.pretraining.config import PretrainConfig

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metrics(dataset: str, value: float) -> dict:
    if dataset == "biored":
        level = {"p": value, "r": value, "f1": value}
        return {"pair": level, "type": level, "novelty": level}
    return {"p": value, "r": value, "f1": value, "ign_f1": value - 0.01}


class FakeRunner:
    """Returns made-up lines instantly; raises on call number ``fail_at`` (1-based) to simulate a kill."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.calls: list[Cell] = []
        self.fail_at = fail_at

    def __call__(self, cell: Cell, ctx: BenchContext) -> list[dict]:
        self.calls.append(cell)
        if self.fail_at is not None and len(self.calls) == self.fail_at:
            raise KeyboardInterrupt("killed")
        value = 0.01 * cell.seed + 0.001 * cell.train_docs
        return [
            result_record(dataset=cell.dataset, train_docs=cell.train_docs, method=m, encoder=cell.encoder_id,
                          seed=cell.seed, metrics=_metrics(cell.dataset, value), wall_s=0.0, config={}, commit="abc")
            for m in cell.outputs
        ]


def _grid(**extra) -> Grid:
    return Grid.parse({"name": "t", "dataset": "biored", "sizes": [4, 20], "seeds": [1, 2],
                       "methods": ["plm+ce", "mtb+mccl", "probe-knn"], "epochs": 2, **extra})


def _quiet(_: str) -> None:
    pass


def test_grid_expands_every_combination_once() -> None:
    cells = expand(_grid())
    # 2 sizes x 2 seeds x (2 finetuning methods + 2 probe cells: plm and mtb)
    assert len(cells) == 16
    assert len({tuple(c.keys) for c in cells}) == 16
    assert [c.method for c in cells[:4]] == ["plm+ce", "mtb+mccl", "probe", "probe"]
    assert {(c.train_docs, c.seed) for c in cells} == {(4, 1), (4, 2), (20, 1), (20, 2)}
    probe = [c for c in cells if c.method == "probe"]
    assert {c.encoder_kind for c in probe} == {"plm", "mtb"} and all(c.outputs == PROBES for c in probe)
    train = [c for c in cells if c.method != "probe"]
    assert all(c.overrides == {"train.epochs": 2} for c in train)
    # the pretraining configuration is part of the mtb encoder's identity (and so of the resume key)
    assert next(c for c in cells if c.method == "mtb+mccl").encoder_id.startswith("mtb:")
    other = expand(_grid(pretrain={"max_steps": 7}))
    assert {c.encoder_id for c in other if c.method == "mtb+mccl"} != {c.encoder_id for c in cells if c.method == "mtb+mccl"}
    # a pretraining field set away from its default makes a new key; a probe encodes as the grid's encoder.*
    # overrides say
    plain_key = pretrain_key(PretrainConfig())
    assert pretrain_key(PretrainConfig().with_overrides({"encoder.typed_markers": False})) != plain_key
    untyped = expand(_grid(overrides={"encoder.typed_markers": False, "train.lr": 1e-5}))
    assert all(c.overrides == {"probe.k": 5, "encoder.typed_markers": False} for c in untyped if c.method == "probe")
    assert all(c.overrides == {"probe.k": 5} for c in cells if c.method == "probe")
    # blocks with their own seeds / methods; duplicates across blocks collapse
    grid = Grid.parse({"methods": ["plm+ce"], "blocks": [
        {"dataset": "biored", "sizes": [4, 20], "seeds": [1, 2, 3]},
        {"dataset": "biored", "sizes": [20], "seeds": [1]},
        {"dataset": "redocred", "sizes": [500], "seeds": [1], "methods": ["mtb-no-mlm+mccl"]},
    ]})
    cells = expand(grid)
    assert len(cells) == 7
    assert cells[-1].encoder_kind == "mtb-no-mlm" and cells[-1].dataset == "redocred"


def test_grid_validation_names_the_problem() -> None:
    with pytest.raises(ConfigError, match="unknown method 'foo\\+ce'"):
        _grid(methods=["foo+ce"])
    with pytest.raises(ConfigError, match="train.seed"):
        _grid(overrides={"train.seed": 3})
    with pytest.raises(ConfigError, match="unknown config field"):
        _grid(overrides={"train.nope": 3})
    with pytest.raises(ConfigError, match="every loss term"):
        _grid(pretrain={"mtb_weight": 0, "self_weight": 0, "mlm_weight": 0})


def test_rerun_skips_finished_cells(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCRE_GIT_COMMIT", "bench")  # the commit run_grid reads replaces the runner's ("abc")
    results = tmp_path / "r.jsonl"
    grid = _grid()
    first = FakeRunner()
    summary = run_grid(grid, results, cell_runner=first, log=_quiet)
    assert summary.ran == 16 and summary.skipped == 0
    lines = read_results(results)
    assert len(lines) == 8 + 8 * 3  # finetuning cells: one line; probe cells: three
    assert all(r["commit"] == "bench+copy" and r["grid"] == "t" and r["bench_key"] for r in lines)
    assert {r["encoder_kind"] for r in lines if r["method"] == "probe-knn"} == {"plm", "mtb"}
    again = FakeRunner()
    summary = run_grid(grid, results, cell_runner=again, log=_quiet)
    assert again.calls == [] and summary.skipped == 16
    assert len(read_results(results)) == len(lines)
    # a changed override is another configuration: every finetuning cell runs again, probes do not
    third = FakeRunner()
    run_grid(_grid(epochs=3), results, cell_runner=third, log=_quiet)
    assert len(third.calls) == 8 and all(c.method != "probe" for c in third.calls)


def test_a_line_made_under_other_defaults_does_not_count(tmp_path: Path) -> None:
    """A line with a cell's key counts as that cell's only when its recorded config has the cell's settings:
    today's defaults with the cell's overrides. The per-cell fields (size, seed, encoder path) are not settings;
    a line from before ``settings_hash`` was recorded is judged by its config; one made under another default
    (a different head learning rate) makes the cell run again, beside it."""
    import copy

    from ccre.experiments.grid import cell_lines, finished, pending_cells
    from ccre.experiments.records import append_lines
    from ccre.experiments.runner import cell_config

    grid = Grid.parse({"name": "t", "dataset": "biored", "sizes": [4], "seeds": [1], "methods": ["plm+ce", "probe"],
                       "probe_encoders": ["plm"]})
    cell, probe = expand(grid)
    today = cell_config(cell, "/somewhere/encoder").model_dump()
    assert today["train"]["seed"] == 1 and today["data"]["train_docs"] == 4  # not the defaults: per-cell fields
    legacy = {"bench_key": cell.key("plm+ce"), "config": today, "overrides": {}}
    assert pending_cells([cell], finished([legacy])) == []
    probe_config = {**cell_config(probe, "x").model_dump(), "probe": {"k": 5}}
    probe_lines = [{"bench_key": k, "config": probe_config, "overrides": probe.overrides} for k in probe.keys]
    assert pending_cells([probe], finished(probe_lines)) == []
    older = copy.deepcopy(today)
    older["train"]["head_lr"] = 10 * today["train"]["head_lr"]
    assert pending_cells([cell], finished([{**legacy, "config": older}])) == [cell]
    assert cell_lines([cell], [legacy, {**legacy, "config": older}]) == [legacy]  # how the report tells them apart

    results = tmp_path / "r.jsonl"
    append_lines(results, [{**result_record(dataset="biored", train_docs=4, method="plm+ce", encoder="e", seed=1,
                                            metrics=_metrics("biored", 0.5), wall_s=1.0, config=older, commit="a"),
                            "bench_key": cell.key("plm+ce"), "overrides": {}}])
    runner = FakeRunner()
    summary = run_grid(Grid.parse({**grid.model_dump(exclude_none=True), "methods": ["plm+ce"]}), results,
                       cell_runner=runner, log=_quiet)
    assert summary.ran == 1 and runner.calls == [cell]
    old, new = read_results(results)
    assert old["bench_key"] == new["bench_key"] and new["settings_hash"] == cell.settings_hash
    assert run_grid(Grid.parse({**grid.model_dump(exclude_none=True), "methods": ["plm+ce"]}), results,
                    cell_runner=FakeRunner(), log=_quiet).ran == 0


def test_a_field_added_later_keeps_earlier_lines_and_encoders_current() -> None:
    """A config field added after lines and pretrained encoders were recorded (``encoder.context_pooling``) leaves
    them current while it has the value that does what ccre did before it existed: a line whose config lacks the
    field, one with it off and one whose recorded hash was computed another way all count as today's; switching it
    on makes a new experiment, for the cell's settings and for the pretraining cache key alike."""
    import copy

    from ccre.config import ADDED_FIELDS
    from ccre.experiments.grid import cell_lines, finished, pending_cells
    from ccre.experiments.runner import cell_config
    from ccre.training.pretraining.config import PretrainConfig

    assert ADDED_FIELDS["encoder.context_pooling"] is False
    (cell,) = expand(Grid.parse({"name": "t", "dataset": "biored", "sizes": [4], "seeds": [1], "methods": ["plm+ce"]}))
    today = cell_config(cell, "/somewhere/encoder").model_dump()
    assert today["encoder"]["context_pooling"] is False
    before = copy.deepcopy(today)
    del before["encoder"]["context_pooling"]  # a line made before the field existed
    on = copy.deepcopy(today)
    on["encoder"]["context_pooling"] = True
    lines = [{"bench_key": cell.key("plm+ce"), "config": c, "overrides": {}, "settings_hash": "recorded-elsewise"}
             for c in (before, today)]
    assert cell_lines([cell], lines[:1]) == lines[:1] and cell_lines([cell], lines[1:]) == lines[1:]
    assert all(pending_cells([cell], finished([line])) == [] for line in lines)
    assert not cell_lines([cell], [{**lines[1], "config": on}]) and pending_cells([cell], finished([{**lines[1], "config": on}]))

    dump = PretrainConfig().model_dump()
    del dump["encoder"]["context_pooling"]
    assert pretrain_key(PretrainConfig()) == short_hash(dump)  # the key of an encoder cached before the field
    assert pretrain_key(PretrainConfig().with_overrides({"encoder.context_pooling": True})) != short_hash(dump)


def test_reuse_copies_a_variants_lines_once_it_is_the_grids_setting(tmp_path: Path) -> None:
    """A variant run with ``--set`` into a file of its own, then adopted as a block override of the grid: the
    grid copies those lines (marked with their file) instead of running their cells, runs the cells the file
    lacks or holds under other settings, and copies nothing twice."""
    variants = tmp_path / "variants.jsonl"
    base = {"name": "t", "methods": ["plm+ce"], "epochs": 2}
    run_grid(Grid.parse({**base, "dataset": "redocred", "sizes": [31], "seeds": [1, 2],
                         "overrides": {"train.min_steps": 600}}), variants, cell_runner=FakeRunner(), log=_quiet)
    run_grid(Grid.parse({**base, "dataset": "redocred", "sizes": [31], "seeds": [3],
                         "overrides": {"train.min_steps": 300}}), variants, cell_runner=FakeRunner(), log=_quiet)
    adopted = Grid.parse({**base, "blocks": [
        {"dataset": "redocred", "sizes": [31], "seeds": [1, 2, 3], "overrides": {"train.min_steps": 600}},
        {"dataset": "redocred", "sizes": [153], "seeds": [1]}]})
    results = tmp_path / "study.jsonl"
    runner = FakeRunner()
    summary = run_grid(adopted, results, reuse=[variants], cell_runner=runner, log=_quiet)
    assert sorted((c.train_docs, c.seed) for c in runner.calls) == [(31, 3), (153, 1)]  # seed 3 ran at 300 steps
    assert summary.skipped == 2 and summary.ran == 2
    lines = read_results(results)
    copied = [line for line in lines if "reused_from" in line]
    assert [line["seed"] for line in copied] == [1, 2] and {line["reused_from"] for line in copied} == {str(variants)}
    originals = {line["bench_key"]: line for line in read_results(variants)}
    assert all({k: v for k, v in line.items() if k != "reused_from"} == originals[line["bench_key"]]
               for line in copied)
    again = FakeRunner()
    assert run_grid(adopted, results, reuse=[variants], cell_runner=again, log=_quiet).ran == 0 and not again.calls
    assert len(read_results(results)) == len(lines)


def test_dataset_and_sizes_on_a_grid_file_keep_its_blocks_settings(tmp_path: Path) -> None:
    """``--dataset``/``--sizes`` with a grid file pick the file's cells with their seeds and overrides; a size
    the file lacks gets a plain block; ``--seeds`` replaces every block's seeds."""
    from ccre.cli.bench import build_grid

    grid_file = tmp_path / "g.yaml"
    grid_file.write_text(json.dumps({"name": "g", "methods": ["plm+ce"], "blocks": [
        {"dataset": "redocred", "sizes": [31], "seeds": [1, 2, 3], "overrides": {"train.min_steps": 600}},
        {"dataset": "redocred", "sizes": [153, 305], "seeds": [1]},
        {"dataset": "biored", "sizes": [31], "seeds": [1]}]}), encoding="utf-8")
    cells = expand(build_grid(grid_file, dataset="redocred", sizes="31,305,400"))
    assert sorted((c.train_docs, c.seed, c.overrides_json) for c in cells) == [
        (31, 1, '{"train.min_steps": 600}'), (31, 2, '{"train.min_steps": 600}'), (31, 3, '{"train.min_steps": 600}'),
        (305, 1, "{}"), (400, 1, "{}"), (400, 2, "{}"), (400, 3, "{}")]
    assert {c.dataset for c in cells} == {"redocred"}
    reseeded = expand(build_grid(grid_file, dataset="redocred", sizes="31", seeds="5"))
    assert [(c.seed, c.overrides_json) for c in reseeded] == [(5, '{"train.min_steps": 600}')]


def test_kill_mid_grid_loses_only_the_cell_in_progress(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    grid = _grid()
    killed = FakeRunner(fail_at=6)
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, results, cell_runner=killed, log=_quiet)
    cells = expand(grid)
    saved = {r["bench_key"] for r in read_results(results)}
    assert saved == {k for c in cells[:5] for k in c.keys}
    # a torn half line, as a kill during a write could leave, does not break the file
    with open(results, "a", encoding="utf-8") as handle:
        handle.write('{"dataset": "bior')
    rest = FakeRunner()
    run_grid(grid, results, cell_runner=rest, log=_quiet)
    assert rest.calls == cells[5:]
    keys = [r["bench_key"] for r in read_results(results)]
    assert sorted(keys) == sorted(k for c in cells for k in c.keys)  # each exactly once


def _aggregate_lines(tmp_path: Path, lines: list[dict]) -> list:
    """Write result lines to a JSONL file and aggregate them as `ccre bench report` reads them."""
    results = tmp_path / "r.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    return aggregate(load_records([results]))


def test_report_mean_std_by_hand(tmp_path: Path) -> None:
    rows = []
    for seed, f1 in ((1, 0.1), (2, 0.2), (3, 0.4)):
        rows.append(result_record(dataset="biored", train_docs=4, method="plm+ce", encoder="x", seed=seed,
                                  metrics=_metrics("biored", f1), wall_s=60.0 * seed, config={}, commit="c"))
    rows.append(result_record(dataset="redocred", train_docs=31, method="mtb+mccl", encoder="x", seed=1,
                              metrics={"p": 0.5, "r": 0.5, "f1": 0.5, "ign_f1": 0.45}, wall_s=1.0, config={}, commit="c"))
    # the same seed again: the last line counts
    rows.append(result_record(dataset="redocred", train_docs=31, method="mtb+mccl", encoder="x", seed=1,
                              metrics={"p": 0.6, "r": 0.6, "f1": 0.6, "ign_f1": 0.55}, wall_s=1.0, config={}, commit="c"))
    agg = _aggregate_lines(tmp_path, rows)
    biored, redocred = agg
    assert biored.n == 3 and biored.seeds == [1, 2, 3]
    assert biored.mean["F1"] == pytest.approx(0.7 / 3)
    # sample std: deviations -0.1333, -0.0333, 0.1667 -> sqrt(0.046667 / 2) = 0.152753
    assert biored.std["F1"] == pytest.approx(math.sqrt(((0.1 - 0.7 / 3) ** 2 + (0.2 - 0.7 / 3) ** 2 + (0.4 - 0.7 / 3) ** 2) / 2))
    assert biored.std["F1"] == pytest.approx(0.152753, abs=1e-6)
    assert biored.wall_s == pytest.approx(120.0)
    assert redocred.n == 1 and redocred.mean == pytest.approx({"F1": 0.6, "Ign F1": 0.55})
    assert redocred.std == {"F1": None, "Ign F1": None}
    table = markdown_table(agg)
    assert "| 4 | plm+ce | 23.33 ± 15.28 | 3 |" in table
    assert "| 31 | mtb+mccl | 60.00 | 55.00 | 1 |" in table


def test_wall_table_rows_follow_method_order(tmp_path: Path) -> None:
    """A label first seen at a larger size (plm+ce only at 153 documents) still comes before mtb+ce, as in the
    metric table, and each row carries its own sizes' times."""
    lines = [result_record(dataset="redocred", train_docs=size, method=method, encoder="x", seed=1,
                           metrics={"p": 0.5, "r": 0.5, "f1": 0.5, "ign_f1": 0.5}, wall_s=wall, config={}, commit="c")
             for size, method, wall in ((31, "mtb+ce", 60.0), (153, "mtb+ce", 120.0), (153, "plm+ce", 180.0))]
    table = wall_table(_aggregate_lines(tmp_path, lines))
    body = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    assert body == ["| plm+ce |  | 3.0 |", "| mtb+ce | 1.0 | 2.0 |"]


def test_wall_table_marks_resumed_times(tmp_path: Path) -> None:
    """A resumed line's wall_s counts only the run that finished it: its row's time is starred and footnoted;
    a table without resumed lines has neither."""
    lines = [result_record(dataset="redocred", train_docs=size, method="plm+ce", encoder="x", seed=1,
                           metrics={"p": 0.5, "r": 0.5, "f1": 0.5, "ign_f1": 0.5}, wall_s=wall, config={}, commit="c")
             for size, wall in ((305, 600.0), (500, 60.0))]
    lines[1]["resumed"] = True
    rows = _aggregate_lines(tmp_path, lines)
    assert [r.resumed for r in rows] == [False, True]
    table = wall_table(rows)
    assert "| plm+ce | 10.0 | 1.0* |" in table and "resumed run" in table
    assert "*" not in wall_table(rows[:1])


def test_report_separates_encoders_pretrained_in_other_arithmetic(tmp_path: Path) -> None:
    """One cache key pretrained in bf16 on one machine and in fp32 on another is two encoders: two rows, each
    naming its pretraining. A GPU line from before pretraining recorded its arithmetic stays apart (auto meant
    bf16 or fp32 by the card); a CPU line from then was fp32 (auto on a CPU) and joins the lines that say so."""
    gpu, cpu = "x86_64 AMD EPYC, 16 cores, NVIDIA H200", "x86_64 AMD EPYC, 2 cores, no GPU"
    fp32 = {"steps": 300, "precision": "fp32"}
    lines = []
    for seed, f1, pretrained, machine in ((1, 0.1, {"steps": 300}, gpu), (2, 0.3, {"steps": 300}, gpu),
                                          (1, 0.2, fp32, cpu), (2, 0.4, fp32, gpu), (3, 0.6, {"steps": 300}, cpu)):
        record = result_record(dataset="biored", train_docs=40, method="mtb+mccl", encoder="runs/pretrained/abc",
                               seed=seed, metrics=_metrics("biored", f1), wall_s=1.0, config={}, commit="c")
        record["pretrained"], record["machine"] = pretrained, machine
        lines.append(record)
    unknown, known = _aggregate_lines(tmp_path, lines)
    assert unknown.mean["F1"] == pytest.approx(0.2) and unknown.start == "runs/pretrained/abc (300 steps)"
    assert unknown.n == 2 and not unknown.variant.endswith("fp32")
    assert known.seeds == [1, 2, 3] and known.mean["F1"] == pytest.approx(0.4)
    assert known.start == "runs/pretrained/abc (300 steps, fp32)" and known.variant.endswith("/fp32")


def test_gpu_claims_count_grid_defaults_only() -> None:
    """benchmarks/report.py: the default k of the kNN probe counts as the grid default; another k, a changed
    setting or a longer pretraining does not."""
    from ccre_study import report

    lines = [{"overrides": {"probe.k": 5}, "pretrained": {"steps": 300}}, {"overrides": {}},
             {"overrides": {"probe.k": 3}}, {"overrides": {"train.contrast_memory": False}},
             {"overrides": {"probe.k": 5}, "pretrained": {"steps": 2000}}]
    assert report.grid_defaults(lines) == lines[:2]


def test_report_writes_table_and_valid_pngs(tmp_path: Path) -> None:
    results = tmp_path / "r.jsonl"
    grid = Grid.parse({"name": "t", "dataset": "biored", "sizes": [4, 20], "seeds": [1, 2],
                       "methods": ["plm+ce", "mtb+mccl", "mtb-no-mtb+mccl", "mtb-no-self+mccl", "mtb-no-mlm+mccl",
                                   "probe-knn"]})
    run_grid(grid, results, cell_runner=FakeRunner(), log=_quiet)
    written = write_report([results], tmp_path / "study")
    names = sorted(p.name for p in written)
    assert names == ["ablation_biored.png", "f1_vs_size_biored.png", "probes_biored.png", "table.md"]
    from matplotlib.image import imread

    for path in written:
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG_MAGIC
            assert imread(path).shape[0] > 100
    table = (tmp_path / "study" / "table.md").read_text(encoding="utf-8")
    assert "probe-knn (mtb)" in table and "probe-softmax (plm)" in table and "Wall time" in table
    assert "From `../r.jsonl`." in table  # sources named from the table's own directory


STUDY = Path(__file__).parents[1] / "benchmarks" / "study.yaml"


def test_estimate_counts_only_pretraining_still_to_run(tmp_path: Path) -> None:
    """An encoder already built costs nothing, one checkpointed at step 100 of 300 costs 200 steps."""
    from ccre.experiments.grid import pretrain_config, pretrain_key
    from ccre.experiments.runner import estimate_seconds
    from ccre.training.loop import STATE_FILE, save_state

    grid = Grid(name="g", blocks=[{"dataset": "biored", "sizes": [4], "seeds": [1],
                                   "methods": ["mtb-no-mtb+mccl", "mtb-no-self+mccl"]}],
                pretrain={"max_steps": 300}, costs=Grid.load(STUDY).costs)
    per_step = grid.costs.pretrain_s_per_step
    cells = expand(grid)
    no_pretraining = estimate_seconds(grid, cells, pretraining=False).seconds
    assert no_pretraining > 0
    assert estimate_seconds(grid, cells, pretrained_cache=tmp_path).seconds == pytest.approx(
        no_pretraining + 2 * 300 * per_step)
    _pretrain_output(tmp_path / pretrain_key(pretrain_config(grid.pretrain, "mtb-no-mtb")))
    partial = tmp_path / pretrain_key(pretrain_config(grid.pretrain, "mtb-no-self"))
    partial.mkdir()
    save_state(partial / STATE_FILE, step=100)
    assert estimate_seconds(grid, cells, pretrained_cache=tmp_path).seconds == pytest.approx(
        no_pretraining + 200 * per_step)
    assert estimate_seconds(grid, cells).seconds == pytest.approx(no_pretraining + 600 * per_step)


def test_estimate_is_within_twice_the_measured_cell_times() -> None:
    """Reference: the wall times the committed study recorded on 2 CPU cores. For each data set and size with
    finetuning lines there (30 epochs, not resumed), the estimate of one such cell by the study grid's costs is
    within a factor of two of their median: the ETA and `--dry-run` are the user's planning figures."""
    import statistics

    study = STUDY.parent / "results" / "study.jsonl"
    costs = Grid.load(STUDY).costs
    walls: dict[tuple[str, int], list[float]] = {}
    for r in read_results(study):
        train = (r.get("config") or {}).get("train") or {}
        if ("no GPU" in r.get("machine", "") and not r.get("resumed") and "+" in r["method"]
                and train.get("epochs") == 30):
            walls.setdefault((r["dataset"], int(r["train_docs"])), []).append(float(r["wall_s"]))
    assert {d for d, _ in walls} == {"biored", "redocred"}
    for (dataset, size), times in sorted(walls.items()):
        cell = expand(Grid.parse({"dataset": dataset, "sizes": [size], "seeds": [1], "methods": ["mtb+ce"]}))[0]
        ratio = cell.cost_s(30, costs) / statistics.median(times)
        assert 0.5 <= ratio <= 2.0, f"{dataset} {size}: estimate / measured = {ratio:.2f} over {len(times)} lines"


def test_the_library_holds_no_measured_costs() -> None:
    """The figures of a machine are data, not code: a grid without ``costs`` prices nothing before a cell of
    its results file has finished, and says so."""
    import ccre.experiments.grid as grid_module
    from ccre.experiments.runner import bench_costs

    assert not [n for n in ("TRAIN_S_PER_DOC_EPOCH", "PREDICT_S_PER_DOC", "PRETRAIN_S_PER_STEP", "TEST_DOCS")
                if hasattr(grid_module, n)]
    grid = _grid()
    estimate = estimate_seconds(grid)
    assert estimate.seconds == 0 and estimate.unpriced_cells == len(expand(grid))
    assert str(estimate).startswith("unknown")
    _, source = bench_costs(grid, Path("nowhere.jsonl"))
    assert "no costs" in source and "nowhere.jsonl" in source


def test_without_costs_the_estimate_is_fitted_to_the_finished_cells(tmp_path: Path) -> None:
    """Finished cells of this machine in the results file price the rest (seconds as a line in the cell's
    size; a probe cell's three lines count once; resumed lines and other machines' lines do not count)."""
    from ccre.experiments.runner import bench_costs

    results = tmp_path / "r.jsonl"
    grid = _grid(epochs=10)

    def timed(cell: Cell, ctx: BenchContext) -> list[dict]:  # 60 s + 1 s a document and epoch (probes: 5 s + 2 s)
        seconds = 5.0 + 2 * cell.train_docs if cell.method == "probe" else 60.0 + cell.train_docs * 10
        return [dict(line, wall_s=seconds) for line in FakeRunner()(cell, ctx)]

    run_grid(Grid.parse({**grid.model_dump(exclude_none=True), "blocks": [
        {"dataset": "biored", "sizes": [4, 20], "seeds": [1]}]}), results, cell_runner=timed, log=_quiet)
    with results.open("a") as f:  # neither a resumed cell nor another machine's cell counts
        f.write(json.dumps({**read_results(results)[0], "seed": 9, "wall_s": 1.0, "resumed": True}) + "\n")
        f.write(json.dumps({**read_results(results)[0], "seed": 8, "wall_s": 1.0, "machine": "elsewhere"}) + "\n")
    costs, source = bench_costs(grid, results)
    assert "fitted to 8 finished cells of this machine" in source and str(results) in source
    assert costs.datasets["biored"].train_s_per_doc_epoch == pytest.approx(1.0)
    assert costs.datasets["biored"].cell_s == pytest.approx(60.0)
    assert costs.datasets["biored"].probe_s_per_doc == pytest.approx(2.0)
    assert costs.datasets["biored"].probe_s == pytest.approx(5.0)
    (seed_2,) = [c for c in expand(grid) if c.seed == 2 and c.train_docs == 20 and c.method == "plm+ce"]
    assert estimate_seconds(grid, [seed_2], costs=costs).seconds == pytest.approx(260.0)
    (prior,) = expand(Grid.parse({"name": "p", "dataset": "biored", "sizes": [20], "seeds": [1], "methods": ["prior"]}))
    assert estimate_seconds(grid, [prior], costs=costs).seconds == 0.0  # a prior cell trains nothing

    # a line from before fields moved out of the train section (objective, tau, ...) still counts, by its epochs
    legacy = {**read_results(results)[0], "seed": 7}
    legacy["config"] = {"train": {"epochs": 10, "batch_size": 4, "objective": "supcon", "tau": 0.1}}
    with results.open("a") as f:
        f.write(json.dumps(legacy) + "\n")
    costs, source = bench_costs(grid, results)
    assert "fitted to 9 finished cells" in source
    assert costs.datasets["biored"].train_s_per_doc_epoch == pytest.approx(1.0)


def test_cli_dry_run_and_report(tmp_path: Path) -> None:
    runner = CliRunner()
    results = tmp_path / "r.jsonl"
    r = runner.invoke(app, ["bench", "--dataset", "biored", "--sizes", "4,20", "--methods", "plm+ce,probe-knn",
                            "--seeds", "1", "--results", str(results), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "6 cells, 0 done" in r.output and "biored n=20 probe (mtb) seed=1" in r.output
    r = runner.invoke(app, ["bench", "--grid", "benchmarks/study.yaml", "--dry-run", "--results", str(results)])
    assert r.exit_code == 0, r.output
    assert "180 cells" in r.output  # 10 methods (prior included) x 18 size-seed cells
    r = runner.invoke(app, ["bench", "--dataset", "biored", "--sizes", "4", "--methods", "xx+ce"])
    assert r.exit_code == 1 and "unknown method" in r.output
    run_grid(_grid(), results, cell_runner=FakeRunner(), log=_quiet)
    other = ["bench", "--dataset", "biored", "--sizes", "4", "--methods", "plm+ce", "--seeds", "1,3", "--epochs", "2",
             "--results", str(tmp_path / "other.jsonl"), "--dry-run"]
    r = runner.invoke(app, [*other, "--reuse", str(results)])
    assert r.exit_code == 0, r.output
    assert "2 cells, 1 done in" in r.output and "copied from --reuse (1 line(s)), 1 to run" in r.output
    assert "biored n=4 plm+ce seed=3" in r.output and "seed=1" not in r.output
    r = runner.invoke(app, [*other, "--reuse", str(tmp_path / "none.jsonl")])
    assert r.exit_code == 1 and "--reuse: no such results file" in r.output
    r = runner.invoke(app, ["bench", "report", str(results), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "table.md").exists() and (tmp_path / "out" / "f1_vs_size_biored.png").exists()


def test_default_results_and_report_folders_belong_to_the_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --results a grid's lines go to runs/bench/<name>.jsonl under the working directory (a grid file
    may name its own, as the study does), and `ccre bench report FILE` writes beside FILE, to FILE-report/:
    nothing lands in a benchmarks/ folder the user's project does not have."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    r = runner.invoke(app, ["bench", "--dataset", "biored", "--sizes", "4", "--methods", "plm+ce", "--seeds", "1",
                            "--name", "mine", "--dry-run"])
    assert r.exit_code == 0, r.output
    assert f"0 done in {Path('runs', 'bench', 'mine.jsonl')}" in r.output
    r = runner.invoke(app, ["bench", "--grid", str(STUDY), "--dry-run"])
    assert r.exit_code == 0, r.output
    assert "0 done in benchmarks/results/study.jsonl" in r.output and "from the grid's costs" in r.output
    results = tmp_path / "runs" / "bench" / "mine.jsonl"
    run_grid(_grid(), results, cell_runner=FakeRunner(), log=_quiet)
    r = runner.invoke(app, ["bench", "report", str(results)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "runs" / "bench" / "mine-report" / "table.md").exists()
    assert not (tmp_path / "benchmarks").exists()


def test_the_commit_of_a_line_leaves_its_results_folder_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """run_grid reads the commit with the folder of the results file it appends to left out (its own earlier
    lines are no change to the code), and that commit is the one its lines record."""
    import ccre.utils.runtime

    asked: list[list] = []

    def git_commit(cwd=None, *, exclude=()):  # noqa: ANN001, ANN202
        asked.append(list(exclude))
        return "c0ffee"

    monkeypatch.setattr(ccre.utils.runtime, "git_commit", git_commit)
    results = tmp_path / "out" / "r.jsonl"
    run_grid(_grid(methods=["plm+ce"]), results, cell_runner=FakeRunner(), log=_quiet)
    assert len(asked) == 4 and all(exclude == [results.parent] for exclude in asked)
    assert {r["commit"] for r in read_results(results)} == {"c0ffee"}


def _tiny_real_grid(tmp_path: Path, test_docs: int, **fields) -> tuple[Grid, Path]:
    """A real BioRED grid small enough for a test (3 training documents, the first ``test_docs`` of BioRED
    test, the first 3 of BioRED dev, short windows) and its data directory; ``fields`` override the grid's (methods, seeds, epochs)."""
    from formats_helpers import data_file

    from ccre.data.formats import read_documents, write_documents

    train = data_file("biored/Train.PubTator")
    test = tmp_path / "test.pubtator"
    write_documents(read_documents(data_file("biored/Test.PubTator"))[:test_docs], test, "pubtator")
    dev = tmp_path / "dev.pubtator"  # a few dev documents: the cell chooses its weights and cut-off on them
    write_documents(read_documents(data_file("biored/Dev.PubTator"))[:3], dev, "pubtator")
    spec = {"name": "tiny", "dataset": "biored", "sizes": [3], "seeds": [1], "methods": ["plm+ce"], "epochs": 1,
            "overrides": {"encoder.max_length": 128, "encoder.window_overlap": 32, "train.batch_size": 3,
                          "data.test": str(test), "data.dev": str(dev)}}
    return Grid.parse({**spec, **fields}), train.parents[1]


def test_real_cell_appends_one_line_and_rerun_appends_nothing(tmp_path: Path) -> None:
    grid, data_dir = _tiny_real_grid(tmp_path, 3)
    results = tmp_path / "r.jsonl"
    ctx = BenchContext(grid=grid, data_dir=data_dir, device="cpu", work_dir=tmp_path / "work", log=_quiet)
    summary = run_grid(grid, results, context=ctx, log=_quiet)
    assert summary.ran == 1
    (line,) = read_results(results)
    assert line["method"] == "plm+ce" and line["train_docs"] == 3 and line["dataset"] == "biored"
    assert set(line["metrics"]) == {"pair", "type", "novelty"}
    assert line["config"]["train"]["epochs"] == 1 and line["config"]["encoder"]["max_length"] == 128
    assert line["commit"] and line["machine"] and line["wall_s"] > 0 and line["bench_key"]
    assert line["precision"] == "fp32"  # auto on a CPU
    assert not any((tmp_path / "work" / "cells").iterdir())  # the cell's checkpoint was deleted
    before = results.read_bytes()
    assert run_grid(grid, results, context=ctx, log=_quiet).ran == 0
    assert results.read_bytes() == before
    # an ablated encoder's cell is named after the ablation (its config alone reads mtb+ce); the encoder
    # stands in for the pretrained one, whose build this test skips
    ablation, _ = _tiny_real_grid(tmp_path, 3, methods=["mtb-no-mlm+ce"])
    ctx = BenchContext(grid=ablation, data_dir=data_dir, device="cpu", work_dir=tmp_path / "work", log=_quiet,
                       _encoders={"mtb-no-mlm": "sentence-transformers/all-MiniLM-L6-v2"})
    assert run_grid(ablation, results, context=ctx, log=_quiet).ran == 1
    assert read_results(results)[-1]["method"] == "mtb-no-mlm+ce"
    # --precision reaches finetuning and probes, and their lines say which arithmetic ran
    precise, _ = _tiny_real_grid(tmp_path, 3, seeds=[2], methods=["plm+ce", "probe-knn"])
    ctx = BenchContext(grid=precise, data_dir=data_dir, device="cpu", work_dir=tmp_path / "work", log=_quiet,
                       precision="bf16", _encoders={"mtb": "sentence-transformers/all-MiniLM-L6-v2"})
    assert run_grid(precise, results, context=ctx, log=_quiet).ran == 3
    lines = read_results(results)[-7:]
    assert [r["method"] for r in lines] == ["plm+ce", *PROBES, *PROBES]
    assert {r["precision"] for r in lines} == {"bf16"}


def test_eta_uses_the_cells_own_times(tmp_path: Path) -> None:
    """The ETA extrapolates the cells' recorded times, not the runner's wall time (which includes one-off
    work such as building a pretrained encoder): two equal cells recorded at 60 s each leave 1 min after
    the first."""

    def runner(cell: Cell, ctx: BenchContext) -> list[dict]:
        return [dict(line, wall_s=60.0) for line in FakeRunner()(cell, ctx)]

    messages: list[str] = []
    grid = Grid.parse({"name": "t", "dataset": "biored", "sizes": [4], "seeds": [1, 2], "methods": ["plm+ce"]})
    run_grid(grid, tmp_path / "r.jsonl", cell_runner=runner, log=messages.append)
    assert "ETA 1m00s" in messages[1] and "ETA 0m00s" in messages[2]

    # a resumed cell's time covers only its last part: the ETA after it is the static estimate by the grid's
    # costs, not 60 s; without costs there is none yet
    def resumed(cell: Cell, ctx: BenchContext) -> list[dict]:
        return [dict(line, resumed=True) for line in runner(cell, ctx)]

    priced = Grid.parse({**grid.model_dump(exclude_none=True), "costs": Grid.load(STUDY).costs.model_dump()})
    messages.clear()
    run_grid(priced, tmp_path / "resumed.jsonl", cell_runner=resumed, log=messages.append)
    static = estimate_seconds(priced, expand(priced)[1:], pretraining=False)
    assert round(static.seconds) != 60 and f"ETA {static}" in messages[1]
    messages.clear()
    run_grid(grid, tmp_path / "resumed-no-costs.jsonl", cell_runner=resumed, log=messages.append)
    assert "ETA unknown (no costs for 1 cells)" in messages[1]


def test_cell_killed_mid_training_resumes_to_the_straight_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A finetuning cell killed after its first epoch resumes from the saved state on rerun and ends with
    the metrics of a cell that ran straight through."""
    import ccre.training.loop

    grid, data_dir = _tiny_real_grid(tmp_path, 2, epochs=2)

    def context(name: str) -> BenchContext:
        return BenchContext(grid=grid, data_dir=data_dir, device="cpu", work_dir=tmp_path / name, log=_quiet,
                            keep_checkpoints=True)

    straight = tmp_path / "straight.jsonl"
    run_grid(grid, straight, context=context("a"), log=_quiet)

    save_state = ccre.training.loop.save_state

    def save_then_die(path: Path, **state: object) -> None:
        save_state(path, **state)
        raise KeyboardInterrupt("killed after epoch 1")

    resumed = tmp_path / "resumed.jsonl"
    monkeypatch.setattr(ccre.training.loop, "save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, resumed, context=context("b"), log=_quiet)
    assert not resumed.exists() or not read_results(resumed)
    (cell_dir,) = (tmp_path / "b" / "cells").iterdir()
    assert (cell_dir / ccre.training.loop.STATE_FILE).exists()  # kept for the rerun
    monkeypatch.setattr(ccre.training.loop, "save_state", save_state)
    assert run_grid(grid, resumed, context=context("b"), log=_quiet).ran == 1
    (a,), (b,) = read_results(straight), read_results(resumed)
    assert b["resumed"] is True and "resumed" not in a
    assert b["metrics"] == a["metrics"] and b["bench_key"] == a["bench_key"]
    assert not (cell_dir / ccre.training.loop.STATE_FILE).exists()  # the checkpoint supersedes it
    heads_a = load_file(str(Path(a["checkpoint"]) / "heads.safetensors"))
    heads_b = load_file(str(Path(b["checkpoint"]) / "heads.safetensors"))
    assert heads_a.keys() == heads_b.keys()
    assert all(torch.equal(heads_a[k], heads_b[k]) for k in heads_a)


def _pretrain_output(path: Path, **settings) -> Path:
    """A finished ``ccre pretrain`` output as far as the bench looks: a model folder of kind ``encoder`` with
    its run record."""
    from ccre.modeling.checkpoint import PARTS, write_model_folder

    config = {**PretrainConfig().model_dump(), **settings}
    record = json.dumps({"config": config, "steps": config["max_steps"]})
    write_model_folder(path, "encoder", lambda folder: (folder / PARTS["run"]).write_text(record))
    return path


def test_pretrained_encoder_must_match_the_grids_pretraining_settings(tmp_path: Path) -> None:
    """--pretrain-set beside --pretrained: settings the encoder was made with pass; one it was not made with
    stops the run before its first cell (the plain encoder's included), naming the field and both values."""
    encoder = _pretrain_output(tmp_path / "mtb", max_steps=300)
    results = tmp_path / "r.jsonl"
    runner = FakeRunner()
    run_grid(_grid(pretrained=str(encoder), pretrain={"max_steps": 300}), results, cell_runner=runner, log=_quiet)
    assert len(runner.calls) == 16
    untyped = _grid(pretrained=str(encoder), pretrain={"encoder.typed_markers": False}, name="untyped")
    runner = FakeRunner()
    with pytest.raises(ConfigError, match=r"typed_markers=False \(it has True\)"):
        run_grid(untyped, tmp_path / "untyped.jsonl", cell_runner=runner, log=_quiet)
    assert runner.calls == [] and not (tmp_path / "untyped.jsonl").exists()
    # without mtb cells to run, the encoder is not used and nothing is checked
    plain_only = _grid(pretrained=str(encoder), pretrain={"encoder.typed_markers": False}, methods=["plm+ce"])
    run_grid(plain_only, tmp_path / "plain.jsonl", cell_runner=FakeRunner(), log=_quiet)
    with pytest.raises(ConfigError, match="not a finished `ccre pretrain` output"):
        run_grid(_grid(pretrained=str(tmp_path / "nothing")), tmp_path / "x.jsonl", cell_runner=FakeRunner(),
                 log=_quiet)
