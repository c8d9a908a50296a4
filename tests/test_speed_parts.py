"""benchmarks/speed.py: its pieces (ground truth, recall, peak memory, ratios, table) and a toy-scale run
end to end (``--quick``: every part, in subprocesses, into temporary result files)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import faiss
import numpy as np
import pytest
from formats_helpers import data_file

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


@pytest.fixture(scope="module")
def speed():
    import ccre_study.speed

    return ccre_study.speed


def test_blockwise_ground_truth_equals_faiss_exact(speed) -> None:
    db = speed._clustered(70_000, 32, seed=1, centers=50)  # more than one 65,536-row block
    queries = speed._clustered(20, 32, seed=2, centers=50)
    assert np.allclose(np.linalg.norm(db, axis=1), 1, atol=1e-5)
    flat = faiss.IndexFlatIP(32)
    flat.add(db)
    expected = flat.search(queries, 10)[1]
    truth = speed._exact_topk(db, queries, 10)
    assert speed._recall(truth, expected) > 0.99  # equal up to ties
    assert speed._recall(truth[:, :5], expected[:, :5]) > 0.99
    assert speed._recall(np.zeros_like(expected) - 1, expected) == 0


def test_peak_rss_sees_an_allocation() -> None:
    # in a fresh process: in this one, memory freed by earlier tests may be reused without growing the RSS
    code = (
        "import json, numpy as np\n"
        "import ccre_study.speed as m\n"
        "with m.PeakRSS() as mem:\n"
        "    block = np.ones(64 * 1024 * 1024 // 8)\n"
        "    del block\n"
        "print(json.dumps([mem.isolated, mem.growth, mem.peak]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    isolated, growth, peak = json.loads(done.stdout.strip().splitlines()[-1])
    if isolated:
        assert 50 < growth < 200
    assert peak >= growth


def test_ratios_and_targets(speed) -> None:
    values = {
        "train_floor_epoch_steps": (10.0, {"b": 1}), "train_ce_epoch_steps": (10.5, {}),
        "train_mccl_epoch_steps": (12.0, {}), "train_mccl_memory_refresh": (3.0, {}),
        "predict_encoder": (4.0, {}), "predict_ce": (4.4, {}),
    }
    got = {name: value for name, value, unit, params in speed.derived(values)}
    assert got == pytest.approx({"train_ce_ratio": 1.05, "train_mccl_ratio": 1.2, "train_mccl_epoch_ratio": 1.5,
                                 "predict_ce_ratio": 1.1})
    assert speed._target("train_ce_ratio", 1.05, {}) == ("<= 1.1", True)
    assert speed._target("train_mccl_ratio", 1.2, {})[1] is False
    assert speed._target("knn_faiss_ivf_ms_per_100q", 40.0, {"n": 10**6, "recall_at_10": 0.97})[1] is True
    assert speed._target("knn_faiss_ivf_ms_per_100q", 40.0, {"n": 10**6, "recall_at_10": 0.9})[1] is False
    assert speed._target("knn_faiss_ivf_ms_per_100q", 400.0, {"n": 10**3}) == (None, None)


def test_many_entity_document_has_all_pairs(speed) -> None:
    from ccre.data.labels import candidate_pairs

    doc = speed.many_entity_document(150)
    assert len(candidate_pairs(doc, False)) == 11_175 and len(candidate_pairs(doc, True)) == 22_350


def _quick_run(tmp_path: Path, *extra: str) -> tuple[list[dict], str]:
    data_file("biored/Train.PubTator")  # skips without the real data
    results, table = tmp_path / "speed.jsonl", tmp_path / "speed.md"
    done = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--results", str(results), "--table", str(table), *extra],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records = [json.loads(line) for line in results.read_text().splitlines()]
    for r in records:
        assert {"measure", "value", "unit", "part", "params", "commit", "machine", "date"} <= set(r)
        assert isinstance(r["value"], float) and math.isfinite(r["value"]) and r["value"] >= 0
        assert r["params"]["quick"] is True
    text = table.read_text()
    assert text.startswith("# ccre speed and memory") and "## All measures" in text
    return records, text


def test_quick_run_of_the_inference_parts(tmp_path: Path) -> None:
    """The cheaper parts in the default suite: driver, workers, records and table."""
    records, text = _quick_run(tmp_path, "--parts", "predict,knn,stream", "--knn-sizes", "2000")
    names = {r["measure"] for r in records}
    for expected in ("predict_encoder", "predict_ce_ratio", "predict_mccl_ratio", "predict_ce_peak_rss",
                     "knn_torch_bruteforce_ms_per_100q", "knn_faiss_flat_ms_per_100q", "knn_faiss_ivf_ms_per_100q",
                     "knn_faiss_hnsw_recall_at_10", "knn_faiss_ivf_build", "stream_4_docs_per_s", "stream_8_peak_rss",
                     "stream_many_entities_peak_rss"):
        assert expected in names
    exact = [r for r in records if r["measure"] in ("knn_faiss_flat_recall_at_10", "knn_torch_bruteforce_recall_at_10")]
    assert exact and all(r["value"] == 1.0 for r in exact)
    ratios = [r for r in records if r["measure"] in ("predict_ce_ratio", "predict_mccl_ratio")]
    assert all(r["target"] == "<= 1.15" and isinstance(r["meets_target"], bool) for r in ratios)
    assert "## Targets" in text and "predict_ce_ratio" in text


@pytest.mark.slow
def test_quick_run_of_every_part(tmp_path: Path) -> None:
    """Everything at toy scale, training floors included (minutes on 2 cores)."""
    records, _ = _quick_run(tmp_path)
    names = {r["measure"] for r in records}
    for expected in ("train_floor_epoch_steps", "train_ce_ratio", "train_mccl_ratio", "train_mccl_epoch_ratio",
                     "train_ce_peak_rss", "predict_ce_ratio", "knn_faiss_ivf_ms_per_100q", "stream_4_docs_per_s"):
        assert expected in names
