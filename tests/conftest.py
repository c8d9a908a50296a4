"""Session hooks: where the tests look for the real data, and how many could not run without it.

A test that needs the shared real data gets its files through ``formats_helpers.data_file``: without the data
it is skipped, or, under ``CI=true``, fails. The summary says how many were skipped, so that a local run never
passes quietly with half the suite left out.
"""

from __future__ import annotations

import pytest
from formats_helpers import MISSING_DATA, data_root, on_ci


def pytest_report_header(config: pytest.Config) -> str:
    root = data_root()
    if root.is_dir():
        return f"real data: {root}"
    return f"real data: {root} is missing; the tests that need it {'fail (CI=true)' if on_ci() else 'are skipped'}"


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:  # noqa: ANN001
    skipped = [r for r in terminalreporter.stats.get("skipped", []) if MISSING_DATA in str(r.longrepr)]
    if skipped:
        terminalreporter.write_line(
            f"{len(skipped)} test(s) skipped for want of the real data in {data_root()}: set $CCRE_DATA_DIR to "
            "the data directory or provide ../shared/data (under CI=true these tests fail)", yellow=True, bold=True)
