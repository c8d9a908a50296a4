"""Is the kNN probe's verdict (plain vs pretrained encoder) a matter of k? Sweep k, choose it on BioRED dev.

Usage: python benchmarks/investigations/probe_k.py [--encoders NAME_OR_PATH ...] [--seeds 1 2 3] [--train-docs 20]
                                                   [--ks 1 3 5 10 20 50] [--view pair|entities] [--center]
                                                   [--out benchmarks/results/probe_k.jsonl]

For each encoder (frozen, as in ``ccre probe``) and seed (the seeded BioRED training subset of ``ccre bench``),
embeds the candidate pairs of the training documents, of BioRED dev and of BioRED test once, then scores the
similarity-weighted kNN probe of ``ccre probe`` for every k on dev and on test, and appends one line: BioRED
type and pair F1 per split and k, and ``best_dev_k`` (the k with the best dev type F1, the smaller on ties)
with its test figures. Lines already in ``--out`` are skipped.

Is it the view? ``--view pair`` (default) probes the pair embedding ``h`` as ``ccre probe`` does (for a plain
encoder under the seeded, untrained pair embedder); ``--view entities`` probes the encoder's entity
embeddings without any pair embedder, ``[e_h + e_t; e_h * e_t]`` (order-free, as BioRED's pairs are);
``--center`` subtracts the training embeddings' mean from both sides before the cosine (a common
direction shared by all embeddings otherwise dominates it). The view is recorded in ``overrides``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from ccre.modeling.embedding import encode_labelled
from ccre.analysis.probe import load_for_embedding
from ccre.experiments.records import append_lines, read_results
from ccre.experiments.grid import short_hash
from ccre.config import DEFAULT_ENCODER, CcreConfig
from ccre.data.datasets import resolve_data_dir, split_path
from ccre.modeling.embedding import embed_encoded
from ccre.encoding.markers import EncodedDocument
from ccre.evaluation.scoring import scheme_for_format, score_predictions
from ccre.experiments.run import select_training_documents
from ccre.data.formats import detect_format, read_documents
from ccre.inference.predictor import relations_from_decisions
from ccre.data.labels import LabelSpace
from ccre.modeling.relation_model import RelationModel
from ccre.modeling.memory import EmbeddingMemory, knn_scores
from ccre.analysis.probe import top_class
from ccre.experiments.records import result_record
from ccre.utils.runtime import git_commit

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
METHOD = "probe-knn-k-sweep"


def entity_view(model: RelationModel, encoded: list[EncodedDocument]) -> np.ndarray:
    """``[e_h + e_t; e_h * e_t]`` ``(sum P, 2H)`` of every candidate pair, straight from the frozen encoder."""
    model.eval()
    parts = []
    with torch.inference_mode():
        for doc in (e for e in encoded if len(e.pairs)):
            batch = model.collate([doc]).to(model.device)
            entities = model.encode_entities(batch).embeddings
            head, tail = entities[batch.pair_heads], entities[batch.pair_tails]
            parts.append(torch.cat([head + tail, head * tail], dim=-1).float().cpu())
    return torch.cat(parts).numpy()


def embed(model: RelationModel, encoded: list[EncodedDocument], view: str) -> np.ndarray:
    return entity_view(model, encoded) if view == "entities" else embed_encoded(model, encoded).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", nargs="+", default=[DEFAULT_ENCODER, "runs/mtb"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--train-docs", type=int, default=20)
    parser.add_argument("--ks", nargs="+", type=int, default=[1, 3, 5, 10, 20, 50])
    parser.add_argument("--view", choices=["pair", "entities"], default="pair")
    parser.add_argument("--center", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "probe_k.jsonl")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    all_train = read_documents(split_path("biored", "train", data_dir))
    test_path = split_path("biored", "test", data_dir)
    splits = {"dev": read_documents(split_path("biored", "dev", data_dir)), "test": read_documents(test_path)}
    scheme = scheme_for_format(detect_format(test_path))
    ks = sorted(args.ks)
    overrides: dict = {"ks": ks, "selection": "dev type F1"}
    if args.view != "pair" or args.center:  # the default view keeps the overrides of the earlier lines
        overrides |= {"view": args.view, "center": args.center}
    done = {(r["encoder"], r["seed"]) for r in read_results(args.out)
            if r.get("method") == METHOD and r.get("overrides") == overrides} if args.out.exists() else set()
    commit = git_commit()
    for encoder in args.encoders:
        for seed in [s for s in args.seeds if (encoder, s) not in done]:
            started = time.perf_counter()
            config = CcreConfig().with_overrides({"data.train_docs": args.train_docs, "train.seed": seed})
            train_docs = select_training_documents(config, all_train)
            space = LabelSpace.from_documents(train_docs)  # as ccre probe: the relations of the training subset
            model = load_for_embedding(encoder, space, seed)
            train_encoded, train_targets = encode_labelled(model, train_docs, space)
            train_h = embed(model, train_encoded, args.view)  # one encoder pass, in the view asked for
            shift = train_h.mean(axis=0, keepdims=True) if args.center else np.zeros((1, train_h.shape[1]))
            memory = EmbeddingMemory(train_h.shape[1], space.num_labels)
            memory.add((train_h - shift).astype(np.float32), train_targets.astype(np.float32))
            metrics: dict[str, dict] = {}
            for split, docs in splits.items():
                encoded = [model.document_encoder.encode(d, space) for d in docs]
                sims, idx = memory.search((embed(model, encoded, args.view) - shift).astype(np.float32), ks[-1])
                for k in ks:
                    decided = top_class(knn_scores(sims, idx, memory.targets, k, weighted=True))
                    predictions = relations_from_decisions(docs, encoded, decided, decided.astype(np.float32), space)
                    scores = score_predictions(docs, predictions, scheme, train=train_docs)
                    metrics.setdefault(split, {})[str(k)] = {p: scores[p]["f1"] for p in ("type", "pair")}
            best = max(ks, key=lambda k: (metrics["dev"][str(k)]["type"], -k))
            metrics["best_dev_k"] = {"k": best, "test": metrics["test"][str(best)]}
            append_lines(args.out, [result_record(
                dataset="biored", train_docs=args.train_docs, method=METHOD, encoder=encoder, seed=seed,
                metrics=metrics, wall_s=time.perf_counter() - started, config=model.config.model_dump(),
                commit=commit, overrides=overrides, overrides_hash=short_hash(overrides, 10),
            )])
            print(f"{encoder} ({args.view}{', centered' if args.center else ''}) seed {seed}: best dev k {best}, test type F1 "
                  f"{100 * metrics['test'][str(best)]['type']:.2f}; test type F1 by k "
                  + ", ".join(f"{k}: {100 * v['type']:.2f}" for k, v in metrics["test"].items()), flush=True)


if __name__ == "__main__":
    main()
