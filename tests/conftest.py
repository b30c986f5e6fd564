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


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with both shared digests ingested once, with the real offline model."""
    from config import Settings
    from index.engine import Engine

    data_dir = tmp_path_factory.mktemp("shared-index")
    engine = Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=data_dir))
    report = engine.ingest([str(WEEKLY_DIGEST), str(TABLE_DIGEST)])
    assert report.papers == 150, report.to_json()
    return data_dir


@pytest.fixture(scope="session")
def shared_engine(shared_data_dir: Path):  # noqa: ANN201 - Engine, imported lazily
    from config import Settings
    from index.engine import Engine

    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=shared_data_dir))


@pytest.fixture
def run_cli(tmp_path: Path):  # noqa: ANN201
    """Run ``paperbot`` as users do (a subprocess), with a clean environment."""
    import os
    import subprocess
    import sys

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None, check: bool = True):  # noqa: A002
        base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "NO_COLOR": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", *args],
            env={**base, **(env or {})},
            cwd=tmp_path,
            capture_output=True,
            text=True,
            input=input,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"paperbot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run
