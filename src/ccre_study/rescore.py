"""Score kept contrastive checkpoints again with every inference mode, without retraining.

Usage: python benchmarks/investigations/rescore.py [--results benchmarks/results/study.jsonl] [--splits dev test]
                                                   [--out benchmarks/results/variants.jsonl]   (a wrapper of this module)

``--results benchmarks/results/variants.jsonl`` rescores the variant cells kept there (e.g. MCCL trained
with ``objective.mccl_pool=sum``); lines that are themselves rescores are never rescored.

For each result line of a SupCon or MCCL cell that kept its checkpoint (``ccre bench --keep-checkpoints``),
the pair embeddings of each split are computed once, then scored against the checkpoint's memory of training
instances with ``mccl`` (mean and sum pooling), ``knn`` and ``centroid`` inference. Each (checkpoint, split,
mode) appends one line to ``--out`` with ``overrides`` ``{"predict": MODE}`` (plus the trained pooling when it
is not the default); BioRED dev lines have data set ``biored-dev``, so that a mode is chosen on dev and only
then read on test. Re-DocRED cells are scored on test only (its dev file is the training pool), with the
DocRED scorer (Ign F1 against the cell's own training documents). Lines already in ``--out`` are skipped, so the script resumes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ccre.data.datasets import resolve_data_dir, split_path
from ccre.data.formats import read_documents
from ccre.evaluation.scoring import score_predictions
from ccre.experiments.grid import short_hash
from ccre.experiments.records import append_lines, read_results, result_record
from ccre.experiments.run import decision_margin, resolve_split, select_training_documents
from ccre.inference.predictor import relations_from_decisions, scoring_chunk
from ccre.modeling.embedding import embed_encoded
from ccre.modeling.relation_model import RelationModel
from ccre.utils.runtime import git_commit
from ccre_study import BENCHMARKS

#: name -> (inference, mccl pool)
MODES = {"mccl-mean": ("mccl", "mean"), "mccl-sum": ("mccl", "sum"), "knn": ("knn", "mean"),
         "centroid": ("centroid", "mean")}


def split_dataset(dataset: str, split: str) -> str:
    """The data set name of a rescored line: test lines keep it, others get the split as suffix."""
    return dataset if split == "test" else f"{dataset}-{split}"


def is_rescore(record: dict) -> bool:
    """Whether a result line was written by this script (a results file may hold bench cells and rescores)."""
    return "rescored_from" in record


def headline(metrics: dict) -> float:
    """BioRED pair+type F1 or DocRED F1."""
    return metrics["type"]["f1"] if "type" in metrics else metrics["f1"]


def rescore(record: dict, split: str, docs, commit: str, data_dir=None) -> list[dict]:
    started = time.perf_counter()
    model = RelationModel.from_pretrained(record["checkpoint"])
    scheme = "docred" if record["dataset"] == "redocred" else "biored"
    train = (select_training_documents(model.config, read_documents(resolve_split(model.config, "train", data_dir)))
             if scheme == "docred" else None)  # for Ign F1
    objective = model.objective
    encoded = [model.document_encoder.encode(d, model.space) for d in docs]
    h = embed_encoded(model, encoded)
    with torch.inference_mode():
        novelty = torch.sigmoid(model.novelty_head(h).squeeze(-1)).numpy() if model.novelty_head is not None else None
    embed_s = time.perf_counter() - started
    trained_pool = model.config.objective.mccl_pool
    records = []
    for mode, (inference, pool) in MODES.items():
        started = time.perf_counter()
        objective.set_inference(inference, pool)
        decided = np.zeros((len(h), model.space.num_labels), dtype=bool)
        probs = np.zeros((len(h), model.space.num_labels), dtype=np.float32)
        step = scoring_chunk(model)  # as ccre predict: bounded (pair, memory entry) similarities
        with torch.inference_mode():
            for s in range(0, len(h), step):
                scores = objective.scores(h[s : s + step])
                decided[s : s + step] = objective.decide(scores).numpy()
                probs[s : s + step] = objective.probabilities(scores).numpy()
        predictions = relations_from_decisions(docs, encoded, decided, probs, model.space, novelty)
        overrides = {"predict": mode, **({"objective.mccl_pool": trained_pool} if trained_pool != "mean" else {})}
        records.append(result_record(
            dataset=split_dataset(record["dataset"], split),
            train_docs=record["train_docs"], method=record["method"], encoder=record["encoder"], seed=record["seed"],
            metrics=score_predictions(docs, predictions, scheme, train), wall_s=embed_s + time.perf_counter() - started,
            config=model.config.model_dump(), commit=commit, overrides=overrides, overrides_hash=short_hash(overrides, 10),
            checkpoint=record["checkpoint"], rescored_from=record.get("bench_key", ""),
            **decision_margin(model),
        ))
    return records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=BENCHMARKS / "results" / "study.jsonl")
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--out", type=Path, default=BENCHMARKS / "results" / "variants.jsonl")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    done = ({(r.get("checkpoint"), r["dataset"]) for r in read_results(args.out) if is_rescore(r)}
            if args.out.exists() else set())
    cells = [r for r in read_results(args.results)
             if r.get("checkpoint") and Path(r["checkpoint"]).exists() and r["method"].endswith(("+supcon", "+mccl"))
             and not is_rescore(r)]
    commit = git_commit()
    docs: dict[tuple[str, str], list] = {}
    for split in args.splits:
        for record in cells:
            dataset = record["dataset"]
            if dataset == "redocred" and split != "test":
                continue  # Re-DocRED's dev file is the training pool: no held-out split to choose a mode on
            if (record["checkpoint"], split_dataset(dataset, split)) in done:
                continue
            if (dataset, split) not in docs:
                docs[dataset, split] = read_documents(split_path(dataset, split, data_dir))
            lines = rescore(record, split, docs[dataset, split], commit, data_dir)
            append_lines(args.out, lines)
            print(f"{dataset} {record['train_docs']} {record['method']} seed {record['seed']} {split}: "
                  + ", ".join(f"{r['overrides']['predict']} {100 * headline(r['metrics']):.2f}" for r in lines))


if __name__ == "__main__":
    main()
