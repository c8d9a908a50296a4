"""Dev splits for model selection: BioRED's Dev.PubTator; for Re-DocRED a fixed, seeded 100-document slice of
dev_revised.json, the training pool being the other 400; pretraining leaves dev and test out."""

from __future__ import annotations

import numpy as np

from ccre.config import CcreConfig
from ccre.data.datasets import split_documents
from ccre.data.formats import read_documents
from ccre.experiments.run import load_dev, load_split
from ccre.training.pretraining.inputs import default_inputs
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
    assert {p.name for p in exclude} == {"Dev.PubTator", "Test.PubTator"}
