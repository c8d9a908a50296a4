"""``ccre pretrain`` and ``ccre pretrain-stats``: contrastive pretraining of entity-pair embeddings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from ccre.cli.app import (
    DataDir,
    PrecisionChoice,
    PrecisionOpt,
    _print_skip,
    app,
    console,
    friendly_errors,
    out,
)
from ccre.config import DatasetName

FilesArg = Annotated[
    Optional[list[Path]],
    typer.Argument(help="entity-linked documents, any supported format (default: the --dataset corpus)"),
]
CorpusOpt = Annotated[
    DatasetName,
    typer.Option("--dataset", help="the data set whose corpus is read when no FILES are given, its dev and test "
                                   "left out: biored (the data directory's pretrain/*.pubtator + BioRED train) or "
                                   "redocred (its training pool, general-domain text); relations are never read"),
]
ExcludeOpt = Annotated[
    Optional[list[Path]],
    typer.Option("--exclude", help="drop every document that also appears in this file (by id or by text); "
                                   "repeatable; default: the --dataset's dev and test"),
]


def load_corpus_documents(
    files: list[Path] | None, exclude: list[Path] | None, data_dir: Path | None, strict: bool, dataset: str
) -> tuple[list, dict]:
    """:func:`ccre.training.pretraining.inputs.load_corpus_documents`, printing skipped documents and a summary."""
    from ccre.training.pretraining.inputs import load_corpus_documents as load

    docs, report = load(files, exclude, data_dir, strict, on_skip=_print_skip, dataset=dataset)
    console.print(
        f"{report['read']} documents read from {len(report['inputs'])} file(s); {report['skipped_bad']} bad "
        f"skipped, {report['duplicates_dropped']} duplicate(s) dropped, {report['excluded_dropped']} dropped "
        f"because they appear in {', '.join(report['exclude']) or 'no excluded file'}",
        highlight=False,
    )
    return docs, report


def _stats_table(stats: dict) -> Table:
    table = Table(title="pretraining corpus")
    table.add_column("")
    table.add_column("count", justify="right")
    for key, value in stats.items():
        table.add_row(key.replace("_", " "), str(value))
    return table


@app.command("pretrain-stats")
@friendly_errors
def pretrain_stats(
    files: FilesArg = None,
    exclude: ExcludeOpt = None,
    dataset: CorpusOpt = "biored",
    max_pairs_per_doc: Annotated[int, typer.Option(help="instances kept per document")] = 64,
    data_dir: DataDir = None,
    strict: Annotated[bool, typer.Option(help="stop at the first bad document instead of skipping it")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Corpus statistics: documents, instances, distinct entity pairs, pairs found in 2+ documents."""
    from ccre.training.pretraining.corpus import build_corpus, corpus_stats

    docs, report = load_corpus_documents(files, exclude, data_dir, strict, dataset)
    stats = corpus_stats(build_corpus(docs, max_pairs_per_doc))
    if as_json:
        print(json.dumps({**stats, "excluded_dropped": report["excluded_dropped"]}))
    else:
        out.print(_stats_table(stats))


@app.command("pretrain")
@friendly_errors
def pretrain(
    files: FilesArg = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="output directory (usable as ccre train --model)")] = Path("pretrained"),
    exclude: ExcludeOpt = None,
    dataset: CorpusOpt = "biored",
    config: Annotated[Optional[Path], typer.Option(help="YAML/JSON PretrainConfig; options below override it")] = None,
    model: Annotated[Optional[str], typer.Option(help="encoder to start from: Hugging Face name or path")] = None,
    max_steps: Annotated[Optional[int], typer.Option(help="optimizer steps (default 300: ~35-50 min on 2 idle CPU cores)")] = None,
    epochs: Annotated[Optional[int], typer.Option(help="passes over the corpus instead of --max-steps")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="documents per step (global)")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="encoder window in word pieces")] = None,
    lr: Annotated[Optional[float], typer.Option(help="encoder learning rate")] = None,
    tau: Annotated[Optional[float], typer.Option(help="temperature of L_mtb and L_self")] = None,
    mtb_weight: Annotated[Optional[float], typer.Option(help="weight of L_mtb (0: off)")] = None,
    self_weight: Annotated[Optional[float], typer.Option(help="weight of L_self (0: off)")] = None,
    mlm_weight: Annotated[Optional[float], typer.Option(help="weight of L_mlm (0: off)")] = None,
    blank_prob: Annotated[Optional[float], typer.Option(help="probability of blanking a mention")] = None,
    typed_markers: Annotated[Optional[bool], typer.Option(
        "--typed-markers/--untyped-markers",
        help="write each mention's entity type after its start marker (finetune with the same setting)")] = None,
    max_pairs_per_doc: Annotated[Optional[int], typer.Option(help="instances kept per document")] = None,
    checkpoint_every: Annotated[Optional[int], typer.Option(help="steps between resumable checkpoints")] = None,
    seed: Annotated[Optional[int], typer.Option()] = None,
    set_: Annotated[Optional[list[str]], typer.Option(
        "--set", help="pretraining field FIELD=VALUE (any field of ccre.training.pretraining.config.PretrainConfig, "
        "e.g. mlm_prob=0.2); repeatable, applied last")] = None,
    resume: Annotated[bool, typer.Option(help="continue the run in --output from its last checkpoint")] = False,
    cpu: Annotated[bool, typer.Option(help="run on CPU even when a GPU is present")] = False,
    precision: PrecisionOpt = PrecisionChoice.auto,
    data_dir: DataDir = None,
    strict: Annotated[bool, typer.Option(help="stop at the first bad document instead of skipping it")] = False,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Pretrain entity-pair embeddings (L_mtb + L_self + L_mlm) on entity-linked documents.

    Runs under accelerate: `accelerate launch -m ccre pretrain ...` spreads each batch over the processes.
    """
    import logging

    from ccre.config import parse_assignments, read_mapping, validated

    logging.getLogger("accelerate").setLevel(logging.ERROR)  # no per-checkpoint INFO lines

    from ccre.training.pretraining.config import PretrainConfig
    from ccre.training.pretraining.trainer import Pretrainer

    raw: dict = read_mapping(config, "config") if config is not None else {}
    base = validated(PretrainConfig, raw, str(config))
    options = {
        "encoder.name": model, "max_steps": max_steps, "epochs": epochs, "batch_size": batch_size,
        "encoder.max_length": max_length, "lr": lr, "tau": tau, "mtb_weight": mtb_weight, "self_weight": self_weight,
        "mlm_weight": mlm_weight, "blank_prob": blank_prob, "encoder.typed_markers": typed_markers,
        "max_pairs_per_doc": max_pairs_per_doc, "checkpoint_every": checkpoint_every, "seed": seed,
    }
    overrides: dict = {k: v for k, v in options.items() if v is not None}
    if epochs is not None and max_steps is None:
        overrides["max_steps"] = None
    if max_length is not None and "window_overlap" not in raw.get("encoder", {}):
        overrides["encoder.window_overlap"] = min(64, max(0, max_length // 4))
    cfg = base.with_overrides({**overrides, **parse_assignments(set_, "--set")})
    docs, report = load_corpus_documents(files, exclude, data_dir, strict, dataset)
    trainer = Pretrainer(cfg, docs, output, cpu=cpu, precision=precision.value, show_progress=progress,
                         log=lambda m: console.print(m, highlight=False), extra_info={"inputs": report})
    if trainer.acc_is_main():
        out.print(_stats_table(trainer.stats))
    trainer.run(resume=resume)
    if trainer.acc_is_main():
        console.print(f"pretrained encoder written to {output}; use it with: ccre train --model {output}")
