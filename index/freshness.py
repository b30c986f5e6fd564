"""Which digest sources changed since the last poll, remembered per source in SQLite.

A poll that finds nothing new must cost almost nothing, because it runs every
few minutes for the life of the bot: a URL is asked again with the validators of
its last fetch (``If-None-Match`` / ``If-Modified-Since``) and an unchanged one
answers an empty 304; a file or folder is hashed, which is cheap next to parsing
and embedding.  Servers without validators are covered by the hash as well: a
200 with the same bytes is still "unchanged".

Only changed sources go on to the ingest pipeline, and what a poll learnt (new
validators, new hash) is written only after that ingest succeeded, so a crash or
a failing store simply makes the next poll try again.  A source that cannot be
read (timeout, 404, not a digest) is recorded as failing with its reason and
keeps its last good validators, so it is fetched in full next round.

The whole poll (probe every source → parse the changed ones → merge → ingest →
settle the ledger) is :class:`Refresher`.  Nothing here knows about Discord: the
bot only decides *when* to call :meth:`index.engine.Engine.refresh`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from index.identity import merge_papers
from index.models import ParseResult, Skipped
from index.sources import LoadedSource, accept_bytes, fetch_url, load_sources, parse_loaded
from index.sqlitedb import Schema, SQLiteFile

if TYPE_CHECKING:
    from index.pipeline import IngestReport

log = logging.getLogger(__name__)

Status = Literal["unchanged", "changed", "failed"]

#: Numbered migrations (``PRAGMA user_version``): append, never edit one that shipped.
SCHEMA = Schema(
    what="source ledger",
    migrations=(
        (
            """CREATE TABLE IF NOT EXISTS sources (
                spec TEXT PRIMARY KEY,
                etag TEXT,
                last_modified TEXT,
                sha256 TEXT,
                ingested_at REAL,
                error TEXT,
                failed_at REAL
            )""",
        ),
    ),
)


@dataclass(frozen=True)
class SourceRecord:
    """What the ledger remembers about one configured source (a file, folder or URL)."""

    spec: str
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    #: When a change of this source was last ingested (epoch seconds).
    ingested_at: float | None = None
    #: Why the last poll could not read it; ``None`` once it reads again.
    error: str | None = None
    failed_at: float | None = None


@dataclass
class SourceProbe:
    """One source checked against its record: what to ingest and what to remember."""

    spec: str
    status: Status
    record: SourceRecord | None = None
    loaded: list[LoadedSource] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    etag: str | None = None
    last_modified: str | None = None
    sha256: str | None = None
    reason: str | None = None

    def fail(self, reason: str) -> None:
        self.status = "failed"
        self.reason = reason
        self.loaded = []


@dataclass(frozen=True)
class SourceCheck:
    """The outcome of one source in one poll."""

    spec: str
    status: Status
    reason: str | None = None


@dataclass
class RefreshReport:
    """One poll: every source's outcome and, when something changed, the ingest."""

    checks: list[SourceCheck] = field(default_factory=list)
    ingest: IngestReport | None = None

    def specs(self, status: Status) -> list[str]:
        return [c.spec for c in self.checks if c.status == status]


def is_url(spec: str) -> bool:
    return spec.startswith(("http://", "https://"))


def probe(spec: str, record: SourceRecord | None, *, max_bytes: int, timeout: float) -> SourceProbe:
    """Has ``spec`` changed since ``record``?  Reads it (conditionally for URLs); never raises."""
    if is_url(spec):
        return _probe_url(spec, record, max_bytes=max_bytes, timeout=timeout)
    loaded, skipped = load_sources([spec], max_bytes=max_bytes, timeout=timeout)
    result = SourceProbe(spec, "changed", record, loaded=loaded, skipped=skipped)
    if not loaded:
        result.fail("; ".join(s.reason for s in skipped) or "nothing to read")
        return result
    # A folder's hash covers every digest in it, so adding, removing or editing one counts.
    digest = hashlib.sha256()
    for source in sorted(loaded, key=lambda s: (s.name, s.sha256)):
        digest.update(f"{source.name}\0{source.sha256}\n".encode())
    result.sha256 = digest.hexdigest()
    if record is not None and record.sha256 == result.sha256:
        result.status = "unchanged"
        result.loaded = []
    return result


def _probe_url(spec: str, record: SourceRecord | None, *, max_bytes: int, timeout: float) -> SourceProbe:
    # Validators are sent only for a copy that was really ingested.
    known = record if record is not None and record.sha256 else None
    fetched = fetch_url(
        spec,
        max_bytes=max_bytes,
        timeout=timeout,
        etag=known.etag if known else None,
        last_modified=known.last_modified if known else None,
    )
    if isinstance(fetched, Skipped):
        return SourceProbe(spec, "failed", record, reason=fetched.reason)
    result = SourceProbe(spec, "changed", record, etag=fetched.etag, last_modified=fetched.last_modified)
    if fetched.not_modified and known:
        result.status = "unchanged"
        result.sha256 = known.sha256
        return result
    loaded, skipped = accept_bytes(spec, fetched.data, max_bytes)
    result.skipped = skipped
    if loaded is None:
        result.fail("; ".join(s.reason for s in skipped) or "nothing to read")
        return result
    result.sha256 = loaded.sha256
    if known and known.sha256 == loaded.sha256:
        result.status = "unchanged"  # a server without validators sent the same bytes again
    else:
        result.loaded = [loaded]
    return result


class SourceLedger:
    """One SQLite file under the data dir (see :mod:`index.sqlitedb`): per source,
    the validators and hash of what was last ingested, and the last failure.
    Each write is one atomic statement.  A lost ledger only costs a full fetch
    of every source at the next poll."""

    def __init__(self, path: Path) -> None:
        self.db = SQLiteFile(path, SCHEMA, log=log)
        self.path = self.db.path

    def get(self, spec: str) -> SourceRecord | None:
        row = self.db.run(
            lambda db: db.execute(
                "SELECT spec, etag, last_modified, sha256, ingested_at, error, failed_at FROM sources WHERE spec = ?", (spec,)
            ).fetchone()
        )
        return SourceRecord(*row) if row else None

    def records(self) -> list[SourceRecord]:
        rows = self.db.run(
            lambda db: db.execute(
                "SELECT spec, etag, last_modified, sha256, ingested_at, error, failed_at FROM sources ORDER BY spec"
            ).fetchall()
        )
        return [SourceRecord(*row) for row in rows]

    def settle(self, result: SourceProbe, now: float) -> None:
        """Remember what a poll learnt about one source.

        Call only once the changed sources are safely ingested.  An unchanged
        source with the same validators and no error to clear writes nothing.
        """
        statement = self._settle_statement(result, now)
        if statement is None:
            return
        self.db.run(lambda db: db.execute(*statement), write=True)

    @staticmethod
    def _settle_statement(result: SourceProbe, now: float) -> tuple[str, tuple[Any, ...]] | None:
        old = result.record
        if result.status == "failed":
            return (
                "INSERT INTO sources (spec, error, failed_at) VALUES (?, ?, ?)"
                " ON CONFLICT(spec) DO UPDATE SET error = excluded.error, failed_at = excluded.failed_at",
                (result.spec, result.reason, now),
            )
        if result.status == "changed":
            return (
                "INSERT INTO sources (spec, etag, last_modified, sha256, ingested_at) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT(spec) DO UPDATE SET etag = excluded.etag, last_modified = excluded.last_modified,"
                " sha256 = excluded.sha256, ingested_at = excluded.ingested_at, error = NULL, failed_at = NULL",
                (result.spec, result.etag, result.last_modified, result.sha256, now),
            )
        if old is None:
            return None
        validators = (result.etag, result.last_modified) if is_url(result.spec) else (old.etag, old.last_modified)
        if old.error is None and validators == (old.etag, old.last_modified):
            return None
        return (
            "UPDATE sources SET etag = ?, last_modified = ?, error = NULL, failed_at = NULL WHERE spec = ?",
            (*validators, result.spec),
        )


class Refresher:
    """One poll of the digest sources: probe each against the ledger, parse the
    changed ones, merge their papers into one batch, hand it to ``ingest``, and
    only then settle the ledger, so a failed ingest is simply retried next poll."""

    def __init__(
        self, ledger: SourceLedger, ingest: Callable[[ParseResult], IngestReport], *, max_bytes: int, timeout: float
    ) -> None:
        self.ledger = ledger
        self.ingest = ingest
        self.max_bytes = max_bytes
        self.timeout = timeout

    def refresh(self, specs: Sequence[str]) -> RefreshReport:
        """Ingest the sources among ``specs`` that changed since the last refresh.
        A source that cannot be read is reported and retried next time; the others
        still go through.  Blocking: call it off the event loop."""
        probes = [probe(spec, self.ledger.get(spec), max_bytes=self.max_bytes, timeout=self.timeout) for spec in specs]
        batch = ParseResult()
        for result in probes:
            if result.status != "changed":
                continue
            parsed = parse_loaded(result.loaded, result.skipped)
            if not parsed.papers:
                result.fail("no papers found: is this a digest?")
                continue
            batch.papers.extend(parsed.papers)
            batch.skipped.extend(parsed.skipped)
        report = RefreshReport()
        if batch.papers:
            batch.papers = merge_papers(batch.papers)
            report.ingest = self.ingest(batch)
        now = time.time()
        for result in probes:
            self.ledger.settle(result, now)
            report.checks.append(SourceCheck(result.spec, result.status, result.reason))
            if result.status == "failed":
                log.warning("digest source %s failed (%s); retrying at the next poll", result.spec, result.reason)
        return report
