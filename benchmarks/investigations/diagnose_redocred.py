"""Why contrastive finetuning fails on Re-DocRED: each training variant on a frozen encoder, side by side.

Usage: python benchmarks/investigations/diagnose_redocred.py [--train-docs 31] [--held-out 6] [--epochs 10] [--seed 1]
                                                            [--variants ce mccl-mean-memory ...]
                                                            [--results benchmarks/results/diagnosis.jsonl]

The seeded Re-DocRED subset of ``--train-docs`` documents (the bench's 1% cell) is split into training
documents and ``--held-out`` documents. The default encoder is frozen and run once; only the pair embedder
(and, for ``ce``, the classifier) is trained, ``--epochs`` epochs of 4-document batches at learning rate 1e-3,
so that a variant costs minutes, not the bench cell's quarter of an hour. After every epoch the held-out pairs
are scored (contrastive variants: MCCL scores against the training pairs; ``ce``: its logits) and the
F1 of the best single no-relation margin on the held-out pairs is recorded: an optimistic figure, computed
alike for every variant, that says whether the embedding separates relations from no-relation at all.

Variants: ``ce`` (adaptive-threshold classifier, ccre's CE objective on Re-DocRED), and
``{mccl,supcon}-{mean,sum}-{memory,batch}``: the loss, the MCCL pooling used to score (and, for MCCL, to
train), and whether anchors are compared with a memory of all training pairs embedded at the start of the
epoch (ccre's default) or with their batch only (``train.contrast_memory: false``).
Each variant appends one JSON line (per-epoch loss and F1, commit, machine, date); variants already in the
results file are skipped.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from ccre.experiments.records import append_lines, read_results
from ccre.config import CcreConfig
from ccre.data.datasets import resolve_data_dir, split_path
from ccre.experiments.run import select_training_documents
from ccre.data.formats import read_documents
from ccre.data.labels import LabelSpace
from ccre.modeling.relation_model import RelationModel
from ccre.objectives.adaptive_threshold import adaptive_threshold_loss
from ccre.objectives.mccl import mccl_class_scores, mccl_loss
from ccre.objectives.supcon import supcon_loss
from ccre.experiments.records import invoked_command
from ccre.utils.runtime import git_commit, machine_description, now_iso, seed_everything
from ccre.inference.threshold import best_margin

HERE = Path(__file__).resolve().parents[1]  # benchmarks/
VARIANTS = ["ce"] + [f"{o}-{p}-{m}" for o in ("mccl", "supcon") for m in ("memory", "batch") for p in ("mean", "sum")]
TAU1, TAU2, LR, BATCH = 0.1, 0.2, 1e-3, 4


def frozen_pairs(model: RelationModel, docs) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per document: entity embeddings of the frozen encoder, pair heads, tails and targets."""
    out = []
    with torch.no_grad():
        for doc in docs:
            batch = model.collate([model.document_encoder.encode(doc, model.space, with_targets=True)])
            out.append((model.encode_entities(batch).embeddings, batch.pair_heads, batch.pair_tails, batch.targets.float()))
    return out


def run_variant(name: str, model: RelationModel, train, held, epochs: int, seed: int) -> dict:
    seed_everything(seed)
    objective, pool, contrast = (name.split("-") + ["", ""])[:3] if name != "ce" else ("ce", "", "")
    embedder = RelationModel.create(model.config, model.space).pair_embedder  # fresh, seeded
    classifier = torch.nn.Linear(embedder.out.out_features, model.space.num_labels)
    optimizer = torch.optim.AdamW(list(embedder.parameters()) + list(classifier.parameters()), lr=LR)
    targets = torch.cat([t for *_, t in train])
    first = np.cumsum([0] + [len(t) for *_, t in train])
    ids = torch.arange(len(targets))
    held_gold = torch.cat([t for *_, t in held])[:, 1:].numpy() > 0

    def embed(docs) -> torch.Tensor:
        return torch.cat([embedder(e[h], e[t]) for e, h, t, _ in docs])

    def held_out_f1() -> tuple[float, float]:
        embedder.eval()
        with torch.no_grad():
            h = embed(held)
            if objective == "ce":
                scores = classifier(h)
            else:
                scores = mccl_class_scores(F.normalize(h, dim=-1), F.normalize(embed(train), dim=-1), targets, TAU2,
                                           pool=pool)
        embedder.train()
        margins = np.nan_to_num((scores[:, 1:] - scores[:, :1]).numpy(), neginf=-1e9)
        margin, f1 = best_margin(margins, held_gold)
        return float(f1), float(margin)

    curve, started = [], time.perf_counter()
    rng = np.random.default_rng(seed)
    for epoch in range(epochs + 1):
        f1, margin = held_out_f1()
        point = {"epoch": epoch, "held_out_f1": round(f1, 6), "margin": round(margin, 4)}
        if epoch == epochs:
            curve.append(point)
            break
        memory = None
        if contrast == "memory":
            embedder.eval()
            with torch.no_grad():
                memory = F.normalize(embed(train), dim=-1)
            embedder.train()
        losses = []
        order = rng.permutation(len(train))
        for start in range(0, len(order), BATCH):
            idx = order[start:start + BATCH]
            h = torch.cat([embedder(train[j][0][train[j][1]], train[j][0][train[j][2]]) for j in idx])
            t = torch.cat([train[j][3] for j in idx])
            batch_ids = torch.cat([ids[first[j]:first[j + 1]] for j in idx])
            mem = {} if memory is None else {"memory_h": memory, "memory_targets": targets, "batch_ids": batch_ids,
                                             "memory_ids": ids}
            if objective == "ce":
                loss = adaptive_threshold_loss(classifier(h), t)
            elif objective == "mccl":
                loss = mccl_loss(h, t, TAU1, TAU2, multi_label=True, pool=pool, **mem)
            else:
                loss = supcon_loss(h, t, TAU1, **mem)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        curve.append({**point, "train_loss": round(float(np.mean(losses)), 4)})
        print(f"{name} epoch {epoch + 1}: loss {curve[-1]['train_loss']:.4f}, held-out F1 before it {f1:.4f}", flush=True)
    return {"variant": name, "final_held_out_f1": curve[-1]["held_out_f1"],
            "best_held_out_f1": max(p["held_out_f1"] for p in curve), "curve": curve,
            "wall_s": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--train-docs", type=int, default=31)
    parser.add_argument("--held-out", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--results", type=Path, default=HERE / "results" / "diagnosis.jsonl")
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()

    key = lambda v: f"redocred|{args.train_docs}|{args.held_out}|{args.epochs}|{args.seed}|{v}"  # noqa: E731
    done = {r.get("key") for r in read_results(args.results)}
    todo = [v for v in args.variants if key(v) not in done]
    if not todo:
        print("every variant is already in", args.results)
        return
    config = CcreConfig.model_validate({"data": {"dataset": "redocred", "train_docs": args.train_docs},
                                        "train": {"seed": args.seed}})
    pool = read_documents(split_path("redocred", "train", resolve_data_dir(args.data_dir)))
    docs = [d for d in select_training_documents(config, pool) if len(d.entities) >= 2]
    seed_everything(args.seed)
    model = RelationModel.create(config, LabelSpace.from_documents(docs)).eval()
    pairs = frozen_pairs(model, docs)
    train, held = pairs[:-args.held_out], pairs[-args.held_out:]
    print(f"{len(train)} training documents ({sum(len(p[3]) for p in train)} pairs), {len(held)} held out")
    for variant in todo:
        line = run_variant(variant, model, train, held, args.epochs, args.seed)
        append_lines(args.results, [{
            "key": key(variant), "dataset": "redocred", "train_docs": args.train_docs, "held_out_docs": args.held_out,
            "epochs": args.epochs, "seed": args.seed, "encoder": config.encoder.name, "tau1": TAU1, "tau2": TAU2,
            "lr": LR, **line, "command": invoked_command(), "commit": git_commit(), "machine": machine_description(),
            "date": now_iso(),
        }])


if __name__ == "__main__":
    main()
