"""The PubTator/BioC ID dialects in use (CDR, NCBI disease, PubTator3, BioRED's BioC releases): each read from a
small file written here after its format description, with hand-counted mentions, entities and relations,
written and read again unchanged; the dialect read from the file's clues; ambiguity and conflicts as located
errors that name the --dialect option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from formats_helpers import assert_located, view

from ccre.data.formats import read_documents, validate_file, write_documents
from ccre.data.formats.ids import concept_key
from ccre.errors import FormatError

SUFFIX = {"pubtator": "pubtator", "bioc-xml": "xml", "bioc-json": "json"}

# BioCreative V CDR: a 7-column composite mention, a 6-column one, '-1', 4-column CID relations.
CDR = (
    "2234245|t|Ocular and auditory toxicity after desferrioxamine\n"
    "2234245|a|Hyper- or hypotension followed naloxone but not saline.\n"
    "2234245\t0\t28\tOcular and auditory toxicity\tDisease\tD014786|D006311\tOcular toxicity|auditory toxicity\n"
    "2234245\t35\t50\tdesferrioxamine\tChemical\tD003676\n"
    "2234245\t51\t72\tHyper- or hypotension\tDisease\tD006973|D007022\n"
    "2234245\t82\t90\tnaloxone\tChemical\tD009270\n"
    "2234245\t99\t105\tsaline\tChemical\t-1\n"
    "2234245\tCID\tD003676\tD014786\n"
    "2234245\tCID\tD003676\tD006311\n"
    "2234245\tCID\tD009270\tD007022\n"
    "\n"
)
# NCBI disease: bare MeSH IDs beside MESH: and OMIM: ones, composites joined by '|' and '+'; no relations.
NCBI = (
    "10192393|t|A common MSH2 mutation in HNPCC families\n"
    "10192393|a|Hereditary colorectal cancer, Muir-Torre syndrome, breast and ovarian cancer and colon and "
    "endometrial cancer.\n"
    "10192393\t26\t31\tHNPCC\tSpecificDisease\tD003123\n"
    "10192393\t52\t69\tcolorectal cancer\tSpecificDisease\tMESH:D015179\n"
    "10192393\t71\t90\tMuir-Torre syndrome\tSpecificDisease\tOMIM:158320\n"
    "10192393\t92\t117\tbreast and ovarian cancer\tCompositeMention\tD001943|D010051\n"
    "10192393\t122\t150\tcolon and endometrial cancer\tCompositeMention\tD003110+D016889\n"
    "\n"
)
V600E = "tmVar:p|SUB|V|600|E;HGVS:p.V600E;VariantGroup:0;CorrespondingGene:673;RS#:113488022"
C1799 = "tmVar:c|SUB|T|1799|A;HGVS:c.1799T>A;VariantGroup:0;CorrespondingGene:673"
# PubTator3 export: prefixed IDs, ';'-joined gene alternatives, variant identifiers, its types; and a
# document with no annotations at all.
PUBTATOR3 = (
    "36000001|t|BRAF V600E in melanoma\n"
    "36000001|a|Vemurafenib inhibits A375 cells with c.1799T>A (rs113488022); MEK1/2 in human tumours.\n"
    "36000001\t0\t4\tBRAF\tGene\t673\n"
    f"36000001\t5\t10\tV600E\tProteinMutation\t{V600E}\n"
    "36000001\t14\t22\tmelanoma\tDisease\tMESH:D008545\n"
    "36000001\t23\t34\tVemurafenib\tChemical\tMESH:C551177\n"
    "36000001\t44\t48\tA375\tCellLine\tCVCL:0132\n"
    f"36000001\t60\t69\tc.1799T>A\tDNAMutation\t{C1799}\n"
    "36000001\t71\t82\trs113488022\tSNP\tRS#:113488022\n"
    "36000001\t85\t91\tMEK1/2\tGene\t5604;5605\n"
    "36000001\t95\t100\thuman\tSpecies\t9606\n"
    "\n"
    "36000002|t|An abstract with nothing annotated\n"
    "36000002|a|No entity here.\n"
    "\n"
)


def _write(tmp_path: Path, text: str, name: str = "x.pubtator") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _entities(doc) -> dict[str, tuple[list[int], tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    return {e.id: (e.mentions, e.kb_ids) for e in doc.entities}


def _round_trips(docs: list, tmp_path: Path) -> None:
    """Through every PubTator/BioC format and back: the same mentions, entities and relations."""
    for fmt, suffix in SUFFIX.items():
        out = tmp_path / f"out.{suffix}"
        write_documents(docs, out, fmt)
        back = read_documents(out, fmt)
        assert [view(d) for d in back] == [view(d) for d in docs], fmt
        assert [d.dialect for d in back] == [d.dialect for d in docs], fmt


def test_cdr(tmp_path: Path) -> None:
    path = _write(tmp_path, CDR)
    (doc,) = read_documents(path)
    assert doc.dialect == "cdr"
    assert len(doc.mentions) == 5 and len(doc.entities) == 7 and len(doc.relations) == 3
    assert _entities(doc) == {
        "D014786": ([0], ("D014786",)), "D006311": ([0], ("D006311",)), "D003676": ([1], ("D003676",)),
        "D006973": ([2], ("D006973",)), "D007022": ([2], ("D007022",)), "D009270": ([3], ("D009270",)),
        "-1:99-105": ([4], ()),
    }
    assert doc.mentions[0].parts == ("Ocular toxicity", "auditory toxicity") and doc.mentions[2].parts == ()
    assert [(r.type, r.head, r.tail, r.novel, r.directed) for r in doc.relations][2] == (
        "CID", "D009270", "D007022", None, False)
    out = tmp_path / "out.pubtator"
    write_documents([doc], out, "pubtator")
    assert out.read_text() == CDR
    _round_trips([doc], tmp_path)


def test_ncbi_disease(tmp_path: Path) -> None:
    (doc,) = read_documents(_write(tmp_path, NCBI))
    assert doc.dialect == "ncbi"
    assert len(doc.mentions) == 5 and doc.relations == []
    assert list(_entities(doc)) == ["D003123", "MESH:D015179", "OMIM:158320", "D001943", "D010051", "D003110",
                                    "D016889"]
    assert _entities(doc)["D016889"] == ([4], ("D016889",))
    out = tmp_path / "out.pubtator"
    write_documents([doc], out, "pubtator")
    assert out.read_text() == NCBI
    _round_trips([doc], tmp_path)


def test_pubtator3(tmp_path: Path) -> None:
    first, empty = read_documents(_write(tmp_path, PUBTATOR3))
    assert first.dialect == empty.dialect == "pubtator3"
    assert (len(first.mentions), len(first.entities), len(first.relations)) == (9, 9, 0)
    assert (empty.mentions, empty.entities, empty.text) == ([], [], "An abstract with nothing annotated No entity here.")
    entities = _entities(first)
    assert entities[V600E] == ([1], tuple(V600E.split(";")))
    assert entities["5604;5605"] == ([7], ("5604", "5605"))
    assert entities["MESH:D008545"] == ([2], ("MESH:D008545",))
    assert [m.type for m in first.mentions][4:7] == ["CellLine", "DNAMutation", "SNP"]
    out = tmp_path / "out.pubtator"
    write_documents([first, empty], out, "pubtator")
    assert out.read_text() == PUBTATOR3
    _round_trips([first, empty], tmp_path)


PUBTATOR3_JSON = {
    "source": "PubTator", "date": "2024-01-01", "key": "BioC.key", "infons": {},
    "documents": [{
        "id": "36000001", "infons": {}, "relations": [], "annotations": [],
        "passages": [
            {"infons": {"type": "title", "section_type": "TITLE"}, "offset": 0, "text": "BRAF V600E in melanoma",
             "sentences": [], "relations": [], "annotations": [
                {"id": "1", "text": "BRAF", "locations": [{"offset": 0, "length": 4}],
                 "infons": {"identifier": "673", "type": "Gene", "valid": True, "normalized": [673]}},
                {"id": "2", "text": "V600E", "locations": [{"offset": 5, "length": 5}],
                 "infons": {"identifier": V600E, "type": "ProteinMutation", "valid": True}},
                {"id": "3", "text": "melanoma", "locations": [{"offset": 14, "length": 8}],
                 "infons": {"identifier": "MESH:D008545", "type": "Disease", "database": "ncbi_mesh"}}]},
            {"infons": {"type": "abstract"}, "offset": 23, "text": "No more.", "sentences": [], "relations": [],
             "annotations": []}]}],
}


def test_pubtator3_bioc_json(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(PUBTATOR3_JSON))
    (doc,) = read_documents(path)
    assert doc.dialect == "pubtator3" and doc.text == "BRAF V600E in melanoma No more."
    assert list(_entities(doc)) == ["673", V600E, "MESH:D008545"]
    assert _entities(doc)[V600E] == ([1], tuple(V600E.split(";")))
    _round_trips([doc], tmp_path)


BIORED_XML = """<?xml version='1.0' encoding='utf-8' standalone='yes'?>
<collection><source>PubTator</source><date>2022-06-01</date><key>BioC.key</key>
<document><id>1</id>
<passage><infon key="type">title</infon><offset>0</offset><text>Hepatocyte factor</text></passage>
<passage><infon key="type">abstract</infon><offset>18</offset><text>HNF-6 binds insulin and ABC genes.</text>
<annotation id="0"><infon key="identifier">3175</infon><infon key="type">GeneOrGeneProduct</infon>
<location offset="18" length="5"/><text>HNF-6</text></annotation>
<annotation id="1"><infon key="identifier">D007328</infon><infon key="type">ChemicalEntity</infon>
<location offset="30" length="7"/><text>insulin</text></annotation>
<annotation id="2"><infon key="identifier">3172,3651</infon><infon key="type">GeneOrGeneProduct</infon>
<location offset="42" length="9"/><text>ABC genes</text></annotation>
</passage>
<relation id="R0"><infon key="entity1">3175</infon><infon key="entity2">D007328</infon>
<infon key="novel">Novel</infon><infon key="type">Bind</infon></relation>
<relation id="R1"><infon key="entity1">3651</infon><infon key="entity2">D007328</infon>
<infon key="novel">No</infon><infon key="type">Association</infon></relation>
</document></collection>
"""


def test_biored_bioc_xml_and_json_release_layout(tmp_path: Path) -> None:
    path = _write(tmp_path, BIORED_XML, "BioRED.xml")
    (doc,) = read_documents(path)
    assert doc.dialect == "biored" and doc.title == "Hepatocyte factor"
    assert list(_entities(doc)) == ["3175", "D007328", "3172", "3651"]
    assert [(r.head, r.tail, r.novel) for r in doc.relations] == [("3175", "D007328", True), ("3651", "D007328", False)]
    as_json = tmp_path / "BioRED.json"
    write_documents([doc], as_json, "bioc-json")
    (from_json,) = read_documents(as_json)
    assert view(from_json) == view(doc)
    _round_trips([doc], tmp_path)


def test_concept_key_matches_prefixed_and_bare_mesh() -> None:
    assert concept_key("MESH:D006973") == concept_key("mesh:D006973") == concept_key("D006973") == "D006973"
    assert concept_key("OMIM:158320") == "OMIM:158320" and concept_key("673") == "673"


AMBIGUOUS = (
    "5|t|Hyper- or hypotension\n5|a|in rats.\n"
    "5\t0\t21\tHyper- or hypotension\tDisease\tD006973|D007022\n\n"
)


def test_ambiguous_file_names_the_line_and_the_option(tmp_path: Path) -> None:
    path = _write(tmp_path, AMBIGUOUS)
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert_located(info.value, path, "5", line=3, reason="ID 'D006973|D007022' reads as 1 concept(s)")
    assert "--dialect biored or --dialect cdr" in info.value.reason
    (doc,) = read_documents(path, dialect="cdr")
    assert list(_entities(doc)) == ["D006973", "D007022"]
    (doc,) = read_documents(path, dialect="biored")  # a named dialect wins: '|' is then part of one ID
    assert list(_entities(doc)) == ["D006973|D007022"]
    assert [e.line for e in validate_file(path)] == [3] and validate_file(path, dialect="cdr") == []


BAD = {
    "clues of two dialects": (CDR.replace("\tCID\tD009270\tD007022\n", "\tCID\tD009270\tD007022\tNovel\n"), 10,
                              "a Novel/No flag (BioRED) contradicts '-1'"),
    "seventh column against its IDs": (CDR.replace("Ocular toxicity|auditory toxicity", "Ocular toxicity"), 3,
                                       "the seventh column names 1 part(s) but the ID column 'D014786|D006311' 2"),
    "seventh column in a BioRED file": (
        "1|t|Hepatocyte factor\n1|a|HNF-6 binds insulin.\n1\t18\t23\tHNF-6\tGene\t3175\tHNF-6\n"
        "1\t30\t37\tinsulin\tChemical\tD007328\n1\tBind\t3175\tD007328\tNovel\n\n", 3,
        "7 tab-separated columns; expected 6 or 5 (mention) or 5 or 4 (relation) in the biored dialect; a seventh "
        "column (composite parts) is CDR's: --dialect cdr"),
    "relation naming an unlinked -1": (CDR.replace("CID\tD009270\tD007022", "CID\t-1\tD007022"), 10,
                                       "names entity '-1', which has no mention"),
    "empty composite part": (NCBI.replace("D001943|D010051", "D001943|"), 6, "has an empty component"),
}


@pytest.mark.parametrize("case", BAD)
def test_dialect_errors_are_located(case: str, tmp_path: Path) -> None:
    content, line, reason = BAD[case]
    path = _write(tmp_path, content)
    with pytest.raises(FormatError) as info:
        read_documents(path)
    assert_located(info.value, path, content.split("|", 1)[0], line=line, reason=reason)


def test_unknown_dialect_is_named(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="unknown ID dialect 'bc5'; one of biored, cdr, ncbi, pubtator3"):
        read_documents(_write(tmp_path, CDR), dialect="bc5")


def test_bioc_ambiguity_and_bad_evidence_are_located(tmp_path: Path) -> None:
    ambiguous = json.loads(json.dumps(PUBTATOR3_JSON))
    annotations = ambiguous["documents"][0]["passages"][0]["annotations"]
    annotations[1]["infons"]["identifier"] = "673"  # no PubTator3 clue left
    annotations[2]["infons"]["identifier"] = "D006973|D007022"
    path = tmp_path / "ambiguous.json"
    path.write_text(json.dumps(ambiguous))
    (error,) = validate_file(path)
    assert_located(error, path, "36000001", location="documents[0].passages[0].annotations[2]",
                   reason="ID 'D006973|D007022' reads as 1 concept(s)")
    with_evidence = json.loads(json.dumps(PUBTATOR3_JSON))
    with_evidence["documents"][0]["relations"] = [
        {"id": "R0", "infons": {"type": "Assoc", "entity1": "673", "entity2": "MESH:D008545", "evidence": "[3]"},
         "nodes": []}]
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(with_evidence))
    (error,) = validate_file(path)
    assert_located(error, path, "36000001", location="documents[0].relations[0]",
                   reason="evidence infon '[3]' is not a list of sentence indices")


def test_pubtator3_biocjson_export_list(tmp_path: Path) -> None:
    """PubTator3's biocjson export: ``{"PubTator3": [...]}``, numeric ids, relations by ``role1``/``role2``
    identifiers (no ``nodes``), a ``Variant`` by its ``subtype`` and a null identifier."""
    doc = json.loads(json.dumps(PUBTATOR3_JSON["documents"][0]))
    doc.pop("id")
    doc["pmid"] = 36000001
    title = doc["passages"][0]
    title["annotations"][1]["infons"].update(type="Variant", subtype="ProteinMutation")
    title["annotations"].append({"id": "4", "text": "BRAF", "locations": [{"offset": 0, "length": 4}],
                                 "infons": {"identifier": None, "type": "Gene"}})
    doc["relations"] = [{"id": "R1", "infons": {
        "score": "0.99", "type": "Association", "role1": {"identifier": V600E, "type": "Variant"},
        "role2": {"identifier": "MESH:D008545", "type": "Disease"}}}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"PubTator3": [doc]}))
    (read,) = read_documents(path)
    assert read.id == "36000001" and read.dialect == "pubtator3"
    assert [m.type for m in read.mentions] == ["Gene", "ProteinMutation", "Disease", "Gene"]
    assert list(_entities(read)) == ["673", V600E, "MESH:D008545", ":0-4"]
    assert [(r.type, r.head, r.tail) for r in read.relations] == [("Association", V600E, "MESH:D008545")]
    _round_trips([read], tmp_path)
