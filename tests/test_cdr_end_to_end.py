"""A synthetic BioCreative V CDR-style corpus (composite mentions with and without the seventh column, '-1' IDs,
4-column CID relations) trained on and evaluated through ``ccre train --train ... --test ...``, no data-set name:
its own relation and entity types, its dialect read from the files."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from typer.testing import CliRunner

from ccre.cli import app
from ccre.data.formats import read_documents

CHEMICALS = [("lithium", "D008094"), ("cocaine", "D003042"), ("cisplatin", "D002945"), ("haloperidol", "D006220"),
             ("heparin", "D006493"), ("nicotine", "D009538")]
DISEASES = [("seizures", "D012640"), ("nephrotoxicity", "D007674"), ("bradycardia", "D001919"),
            ("hepatitis", "D056486"), ("psychosis", "D011605")]
COMPOSITE = ("hyper- or hypotension", "D006973|D007022", "hypertension|hypotension")


def synthetic_cdr(n: int, seed: int, first_pmid: int) -> tuple[str, tuple[int, int, int]]:
    """``n`` CDR-style documents and their (mentions, relations, seventh columns): in each, one chemical
    causes a disease and the composite hyper- or hypotension (CID to both parts); another chemical, given to
    controls, causes nothing; 'saline' is unlinked (-1). Every other document writes the composite's
    seventh column."""
    rng = random.Random(seed)
    blocks, mentions, relations, sevenths = [], 0, 0, 0
    for k in range(n):
        pmid = str(first_pmid + k)
        (cause, cause_id), (control, control_id) = rng.sample(CHEMICALS, 2)
        disease, disease_id = rng.choice(DISEASES)
        title = f"{cause.capitalize()} induced {disease} in rats"
        abstract = (f"Treatment with {cause} caused {COMPOSITE[0]} within days. "
                    f"{control.capitalize()} was given to controls with saline and changed nothing.")
        text = title + " " + abstract
        spans = [(cause.capitalize(), "Chemical", cause_id, ""), (disease, "Disease", disease_id, ""),
                 (cause, "Chemical", cause_id, ""), (COMPOSITE[0], "Disease", COMPOSITE[1], COMPOSITE[2] if k % 2 else ""),
                 (control.capitalize(), "Chemical", control_id, ""), ("saline", "Chemical", "-1", "")]
        lines = [f"{pmid}|t|{title}", f"{pmid}|a|{abstract}"]
        at = 0
        for surface, kind, ids, parts in spans:
            start = text.index(surface, at)
            at = start + len(surface)
            lines.append("\t".join([pmid, str(start), str(at), surface, kind, ids, *([parts] if parts else [])]))
            sevenths += bool(parts)
        mentions += len(spans)
        lines += [f"{pmid}\tCID\t{cause_id}\t{d}" for d in (disease_id, *COMPOSITE[1].split("|"))]
        relations += 3
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks) + "\n", (mentions, relations, sevenths)


def test_synthetic_cdr_trains_and_evaluates(tmp_path: Path) -> None:
    train_text, train_counts = synthetic_cdr(16, seed=1, first_pmid=100)
    test_text, test_counts = synthetic_cdr(8, seed=2, first_pmid=900)
    assert train_counts == (96, 48, 8) and test_counts == (48, 24, 4)
    train, test = tmp_path / "cdr_train.pubtator", tmp_path / "cdr_test.pubtator"
    train.write_text(train_text)
    test.write_text(test_text)
    docs = read_documents(train)
    assert {d.dialect for d in docs} == {"cdr"}
    assert sum(len(d.entities) for d in docs) == 16 * 6  # cause, disease, two composite parts, control, saline
    r = CliRunner().invoke(app, [
        "train", "--train", str(train), "--test", str(test), "--train-docs", "16", "--epochs", "10", "--lr", "1e-4",
        "--batch-size", "4", "--set", "encoder.max_length=128", "--set", "encoder.window_overlap=32",
        "--no-progress", "--json", "--device", "cpu", "--results", str(tmp_path / "r.jsonl"),
        "--output", str(tmp_path / "model"),
    ])
    assert r.exit_code == 0, r.output
    metrics = json.loads(r.stdout[r.stdout.index("{"):])
    record = json.loads((tmp_path / "r.jsonl").read_text().splitlines()[-1])
    assert record["dataset"] == str(train) and record["train_docs"] == 16
    print("synthetic CDR pair+type F1", round(100 * metrics["type"]["f1"], 2),
          "prior", round(100 * record["prior_metrics"]["type"]["f1"], 2))
    assert metrics["type"]["tp"] + metrics["type"]["fn"] == 24  # every gold CID of the test file was scored
    # the no-text prior relates every chemical to every disease (P 1/3); only the text tells the cause apart
    assert record["prior_metrics"]["type"]["p"] == 1 / 3 and record["prior_metrics"]["type"]["r"] == 1.0
    assert metrics["type"]["f1"] > record["prior_metrics"]["type"]["f1"]
    # the same test documents with MESH:-prefixed IDs: predicted with the model trained on bare ones, written
    # with the prefixed IDs, scored against the bare gold exactly as in the run
    prefixed = tmp_path / "cdr_test_prefixed.pubtator"
    prefixed.write_text(re.sub(r"\bD([0-9]{6})\b", r"MESH:D\1", test_text))
    pred = tmp_path / "pred.pubtator"
    r = CliRunner().invoke(app, ["predict", "--model", str(tmp_path / "model"), "-i", str(prefixed), "-o", str(pred),
                                 "--dialect", "cdr", "--no-progress", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert "no candidate pair shares the ID style" not in r.output
    predicted = [line.split("\t") for line in pred.read_text().splitlines() if "\tCID\t" in line]
    assert predicted and all(line[2].startswith("MESH:D") and line[3].startswith("MESH:D") for line in predicted)
    r = CliRunner().invoke(app, ["evaluate", "--gold", str(test), "--pred", str(pred), "--dialect", "cdr", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout[r.stdout.index("{"):]) == metrics
    # in another ID space (MeSH IDs rewritten as OMIM ones) prediction warns
    other = tmp_path / "cdr_test_omim.pubtator"
    other.write_text(re.sub(r"\bD([0-9]{6})\b", r"OMIM:\1", test_text))
    r = CliRunner().invoke(app, ["predict", "--model", str(tmp_path / "model"), "-i", str(other), "-o",
                                 str(tmp_path / "omim.pubtator"), "--dialect", "cdr", "--no-progress", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert f"warning: {other}: no candidate pair shares the ID style of the training relations (bare-bare)" in (
        " ".join(r.output.split()))


def test_bench_takes_a_pair_of_files_as_a_data_set(tmp_path: Path) -> None:
    train, test = tmp_path / "cdr_train.pubtator", tmp_path / "cdr_test.pubtator"
    train.write_text(synthetic_cdr(16, seed=1, first_pmid=100)[0])
    test.write_text(synthetic_cdr(8, seed=2, first_pmid=900)[0])
    pair, results = f"{train},{test}", tmp_path / "grid.jsonl"
    r = CliRunner().invoke(app, ["bench", "--dataset", pair, "--sizes", "4,16", "--methods", "prior", "--seeds", "1",
                                 "--results", str(results), "--work-dir", str(tmp_path / "work")])
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [(x["dataset"], x["train_docs"], x["method"]) for x in lines] == [(pair, 4, "prior"), (pair, 16, "prior")]
    assert all(x["metrics"]["type"]["tp"] + x["metrics"]["type"]["fn"] == 24 for x in lines)
    report = CliRunner().invoke(app, ["bench", "report", str(results), "--out", str(tmp_path / "report")])
    assert report.exit_code == 0, report.output
    assert pair in (tmp_path / "report" / "table.md").read_text()
    assert (tmp_path / "report" / "f1_vs_size_cdr_train+cdr_test.png").is_file()
    bad = CliRunner().invoke(app, ["bench", "--dataset", "cdr_train.pubtator", "--sizes", "4", "--methods", "prior"])
    assert bad.exit_code == 1 and "data set 'cdr_train.pubtator': one of biored, redocred" in bad.output
    assert "or files TRAIN,TEST[,DEV]" in bad.output


def test_train_on_an_ambiguous_file_needs_and_takes_the_dialect(tmp_path: Path) -> None:
    # without '-1', the seventh column and the CID type, nothing tells '|' composites (CDR) from one ID
    text = synthetic_cdr(6, seed=3, first_pmid=500)[0].replace("\t-1\n", "\t-\n").replace("\tCID\t", "\tCauses\t")
    lines = [line.rsplit("\t", 1)[0] if line.count("\t") == 6 else line for line in text.split("\n")]
    path = tmp_path / "plain.pubtator"
    path.write_text("\n".join(lines))
    command = ["train", "--objective", "prior", "--train", str(path), "--test", str(path), "--train-docs", "6",
               "--json"]
    r = CliRunner().invoke(app, command)
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert f"{path}:" in r.output and "ID 'D006973|D007022'" in r.output and "--dialect cdr" in r.output
    r = CliRunner().invoke(app, [*command, "--dialect", "cdr"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout[r.stdout.index("{"):])["type"]["tp"] == 18  # 3 Causes per document, all found
