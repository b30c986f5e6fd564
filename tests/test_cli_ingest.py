"""``paperbot ingest`` and ``paperbot stats`` as users run them: a real subprocess.

These tests prove, through ``python -m bot.cli`` with a clean environment, the real
offline embedding model and a ``--data-dir`` under the test's temp dir, that:

* ``paperbot --help`` works and lists the ingest and stats commands;
* ``ingest WEEKLY TABLE --json`` on a fresh data dir prints exactly the JSON
  contract keys with all 50 fixture papers new, and an identical second run reports
  every paper unchanged (nothing new, nothing updated, still 50);
* ``stats --json`` reports those 50 papers, the six weekly-digest weeks
  2024-09-01..2024-10-06 and both digest file names as sources;
* editing one entry of a small digest and ingesting again reports exactly one
  update and leaves the others unchanged;
* a run where nothing could be read (only a missing path, or only an empty file)
  exits 1 and says why; one good and one bad source exits 0 and lists the bad
  one under "skipped";
* the human output is "N papers in the index: N new, 0 updated, 0 unchanged" plus
  one "skipped <file>: <reason>" line per problem.

The fixture-digest ingest is the session's shared index (``fixture_ingest`` in
conftest, itself a CLI run); every other test uses a three-paper digest written here.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURE_PAPERS, TABLE_DIGEST, WEEKLY_DIGEST

INGEST_KEYS = {"papers", "new", "updated", "unchanged", "skipped"}
WEEKLY_WEEKS = ["2024-09-01", "2024-09-08", "2024-09-15", "2024-09-22", "2024-09-29", "2024-10-06"]

SMALL_DIGEST = """# Notes on three papers

## Week of Sep 30 – Oct 6, 2024

1. **Tiny Adapters for Sparse Retrieval**: A small lab shows that low-rank adapters let a sparse retriever match dense models on short queries. [paper](https://arxiv.org/abs/2410.00001)
2. **Counting Tokens Without Counting**: Researchers estimate prompt length from byte statistics alone, cutting tokenizer calls. [paper](https://arxiv.org/abs/2410.00002)
3. **Quiet Gradients in Long Training Runs**: A study of why loss spikes vanish when the optimizer warms up twice. [paper](https://arxiv.org/abs/2410.00003)
"""
EDITED_SUMMARY = "Researchers predict prompt length from character counts, skipping the tokenizer entirely."


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert "Traceback" not in result.stderr, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def small_digest(tmp_path: Path) -> Path:
    path = tmp_path / "three-papers-2024.md"
    path.write_text(SMALL_DIGEST, encoding="utf-8")
    return path


# -- help ------------------------------------------------------------------------------------------
def test_help_lists_ingest_and_stats(run_cli) -> None:  # noqa: ANN001
    result = run_cli("--help")
    assert result.stdout.startswith("usage: paperbot")
    commands = {m.group(1) for m in re.finditer(r"^\s{2,}([a-z]+)\s{2,}\S", result.stdout, re.M)}
    assert {"ingest", "stats"} <= commands, result.stdout


# -- the fixture digests: fresh, again, stats --------------------------------------------------------------
def test_fresh_ingest_prints_the_json_contract(fixture_ingest) -> None:  # noqa: ANN001
    _data_dir, report = fixture_ingest
    assert set(report) == INGEST_KEYS
    assert (report["papers"], report["new"], report["updated"], report["unchanged"]) == (FIXTURE_PAPERS, FIXTURE_PAPERS, 0, 0)
    assert isinstance(report["skipped"], list)
    for entry in report["skipped"]:
        assert set(entry) == {"source", "line", "reason"}


def test_second_identical_ingest_changes_nothing(fixture_data_dir: Path, run_cli) -> None:  # noqa: ANN001
    data_dir = fixture_data_dir
    result = run_cli("ingest", str(WEEKLY_DIGEST), str(TABLE_DIGEST), "--json", "--data-dir", str(data_dir))
    report = _json(result)
    assert set(report) == INGEST_KEYS
    assert (report["papers"], report["new"], report["updated"], report["unchanged"]) == (FIXTURE_PAPERS, 0, 0, FIXTURE_PAPERS)


def test_stats_reports_papers_weeks_and_sources(fixture_data_dir: Path, run_cli) -> None:  # noqa: ANN001
    data_dir = fixture_data_dir
    stats = _json(run_cli("stats", "--json", "--data-dir", str(data_dir)))
    assert set(stats) == {"papers", "weeks", "sources"}
    assert stats["papers"] == FIXTURE_PAPERS
    assert stats["weeks"] == sorted(stats["weeks"])
    assert set(WEEKLY_WEEKS) <= set(stats["weeks"]), stats["weeks"]
    assert {WEEKLY_DIGEST.name, TABLE_DIGEST.name} <= set(stats["sources"]), stats["sources"]


# -- small digests ---------------------------------------------------------------------------------
def test_editing_one_entry_updates_only_that_paper(run_cli, small_digest: Path, tmp_path: Path) -> None:  # noqa: ANN001
    data_dir = tmp_path / "data"
    first = _json(run_cli("ingest", str(small_digest), "--json", "--data-dir", str(data_dir)))
    assert (first["papers"], first["new"], first["updated"], first["unchanged"]) == (3, 3, 0, 0)

    text = small_digest.read_text(encoding="utf-8")
    old = "Researchers estimate prompt length from byte statistics alone, cutting tokenizer calls."
    assert old in text
    small_digest.write_text(text.replace(old, EDITED_SUMMARY), encoding="utf-8")

    second = _json(run_cli("ingest", str(small_digest), "--json", "--data-dir", str(data_dir)))
    assert (second["papers"], second["new"], second["updated"], second["unchanged"]) == (3, 0, 1, 2)
    assert second["skipped"] == []


def test_only_a_missing_path_exits_1_and_says_why(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    missing = tmp_path / "no-such-digest.md"
    result = run_cli("ingest", str(missing), "--data-dir", str(tmp_path / "data"), check=False)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert f"skipped {missing}: no such file or folder" in result.stdout.splitlines()


def test_only_an_empty_file_exits_1_and_says_why(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    empty = tmp_path / "empty.md"
    empty.write_text("", encoding="utf-8")
    result = run_cli("ingest", str(empty), "--json", "--data-dir", str(tmp_path / "data"), check=False)
    assert result.returncode == 1, (result.stdout, result.stderr)
    report = _json(result)
    assert (report["papers"], report["new"]) == (0, 0)
    assert report["skipped"] == [{"source": "empty.md", "line": None, "reason": "empty file"}]


def test_one_good_and_one_bad_file_exits_0_and_lists_the_bad_one(
    run_cli, small_digest: Path, tmp_path: Path  # noqa: ANN001
) -> None:
    binary = tmp_path / "scan.md"
    binary.write_bytes(b"%PDF-1.7\n\x00\x01\x02\x03 not markdown")
    result = run_cli("ingest", str(small_digest), str(binary), "--json", "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0
    report = _json(result)
    assert (report["papers"], report["new"], report["updated"], report["unchanged"]) == (3, 3, 0, 0)
    assert report["skipped"] == [{"source": "scan.md", "line": None, "reason": "binary file, not a markdown digest"}]


def test_human_output_summarises_and_lists_skipped(run_cli, small_digest: Path, tmp_path: Path) -> None:  # noqa: ANN001
    empty = tmp_path / "blank.md"
    empty.write_text("\n  \n", encoding="utf-8")
    missing = tmp_path / "gone.md"
    result = run_cli("ingest", str(small_digest), str(empty), str(missing), "--data-dir", str(tmp_path / "data"))
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"3 papers in the index: 3 new, 0 updated, 0 unchanged \(\d+\.\d+s\)", lines[0]), lines[0]
    assert sorted(lines[1:]) == sorted(
        [
            "skipped blank.md: empty file",
            f"skipped {missing}: no such file or folder",
        ]
    )
    assert "\033[" not in result.stdout  # NO_COLOR and a pipe: plain text


def test_many_broken_rows_are_summarised_not_listed(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    """A damaged table breaks every row the same way: one line says so, the
    JSON still lists each row."""
    table = tmp_path / "table.md"
    rows = [f"| 2024-07-{1 + i % 28:02d} | Broken row {i} | only three cells |" for i in range(40)]
    table.write_text(
        "| Date | Title | Abstract | Topics |\n|---|---|---|---|\n"
        "| 2024-07-02 | A Paper That Parses | It parses. | NLP |\n" + "\n".join(rows) + "\n",
        encoding="utf-8",
    )
    data = str(tmp_path / "data")
    lines = run_cli("ingest", str(table), "--data-dir", data).stdout.splitlines()
    skipped = [line for line in lines if line.startswith("skipped")]
    assert skipped == ["skipped 40 entries of table.md: table row has 3 cells, the header has 4 (lines 4, 5, 6, …)"]
    report = _json(run_cli("ingest", str(table), "--json", "--data-dir", data))
    assert report["unchanged"] == 1
    assert len(report["skipped"]) == 40
