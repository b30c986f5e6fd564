"""Shared fixtures: paths to the project's read-only material and temp data dirs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
SHARED_DIGESTS = SHARED / "data" / "digests"
WEEKLY_DIGEST = SHARED_DIGESTS / "weekly-digest-2024-08-26_2024-10-06.md"
TABLE_DIGEST = SHARED_DIGESTS / "papers-table-2024-06-29_2024-07-31.md"
SHARED_EVAL = SHARED / "eval"


@pytest.fixture
def shared_digests() -> Path:
    return SHARED_DIGESTS
