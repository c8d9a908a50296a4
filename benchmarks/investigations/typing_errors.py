"""Does a trained BioRED model lose its pair+type F1 in finding related pairs, or in typing them?

Usage: python benchmarks/investigations/typing_errors.py MODEL_DIR [--splits dev test] [--alphas 0 0.5 1 2 4]
                                                         [--data-dir DIR] [--out benchmarks/results/typing.jsonl]

``MODEL_DIR``: a ``ccre train --output`` folder (its ``run.json`` names its training documents). For each split,
the model predicts with its own saved decision (its dev-chosen cut-off), and among the predictions whose entity
pair is related in gold it counts how often the predicted relation type is gold's, how often the no-text prior's
type would be (the type pair's most frequent relation in the same training documents,
:class:`ccre.modeling.prior.TypePairPrior`), and the most frequent ``(gold type, predicted type)`` pairs. One
line per split, with the pair and pair+type metrics of the predictions; lines already in ``--out`` for the same
model and split are skipped.

Then (``--alphas``, with dev and test among the splits) whether the prior can mend the typing: the model's
relation log-probabilities plus ``alpha`` times the log of the type pair's training distribution of relations
(smoothed toward the overall one by one pair), renormalized; for each ``alpha`` the no-relation cut-off is chosen
on dev again (:func:`ccre.inference.threshold.best_cutoff`) and test F1 read at it. One more line.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from ccre.data.datasets import resolve_data_dir, split_path
from ccre.data.formats import read_documents
from ccre.data.labels import fact_pair, gold_facts
from ccre.inference.selection import encode_dev
from ccre.inference.threshold import best_cutoff
from ccre.modeling.embedding import embed_encoded
from ccre.evaluation.scoring import score_predictions
from ccre.experiments.records import append_lines, read_results
from ccre.inference.predictor import Predictor
from ccre.modeling.prior import TypePairPrior, type_pair
from ccre.modeling.relation_model import RelationModel
from ccre.utils.runtime import git_commit, machine_description, now_iso

HERE = Path(__file__).resolve().parents[1]  # benchmarks/


def typing_counts(model: RelationModel, prior: TypePairPrior, docs, encoded) -> dict:
    """The counts of the module docstring for ``docs`` (``encoded`` by :func:`encode_dev`)."""
    predictions = Predictor(model).predict(docs, encoded=encoded)
    found = right = prior_right = 0
    confusions: Counter[tuple[str, str]] = Counter()
    for doc, preds in zip(docs, predictions):
        gold = {r.pair: r.type for r in doc.relations}
        index = {e.id: i for i, e in enumerate(doc.entities)}
        for p in preds:
            pair = fact_pair(p.head, p.tail, p.directed)
            if pair not in gold:
                continue
            found += 1
            right += p.type == gold[pair]
            key = type_pair(doc, index[p.head], index[p.tail], model.space.directed)
            prior_right += prior.relation.get(key) == gold[pair]
            confusions[(gold[pair], p.type)] += 1
    metrics = score_predictions(docs, predictions, "biored")
    return {"related_pairs_found": found, "model_type_right": right, "prior_type_right": prior_right,
            "confusions": [[g, t, n] for (g, t), n in confusions.most_common(12)],
            "pair_f1": metrics["pair"]["f1"], "type_f1": metrics["type"]["f1"]}


def type_pair_log_prior(prior: TypePairPrior) -> Callable[[tuple[str, str]], np.ndarray]:
    """``log P(r | type pair)`` over the label space (no-relation included) from the prior's training counts,
    each type pair's counts smoothed toward the overall distribution by one pair."""
    overall = sum(prior.counts.values()) + 1.0
    overall = overall / overall.sum()
    return lambda key: np.log((prior.counts[key] + overall) / (prior.counts[key].sum() + 1.0)) \
        if key in prior.counts else np.log(overall)


def reweighted(model: RelationModel, log_prior, docs, encoded, alphas) -> list[tuple[np.ndarray, np.ndarray, int]]:
    """Per ``alpha``: each candidate pair's ``P(r) / (P(r) + P(no-relation))`` under the reweighted scores (``r``
    its most probable relation), whether ``r`` is a gold fact, and the number of gold facts."""
    with torch.inference_mode():
        logp = torch.log_softmax(model.objective.scores(embed_encoded(model, encoded).to(model.device)).float(), -1)
    logp = logp.cpu().numpy()
    prior = np.array([log_prior(type_pair(doc, int(h), int(t), model.space.directed))
                      for doc, e in zip(docs, encoded) for h, t in e.pairs])
    pairs = [(d, fact_pair(doc.entities[h].id, doc.entities[t].id, model.space.directed))
             for d, (doc, e) in enumerate(zip(docs, encoded)) for h, t in e.pairs]
    gold = gold_facts(docs)
    out = []
    for alpha in alphas:
        s = logp + alpha * prior
        best = s[:, 1:].argmax(1) + 1
        top = s[np.arange(len(s)), best]
        ratio = 1.0 / (1.0 + np.exp(s[:, 0] - top))
        hits = np.array([(d, pair, model.space.labels[b]) in gold for (d, pair), b in zip(pairs, best)])
        out.append((ratio, hits, len(gold)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
    parser.add_argument("--alphas", nargs="*", type=float, default=[0.0, 0.5, 1.0, 2.0, 4.0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "typing.jsonl")
    args = parser.parse_args()
    data_dir = resolve_data_dir(args.data_dir)
    commit = git_commit(exclude=[args.out.parent])
    run = json.loads((args.model / "run.json").read_text())
    model = RelationModel.from_pretrained(args.model)
    wanted = set(run["train_documents"])
    train = [d for d in read_documents(split_path("biored", "train", data_dir)) if d.id in wanted]
    prior = TypePairPrior.fit(train)
    if prior.space.labels != model.space.labels:
        raise SystemExit(f"{args.model}: its label space is not that of its training documents in {data_dir}")
    done = {(r.get("model_commit"), r.get("model_config"), r.get("split")) for r in read_results(args.out)} \
        if args.out.exists() else set()
    command = (f"python benchmarks/investigations/typing_errors.py {args.model} --splits {' '.join(args.splits)} "
               f"--alphas {' '.join(map(str, args.alphas))}")
    about = {"command": command, "commit": commit, "machine": machine_description(),
             "model_commit": run.get("commit"), "model_config": json.dumps(run["config"], sort_keys=True),
             "train_docs": len(train), "seed": run["config"]["train"]["seed"]}
    docs = {split: read_documents(split_path("biored", split, data_dir)) for split in args.splits}
    encoded = {split: encode_dev(model, docs[split]) for split in args.splits}  # once for both analyses
    for split in args.splits:
        if (about["model_commit"], about["model_config"], split) in done:
            continue
        started = time.perf_counter()
        counts = typing_counts(model, prior, docs[split], encoded[split])
        append_lines(args.out, [{**about, "date": now_iso(), "wall_s": round(time.perf_counter() - started, 1),
                                 "split": split, **counts}])
        print(f"{split}: of {counts['related_pairs_found']} predicted pairs related in gold, the model's type is "
              f"right for {counts['model_type_right']}, the prior's for {counts['prior_type_right']}; "
              f"pair F1 {100 * counts['pair_f1']:.2f}, pair+type F1 {100 * counts['type_f1']:.2f}")
    if args.alphas and {"dev", "test"} <= docs.keys() and \
            (about["model_commit"], about["model_config"], "reweighting") not in done:
        started = time.perf_counter()
        log_prior = type_pair_log_prior(prior)
        dev, test = (reweighted(model, log_prior, docs[s], encoded[s], args.alphas) for s in ("dev", "test"))
        rows = []
        for alpha, (ratio, hits, n_gold), (t_ratio, t_hits, t_gold) in zip(args.alphas, dev, test):
            theta, f1 = best_cutoff(ratio, hits, n_gold)
            kept = t_ratio >= theta
            rows.append({"alpha": alpha, "dev_theta": round(float(theta), 6), "dev_f1": round(float(f1), 6),
                         "test_f1": round(2 * float(t_hits[kept].sum()) / (int(kept.sum()) + t_gold), 6)})
            print(f"alpha {alpha}: dev F1 {100 * f1:.2f} (cut-off {theta:.3f}), test F1 {100 * rows[-1]['test_f1']:.2f}")
        append_lines(args.out, [{**about, "date": now_iso(), "wall_s": round(time.perf_counter() - started, 1),
                                 "split": "reweighting", "reweighting": rows}])


if __name__ == "__main__":
    main()
