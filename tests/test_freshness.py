"""Keeping the index fresh: only sources that changed since the last poll are ingested.

Through the real engine (real pipeline, real offline model, Chroma in a temp
dir) against digests served from 127.0.0.1 and files on disk:

* a URL is polled with the validators of its last fetch; an unchanged one is
  answered 304 and nothing is ingested or written; a changed one is ingested;
* a server without validators is compared by content hash;
* files and folders are compared by content hash (a touch is not a change);
* a source that fails (404, timeout, binary, not a digest, missing file) is
  reported and retried at the next poll while the others still go through.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from index.engine import Engine, open_store
from index.freshness import SourceCheck
from tests.support.digest_host import W1, W2, DigestHost, digest

#: A proxy from the environment must not intercept the digest host on 127.0.0.1.
pytestmark = pytest.mark.usefixtures("no_proxy")

FETCH_TIMEOUT = 0.5


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return Engine(
        Settings.from_env(environ={"PAPERBOT_FETCH_TIMEOUT": str(FETCH_TIMEOUT)}, dotenv_path=None, data_dir=tmp_path / "data")
    )




def spy_ingest(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every call into the ingest pipeline."""
    calls: list[Any] = []
    real = engine._ingest_parsed

    def spy(parsed: Any, progress: Any = None) -> Any:
        calls.append(parsed)
        return real(parsed, progress)

    monkeypatch.setattr(engine, "_ingest_parsed", spy)
    return calls


def test_a_url_is_ingested_once_then_polled_with_a_conditional_get(
    engine: Engine, host: DigestHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.pages["/digest.md"] = digest(W1)
    url = host.url("/digest.md")
    first = engine.refresh([url])
    assert first.checks == [SourceCheck(url, "changed")]
    assert first.ingest is not None and (first.ingest.new, first.ingest.updated) == (2, 0)
    assert engine.weeks() == ["2024-09-29"]
    (record,) = engine.source_records()
    assert record.etag and record.last_modified and record.sha256 and record.ingested_at and record.error is None

    # Unchanged: one 304, no ingest, nothing written to the index or the ledger.
    calls = spy_ingest(engine, monkeypatch)
    chunks = open_store(engine.settings).count_chunks()
    second = engine.refresh([url])
    assert second.checks == [SourceCheck(url, "unchanged")] and second.ingest is None
    assert calls == []
    last = host.hits[-1]
    assert (last.status, last.if_none_match, last.if_modified_since) == (304, record.etag, record.last_modified)
    assert engine.source_records() == [record]
    assert open_store(engine.settings).count_chunks() == chunks

    # Changed: downloaded again; the new week's papers are new (the old week's moved
    # down the file, so their line numbers are updated).
    host.pages["/digest.md"] = digest(W1, W2)
    third = engine.refresh([url])
    assert third.checks == [SourceCheck(url, "changed")]
    assert host.hits[-1].status == 200 and host.hits[-1].if_none_match == record.etag
    assert third.ingest is not None and (third.ingest.papers, third.ingest.new) == (5, 3)
    assert engine.weeks() == ["2024-09-29", "2024-10-06"]
    (updated,) = engine.source_records()
    assert updated.etag != record.etag and updated.sha256 != record.sha256


def test_a_server_without_validators_is_compared_by_content(
    engine: Engine, host: DigestHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.validators = False
    host.pages["/plain.md"] = digest(W1)
    url = host.url("/plain.md")
    assert engine.refresh([url]).checks == [SourceCheck(url, "changed")]
    calls = spy_ingest(engine, monkeypatch)
    again = engine.refresh([url])
    assert again.checks == [SourceCheck(url, "unchanged")] and calls == []
    assert host.statuses("/plain.md") == [200, 200]
    host.pages["/plain.md"] = digest(W1, W2)
    assert engine.refresh([url]).checks == [SourceCheck(url, "changed")] and len(calls) == 1


def test_files_and_folders_are_compared_by_content_hash(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    single = tmp_path / "single.md"
    single.write_bytes(digest(W1))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "weekly.md").write_bytes(digest(W2))
    specs = [str(single), str(folder)]
    first = engine.refresh(specs)
    assert [c.status for c in first.checks] == ["changed", "changed"]
    assert first.ingest is not None and first.ingest.new == 5

    calls = spy_ingest(engine, monkeypatch)
    single.write_bytes(digest(W1))  # rewritten with the same bytes: a new mtime, not a change
    os.utime(single, (1, 1))
    assert [c.status for c in engine.refresh(specs).checks] == ["unchanged", "unchanged"]
    assert calls == []

    (folder / "extra.md").write_bytes(digest(W1).replace(b"Tiny Adapters", b"Tinier Adapters"))
    report = engine.refresh(specs)
    assert [c.status for c in report.checks] == ["unchanged", "changed"]
    # Only the changed folder is ingested.  Since issue 11 the same arXiv id under a
    # near-identical title is the same paper (it was a new one): both W1 papers are
    # known and gain a mention from extra.md, the renamed one also an alias.
    assert report.ingest is not None and (report.ingest.new, report.ingest.updated) == (0, 2)


def test_a_failing_source_is_reported_and_retried_while_the_others_go_through(
    engine: Engine, host: DigestHost, tmp_path: Path
) -> None:
    host.pages["/good.md"] = digest(W1)
    host.pages["/binary.md"] = b"\x00\x01\x02 not text" * 10
    host.pages["/page.html"] = b"<html><body><h1>Welcome</h1><p>Nothing to see.</p></body></html>"
    host.slow.add("/slow.md")
    host.pages["/slow.md"] = digest(W2)
    good, missing, slow = host.url("/good.md"), host.url("/missing.md"), host.url("/slow.md")
    binary, page = host.url("/binary.md"), host.url("/page.html")
    gone = str(tmp_path / "gone.md")

    report = engine.refresh([missing, slow, binary, page, gone, good])
    outcome = {c.spec: (c.status, c.reason or "") for c in report.checks}
    assert outcome[good] == ("changed", "")
    assert outcome[missing][0] == "failed" and outcome[missing][1].startswith("HTTP 404")
    assert outcome[slow][0] == "failed" and "timed out" in outcome[slow][1]
    assert outcome[binary][0] == "failed" and "binary" in outcome[binary][1]
    assert outcome[page] == ("failed", "no papers found: is this a digest?")
    assert outcome[gone] == ("failed", "no such file or folder")
    assert engine.weeks() == ["2024-09-29"]
    errors = {r.spec: r.error for r in engine.source_records()}
    assert errors[good] is None and errors[missing].startswith("HTTP 404")

    # Next poll: the failed URL is asked again (in full: it has no validators), the good one answers 304.
    host.pages["/missing.md"] = digest(W2)
    again = engine.refresh([missing, good])
    assert [c.status for c in again.checks] == ["changed", "unchanged"]
    assert host.statuses("/missing.md") == [404, 200] and host.statuses("/good.md") == [200, 304]
    assert engine.weeks() == ["2024-09-29", "2024-10-06"]
    assert {r.spec: r.error for r in engine.source_records()}[missing] is None
