"""Write ``benchmarks/REPORT.md``: the paper's claims checked against the study's results, with the tables
and plots of ``ccre bench report`` and the investigation notes of ``benchmarks/report_notes.md``.

Usage: python benchmarks/report.py [--study RESULTS.jsonl ...] [--variants RESULTS.jsonl] [--diagnosis RESULTS.jsonl]
                                  [--gpu RESULTS.jsonl] [--dev-study RESULTS.jsonl]   (a wrapper of this module)

- ``--dev-study`` (default ``benchmarks/results/study_dev.jsonl``, when present): the grid of
  ``benchmarks/study_dev.yaml``, every setting chosen on dev; it comes first, each method beside its no-text
  prior, and is never mixed with the cells below.

- ``--study`` (default ``study.jsonl``, ``probe.jsonl`` and ``e2e.jsonl`` of ``benchmarks/results``): the main
  grid, one configuration per method; the claims are evaluated on it (:mod:`ccre_study.claims`).
- ``--variants`` (default ``benchmarks/results/variants.jsonl``, when present): runs with changed settings
  (tried while investigating a claim), tabled separately; they count only in the "best tried" verdicts, which
  pick each method's best configuration on the test set and are labelled as the optimistic bound they are.
- ``--gpu`` (default ``benchmarks/results/gpu.jsonl``, when present): cells of ``benchmarks/gpu_grid.sh`` on a
  lent GPU; their MTB encoder was pretrained there, so they get their own table and their own claim check.

The tables, plots and verdicts are generated; only ``report_notes.md`` is written by hand, and it must not
contain figures that are not in the results files.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ccre.experiments.grid import Grid, cell_lines, expand
from ccre.experiments.records import read_results
from ccre.experiments.report import (
    Row,
    aggregate,
    load_records,
    markdown_table,
    pct,
    relative_path,
    resumed_footnote,
    wall_table,
    write_report,
)
from ccre.training.pretraining.config import PretrainConfig
from ccre.utils.io import atomic_write_text
from ccre.utils.runtime import git_commit, machine_description, now_iso
from ccre_study import BENCHMARKS
from ccre_study.claims import claims_markdown, evaluate_claims, verdicts_table


def variants_table(rows: list[Row]) -> str:
    """One line per configuration, with the settings that differ from the defaults and the starting encoder
    spelled out."""
    lines = ["| data set | train docs | method | settings | starting encoder | F1 (%) | seeds | min per run |",
             "|---|---:|---|---|---|---:|---:|---:|"]
    for r in rows:
        settings = ", ".join(f"{k}={v}" for k, v in sorted(r.overrides.items()) if k != "train.epochs") or "defaults"
        lines.append(f"| {r.dataset} | {r.train_docs} | {r.name} | {settings} | {r.start} | "
                     f"{pct(r.mean['F1'], r.std.get('F1'))} | {r.n} | {r.wall_min} |")
    footnote = resumed_footnote(rows)
    return "\n".join(lines) + "\n" + (f"\n{footnote}" if footnote else "")


def floor_table(rows: list[Row]) -> str:
    """Each trained method beside the no-text ``prior`` of the same data set and size: mean F1 over seeds and its
    margin over the prior's mean (issue 29 asks for 5 points or more, and MTB+CE above PLM+CE)."""
    lines = ["| data set | train docs | method | F1 (%) | prior F1 (%) | above the prior | seeds |",
             "|---|---:|---|---:|---:|---:|---:|"]
    priors = {(r.dataset, r.train_docs): r for r in rows if r.method == "prior"}
    for r in rows:
        floor = priors.get((r.dataset, r.train_docs))
        if r.method == "prior" or floor is None:
            continue
        lines.append(f"| {r.dataset} | {r.train_docs} | {r.label} | {pct(r.mean['F1'], r.std.get('F1'))} | "
                     f"{pct(floor.mean['F1'], floor.std.get('F1'))} | "
                     f"{100 * (r.mean['F1'] - floor.mean['F1']):+.2f} | {r.n} |")
    return "\n".join(lines) + "\n"


def dev_study_section(path: Path, grid_file: Path, rel) -> list[str]:
    """The study under the settings chosen on dev (``grid_file``, ``benchmarks/study_dev.yaml``): each method
    beside its floor, then the full table and wall times, from the lines of ``path`` that are the grid's cells as
    it is now. Kept apart from the main grid, whose settings were chosen on test."""
    records = load_records([path])
    current = cell_lines(expand(Grid.load(grid_file)), records)
    rows = aggregate(current)
    return ["## The study with every setting chosen on dev\n",
            f"From `{rel(path)}` (`ccre bench --grid benchmarks/{grid_file.name}`): today's defaults and the grid's own "
            "settings, every one of them chosen on a dev split (BioRED `Dev.PubTator`; Re-DocRED a fixed "
            "100-document slice of `dev_revised.json`), training weights and the no-relation cut-off chosen there "
            "too; test figures are reported, never used. Only the lines that are the grid's cells as it is now count "
            f"({len(records) - len(current)} of the file's {len(records)} were made under earlier settings and stay "
            "in the file). The sections after this one are the earlier grid, whose settings were chosen while looking "
            "at test figures.\n",
            "### Each method beside the no-text prior\n", floor_table(rows),
            markdown_table(rows).replace("### ", "#### "),
            "### Wall time (min per run)\n", wall_table(rows).replace("### ", "#### ")]


def diagnosis_table(records: list[dict]) -> str:
    """One line per variant of ``diagnose_redocred.py``: last training loss and held-out F1 before, after."""
    lines = ["| variant | last epoch's training loss | held-out F1 (%) untrained | after training | best epoch | wall (s) |",
             "|---|---:|---:|---:|---:|---:|"]
    for r in records:
        curve = r["curve"]
        lines.append(f"| {r['variant']} | {curve[-2].get('train_loss', float('nan')):.4f} | "
                     f"{100 * curve[0]['held_out_f1']:.2f} | {100 * r['final_held_out_f1']:.2f} | "
                     f"{100 * r['best_held_out_f1']:.2f} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def grid_defaults(records: list[dict]) -> list[dict]:
    """The lines run with the grid's defaults: no setting changed (the kNN probe's k at its default aside) and,
    for an MTB encoder, the default number of pretraining steps."""
    default_k, default_steps = Grid.model_fields["probe_k"].default, PretrainConfig().max_steps
    return [r for r in records
            if not {k: v for k, v in (r.get("overrides") or {}).items() if (k, v) != ("probe.k", default_k)}
            and (r.get("pretrained") or {}).get("steps", default_steps) == default_steps]


def gpu_section(path: Path, rel) -> list[str]:
    """The GPU cells: their claims (grid defaults only, as for the main grid) and every configuration run."""
    records = load_records([path])
    machines = sorted({r["machine"] for r in records})
    return ["## Cells run on a lent GPU (a separate grid, with its own verdict columns above)\n",
            f"From `{rel(path)}`, written by `benchmarks/gpu_grid.sh` (see `docs/history.md`) on "
            f"{'; '.join(machines)}, several cells sharing the GPU at once, in bf16 mixed precision unless a line "
            "records `precision: fp32`. Every MTB cell starts from an encoder pretrained on that machine (each "
            "lent machine pretrains its own; the lines record the steps and arithmetic where the column says "
            "so, and the older lines, which do not, were pretrained in bf16 with the default `PretrainConfig`). "
            "The CPU grid's MTB cells start from `runs/mtb`, so these cells are compared only with each other.\n",
            "### Claims on the GPU cells (grid defaults only): the comparisons\n", claims_markdown(evaluate_claims(
                aggregate(grid_defaults(records))), table=False),
            "### Claims on the GPU cells, best settings tried: the comparisons\n", claims_markdown(evaluate_claims(
                aggregate(records), "best"), table=False),
            "### Every GPU configuration\n", variants_table(aggregate(records))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", nargs="+", type=Path,
                        default=[BENCHMARKS / "results" / n for n in ("study.jsonl", "probe.jsonl", "e2e.jsonl")])
    parser.add_argument("--variants", type=Path, default=BENCHMARKS / "results" / "variants.jsonl")
    parser.add_argument("--diagnosis", type=Path, default=BENCHMARKS / "results" / "diagnosis.jsonl")
    parser.add_argument("--gpu", type=Path, default=BENCHMARKS / "results" / "gpu.jsonl")
    parser.add_argument("--dev-study", type=Path, default=BENCHMARKS / "results" / "study_dev.jsonl")
    parser.add_argument("--out", type=Path, default=BENCHMARKS / "REPORT.md")
    args = parser.parse_args()

    study = [p for p in args.study if p.exists()]
    figures_dir = args.out.parent / "study"
    write_report(study, figures_dir)
    rows = aggregate(load_records(study))
    variants = load_records([args.variants]) if args.variants.exists() else []
    defaults, best = evaluate_claims(rows), evaluate_claims(aggregate(load_records(study) + variants), "best")
    columns = {"CPU grid": defaults, "CPU, best tried": best}
    if args.gpu.exists():
        gpu = load_records([args.gpu])
        columns |= {"GPU grid": evaluate_claims(aggregate(grid_defaults(gpu))),
                    "GPU, best tried": evaluate_claims(aggregate(gpu), "best")}
    rel = lambda p: relative_path(p, args.out.parent)  # noqa: E731
    parts = [
        "# The study: ccre against the claims of Zhou et al. (ACL 2023)\n",
        f"Generated by `python benchmarks/report.py` at commit {git_commit()[:10]} on {now_iso()[:10]} "
        f"({machine_description()}), from {', '.join(f'`{rel(p)}`' for p in study)}. "
        "Metric: BioRED pair+type F1, Re-DocRED F1 (%), mean over seeds (n = number of seeds). "
        "Each result line records its own command, commit, machine and date.\n",
        *(dev_study_section(args.dev_study, BENCHMARKS / "study_dev.yaml", rel) if args.dev_study.exists() else []),
        "## Claims\n",
        "Verdicts on four sets of cells. *CPU grid*: the main grid, each method with its default settings. "
        "*CPU, best tried*: the same cells and the variants tried while investigating (`variants.jsonl`), each "
        "method in the configuration with the best mean F1 among those run with three seeds or more (or with the "
        "most seeds, where none has three). The settings are chosen on the test set itself, so that column is an "
        "optimistic bound: a claim it does not reproduce holds under no setting tried; one it does reproduce "
        "holds only with settings picked after the fact. *GPU grid* and *GPU, best tried*: the same two for the "
        "cells run on a lent GPU (their own pretrained encoder, so never mixed with the CPU's). In (v), all the data "
        "is BioRED's 400 training documents and Re-DocRED's 500 (all the study has: 16 % of the official "
        "training split).\n",
        verdicts_table(columns),
        "### CPU grid: the comparisons\n",
        claims_markdown(defaults, table=False),
        "### CPU, best settings tried: the comparisons\n",
        "Each row names the settings that differ from the defaults and its starting encoder.\n",
        claims_markdown(best, table=False),
        "## Results (main grid)\n",
        markdown_table(rows),
        "## Wall time of each part (2 CPU cores unless the line says otherwise)\n",
        "Mean minutes per run as recorded in each line's `wall_s` (a cell's training and test prediction; a "
        "probe line shares its encoder pass with the other two probes; pretraining, built once per encoder, is "
        "in `results/pretrain.jsonl` and the notes). Runs that shared the cores with other jobs took longer.\n",
        wall_table(rows),
    ]
    pngs = sorted(figures_dir.glob("*.png"))
    if pngs:
        parts += ["## Plots\n", "\n\n".join(f"![{p.stem}]({rel(p)})" for p in pngs) + "\n"]
    tsne = sorted(BENCHMARKS.glob("tsne_*.png"))
    if tsne:
        parts += ["## t-SNE of pair embeddings (BioRED test)\n",
                  "\n\n".join(f"![{p.stem}]({rel(p)})" for p in tsne) + "\n"]
    if args.variants.exists():
        parts += ["## Variants tried while investigating (counted only in the best-tried verdicts)\n",
                  f"From `{rel(args.variants)}`.\n", variants_table(aggregate(load_records([args.variants])))]
    diagnosis = read_results(args.diagnosis)
    if diagnosis:
        parts += ["## Re-DocRED: contrastive training variants on a frozen encoder\n",
                  f"From `{rel(args.diagnosis)}` (`python benchmarks/investigations/diagnose_redocred.py`: 25 of the 31 documents "
                  "of the 1 % cell for training, 6 held out, the plain encoder frozen, the pair embedder trained; "
                  "F1 at the best single no-relation margin on the held-out pairs, alike for every variant).\n",
                  diagnosis_table(diagnosis)]
    if args.gpu.exists():
        parts += gpu_section(args.gpu, rel)
    notes = BENCHMARKS / "report_notes.md"
    if notes.exists():
        parts += [notes.read_text(encoding="utf-8")]
    atomic_write_text(args.out, "\n".join(parts))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
