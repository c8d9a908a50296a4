"""Provenance (the commit each result line records) and the process memory settings of streaming."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ccre.utils.runtime import git_commit


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _repo_with_results(tmp_path: Path, results: str) -> str:
    """A repository with a committed results file at ``results`` and one code file; its commit."""
    _git(tmp_path, "init", "-q")
    (tmp_path / results).parent.mkdir(parents=True)
    (tmp_path / results).write_text("{}\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    return _git(tmp_path, "rev-parse", "HEAD")


def test_result_lines_do_not_make_the_tree_dirty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCRE_GIT_COMMIT", raising=False)
    sha = _repo_with_results(tmp_path, "benchmarks/results/study.jsonl")
    results = tmp_path / "benchmarks" / "results"
    sub = tmp_path / "benchmarks"  # asked from a subdirectory, as the installed package does
    assert git_commit(sub, exclude=[results]) == sha
    (results / "study.jsonl").write_text("{}\n{}\n")  # a benchmark appended a line
    (tmp_path / "notes.txt").write_text("untracked\n")
    assert git_commit(sub, exclude=[results]) == sha
    (tmp_path / "code.py").write_text("x = 2\n")
    assert git_commit(sub, exclude=[results]) == sha + "+dirty"


def test_only_the_folders_a_writer_names_are_left_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No folder is known to the library: an appended results file makes the tree dirty unless its writer
    names its folder (any folder, relative to the working directory); a path outside the repository is
    ignored, and so is the repository's own top (which would hide every change)."""
    monkeypatch.delenv("CCRE_GIT_COMMIT", raising=False)
    sha = _repo_with_results(tmp_path, "runs/bench/mine.jsonl")
    (tmp_path / "runs" / "bench" / "mine.jsonl").write_text("{}\n{}\n")
    assert git_commit(tmp_path) == sha + "+dirty"
    monkeypatch.chdir(tmp_path / "runs")
    assert git_commit(tmp_path, exclude=["bench"]) == sha
    assert git_commit(tmp_path, exclude=[tmp_path.parent / "elsewhere", tmp_path]) == sha + "+dirty"


def test_outside_a_repository_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCRE_GIT_COMMIT", raising=False)
    assert git_commit(tmp_path) == "unknown"


def test_a_copied_tree_records_the_commit_its_sender_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCRE_GIT_COMMIT", "abc123")
    assert git_commit(tmp_path) == "abc123+copy"
    _git(tmp_path, "init", "-q")  # a stale .git in the copy does not win over the sender's word
    (tmp_path / "code.py").write_text("x = 1\n")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    assert git_commit(tmp_path) == "abc123+copy"
    monkeypatch.delenv("CCRE_GIT_COMMIT")
    assert git_commit(tmp_path) == _git(tmp_path, "rev-parse", "HEAD")


_FRAGMENT = """
import json, sys
from pathlib import Path

import pytest
from ccre.utils.runtime import map_large_buffers

def rss_mib():
    return int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 2**20

mapped = map_large_buffers(1 << 20) if sys.argv[1] == "mapped" else None
first = bytearray(2 << 20); del first  # by default glibc now raises its threshold to 2 MiB
start = rss_mib()
blocks, pins = [], []
for _ in range(30):  # 2 MiB buffers, each followed by a small allocation that stays
    blocks.append(bytearray(2 << 20))
    pins.append(bytearray(4096))
blocks.clear()
print(json.dumps({"mapped": mapped, "kept": rss_mib() - start}))
"""


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="needs Linux /proc")
def test_large_buffers_go_back_to_the_os() -> None:
    def run(mode: str) -> dict:
        done = subprocess.run([sys.executable, "-c", _FRAGMENT, mode], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    mapped = run("mapped")
    if not mapped["mapped"]:
        pytest.skip("the C library has no mallopt")
    assert mapped["kept"] < 8  # MiB: the freed 2 MiB buffers were unmapped
    assert run("heap")["kept"] > 40  # glibc's default: they stay resident between the pinned blocks
