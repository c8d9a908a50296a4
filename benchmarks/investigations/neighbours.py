"""Why the kNN probe does (or does not) gain from pretraining: the neighbourhoods of relation pairs.

Usage: python benchmarks/investigations/neighbours.py [--encoders NAME_OR_PATH ...] [--seeds 1 2 3] [--train-docs 20]
                                                      [--k 5] [--out benchmarks/results/neighbours.jsonl]

For each encoder (frozen, as in ``ccre probe``) and seed (the seeded BioRED training subset of ``ccre bench``),
embeds the candidate pairs of the training documents and of BioRED test, and appends one line with
:func:`ccre.analysis.neighbours.neighbour_statistics` of the relation-bearing pairs: among the k nearest training pairs,
the fraction sharing a relation with the query, holding no relation, sharing its entity types and (training
pairs querying each other) coming from the query's own document, against the chance level. Lines already in
``--out`` are skipped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from ccre.modeling.embedding import embed_labelled
from ccre.analysis.probe import load_for_embedding
from ccre.analysis.neighbours import neighbour_statistics
from ccre.experiments.records import append_lines, read_results
from ccre.experiments.grid import short_hash
from ccre.config import DEFAULT_ENCODER, CcreConfig
from ccre.data.datasets import resolve_data_dir, split_path
from ccre.experiments.run import select_training_documents
from ccre.data.formats import read_documents
from ccre.data.labels import LabelSpace
from ccre.experiments.records import result_record
from ccre.utils.runtime import git_commit

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
METHOD = "neighbours"


def embed(model, docs, space):
    """Pair embeddings, targets, document index and entity-type pair (``ChemicalEntity|GeneOrGeneProduct``, in
    alphabetical order when the relations are undirected: then a pair's order is only that of its entities in
    the document) of every candidate pair."""
    encoded, h, targets = embed_labelled(model, docs, space)
    doc_index = np.concatenate([np.full(len(e.pairs), i) for i, e in enumerate(encoded)])
    order = (lambda t: t) if space.directed else sorted
    types = np.array(["|".join(order([d.entities[a].type, d.entities[b].type]))
                      for d, e in zip(docs, encoded) for a, b in e.pairs])
    return h, targets, doc_index, types


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=[DEFAULT_ENCODER, "runs/mtb"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--train-docs", type=int, default=20)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "neighbours.jsonl")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    all_train = read_documents(split_path("biored", "train", data_dir))
    test_docs = read_documents(split_path("biored", "test", data_dir))
    overrides = {"k": args.k, "groups": "entity type pair"}
    done = {(r["encoder"], r["seed"]) for r in read_results(args.out)
            if r.get("method") == METHOD and r.get("overrides") == overrides} if args.out.exists() else set()
    space = LabelSpace.from_documents(all_train)  # one label space, so that relations compare across seeds
    commit = git_commit()
    for encoder in args.encoders:
        seeds = [s for s in args.seeds if (encoder, s) not in done]
        if not seeds:
            continue
        started = time.perf_counter()
        model = load_for_embedding(encoder, space)
        test_h, test_targets, _, test_types = embed(model, test_docs, space)
        shared_s = time.perf_counter() - started
        for seed in seeds:
            started = time.perf_counter()
            config = CcreConfig().with_overrides({"data.train_docs": args.train_docs, "train.seed": seed})
            train = embed(model, select_training_documents(config, all_train), space)
            h, targets, doc_index, types = train
            metrics = {
                "train": neighbour_statistics(h, targets, doc_index, k=args.k, train_groups=types),
                "test": neighbour_statistics(h, targets, doc_index, k=args.k, query_h=test_h,
                                             query_targets=test_targets, train_groups=types, query_groups=test_types),
            }
            append_lines(args.out, [result_record(
                dataset="biored", train_docs=args.train_docs, method=METHOD, encoder=encoder, seed=seed,
                metrics=metrics, wall_s=shared_s + time.perf_counter() - started, config=model.config.model_dump(),
                commit=commit, overrides=overrides, overrides_hash=short_hash(overrides, 10),
            )])
            print(f"{encoder} seed {seed}: " + "; ".join(
                f"{part} " + ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k != "queries")
                for part, m in metrics.items()))


if __name__ == "__main__":
    main()
