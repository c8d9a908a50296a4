"""Speed and memory of ccre against its floors, side by side on one machine (issue #6 item 1).

Usage (from the repository root, on an otherwise idle machine; ``benchmarks/speed.py`` is a wrapper of this
module):

    .venv/bin/python benchmarks/speed.py                 # the full run (about an hour on a 2-core CPU)
    .venv/bin/python benchmarks/speed.py --quick --results /tmp/s.jsonl --table /tmp/s.md   # toy scale
    .venv/bin/python benchmarks/speed.py --parts knn,stream --knn-sizes 1000,100000

Parts (each measured in its own subprocess, so that one part's memory does not count in another's peak):

- ``train``: the floor, a bare encoder forward+backward over exactly the token batches of one training
  epoch (BioRED, 40 documents, the training loop's own seeded length-bucketed batches), against ccre's
  full training step on the same batches (collate, loss, backward, clipping, AdamW, schedule) with the CE
  and the MCCL objective; MCCL's per-epoch memory refresh is reported on its own and in an epoch ratio.
  Target: step time <= 1.10 x floor.
- ``predict``: the bare encoder forward over BioRED test (the windows and batches the Predictor makes)
  against ``Predictor.predict`` on the same documents (CE, and MCCL against a memory of the 40 training
  documents' pairs). Target: <= 1.15 x encoder forward.
- ``knn``: 100 queries against memories of 10^3, 10^5, 10^6 vectors (dim 384, clustered synthetic data
  normalized like pair embeddings): brute force in torch, faiss exact (``IndexFlatIP``), faiss IVF (the
  smallest ``nprobe`` reaching recall@10 >= 0.95 against exact) and faiss HNSW (the smallest ``efSearch``
  doing so); ms per 100 queries (one batch of 100, median of repeats). Target: 10^6 in <= 100 ms at
  recall@10 >= 0.95.
- ``stream``: ``ccre predict``'s streaming path (:func:`ccre.inference.streaming.predict_file`, chunks of 256) over
  BioRED test repeated to 1,000 and 10,000 documents: documents/s and peak memory; and one document with
  150 entities (11,175 candidate pairs) and one with 211 (22,155 pairs). Each chunk's own peak and the
  resident size after it are kept in ``params``; ``*_chunk_peak_first_tenth`` / ``*_last_tenth`` (the
  highest chunk peak among the first and the last tenth of the chunks) show whether memory is flat.

Peak memory is the peak resident set size of the measuring process during the measure (``VmHWM`` reset
through ``/proc/self/clear_refs`` just before it; where that is not available, the process's lifetime peak
from ``getrusage``); ``*_peak_rss`` is that peak, ``*_peak_growth`` the part above the resident size when
the measure started (for kNN: above the memory holding the vectors).

Every measure is one JSON line appended to ``--results`` (``measure``, ``value``, ``unit``, ``part``,
``params``, ``target`` where one applies, ``commit``, ``machine``, ``date``, ``command``), and the whole
run is rendered as a markdown table into ``--table``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ccre_study import REPO

PARTS = ("train", "predict", "knn", "stream")
TARGETS = {
    "train_ce_ratio": ("<=", 1.10),
    "train_mccl_ratio": ("<=", 1.10),
    "predict_ce_ratio": ("<=", 1.15),
    "predict_mccl_ratio": ("<=", 1.15),
}
KNN_TARGET_MS, KNN_TARGET_RECALL, KNN_TARGET_N = 100.0, 0.95, 10**6


# ------------------------------------------------------------------------------------------ memory


def _hwm_kib() -> int | None:
    try:
        return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))
    except (OSError, AttributeError):
        return None


def _rss_kib() -> int:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the current resident size; False where Linux does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _hwm_kib() is not None


def _peak_kib(isolated: bool) -> int:
    """Peak resident size since the last :func:`_reset_peak` (``isolated``), else over the process's life."""
    hwm = _hwm_kib() if isolated else None
    return hwm if hwm is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class PeakRSS:
    """Peak resident memory (MiB) during a ``with`` block: ``peak`` and ``growth`` over its start."""

    def __enter__(self) -> PeakRSS:
        self.isolated = _reset_peak()
        self.start = _rss_kib()
        return self

    def __exit__(self, *exc: object) -> None:
        peak = _peak_kib(self.isolated)
        self.peak = round(peak / 1024, 1)
        self.growth = round(max(peak - self.start, 0) / 1024, 1)


# ------------------------------------------------------------------------------------------ workers
# Each worker runs in its own process and prints one JSON object: {"measures": [[name, value, unit, params]]}.


def _biored(split: str, data_dir: str | None):
    from ccre.data.datasets import resolve_data_dir, split_path
    from ccre.data.formats import read_documents

    return read_documents(split_path("biored", split, resolve_data_dir(data_dir)), "pubtator")


def _config(quick: bool, objective: str = "ce"):
    from ccre.config import CcreConfig

    overrides: dict = {"objective.name": objective}
    if quick:
        overrides.update({"encoder.max_length": 128, "encoder.window_overlap": 32, "train.batch_size": 2})
    return CcreConfig().with_overrides(overrides)


def _model(config, space):
    from ccre.modeling.relation_model import RelationModel
    from ccre.utils.runtime import seed_everything

    seed_everything(config.train.seed)
    return RelationModel.create(config, space)


def worker_train(args: dict) -> list:
    """One training epoch's batches through the floor or through ccre's training step."""
    import math

    import numpy as np
    import torch
    from transformers import get_linear_schedule_with_warmup

    from ccre.data.datasets import sample_documents
    from ccre.data.labels import LabelSpace
    from ccre.modeling.embedding import build_memory
    from ccre.training.finetune import length_bucketed_batches

    variant, quick = args["variant"], args["quick"]
    config = _config(quick, "ce" if variant == "floor" else variant)
    tc = config.train
    train = sample_documents(_biored("train", args["data_dir"]), n=args["train_docs"], seed=tc.seed)
    docs = [d for d in train if len(d.entities) >= 2]
    space = LabelSpace.from_documents(train)
    torch.use_deterministic_algorithms(tc.deterministic, warn_only=True)
    model = _model(config, space)
    encoded = [model.document_encoder.encode(d, space, with_targets=True) for d in docs]
    first_pair = np.concatenate([[0], np.cumsum([len(e.pairs) for e in encoded])])
    batches = list(length_bucketed_batches([len(e) for e in encoded], tc.batch_size, np.random.default_rng(tc.seed)))
    params = {"train_docs": len(docs), "batches": len(batches), "batch_size": tc.batch_size,
              "max_length": config.encoder.max_length, "deterministic": tc.deterministic}
    model.train()
    out = []
    if variant == "floor":
        encoder = model.encoder
        collated = [model.collate([encoded[i] for i in idx]) for idx in batches]

        def step(k: int) -> None:
            b = collated[k]
            encoder(input_ids=b.input_ids, attention_mask=b.attention_mask).last_hidden_state.sum().backward()
            encoder.zero_grad(set_to_none=True)
    else:
        head = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
        optimizer = torch.optim.AdamW(
            [{"params": list(model.encoder.parameters()), "lr": tc.lr}, {"params": head, "lr": tc.head_lr}],
            weight_decay=tc.weight_decay,
        )
        total = math.ceil(len(encoded) / tc.batch_size) * tc.epochs_for(len(encoded))
        scheduler = get_linear_schedule_with_warmup(optimizer, int(tc.warmup_ratio * total), total)
        if model.objective.uses_memory:
            with PeakRSS() as mem:
                t0 = time.perf_counter()
                model.set_memory(build_memory(model, docs, encoded))
                refresh = time.perf_counter() - t0
            model.train()
            out += [[f"train_{variant}_memory_refresh", refresh, "s", params],
                    [f"train_{variant}_memory_refresh_peak_rss", mem.peak, "MiB", params]]

        def step(k: int) -> None:  # the body of ccre.training.finetune.train_model's inner loop
            idx = batches[k]
            batch = model.collate([encoded[i] for i in idx]).to(model.device)
            ids = torch.from_numpy(np.concatenate([np.arange(first_pair[i], first_pair[i + 1]) for i in idx]))
            loss = model.loss(batch, ids.to(model.device))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), tc.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss.item()

    step(0)  # warm-up (kernels, allocator), not timed
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        for k in range(len(batches)):
            step(k)
        elapsed = time.perf_counter() - t0
    return out + [[f"train_{variant}_epoch_steps", elapsed, "s", params],
                  [f"train_{variant}_peak_rss", mem.peak, "MiB", params],
                  [f"train_{variant}_peak_growth", mem.growth, "MiB", params]]


def worker_predict(args: dict) -> list:
    """Bare encoder forward over the Predictor's own batches of BioRED test, then Predictor.predict."""
    import torch

    from ccre.data.datasets import sample_documents
    from ccre.data.labels import LabelSpace
    from ccre.inference.predictor import Predictor, _chunks
    from ccre.modeling.embedding import build_memory

    quick = args["quick"]
    test = _biored("test", args["data_dir"])[: args["test_docs"]]
    train = sample_documents(_biored("train", args["data_dir"]), n=args["train_docs"], seed=_config(quick).train.seed)
    space = LabelSpace.from_documents(train)
    out = []
    for variant in ("encoder", "ce", "mccl"):
        model = _model(_config(quick, "ce" if variant == "encoder" else variant), space)
        params = {"test_docs": len(test), "batch_size": 8, "max_length": model.config.encoder.max_length}
        if variant == "mccl":
            model.set_memory(build_memory(model, [d for d in train if len(d.entities) >= 2]))
            params["memory_entries"] = len(model.memory)
        model.eval()
        predictor = Predictor(model, batch_size=8)
        if variant == "encoder":
            encoded = [model.document_encoder.encode(d, space) for d in test]
            todo = sorted((i for i, e in enumerate(encoded) if len(e.pairs)), key=lambda i: len(encoded[i]))
            collated = [model.collate([encoded[i] for i in chunk]) for chunk in _chunks(todo, 8)]

            def run() -> None:
                with torch.inference_mode():
                    for b in collated:
                        model.encoder(input_ids=b.input_ids, attention_mask=b.attention_mask)
        else:
            def run() -> None:
                predictor.predict(test)

        predictor.predict(test[:2])  # warm-up
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            run()
            elapsed = time.perf_counter() - t0
        out += [[f"predict_{variant}", elapsed, "s", params],
                [f"predict_{variant}_peak_rss", mem.peak, "MiB", params],
                [f"predict_{variant}_peak_growth", mem.growth, "MiB", params]]
        del model, predictor
    return out


def _clustered(n: int, dim: int, seed: int, centers: int = 1000):
    """Normalized vectors around ``centers`` random directions (pair embeddings cluster by relation and
    entity types; uniform random vectors would be the hardest case for any approximate index). The centers
    are the same for every ``seed`` (drawn from seed 0), so that queries drawn with another seed come from
    the same distribution as the memory, as a test pair's embedding does; ``seed`` draws the points."""
    import numpy as np

    c = np.random.default_rng(0).standard_normal((centers, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    out = np.empty((n, dim), dtype=np.float32)
    for s in range(0, n, 100_000):
        e = min(s + 100_000, n)
        out[s:e] = c[rng.integers(0, centers, e - s)] + 0.6 * rng.standard_normal((e - s, dim), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


def _exact_topk(db, queries, k: int):
    """Exact top-k by inner product, in blocks (little memory): the ground truth for recall."""
    import numpy as np
    import torch

    q = torch.from_numpy(queries)
    best_s = torch.full((len(queries), k), float("-inf"))
    best_i = torch.zeros((len(queries), k), dtype=torch.int64)
    for s in range(0, len(db), 65536):
        sims = q @ torch.from_numpy(db[s : s + 65536]).T
        top = sims.topk(min(k, sims.shape[1]), dim=1)
        cat_s = torch.cat([best_s, top.values], 1)
        cat_i = torch.cat([best_i, top.indices + s], 1)
        order = cat_s.topk(k, dim=1).indices
        best_s, best_i = cat_s.gather(1, order), cat_i.gather(1, order)
    return np.asarray(best_i)


def _recall(found, truth) -> float:
    return sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth)) / truth.size


def _time_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def worker_knn(args: dict) -> list:
    """100 queries, k=10, against n vectors: torch brute force, faiss flat, IVF and HNSW."""
    import faiss
    import numpy as np
    import torch

    from ccre.modeling.memory import EmbeddingMemory

    n, dim, k, nq = args["n"], 384, 10, args["queries"]
    db = _clustered(n, dim, seed=1)
    queries = _clustered(nq, dim, seed=2)
    truth = _exact_topk(db, queries, k)
    repeats = args["repeats"]
    base = {"n": n, "dim": dim, "k": k, "queries": nq, "threads": torch.get_num_threads()}
    out = []

    def record(name: str, ms: float, recall: float, mem: PeakRSS, params: dict, build_s: float | None = None) -> None:
        p = {**base, **params, "recall_at_10": round(recall, 4)}
        out.append([f"knn_{name}_ms_per_100q", ms * 100 / nq, "ms", p])
        out.append([f"knn_{name}_recall_at_10", recall, "fraction", p])
        out.append([f"knn_{name}_peak_growth", mem.growth, "MiB", p])
        if build_s is not None:
            out.append([f"knn_{name}_build", build_s, "s", p])

    with PeakRSS() as mem:
        t = torch.from_numpy(db)
        q = torch.from_numpy(queries)
        ms = _time_ms(lambda: (q @ t.T).topk(k, dim=1), repeats)
        found = (q @ t.T).topk(k, dim=1).indices.numpy()
    record("torch_bruteforce", ms, _recall(found, truth), mem, {})

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        flat = EmbeddingMemory(dim, 1)  # ccre's exact memory: faiss IndexFlatIP
        flat.add(db, np.zeros((n, 1), dtype=np.float32))
        build = time.perf_counter() - t0
        ms = _time_ms(lambda: flat.search(queries, k), repeats)
        found = flat.search(queries, k)[1]
    record("faiss_flat", ms, _recall(found, truth), mem, {"via": "ccre.modeling.memory.EmbeddingMemory"}, build)
    del flat

    def tune(index, knob: str, values: list[int]) -> tuple[int, float, float]:
        """The smallest knob value reaching the recall target (else the largest tried): value, ms, recall."""
        for v in values:
            setattr(index, knob, v) if knob != "efSearch" else setattr(index.hnsw, knob, v)
            recall = _recall(index.search(queries, k)[1], truth)
            if recall >= KNN_TARGET_RECALL or v == values[-1]:
                return v, _time_ms(lambda: index.search(queries, k), repeats), recall
        raise AssertionError

    nlist = max(8, round(n**0.5))
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.cp.max_points_per_centroid = 64  # train k-means on at most 64 x nlist vectors
        ivf.train(db)
        ivf.add(db)
        build = time.perf_counter() - t0
        nprobe, ms, recall = tune(ivf, "nprobe", [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256) if p < nlist] + [nlist])
    record("faiss_ivf", ms, recall, mem, {"nlist": nlist, "nprobe": nprobe}, build)
    del ivf

    if args["hnsw"]:
        with PeakRSS() as mem:
            t0 = time.perf_counter()
            hnsw = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            hnsw.hnsw.efConstruction = 64
            hnsw.add(db)
            build = time.perf_counter() - t0
            ef, ms, recall = tune(hnsw, "efSearch", [16, 32, 64, 128, 256, 512])
        record("faiss_hnsw", ms, recall, mem, {"M": 32, "efConstruction": 64, "efSearch": ef}, build)
    return out


def worker_stream(args: dict) -> list:
    """ccre's streaming prediction over a PubTator file of n documents (or one many-entity document)."""
    import dataclasses

    from ccre.data.datasets import sample_documents
    from ccre.data.formats import write_documents
    from ccre.data.labels import LabelSpace
    from ccre.inference.predictor import Predictor
    from ccre.inference.streaming import predict_file

    quick = args["quick"]
    train = sample_documents(_biored("train", args["data_dir"]), n=args["train_docs"], seed=_config(quick).train.seed)
    space = LabelSpace.from_documents(train)
    model = _model(_config(quick), space).eval()
    predictor = Predictor(model, batch_size=8)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.pubtator"
        if args.get("entities"):
            n_ent = args["entities"]
            write_documents([many_entity_document(n_ent)], src, "pubtator")
            warm_up = [many_entity_document(3)]
            name, params = "stream_many_entities", {"entities": n_ent, "pairs": n_ent * (n_ent - 1) // 2}
        else:
            test = _biored("test", args["data_dir"])
            n = args["n"]
            with open(src, "w", encoding="utf-8") as f:  # BioRED test repeated, ids made unique
                from ccre.data.formats.pubtator import dumps

                for s in range(0, n, len(test)):
                    f.write(dumps(dataclasses.replace(d, id=f"{d.id}x{s // len(test)}") for d in test[: n - s]))
            name, params = f"stream_{n}", {"documents": n}
            if not args.get("map_buffers", True):
                name += "_default_heap"
            warm_up = test[:2]
        params.update(chunk_size=args["chunk"], batch_size=8, max_length=model.config.encoder.max_length,
                      map_buffers=args.get("map_buffers", True))
        predictor.predict(warm_up)
        chunks = ChunkPeaks()
        t0 = time.perf_counter()
        summary = predict_file(predictor, src, Path(tmp) / "out.pubtator", chunk_size=args["chunk"],
                               on_chunk=chunks.record, map_buffers=params["map_buffers"])
        elapsed = time.perf_counter() - t0
    peak = max(chunks.peaks)
    tenth = max(1, len(chunks.peaks) // 10)
    params.update(chunk_peaks_mib=chunks.peaks, rss_after_chunks_mib=chunks.after)
    out = [[f"{name}_docs_per_s", summary.documents / elapsed, "docs/s", params],
           [f"{name}_wall", elapsed, "s", params],
           [f"{name}_peak_rss", peak, "MiB", params],
           [f"{name}_peak_growth", round(peak - chunks.start, 1), "MiB", params]]
    if chunks.isolated and len(chunks.peaks) > 1:  # flat memory: the last chunks peak no higher than the first
        out += [[f"{name}_chunk_peak_first_tenth", max(chunks.peaks[:tenth]), "MiB", params],
                [f"{name}_chunk_peak_last_tenth", max(chunks.peaks[-tenth:]), "MiB", params]]
    return out


class ChunkPeaks:
    """Peak resident memory (MiB) of each streaming chunk, and the resident size after it: ``on_chunk``
    of :func:`ccre.inference.streaming.predict_file` (resets ``VmHWM`` after each chunk where Linux allows)."""

    def __init__(self) -> None:
        self.peaks: list[float] = []
        self.after: list[float] = []
        self.isolated = _reset_peak()
        self.start = round(_rss_kib() / 1024, 1)

    def record(self, _: int) -> None:
        self.peaks.append(round(_peak_kib(self.isolated) / 1024, 1))
        self.after.append(round(_rss_kib() / 1024, 1))
        self.isolated = _reset_peak()


def many_entity_document(n: int):
    """A document naming ``n`` distinct genes, one mention each: ``n (n - 1) / 2`` candidate pairs."""
    from ccre.data.documents import Document, Entity, Mention

    words = [f"gene{i}" for i in range(n)]
    starts = [sum(len(w) + 1 for w in words[:i]) for i in range(n)]
    return Document(
        id=f"many{n}", text=" ".join(words),
        mentions=[Mention(s, s + len(w), w, "GeneOrGeneProduct") for s, w in zip(starts, words)],
        entities=[Entity(f"G{i}", "GeneOrGeneProduct", [i], (f"G{i}",)) for i in range(n)],
    )


WORKERS = {"train": worker_train, "predict": worker_predict, "knn": worker_knn, "stream": worker_stream}


# ------------------------------------------------------------------------------------------ driver


def plan(opts: argparse.Namespace) -> list[tuple[str, dict]]:
    """The subprocess jobs: (worker, arguments)."""
    quick = opts.quick
    common = {"quick": quick, "data_dir": opts.data_dir, "train_docs": 2 if quick else 40}
    jobs: list[tuple[str, dict]] = []
    if "train" in opts.parts:
        jobs += [("train", {**common, "variant": v}) for v in ("floor", "ce", "mccl")]
    if "predict" in opts.parts:
        jobs.append(("predict", {**common, "test_docs": 2 if quick else 100}))
    if "knn" in opts.parts:
        sizes = [int(float(s)) for s in opts.knn_sizes.split(",")] if opts.knn_sizes else (
            [1000, 4000] if quick else [10**3, 10**5, 10**6])
        jobs += [("knn", {"n": n, "queries": 100, "repeats": 3 if quick else 7, "hnsw": not opts.no_hnsw}) for n in sizes]
    if "stream" in opts.parts:
        sizes = [int(s) for s in opts.stream_sizes.split(",")] if opts.stream_sizes else ([4, 8] if quick else [1000, 10000])
        chunk = 4 if quick else 256
        jobs += [("stream", {**common, "n": n, "chunk": chunk, "map_buffers": not opts.stream_default_heap})
                 for n in sizes]
        # BioRED pairs are unordered: 150 entities give 11,175 pairs, 211 give 22,155 (the issue's "over 22,000",
        # counted there as ordered pairs of 150 entities)
        jobs += [("stream", {**common, "entities": n, "chunk": chunk}) for n in ((20,) if quick else (150, 211))]
    return jobs


def run_job(worker: str, args: dict) -> list:
    cmd = [sys.executable, "-m", "ccre_study.speed", "--worker", worker, "--worker-args", json.dumps(args)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "src"), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"worker {worker} {args} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["measures"]


def derived(values: dict[str, tuple[float, dict]]) -> list:
    """Ratios against the floors, and the kNN target check."""
    out = []
    for variant in ("ce", "mccl"):
        if f"train_{variant}_epoch_steps" in values and "train_floor_epoch_steps" in values:
            floor, p = values["train_floor_epoch_steps"]
            out.append([f"train_{variant}_ratio", values[f"train_{variant}_epoch_steps"][0] / floor, "x floor", p])
            if f"train_{variant}_memory_refresh" in values:
                refresh = values[f"train_{variant}_memory_refresh"][0]
                out.append([f"train_{variant}_epoch_ratio", (values[f"train_{variant}_epoch_steps"][0] + refresh) / floor,
                            "x floor", {**p, "includes": "memory refresh"}])
        if f"predict_{variant}" in values and "predict_encoder" in values:
            enc, p = values["predict_encoder"]
            out.append([f"predict_{variant}_ratio", values[f"predict_{variant}"][0] / enc, "x encoder forward", p])
    return out


def _target(measure: str, value: float, params: dict) -> tuple[str | None, bool | None]:
    if measure in TARGETS:
        op, bound = TARGETS[measure]
        return f"{op} {bound}", value <= bound
    if measure.startswith("knn_") and measure.endswith("_ms_per_100q") and params.get("n") == KNN_TARGET_N:
        ok = value <= KNN_TARGET_MS and params.get("recall_at_10", 0) >= KNN_TARGET_RECALL
        return f"<= {KNN_TARGET_MS:g} ms at recall@10 >= {KNN_TARGET_RECALL}", ok
    return None, None


def table(records: list[dict]) -> str:
    lines = ["# ccre speed and memory", "",
             f"commit `{records[0]['commit']}`, {records[0]['machine']}, {records[0]['date']}"
             + (" (quick, toy scale: not a measurement)" if records[0]["params"].get("quick") else ""), "",
             "## Targets", "", "| measure | value | unit | target | met | parameters |", "|---|---:|---|---|---|---|"]
    for r in records:
        if r.get("target"):
            params = {k: v for k, v in r["params"].items() if k not in ("quick", "data_dir")}
            lines.append(f"| {r['measure']} | {r['value']:.4g} | {r['unit']} | {r['target']} | "
                         f"{'yes' if r['meets_target'] else '**no**'} | {', '.join(f'{k}={v}' for k, v in params.items())} |")
    lines += ["", "## All measures", "",
              "| part | measure | value | unit | target | met | parameters |", "|---|---|---:|---|---|---|---|"]
    for r in records:
        params = {k: v for k, v in r["params"].items() if k not in ("quick", "data_dir") and not isinstance(v, list)}
        met = "" if r.get("meets_target") is None else ("yes" if r["meets_target"] else "**no**")
        lines.append(f"| {r['part']} | {r['measure']} | {r['value']:.4g} | {r['unit']} | {r.get('target') or ''} | "
                     f"{met} | {', '.join(f'{k}={v}' for k, v in params.items())} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="toy scale: checks that everything runs, measures nothing")
    ap.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks/results/speed.jsonl", help="JSON lines (appended)")
    ap.add_argument("--table", type=Path, default=REPO / "benchmarks/speed.md", help="markdown table (rewritten)")
    ap.add_argument("--data-dir", default=None, help="where the corpora are (default: ccre's search order)")
    ap.add_argument("--knn-sizes", default=None, help="memory sizes, e.g. 1e3,1e5,1e6")
    ap.add_argument("--stream-sizes", default=None, help="document counts, e.g. 1000,10000")
    ap.add_argument("--stream-default-heap", action="store_true",
                    help="stream documents with glibc's own allocator settings (ccre maps large buffers): the comparison")
    ap.add_argument("--no-hnsw", action="store_true", help="leave out HNSW (its build is the slowest kNN step)")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--worker-args", default="{}", help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)

    if opts.worker:
        measures = WORKERS[opts.worker](json.loads(opts.worker_args))
        print(json.dumps({"measures": measures}))
        return 0

    from ccre.experiments.records import invoked_command
    from ccre.utils.io import append_jsonl, atomic_write_text
    from ccre.utils.runtime import git_commit, machine_description

    opts.parts = [p.strip() for p in opts.parts.split(",") if p.strip()]
    unknown = set(opts.parts) - set(PARTS)
    if unknown:
        ap.error(f"unknown part(s) {', '.join(sorted(unknown))}; one of {', '.join(PARTS)}")
    commit, machine, command = git_commit(REPO), machine_description(), invoked_command()
    records: list[dict] = []
    values: dict[str, tuple[float, dict]] = {}
    for worker, args in plan(opts):
        print(f"[speed] {worker} {json.dumps(args)}", file=sys.stderr, flush=True)
        started = time.perf_counter()
        measures = run_job(worker, args)
        print(f"[speed]   done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        for name, value, unit, params in measures:
            values[name] = (value, params)
        done = [_record(worker, name, value, unit, {**params, "quick": opts.quick}, commit, machine, command)
                for name, value, unit, params in measures]
        for r in done:  # as each part finishes: a run stopped later keeps what it measured
            append_jsonl(opts.results, r)
        records += done
    for name, value, unit, params in derived(values):
        r = _record(name.split("_")[0], name, value, unit, {**params, "quick": opts.quick}, commit, machine, command)
        append_jsonl(opts.results, r)
        records.append(r)
    atomic_write_text(opts.table, table(records))
    for r in records:
        if r.get("target"):
            print(f"{r['measure']}: {r['value']:.3f} {r['unit']} (target {r['target']}: "
                  f"{'met' if r['meets_target'] else 'NOT met'})")
    print(f"{len(records)} measures appended to {opts.results}; table in {opts.table}")
    return 0


def _record(part: str, measure: str, value: float, unit: str, params: dict, commit: str, machine: str, command: str) -> dict:
    from ccre.utils.runtime import now_iso

    target, met = _target(measure, value, params)
    record = {"measure": measure, "value": round(float(value), 6), "unit": unit, "part": part, "params": params,
              "commit": commit, "machine": machine, "date": now_iso(), "command": command}
    if target is not None:
        record.update(target=target, meets_target=met)
    return record


if __name__ == "__main__":
    sys.exit(main())
