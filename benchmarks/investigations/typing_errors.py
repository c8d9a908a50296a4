"""Does a trained BioRED model lose its pair+type F1 in finding related pairs, or in typing them?

Usage: python benchmarks/investigations/typing_errors.py MODEL_DIR [--splits dev test] [--data-dir DIR]
                                                         [--out benchmarks/results/typing.jsonl]

``MODEL_DIR``: a ``ccre train --output`` folder (its ``run.json`` names its training documents). For each split,
the model predicts with its own saved decision (its dev-chosen cut-off), and among the predictions whose entity
pair is related in gold it counts how often the predicted relation type is gold's, how often the no-text prior's
type would be (the type pair's most frequent relation in the same training documents,
:class:`ccre.modeling.prior.TypePairPrior`), and the most frequent ``(gold type, predicted type)`` pairs. One
line per split, with the pair and pair+type metrics of the predictions; lines already in ``--out`` for the same
model and split are skipped.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

from ccre.data.datasets import resolve_data_dir, split_path
from ccre.data.formats import read_documents
from ccre.data.labels import fact_pair
from ccre.evaluation.scoring import score_predictions
from ccre.experiments.records import append_lines, read_results
from ccre.inference.predictor import Predictor
from ccre.modeling.prior import TypePairPrior, type_pair
from ccre.modeling.relation_model import RelationModel
from ccre.utils.runtime import git_commit, machine_description, now_iso

HERE = Path(__file__).resolve().parents[1]  # benchmarks/


def typing_counts(model: RelationModel, prior: TypePairPrior, docs) -> dict:
    """The counts of the module docstring for ``docs``."""
    predictions = Predictor(model).predict(docs, show_progress=False)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--splits", nargs="+", default=["dev", "test"])
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
    done = {(r.get("model_commit"), r.get("model_config"), r.get("split")) for r in read_results(args.out)} \
        if args.out.exists() else set()
    for split in args.splits:
        key = (run.get("commit"), json.dumps(run["config"], sort_keys=True), split)
        if key in done:
            continue
        started = time.perf_counter()
        counts = typing_counts(model, prior, read_documents(split_path("biored", split, data_dir)))
        append_lines(args.out, [{
            "command": f"python benchmarks/investigations/typing_errors.py {args.model} --splits {' '.join(args.splits)}",
            "commit": commit, "machine": machine_description(), "date": now_iso(),
            "wall_s": round(time.perf_counter() - started, 1), "split": split,
            "model_commit": key[0], "model_config": key[1], "train_docs": len(train),
            "seed": run["config"]["train"]["seed"], **counts}])
        print(f"{split}: of {counts['related_pairs_found']} predicted pairs related in gold, the model's type is "
              f"right for {counts['model_type_right']}, the prior's for {counts['prior_type_right']}; "
              f"pair F1 {100 * counts['pair_f1']:.2f}, pair+type F1 {100 * counts['type_f1']:.2f}")


if __name__ == "__main__":
    main()
