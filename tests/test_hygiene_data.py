"""Tests say when they cannot run: a test that needs the real data and cannot find it is skipped on a
developer's machine, named in the session summary, and fails under ``CI=true``, so that a CI run cannot pass
with the real-data tests left out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from formats_helpers import data_file

TESTS = Path(__file__).parent
NEEDS_DATA = "tests/test_data.py::test_known_checksums_match_reference_list"


def _outcome(call) -> BaseException:  # noqa: ANN001
    """What ``call()`` raised: pytest's skip and fail are BaseExceptions."""
    with pytest.raises(BaseException) as info:
        call()
    return info.value


def test_missing_real_data_skips_a_local_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("CCRE_DATA_DIR", str(tmp_path))
    outcome = _outcome(lambda: data_file("biored/Train.PubTator"))
    assert isinstance(outcome, pytest.skip.Exception)
    assert str(tmp_path / "biored" / "Train.PubTator") in str(outcome)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_real_data_fails_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    monkeypatch.setenv("CCRE_DATA_DIR", str(tmp_path))
    outcome = _outcome(lambda: data_file("biored/Train.PubTator"))
    assert isinstance(outcome, pytest.fail.Exception)
    message = str(outcome)
    assert str(tmp_path / "biored" / "Train.PubTator") in message  # the missing path
    assert "$CCRE_DATA_DIR" in message and "../shared/data" in message  # how to provide it


def test_present_real_data_is_found_under_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("CCRE_DATA_DIR", str(tmp_path))
    (tmp_path / "SHA256SUMS").write_text("")
    assert data_file("SHA256SUMS") == tmp_path / "SHA256SUMS"


def _session(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A pytest session of one real-data test, with the data directory pointing at nothing."""
    environ = {k: v for k, v in os.environ.items() if k != "CI"}
    environ.update(CCRE_DATA_DIR=str(tmp_path / "absent"), **env)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", NEEDS_DATA],
                          cwd=TESTS.parent, env=environ, capture_output=True, text=True, timeout=300)


def test_a_session_without_the_data_says_so_and_fails_under_ci(tmp_path: Path) -> None:
    """Every test that needs the data goes through the rule (test_data.py's checksum test once skipped on a
    path of its own): under CI=true the session fails and names the missing file; without CI it skips the
    test and the summary says why and what to do."""
    missing = str(tmp_path / "absent" / "SHA256SUMS")
    ci = _session(tmp_path, CI="true")
    assert ci.returncode == 1, ci.stdout + ci.stderr
    assert "1 failed" in ci.stdout and missing in ci.stdout and "CCRE_DATA_DIR" in ci.stdout
    local = _session(tmp_path)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "1 skipped" in local.stdout
    assert f"1 test(s) skipped for want of the real data in {tmp_path / 'absent'}" in local.stdout
