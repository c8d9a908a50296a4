"""Dev splits for model selection: BioRED's Dev.PubTator; for Re-DocRED a fixed, seeded 100-document slice of
dev_revised.json, the training pool being the other 400; pretraining leaves dev and test out."""

from __future__ import annotations

import numpy as np

from ccre.config import CcreConfig
from ccre.data.datasets import split_documents
from ccre.data.formats import read_documents
from ccre.experiments.run import load_dev, load_split
from ccre.training.pretraining.inputs import default_inputs, load_corpus_documents
from formats_helpers import data_file


def test_redocred_dev_is_a_fixed_slice_disjoint_from_the_training_pool() -> None:
    root = data_file("redocred/dev_revised.json").parents[1]
    whole = read_documents(root / "redocred" / "dev_revised.json")
    train, dev = split_documents("redocred", "train", root), split_documents("redocred", "dev", root)
    assert (len(train), len(dev)) == (400, 100) and len(whole) == 500
    assert {d.id for d in train}.isdisjoint({d.id for d in dev})
    picked = sorted(np.random.default_rng(0).permutation(500)[:100].tolist())  # the documented rule, by hand
    assert [d.id for d in dev] == [whole[i].id for i in picked]
    assert [d.id for d in train] == [d.id for i, d in enumerate(whole) if i not in set(picked)]


def test_runs_draw_training_subsets_from_the_pool_and_find_their_dev_split() -> None:
    root = data_file("redocred/dev_revised.json").parents[1]
    cfg = CcreConfig().with_overrides({"data.dataset": "redocred"})
    dev_ids = {d.id for d in load_dev(cfg, root)}
    assert len(dev_ids) == 100 and not dev_ids & {d.id for d in load_split(cfg, "train", root)}
    biored = CcreConfig()
    assert len(load_dev(biored, root)) == 100  # Dev.PubTator
    own = CcreConfig().with_overrides({"data.dataset": None, "data.train": str(root / "biored" / "Train.PubTator")})
    assert load_dev(own, root) is None


def test_pretraining_leaves_dev_and_test_out() -> None:
    root = data_file("biored/Dev.PubTator").parents[1]
    files, exclude = default_inputs(root)
    names = {p.name for p in files}
    assert "Dev.PubTator" not in names and "Test.PubTator" not in names and "Train.PubTator" in names
    assert exclude == [("biored", "dev"), ("biored", "test")]


def test_the_redocred_pretraining_corpus_is_the_training_pool_without_its_dev_slice() -> None:
    """General-domain pretraining reads dev_revised.json, the file the dev slice is cut from, so the slice is
    left out by its documents: what remains is exactly the 400 documents training subsets are drawn from."""
    root = data_file("redocred/dev_revised.json").parents[1]
    files, exclude = default_inputs(root, "redocred")
    assert [p.name for p in files] == ["dev_revised.json"] and exclude == [("redocred", "dev"), ("redocred", "test")]
    docs, report = load_corpus_documents(None, None, root, strict=False, dataset="redocred")
    pool = split_documents("redocred", "train", root)
    assert [d.id for d in docs] == [d.id for d in pool] and len(docs) == 400
    assert report["read"] == 500 and report["excluded_dropped"] == 100
    assert report["exclude"] == ["redocred dev", "redocred test"]


def test_pretrain_stats_reads_the_corpus_its_dataset_option_names() -> None:
    import json

    from typer.testing import CliRunner

    from ccre.cli import app

    root = data_file("redocred/dev_revised.json").parents[1]
    result = CliRunner().invoke(app, ["pretrain-stats", "--dataset", "redocred", "--data-dir", str(root), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.output.strip().splitlines()[-1])
    assert (stats["documents"], stats["excluded_dropped"]) == (400, 100)
    assert "dropped because they appear in redocred dev, redocred test" in result.output
