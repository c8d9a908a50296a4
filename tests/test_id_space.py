"""One ID space from training to prediction: MESH:-prefixed and bare MeSH IDs score as one concept, a test set
in another ID style is warned about, and predictions are written with the input's own IDs."""

from __future__ import annotations

from pathlib import Path

from ccre.data.documents import Document, Entity, Mention, Relation
from ccre.data.formats import read_documents, write_documents
from ccre.data.formats.ids import id_style_warning
from ccre.evaluation.biored import biored_scores
from ccre.inference.predictor import PredictedRelation, with_predictions

TEXT = "naloxone and hypotension"
PREFIXED = (
    "9|t|naloxone and hypotension\n9|a|\n"
    "9\t0\t8\tnaloxone\tChemical\tMESH:D009270\n"
    "9\t13\t24\thypotension\tDisease\tMESH:D007022|MESH:D006973\n\n"
)


def _doc(head: str, tail: str, relations: list[Relation]) -> Document:
    mentions = [Mention(0, 8, "naloxone", "Chemical"), Mention(13, 24, "hypotension", "Disease")]
    entities = [Entity(head, "Chemical", [0], (head,)), Entity(tail, "Disease", [1], (tail,))]
    return Document("9", TEXT, mentions, entities, relations, title=TEXT)


def test_prefixed_and_bare_mesh_score_as_one_concept() -> None:
    gold = _doc("D009270", "D007022", [Relation("D009270", "D007022", "CID", directed=False)])
    pred = _doc("MESH:D009270", "MESH:D007022", [Relation("MESH:D007022", "MESH:D009270", "CID", directed=False)])
    scores = biored_scores([gold], [pred])
    assert (scores["type"]["tp"], scores["type"]["fp"], scores["type"]["fn"]) == (1, 0, 0)
    other = _doc("OMIM:1", "OMIM:2", [Relation("OMIM:1", "OMIM:2", "CID", directed=False)])
    assert biored_scores([gold], [other])["type"]["tp"] == 0


def test_warning_when_no_candidate_pair_has_the_training_id_style() -> None:
    train = [_doc("D009270", "D007022", [Relation("D009270", "D007022", "CID", directed=False)])]
    assert id_style_warning(train, [_doc("MESH:D009270", "MESH:D007022", [])]) is None
    warning = id_style_warning(train, [_doc("CHEBI:1", "OMIM:2", [])])
    assert warning is not None and "no candidate pair shares the ID style" in warning and "bare-bare" in warning


def test_predictions_are_written_with_the_input_ids(tmp_path: Path) -> None:
    source = tmp_path / "in.pubtator"
    source.write_text(PREFIXED)
    docs = read_documents(source, dialect="ncbi")  # '|' between MESH: IDs: NCBI disease's, not PubTator3's
    assert [e.id for e in docs[0].entities] == [
        "MESH:D009270", "MESH:D007022", "MESH:D006973"]
    predicted = [[PredictedRelation("MESH:D009270", "MESH:D006973", "CID", 0.9, directed=False)]]
    out = tmp_path / "pred.pubtator"
    write_documents(with_predictions(docs, predicted), out, "pubtator")
    assert out.read_text() == PREFIXED.rstrip("\n") + "\n9\tCID\tMESH:D009270\tMESH:D006973\n\n"
