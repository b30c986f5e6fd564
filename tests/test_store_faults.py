"""When the data dir cannot be used, ``paperbot`` says so in one line and exits 3.

Covers a data dir that is not a directory, a read-only file system and a full
disk (the last two on a small tmpfs, which needs root, as CI has).  Nothing
already indexed is lost: after space is freed the same ingest completes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "samples"
EXIT_UNAVAILABLE = 3


def assert_one_clear_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == EXIT_UNAVAILABLE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_data_dir_that_is_a_file(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    not_a_dir = tmp_path / "data"
    not_a_dir.write_text("oops")
    result = run_cli("ingest", str(SAMPLE), "--data-dir", str(not_a_dir), check=False)
    assert_one_clear_line(result, "index unavailable", str(not_a_dir))


def test_full_disk_is_named_and_a_rerun_recovers(run_cli, small_tmpfs: Path) -> None:  # noqa: ANN001
    data_dir = small_tmpfs / "data"
    result = run_cli("ingest", str(SAMPLE), "--data-dir", str(data_dir), check=False)
    assert_one_clear_line(result, "disk is full", "run the ingest again")
    # Space comes back: the same command finishes the job, with no duplicates.
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_tmpfs)], check=True)
    again = run_cli("ingest", str(SAMPLE), "--json", "--data-dir", str(data_dir))
    assert '"papers": 10' in again.stdout
    again = run_cli("ingest", str(SAMPLE), "--json", "--data-dir", str(data_dir))
    assert '"papers": 10' in again.stdout and '"new": 0' in again.stdout


def test_read_only_data_dir(run_cli, small_tmpfs: Path) -> None:  # noqa: ANN001
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    result = run_cli("ingest", str(SAMPLE), "--data-dir", str(small_tmpfs / "data"), check=False)
    assert_one_clear_line(result, "Read-only file system")
    # Reading creates nothing, so a read-only disk without an index is just "no index".
    result = run_cli("stats", "--data-dir", str(small_tmpfs / "data"), check=False)
    assert result.returncode == 4 and "no papers indexed in" in result.stderr, result.stderr
