"""Output for pipes: what ccre writes to a file or a pipe (``ccre data validate BAD.json > log``) keeps each
message, table row and log record on one line, however long a document's title or a path is, so that the log
can be searched; on a terminal rich still wraps to its width."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ccre.cli import app

TITLE = "A title longer than any terminal: " + "how chemicals relate to the diseases they treat or cause, " * 3
FOLDER = "a_folder_with_a_rather_long_name_" * 3


def _bad_docred(path: Path) -> Path:
    """A DocRED file whose one document (titled :data:`TITLE`) has a mention outside its sentence."""
    path.parent.mkdir(parents=True, exist_ok=True)
    vertices = [[{"name": "Aspirin", "pos": [0, 1], "sent_id": 0, "type": "CHEM"}],
                [{"name": "pain", "pos": [2, 9], "sent_id": 0, "type": "DIS"}]]
    doc = {"title": TITLE, "sents": [["Aspirin", "treats", "pain", "."]], "vertexSet": vertices, "labels": []}
    path.write_text(json.dumps([doc]))
    return path


def test_validation_messages_stay_on_one_line(tmp_path: Path) -> None:
    bad = _bad_docred(tmp_path / FOLDER / "bad.json")
    r = CliRunner().invoke(app, ["data", "validate", str(bad)])
    assert r.exit_code == 1, r.output
    (line,) = [line for line in r.stdout.splitlines() if "lies outside" in line]
    assert str(bad) in line and TITLE.strip() in line


def test_an_error_stays_on_one_line(tmp_path: Path) -> None:
    missing = tmp_path / FOLDER / FOLDER / "results.jsonl"
    r = CliRunner().invoke(app, ["bench", "report", str(missing)])
    assert r.exit_code == 1
    assert f"error: no such results file: {missing}" in r.stderr.splitlines()


def test_a_table_keeps_one_line_a_row(capsys: pytest.CaptureFixture[str]) -> None:
    from ccre.cli.app import _metrics_table, out

    title = f"probe-knn on {Path('/models') / FOLDER / FOLDER}"
    out.print(_metrics_table({"p": 0.5, "r": 0.25, "f1": 0.3333, "ign_f1": 0.3}, title))
    lines = capsys.readouterr().out.splitlines()
    assert any(line.strip() == title for line in lines)
    (row,) = [line for line in lines if "50.00" in line]
    assert "25.00" in row and "33.33" in row and "30.00" in row


def test_a_log_record_is_one_plain_line() -> None:
    from ccre.cli.app import _Console, _LogHandler

    console = _Console(file=io.StringIO())
    handler = _LogHandler(console=console, show_path=False)
    handler.setFormatter(logging.Formatter("%(message)s", datefmt="[%X]"))
    logger = logging.getLogger("ccre.test_hygiene_output")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("reading %s: %s", TITLE, FOLDER)
    finally:
        logger.removeHandler(handler)
    (line,) = console.file.getvalue().splitlines()
    assert line.endswith(f"WARNING  reading {TITLE}: {FOLDER}")  # no padding to a width, no fold
