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


def paperbot_subprocess(cwd: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None):  # noqa: A002, ANN201
    """Run ``paperbot`` as users do (a subprocess) with a clean environment."""
    import os
    import subprocess
    import sys

    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        env={**base, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        timeout=600,
    )


@pytest.fixture(scope="session")
def shared_first_ingest(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """Both shared digests ingested once, through ``paperbot ingest --json`` with the
    real offline model, into a fresh data dir: (data dir, the JSON report)."""
    import json

    home = tmp_path_factory.mktemp("shared-index")
    data_dir = home / "data"
    result = paperbot_subprocess(home, "ingest", str(WEEKLY_DIGEST), str(TABLE_DIGEST), "--json", "--data-dir", str(data_dir))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["papers"] == 150, report
    return data_dir, report


@pytest.fixture(scope="session")
def shared_data_dir(shared_first_ingest: tuple[Path, dict]) -> Path:
    return shared_first_ingest[0]


@pytest.fixture(scope="session")
def shared_engine(shared_data_dir: Path):  # noqa: ANN201 - Engine, imported lazily
    from config import Settings
    from index.engine import Engine

    return Engine(Settings.from_env(environ={}, dotenv_path=None, data_dir=shared_data_dir))


@pytest.fixture
def run_cli(tmp_path: Path):  # noqa: ANN201
    """``paperbot ARGS...`` in a subprocess; fails the test on a non-zero exit unless ``check=False``."""

    def run(*args: str, env: dict[str, str] | None = None, input: str | None = None, check: bool = True):  # noqa: A002
        result = paperbot_subprocess(tmp_path, *args, env=env, input=input)
        if check and result.returncode != 0:
            raise AssertionError(f"paperbot {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result

    return run
