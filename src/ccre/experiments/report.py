"""``ccre bench report``: mean +- std over seeds of benchmark result lines, as a markdown table and plots.

- Headline metric: pair+type F1 for BioRED (``metrics["type"]["f1"]``), F1 and Ign F1 for DocRED-format data.
- Rows are grouped by data set x training size x method; probes also by the probed encoder
  (``probe-knn (plm)`` vs ``probe-knn (mtb)``); lines of different settings, starting encoders, or pretraining
  arithmetic (:func:`pretraining_precision`: one cache key pretrained in bf16 on one machine and in fp32 on
  another is two encoders) are separate rows. When one seed has several lines in a group, the last counts.
- std is the sample standard deviation over seeds (ddof = 1); it is undefined (``None``) for one seed.

Figures are drawn as in :mod:`ccre.plots` (explicit Agg canvas, no pyplot state, atomic PNG writes).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ccre.analysis.plots import _colormap, _figure, _save
from ccre.config import DEFAULT_ENCODER
from ccre.experiments.grid import PROBES
from ccre.experiments.records import headline_figures, read_results
from ccre.utils.io import atomic_write_text
from ccre.utils.runtime import NO_GPU

METHOD_ORDER = ("prior", "plm+ce", "plm+supcon", "plm+mccl", "mtb+ce", "mtb+supcon", "mtb+mccl",
                "mtb-no-mtb+mccl", "mtb-no-self+mccl", "mtb-no-mlm+mccl")
ABLATIONS = ("mtb+mccl", "mtb-no-mtb+mccl", "mtb-no-self+mccl", "mtb-no-mlm+mccl")


@dataclass
class Row:
    """Aggregate of one data set x size x method (x probed encoder) over seeds."""

    dataset: str
    train_docs: int
    method: str  # the record's method (probe-knn, mtb+mccl, ...)
    encoder_kind: str  # plm, mtb, ... (for a finetuning method, its prefix)
    variant: str  # overrides hash, shown only when one method has several in a data set x size
    seeds: list[int]
    mean: dict[str, float]
    std: dict[str, float | None]
    wall_s: float  # mean wall time of one line
    overrides: dict = field(default_factory=dict)  # the config overrides of the group (empty: grid defaults)
    date: str = ""  # date of the group's newest line
    start: str = ""  # the starting encoder: its name, and its pretraining steps and arithmetic where recorded
    resumed: bool = False  # a line finished a killed run: its wall_s counts only the run that finished it

    @property
    def wall_min(self) -> str:
        """Mean wall minutes of one line, ``*``-marked when a resumed line makes it an underestimate."""
        return f"{self.wall_s / 60:.1f}" + ("*" if self.resumed else "")

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def name(self) -> str:
        """The method, with the probed encoder's kind for a probe."""
        return f"{self.method} ({self.encoder_kind})" if self.method in PROBES else self.method

    @property
    def label(self) -> str:
        return f"{self.name} [{self.variant}]" if self.variant else self.name


def load_records(paths: Iterable[str | Path]) -> list[dict]:
    return [r for p in paths for r in read_results(p) if isinstance(r.get("metrics"), dict) and "method" in r]


def record_encoder_kind(record: dict) -> str:
    """The encoder kind of a line: its ``encoder_kind``, else a finetuning method's prefix; a probe line
    written before probes recorded their kind names either the default encoder or a ``ccre pretrain``
    output, told apart by the name alone so the report does not depend on which directories exist here."""
    if record.get("encoder_kind"):
        return str(record["encoder_kind"])
    if record["method"] in PROBES:
        return "plm" if str(record.get("encoder", "")) == DEFAULT_ENCODER else "mtb"
    return record["method"].rpartition("+")[0] or "plm"


def pretraining_precision(record: dict) -> str:
    """The arithmetic a line's starting encoder was pretrained in: ``pretrained.precision`` where recorded;
    ``""`` for the plain encoder, which was not pretrained here.

    Lines written before pretraining recorded it (no ``pretrained`` block, or one without ``precision``) ran
    under the default ``auto``, which is fp32 on a CPU: on a machine with no GPU they are fp32, the same
    encoder as a later line that says so. On a GPU ``auto`` meant bf16 or fp32 by the card: unknown (``""``)."""
    recorded = (record.get("pretrained") or {}).get("precision")
    if recorded:
        return str(recorded)
    if record_encoder_kind(record) == "plm":
        return ""
    return "fp32" if str(record.get("machine", "")).endswith(NO_GPU) else ""


def starting_encoder(record: dict) -> str:
    """The encoder a line started from, e.g. ``runs/pretrained/9f5a0f885e10 (2000 steps, fp32)``: its name,
    with its pretraining steps and arithmetic (:func:`pretraining_precision`)."""
    pretrained = record.get("pretrained") or {}
    details = ", ".join(x for x in (f"{pretrained['steps']} steps" if pretrained.get("steps") else "",
                                    pretraining_precision(record)) if x)
    name = str(record.get("encoder", ""))
    return f"{name} ({details})" if details else name


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def _method_rank(method: str) -> tuple[int, str]:
    if method in METHOD_ORDER:
        return METHOD_ORDER.index(method), method
    if method in PROBES:
        return len(METHOD_ORDER) + 1 + PROBES.index(method), method
    return len(METHOD_ORDER), method


def aggregate(records: Iterable[dict]) -> list[Row]:
    """One :class:`Row` per data set x size x method (x probed encoder, x config variant)."""
    groups: dict[tuple, dict[int, dict]] = {}
    for r in records:
        # lines from different starting encoders (e.g. two pretraining runs) or settings are separate rows
        variant = "/".join(x for x in (r.get("overrides_hash", ""), Path(str(r.get("encoder", ""))).name,
                                       pretraining_precision(r)) if x)
        key = (r["dataset"], int(r["train_docs"]), r["method"], record_encoder_kind(r), variant)
        groups.setdefault(key, {})[int(r["seed"])] = r  # the last line of a seed counts
    variants: dict[tuple, set[str]] = {}
    for dataset, size, method, kind, variant in groups:
        variants.setdefault((dataset, size, method, kind), set()).add(variant)
    rows = []
    for (dataset, size, method, kind, variant), by_seed in groups.items():
        seeds = sorted(by_seed)
        figures = [headline_figures(by_seed[s]["metrics"]) for s in seeds]
        names = [n for n in figures[0] if all(n in f for f in figures)]
        mean, std = {}, {}
        for name in names:
            mean[name], std[name] = mean_std([f[name] for f in figures])
        walls = [float(by_seed[s].get("wall_s", 0.0)) for s in seeds]
        shown = variant if len(variants[(dataset, size, method, kind)]) > 1 else ""
        overrides = by_seed[seeds[0]].get("overrides") or {}
        newest = max(str(by_seed[s].get("date", "")) for s in seeds)
        rows.append(Row(dataset, size, method, kind, shown, seeds, mean, std, sum(walls) / len(walls), overrides, newest,
                        starting_encoder(by_seed[seeds[-1]]), any(by_seed[s].get("resumed") for s in seeds)))
    rows.sort(key=lambda r: (r.dataset, r.train_docs, *_row_order(r)))
    return rows


def _row_order(row: Row) -> tuple:
    """Order of rows within one data set and size: method, then the plain encoder before pretrained ones."""
    return _method_rank(row.method), row.encoder_kind != "plm", row.encoder_kind, row.variant


def pct(mean: float, std: float | None) -> str:
    """A fraction as a percentage with two decimals, ``± std`` after it when there is one."""
    return f"{100 * mean:.2f}" + (f" ± {100 * std:.2f}" if std is not None else "")


def markdown_table(rows: Sequence[Row]) -> str:
    """Per data set: size, method, headline metric(s) mean ± std (%), number of seeds."""
    parts = []
    for dataset in sorted({r.dataset for r in rows}):
        mine = [r for r in rows if r.dataset == dataset]
        names = list(dict.fromkeys(n for r in mine for n in r.mean))
        what = "pair+type F1" if names == ["F1"] and dataset == "biored" else " / ".join(names)
        parts.append(f"### {dataset} ({what}, %, mean ± std over seeds)\n")
        parts.append("| train docs | method | " + " | ".join(names) + " | seeds |")
        parts.append("|---:|---|" + "---:|" * len(names) + "---:|")
        for r in mine:
            cells = [pct(r.mean[n], r.std[n]) if n in r.mean else "" for n in names]
            parts.append(f"| {r.train_docs} | {r.label} | " + " | ".join(cells) + f" | {r.n} |")
        parts.append("")
    return "\n".join(parts)


def wall_table(rows: Sequence[Row]) -> str:
    """Mean wall time (minutes) of one line, per data set x method (rows) and size (columns). A probe
    call makes three lines with the same wall time. Rows follow the method order, not the size at which a
    label first appears. A ``*`` marks a time that includes a resumed line (only its finishing run counted)."""
    parts = []
    for dataset in sorted({r.dataset for r in rows}):
        mine = [r for r in rows if r.dataset == dataset]
        sizes = sorted({r.train_docs for r in mine})
        labels = list(dict.fromkeys(r.label for r in sorted(mine, key=_row_order)))
        parts.append(f"### {dataset}: mean wall time per run (min)\n")
        parts.append("| method | " + " | ".join(str(s) for s in sizes) + " |")
        parts.append("|---|" + "---:|" * len(sizes))
        for label in labels:
            cell = {r.train_docs: r.wall_min for r in mine if r.label == label}
            parts.append(f"| {label} | " + " | ".join(cell.get(s, "") for s in sizes) + " |")
        parts.append("")
    footnote = resumed_footnote(rows)
    return "\n".join([*parts, footnote] if footnote else parts)


def resumed_footnote(rows: Sequence[Row]) -> str:
    """The footnote for the ``*`` of :attr:`Row.wall_min`, or ``""`` when no row includes a resumed line."""
    if not any(r.resumed for r in rows):
        return ""
    return "\\* includes a resumed run: its time counts only the run that finished it, so the cell took longer.\n"


# -------------------------------------------------------------------------------------------- plots
def _err(std: float | None) -> float:
    return 100 * std if std is not None else 0.0


def _file_name(dataset: str) -> str:
    """A data set's name as part of a file name: a file of one's own (``ccre train --train``) or a pair of them
    (``ccre bench --dataset TRAIN,TEST``) by their stems, ``train+test``."""
    return "+".join(Path(path).stem for path in dataset.split(",")) if "/" in dataset or "," in dataset else dataset


def plot_f1_vs_size(rows: Sequence[Row], dataset: str, path: str | Path) -> bool:
    """Headline metric(s) against training size (log x), one line per finetuning method, error bars = std.
    Returns False (and writes nothing) when the data set has no finetuning rows."""
    mine = [r for r in rows if r.dataset == dataset and r.method not in PROBES]
    if not mine:
        return False
    names = list(dict.fromkeys(n for r in mine for n in r.mean))
    labels = list(dict.fromkeys(r.label for r in mine))
    sizes = sorted({r.train_docs for r in mine})
    fig = _figure(5.5 * len(names), 4.2)
    cmap = _colormap(len(labels))
    for j, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), j + 1)
        for i, label in enumerate(labels):
            pts = sorted((r.train_docs, 100 * r.mean[name], _err(r.std[name])) for r in mine
                         if r.label == label and name in r.mean)
            if pts:
                x, y, e = zip(*pts)
                ax.errorbar(x, y, yerr=e, marker="o", markersize=4, capsize=3, linewidth=1.3, color=cmap(i), label=label)
        ax.set_xscale("log")
        ax.set_xticks(sizes)
        ax.set_xticklabels([str(s) for s in sizes])
        ax.minorticks_off()
        ax.set_xlabel("training documents")
        ax.set_ylabel(f"{'pair+type ' if dataset == 'biored' and name == 'F1' else ''}{name} (%)")
        ax.set_title(f"{dataset}: {name}")
        ax.grid(alpha=0.3)
    fig.axes[-1].legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    _save(fig, path)
    return True


def _bars(ax, groups: Sequence[str], series: Sequence[str], value, cmap) -> None:
    width = 0.8 / max(len(series), 1)
    for i, s in enumerate(series):
        xs, ys, es = [], [], []
        for g_index, g in enumerate(groups):
            v = value(g, s)
            if v is not None:
                xs.append(g_index - 0.4 + width * (i + 0.5))
                ys.append(v[0])
                es.append(v[1])
        ax.bar(xs, ys, width=width, yerr=es, capsize=2, color=cmap(i), label=s)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.grid(axis="y", alpha=0.3)


def plot_probes(rows: Sequence[Row], dataset: str, path: str | Path) -> bool:
    """Probe F1 bars: softmax / centroid / kNN, one bar per probed encoder, one panel per size."""
    mine = [r for r in rows if r.dataset == dataset and r.method in PROBES and "F1" in r.mean]
    if not mine:
        return False
    sizes = sorted({r.train_docs for r in mine})
    kinds = list(dict.fromkeys(r.encoder_kind for r in sorted(mine, key=lambda r: r.encoder_kind != "plm")))
    probes = [p for p in PROBES if any(r.method == p for r in mine)]
    fig = _figure(max(4.0, 3.2 * len(sizes)), 3.8)
    cmap = _colormap(len(kinds))
    for j, size in enumerate(sizes):
        ax = fig.add_subplot(1, len(sizes), j + 1, sharey=fig.axes[0] if fig.axes else None)
        at = {(r.method, r.encoder_kind): r for r in mine if r.train_docs == size}

        def value(probe: str, kind: str):
            r = at.get((probe, kind))
            return None if r is None else (100 * r.mean["F1"], _err(r.std["F1"]))

        _bars(ax, probes, kinds, value, cmap)
        ax.set_xticklabels([p.removeprefix("probe-") for p in probes])
        ax.set_title(f"{dataset}, {size} docs")
        if j == 0:
            ax.set_ylabel(f"{'pair+type ' if dataset == 'biored' else ''}F1 (%)")
    fig.axes[-1].legend(title="encoder", loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    _save(fig, path)
    return True


def plot_ablation(rows: Sequence[Row], dataset: str, path: str | Path) -> bool:
    """F1 bars of mtb+mccl and its pretraining ablations, grouped by training size."""
    mine = [r for r in rows if r.dataset == dataset and r.method in ABLATIONS and "F1" in r.mean and not r.variant]
    if not mine:
        return False
    sizes = sorted({r.train_docs for r in mine})
    methods = [m for m in ABLATIONS if any(r.method == m for r in mine)]
    at = {(str(r.train_docs), r.method): r for r in mine}
    fig = _figure(max(5.0, 1.6 * len(sizes) + 2.5), 4.0)
    ax = fig.add_subplot()

    def value(size: str, method: str):
        r = at.get((size, method))
        return None if r is None else (100 * r.mean["F1"], _err(r.std["F1"]))

    _bars(ax, [str(s) for s in sizes], methods, value, _colormap(len(methods)))
    ax.set_xlabel("training documents")
    ax.set_ylabel(f"{'pair+type ' if dataset == 'biored' else ''}F1 (%)")
    ax.set_title(f"{dataset}: pretraining ablations")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    fig.tight_layout()
    _save(fig, path)
    return True


def relative_path(path: str | Path, start: str | Path) -> str:
    """``path`` as seen from the directory ``start``, so a table names its sources wherever it is moved with them."""
    return Path(os.path.relpath(Path(path).resolve(), Path(start).resolve())).as_posix()


def write_report(results: Iterable[str | Path], out: str | Path) -> list[Path]:
    """``<out>/table.md`` (metrics and wall times) and the PNG plots; returns the files written."""
    out = Path(out)
    paths = list(results)
    rows = aggregate(load_records(paths))
    if not rows:
        from ccre.errors import CcreError

        raise CcreError(f"no result lines in {', '.join(map(str, paths))}")
    written: list[Path] = []
    figures: list[str] = []
    for dataset in sorted({r.dataset for r in rows}):
        for stem, plot in (("f1_vs_size", plot_f1_vs_size), ("probes", plot_probes), ("ablation", plot_ablation)):
            path = out / f"{stem}_{_file_name(dataset)}.png"
            if plot(rows, dataset, path):
                written.append(path)
                figures.append(f"![{stem} {dataset}]({path.name})")
    text = (
        "## Results\n\n"
        f"From {', '.join(f'`{relative_path(p, out)}`' for p in paths)}. BioRED: pair+type F1; DocRED: F1 and Ign F1. "
        "± is the sample standard deviation over seeds (none for one seed).\n\n"
        + markdown_table(rows) + "\n## Wall time\n\n" + wall_table(rows)
        + ("\n## Figures\n\n" + "\n\n".join(figures) + "\n" if figures else "")
    )
    atomic_write_text(out / "table.md", text)
    return [out / "table.md", *written]
