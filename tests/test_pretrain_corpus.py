"""Pretraining corpus: linking keys, exclusion, and the batch guarantee on the real corpus."""

from __future__ import annotations

from dataclasses import replace

import pytest
from formats_helpers import data_file
from pretrain_helpers import make_doc, tiny_corpus

from ccre.data.documents import Entity
from ccre.data.formats import read_documents
from ccre.training.pretraining.batching import epoch_batches
from ccre.training.pretraining.corpus import (
    build_corpus,
    corpus_stats,
    exclude_documents,
    linking_keys,
)


def test_linking_keys():
    assert linking_keys(Entity("HMDB:1|CHEBI:2", "Chemical", kb_ids=("HMDB:1", "CHEBI:2"))) == ("CHEBI:2", "HMDB:1")
    assert linking_keys(Entity("-:12-17", "Gene", name="p53")) == ()
    assert linking_keys(Entity(":3-5", "Gene", name="p53")) == ()
    assert linking_keys(Entity("3", "PER", name="  Barack  OBAMA ")) == ("name:barack obama",)


def test_instances_and_positives():
    corpus = build_corpus(tiny_corpus())
    stats = corpus_stats(corpus)
    assert stats["documents"] == 6
    assert stats["instances"] == 1 + 3 + 1 + 3 + 1 + 1
    # A-B in d1 and d2; C-D in d3 and d4
    assert stats["pairs_in_2plus_documents"] == 2
    ab = [i for i, x in enumerate(corpus.instances) if x.keys == (("CHEBI:15365", "D006261"),)]
    assert len(ab) == 2 and corpus.positives(ab[0]) == {ab[1]}


def test_cap_prefers_pairs_with_positives():
    docs = tiny_corpus()
    corpus = build_corpus(docs, max_pairs_per_doc=1)
    d2 = next(i for i, d in enumerate(corpus.documents) if d.id == "d2")
    (only,) = corpus.doc_instances[d2]
    assert corpus.has_positive(only)


def test_exclude_by_id_and_by_text():
    docs = tiny_corpus()
    same_id = make_doc("d1", "CE")  # other text, same id
    same_text = replace(docs[2], id="PMID-elsewhere", text=docs[2].text.upper().replace(" ", "  "))
    kept, dropped = exclude_documents(docs, [same_id, same_text])
    assert dropped == 2
    assert [d.id for d in kept] == ["d2", "d4", "d5", "d6"]


def test_exclude_real_biored_dev_from_itself_by_text():
    dev = read_documents(data_file("biored/Dev.PubTator"))
    renamed = [replace(d, id=f"x{d.id}") for d in dev[:10]]
    kept, dropped = exclude_documents(dev, renamed)
    assert dropped == 10 and len(kept) == len(dev) - 10


@pytest.fixture(scope="module")
def real_corpus():
    docs = []
    for f in ("pretrain/bc8_biored_unlabeled.pubtator", "pretrain/chr_dev_chemicals.pubtator",
              "biored/Train.PubTator", "biored/Dev.PubTator"):
        docs.extend(read_documents(data_file(f), lenient=True))
    return build_corpus(docs, max_pairs_per_doc=64)


def test_real_corpus_stats(real_corpus):
    stats = corpus_stats(real_corpus)
    assert stats["documents"] > 2500
    assert stats["pairs_in_2plus_documents"] > 7000
    assert stats["instances"] <= 64 * stats["documents"]


def test_batch_guarantee_on_real_corpus(real_corpus):
    c = real_corpus
    batches = epoch_batches(c, batch_size=4, seed=13, epoch=0)
    seen_docs = set()
    anchors = 0
    for batch in batches:
        docs = [it.doc for it in batch]
        assert len(docs) == len(set(docs)) and 1 <= len(docs) <= 4
        seen_docs.update(docs)
        for it in batch:
            assert it.instances and set(it.instances) <= set(c.doc_instances[it.doc])
            for i in it.instances:
                if c.has_positive(i):
                    anchors += 1
                    assert {c.instances[j].doc for j in c.positives(i)} & (set(docs) - {it.doc})
    assert len(seen_docs) > 0.99 * len(c.documents)
    assert anchors > 2000  # batches do carry anchors, not just negatives
    assert epoch_batches(c, 4, 13, 0) == batches  # reproducible


def test_load_corpus_documents_dedups_excludes_and_reports(tmp_path):
    from ccre.data.formats import write_documents
    from ccre.errors import FormatError
    from ccre.training.pretraining.inputs import load_corpus_documents

    dev = read_documents(data_file("biored/Dev.PubTator"))[:8]
    a, b, held = tmp_path / "a.pubtator", tmp_path / "b.pubtator", tmp_path / "test.pubtator"
    write_documents(dev[:5], a, "pubtator")
    write_documents(dev[3:7], b, "pubtator")  # dev[3], dev[4] again
    with b.open("a") as f:  # a bad document: its mention text is not what the offsets cover
        f.write("\n999|t|A title\n999|a|An abstract\n999\t0\t5\tNotThis\tGene\tG1\n")
    write_documents([replace(dev[6], id="renamed")], held, "pubtator")  # excluded by text
    skipped = []
    docs, report = load_corpus_documents([a, b], [held], None, strict=False, on_skip=skipped.append)
    assert [d.id for d in docs] == [d.id for d in dev[:6]]
    assert report == {"inputs": [str(a), str(b)], "exclude": [str(held)], "read": 9, "skipped_bad": 1,
                      "duplicates_dropped": 2, "excluded_dropped": 1}
    assert len(skipped) == 1 and "999" in str(skipped[0])
    with pytest.raises(FormatError, match="b.pubtator"):
        load_corpus_documents([a, b], [held], None, strict=True)
