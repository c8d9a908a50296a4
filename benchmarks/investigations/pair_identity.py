"""Did pretraining learn what L_mtb asks? Same-entity-pair retrieval on pretraining documents.

Usage: python benchmarks/investigations/pair_identity.py [--pretrained runs/mtb] [--encoders NAME_OR_PATH ...]
                                                         [--split held-out|seen] [--max-docs 200]
                                                         [--out benchmarks/results/pair_identity.jsonl]

The pretraining corpus of ``--pretrained`` (its inputs and its ``max_pairs_per_doc`` / ``seed``, read from its
run record, ``run.json``) is rebuilt and split by the documents of its first ``steps`` batches: those the encoder
was trained on (``seen``: does the objective fit?) and the rest (``held-out``: does it generalize?). From the
split, documents that share a linked entity pair are kept, a whole group of one shared pair at a time in
seeded order, up to ``--max-docs``. Each kept instance is embedded by each encoder (frozen, as in
``ccre probe``: a plain encoder under the seeded untrained pair embedder), once with the entity names as
written and once with every mention blanked to [MASK] (what L_mtb trains on, at ``blank_prob`` 1). An
instance whose pair occurs in another kept document is a query; its candidates are the instances of the
other kept documents. Recorded per encoder and blanking: recall@1 (the nearest candidate is the same entity
pair), mean reciprocal rank of the first same-pair candidate, and the chance level of recall@1.
One JSON line per (encoder, blanking); lines already in ``--out`` are skipped.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from ccre.modeling.checkpoint import pretraining_record
from ccre.analysis.probe import load_for_embedding
from ccre.analysis.neighbours import same_pair_retrieval
from ccre.experiments.records import append_lines, read_results
from ccre.modeling.embedding import embed_encoded
from ccre.data.labels import NO_RELATION, LabelSpace
from ccre.training.pretraining.batching import epoch_batches
from ccre.training.pretraining.config import PretrainConfig
from ccre.training.pretraining.corpus import build_corpus
from ccre.training.pretraining.inputs import load_corpus_documents
from ccre.training.pretraining.masking import corrupt
from ccre.experiments.records import result_record
from ccre.utils.runtime import git_commit

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
METHOD = "pair-identity"


def seen_documents(corpus, config: PretrainConfig, steps: int) -> set[int]:
    """Documents of the first ``steps`` batches of the (one-process) pretraining schedule."""
    seen: set[int] = set()
    epoch = 0
    while steps > 0:
        batches = epoch_batches(corpus, config.batch_size, config.seed, epoch)[:steps]
        seen.update(item.doc for batch in batches for item in batch)
        steps -= len(batches)
        epoch += 1
    return seen


def pair_group_documents(corpus, pool: set[int], max_docs: int, seed: int) -> list[int]:
    """Documents of ``pool``, taken a whole pair group at a time (all pool documents of one shared entity pair,
    pairs in seeded order) until ``max_docs``, so that most kept instances with a partner keep it."""
    groups = {k: sorted({corpus.instances[i].doc for i in ids} & pool) for k, ids in corpus.key_instances.items()}
    shared = sorted(k for k, docs in groups.items() if len(docs) > 1)
    kept: set[int] = set()
    for index in np.random.default_rng(seed).permutation(len(shared)):
        docs = groups[shared[index]]
        if len(kept | set(docs)) <= max_docs:
            kept.update(docs)
    return sorted(kept)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrained", type=Path, default=Path("runs/mtb"))
    parser.add_argument("--encoders", nargs="+", default=None,
                        help="default: the plain encoder the pretraining started from, and --pretrained")
    parser.add_argument("--max-docs", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--split", choices=["held-out", "seen"], default="held-out",
                        help="documents the pretraining never saw (generalization) or saw (fit)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "pair_identity.jsonl")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    info = pretraining_record(args.pretrained)
    config = PretrainConfig.model_validate(info["config"])
    encoders = args.encoders or [config.encoder.name, str(args.pretrained)]
    docs_all, _ = load_corpus_documents(None, None, args.data_dir, strict=False)
    corpus = build_corpus(docs_all, config.max_pairs_per_doc, config.seed)
    seen = seen_documents(corpus, config, info["steps"])
    pool = seen if args.split == "seen" else set(range(len(corpus.documents))) - seen
    kept = pair_group_documents(corpus, pool, args.max_docs, args.seed)
    instances = [i for d in kept for i in corpus.doc_instances[d]]
    print(f"{len(corpus.documents)} corpus documents, {len(seen)} seen in {info['steps']} steps; "
          f"{len(kept)} {args.split} documents sharing a pair, {len(instances)} instances")
    keys = [corpus.instances[i].keys for i in instances]
    inst_docs = np.array([corpus.instances[i].doc for i in instances])
    overrides = {"pretrained": str(args.pretrained), "max_docs": args.max_docs, "split": args.split}
    done = {(r["encoder"], r["blank_prob"]) for r in read_results(args.out)
            if r.get("method") == METHOD and r.get("overrides") == overrides and r.get("seed") == args.seed}
    space = LabelSpace(labels=(NO_RELATION, "related"), directed=False, multi_label=False, novelty=False)  # heads unused
    commit = git_commit()
    for encoder in encoders:
        todo = [p for p in (0.0, 1.0) if (encoder, p) not in done]
        if not todo:
            continue
        model = load_for_embedding(encoder, space)
        tok = model.document_encoder.tokenizer
        for blank_prob in todo:
            started = time.perf_counter()
            encoded = []
            for d in kept:
                enc = model.document_encoder.encode(corpus.documents[d])
                enc, _ = corrupt(enc, np.random.default_rng([args.seed, d]), mask_id=tok.mask_token_id,
                                 random_ids=np.zeros(1, dtype=np.int64), blank_prob=blank_prob, mlm_prob=0.0)
                pairs = [[corpus.instances[i].head, corpus.instances[i].tail] for i in corpus.doc_instances[d]]
                encoded.append(replace(enc, pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2)))
            h = embed_encoded(model, encoded).numpy()
            metrics = same_pair_retrieval(h, keys, inst_docs)
            wall = time.perf_counter() - started
            record = result_record(
                dataset=f"pretrain ({args.split} documents)", train_docs=0, method=METHOD, encoder=encoder, seed=args.seed,
                metrics=metrics, config={"pretrain": info["config"], "steps": info["steps"]},
                wall_s=wall, commit=commit, overrides=overrides,
            ) | {"blank_prob": blank_prob, "documents": len(kept), "seen_documents": len(seen)}
            append_lines(args.out, [record])
            print(f"{encoder} blank_prob={blank_prob}: recall@1 {metrics['recall_at_1']:.3f} "
                  f"(chance {metrics['chance_recall_at_1']:.4f}), MRR {metrics['mrr']:.3f}, "
                  f"{metrics['queries']} queries, {wall:.0f} s")


if __name__ == "__main__":
    main()
