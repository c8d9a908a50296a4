"""What ccre does with bad input: one crafted file per kind of problem (applied to several real BioRED /
Re-DocRED documents, some first rewritten in another ID dialect: CDR, PubTator3), plus seeded random
corruptions of valid files. Writes benchmarks/bad_inputs.md.

Usage: python benchmarks/bad_inputs.py [--data-dir DIR] [--corruptions N]

Every outcome must be either a valid parse or a located FormatError; any other exception is counted
in its own column (and should stay 0), and so is a failed ``ccre data convert`` that leaves a target file.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from ccre.data.datasets import resolve_data_dir
from ccre.errors import FormatError
from ccre.data.formats import convert, read_documents, validate_file
from ccre.utils.runtime import git_commit, machine_description, now_iso


def pubtator_blocks(path: Path, n: int) -> list[list[str]]:
    """The first ``n`` documents of a PubTator file, as lists of lines."""
    blocks, current = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
            if len(blocks) == n:
                break
        else:
            current.append(line)
    return blocks[:n]


def _mention_rows(block: list[str]) -> list[int]:
    return [i for i, line in enumerate(block) if line.count("\t") == 5]


def _edit_mention(block: list[str], edit: Callable[[list[str]], list[str]]) -> list[str]:
    i = _mention_rows(block)[0]
    out = list(block)
    out[i] = "\t".join(edit(block[i].split("\t")))
    return out


PUBTATOR_KINDS: dict[str, Callable[[list[str]], list[str]]] = {
    "mention offsets outside the text": lambda b: _edit_mention(b, lambda c: [c[0], "99990", "99995", *c[3:]]),
    "mention text does not match the span": lambda b: _edit_mention(b, lambda c: [*c[:3], c[3] + "x", *c[4:]]),
    "start not before end": lambda b: _edit_mention(b, lambda c: [c[0], c[2], c[1], *c[3:]]),
    "non-integer offset": lambda b: _edit_mention(b, lambda c: [c[0], "12a", *c[2:]]),
    "wrong number of columns": lambda b: _edit_mention(b, lambda c: c[:5] + ["x", "y"]),
    "annotation line before the title line": lambda b: [b[_mention_rows(b)[0]], *b],
    "annotation for another document": lambda b: _edit_mention(b, lambda c: ["999999999", *c[1:]]),
    "relation naming an entity with no mention": lambda b: [*b, f"{b[0].split('|')[0]}\tAssociation\tNOPE:1\tNOPE:2\tNo"],
    "empty document (no text)": lambda b: [b[0].split("|")[0] + "|t|", b[0].split("|")[0] + "|a|"],
    "overlapping and nested mentions (valid)": lambda b: [*b, _nested(b)],
}


def _nested(block: list[str]) -> str:
    c = block[_mention_rows(block)[0]].split("\t")
    start, end = int(c[1]), int(c[2])
    return "\t".join([c[0], str(start), str(max(start + 1, end - 1)), c[3][: max(1, end - 1 - start)], c[4], c[5]])


def as_cdr(block: list[str]) -> list[str]:
    """A BioRED block in BioCreative V CDR's dialect: its chemical and disease mentions only, composite IDs
    joined by '|', and its relations between them as 4-column CID lines."""
    out, kept = [], set()
    for line in block:
        cols = line.split("\t")
        if len(cols) == 1:
            out.append(line)
        elif len(cols) == 6 and cols[4] in ("ChemicalEntity", "DiseaseOrPhenotypicFeature"):
            out.append("\t".join([*cols[:5], cols[5].replace(",", "|")]))
            kept.update(cols[5].split(","))
        elif len(cols) == 5 and cols[2] in kept and cols[3] in kept:
            out.append("\t".join([cols[0], "CID", cols[2], cols[3]]))
    return out


def as_pubtator3(block: list[str]) -> list[str]:
    """A BioRED block as PubTator3 exports it: MeSH IDs prefixed ``MESH:``, no relation lines."""
    return [re.sub(r"(?<=\t)([CD][0-9]{6,})(?=[\t,]|$)", r"MESH:\1", line) for line in block
            if line.count("\t") != 4]


def _first_mention_id(block: list[str], column: Callable[[str], str], *extra: str) -> list[str]:
    return _edit_mention(block, lambda c: [*c[:5], column(c[5]), *extra])


DIALECT_KINDS: dict[str, Callable[[list[str]], list[str]]] = {
    "CDR: seventh column does not match the composite": lambda b: _first_mention_id(as_cdr(b), lambda i: i, "a|b|c"),
    "CDR: CID relations and a Novel flag (two dialects)": lambda b: [
        *as_cdr(b), "\t".join([_pmid(b), "CID", *_ids(as_cdr(b))[:2], "Novel"])],
    "CDR: relation naming a -1 mention": lambda b: [
        *as_cdr(b), "\t".join([*as_cdr(b)[_mention_rows(as_cdr(b))[0]].split("\t")[:5], "-1"]),
        f"{_pmid(b)}\tCID\t-1\t{_ids(as_cdr(b))[0]}"],
    "CDR: composite ID with an empty part": lambda b: _first_mention_id(as_cdr(b), lambda i: i + "|"),
    "PubTator3: ';' alternatives with an empty part": lambda b: _first_mention_id(
        as_pubtator3(b), lambda i: f"tmVar:c|SUB|C|1|T;{i};"),
    "PubTator3: seventh column outside CDR": lambda b: _first_mention_id(as_pubtator3(b), lambda i: i, "x"),
    "ambiguous '|' between concept IDs, no clue": lambda b: [
        *b[:2], *(f"{_pmid(b)}\t{c[1]}\t{c[2]}\t{c[3]}\t{c[4]}\tD006973|D007022"
                  for c in [b[_mention_rows(b)[0]].split("\t")])],
}


def _pmid(block: list[str]) -> str:
    return block[0].split("|")[0]


def _ids(block: list[str]) -> list[str]:
    return [block[i].split("\t")[5].split(",")[0] for i in _mention_rows(block)]


FILE_KINDS: dict[str, Callable[[str], bytes]] = {
    "duplicate document id": lambda text: (text + "\n" + text).encode(),
    "invalid UTF-8": lambda text: text.encode()[:50] + b"\xff\xfe" + text.encode()[50:],
    "UTF-8 BOM (accepted)": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "CRLF line ends (accepted)": lambda text: text.replace("\n", "\r\n").encode(),
}


def docred_kinds(doc: dict) -> dict[str, list[dict]]:
    def changed(edit: Callable[[dict], None]) -> list[dict]:
        d = json.loads(json.dumps(doc))
        edit(d)
        return [d]

    def outside(d: dict) -> None:
        m = d["vertexSet"][0][0]
        m["pos"] = [0, len(d["sents"][m["sent_id"]]) + 5]

    return {
        "DocRED: entity with no mentions": changed(lambda d: d["vertexSet"].append([])),
        "DocRED: position outside its sentence": changed(outside),
        "DocRED: sent_id out of range": changed(lambda d: d["vertexSet"][0][0].update(sent_id=999)),
        "DocRED: label names a missing entity": changed(lambda d: d["labels"].append({"r": "P17", "h": 0, "t": 999, "evidence": []})),
        "DocRED: duplicate title": [doc, doc],
    }


def outcome(path: Path) -> tuple[str, str]:
    """('ok' | 'FormatError' | exception type, first message) of reading ``path`` strictly; a failed
    conversion of it (``ccre data convert``) that leaves its target behind is counted as 'half-written'."""
    target = path.with_name(path.name + ".converted.xml")
    try:
        read_documents(path)
        problems = validate_file(path)
        return ("ok", "") if not problems else ("FormatError", str(problems[0]))
    except FormatError as exc:
        try:
            convert(path, target, target_fmt="bioc-xml")
        except FormatError:
            pass
        return ("half-written" if target.exists() else "FormatError"), str(exc)
    except Exception as exc:  # noqa: BLE001 - counted: every other exception is a defect
        return type(exc).__name__, str(exc)


def corrupt(data: bytes, rng: random.Random) -> bytes:
    kind = rng.choice(["flip", "truncate", "drop-line", "dup-line", "swap-tab"])
    if kind == "flip":
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    if kind == "truncate":
        return data[: rng.randrange(len(data))]
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    if kind == "drop-line":
        return b"\n".join(lines[:i] + lines[i + 1 :])
    if kind == "dup-line":
        return b"\n".join(lines[: i + 1] + lines[i:])
    return b"\n".join(lines[:i] + [lines[i].replace(b"\t", b" ", 1)] + lines[i + 1 :])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--docs", type=int, default=5, help="real documents each crafted kind is applied to")
    parser.add_argument("--corruptions", type=int, default=200, help="random corruptions per format")
    parser.add_argument("--out", default="benchmarks/bad_inputs.md")
    args = parser.parse_args()
    data = resolve_data_dir(args.data_dir)
    blocks = pubtator_blocks(data / "biored/Test.PubTator", args.docs)
    redocred = json.loads((data / "redocred/test_revised.json").read_text(encoding="utf-8"))[: args.docs]
    rows: list[tuple[str, int, collections.Counter, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)

        def tally(kind: str, payloads: list[tuple[str, bytes]]) -> None:
            counts: collections.Counter = collections.Counter()
            example = ""
            for name, payload in payloads:
                path = tmp_dir / name
                path.write_bytes(payload)
                result, message = outcome(path)
                counts[result] += 1
                example = example or message
            rows.append((kind, len(payloads), counts, example))

        for kind, make in {**PUBTATOR_KINDS, **DIALECT_KINDS}.items():
            tally(kind, [(f"k{i}.pubtator", ("\n".join(make(b)) + "\n").encode()) for i, b in enumerate(blocks)])
        for kind, make in FILE_KINDS.items():
            tally(kind, [(f"f{i}.pubtator", make("\n".join(b) + "\n")) for i, b in enumerate(blocks)])
        docred_payloads: dict[str, list[tuple[str, bytes]]] = collections.defaultdict(list)
        for i, doc in enumerate(redocred):
            for kind, docs in docred_kinds(doc).items():
                docred_payloads[kind].append((f"d{i}.json", json.dumps(docs).encode()))
        for kind, payloads in docred_payloads.items():
            tally(kind, payloads)
        rng = random.Random(0)
        valid_pubtator = ("\n\n".join("\n".join(b) for b in blocks) + "\n").encode()
        valid_docred = json.dumps(redocred).encode()
        valid_cdr = ("\n\n".join("\n".join(as_cdr(b)) for b in blocks) + "\n").encode()
        for name, valid, suffix in (("PubTator", valid_pubtator, "pubtator"), ("CDR PubTator", valid_cdr, "pubtator"),
                                    ("DocRED JSON", valid_docred, "json")):
            tally(f"random corruption of valid {name}",
                  [(f"c{i}.{suffix}", corrupt(valid, rng)) for i in range(args.corruptions)])
    lines = [
        "# What ccre does with bad input",
        "",
        f"Produced by `python benchmarks/bad_inputs.py` at commit {git_commit()[:12]} on {now_iso()[:10]}, "
        f"{machine_description()}. Each crafted kind is applied to {args.docs} real documents (BioRED test or "
        "Re-DocRED test; the CDR and PubTator3 kinds first rewrite them in that dialect); 'ok' means the file "
        "parsed (expected for the kinds marked valid or accepted); 'other' counts any other exception and any "
        "failed `ccre data convert` that left its target file behind.",
        "",
        "| input | files | ok | FormatError | other exception | example message |",
        "|---|---|---|---|---|---|",
    ]
    for kind, n, counts, example in rows:
        other = sum(v for k, v in counts.items() if k not in ("ok", "FormatError"))
        message = example.replace(str(tmp_dir) + "/", "").replace("|", "\\|")[:160]
        lines.append(f"| {kind} | {n} | {counts['ok']} | {counts['FormatError']} | {other} | {message} |")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
